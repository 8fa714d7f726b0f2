# SPDX-License-Identifier: GPL-2.0
# fluster (fluster-conformance, as Debian ships it) runs the project's own suites
# (tools/make-clips.sh -> build/clips/fluster) through GStreamer's V4L2 stateless decoders on
# our device. The reference is the same suites through the software decoders, which
# tools/make-clips.sh runs natively (build/clips/fluster/reference-SUITE.md): FFmpeg's for VP9
# and H.264, the dav1d tool for AV1 (fluster has no FFmpeg software AV1 decoder). Every vector
# the reference passes must pass through our device too.
. /src/tests/vm/lib.sh

load_daedalus
start_daemon
export GST_REGISTRY=/tmp/gst-registry.bin
cd /tmp
summary=$OUT/fluster-summary.txt
: >"$summary"
for triple in DAEDALUS-VP9:VP9:FFmpeg-VP9 DAEDALUS-H264:H.264:FFmpeg-H.264 \
	DAEDALUS-AV1:AV1:dav1d-AV1; do
	IFS=: read -r suite codec ref <<<"$triple"
	ours=GStreamer-$codec-V4L2SL-Gst1.0
	step "fluster: $suite with $ours"
	fluster -ne -tsd "$CLIPS/fluster/suites" -r "$CLIPS/fluster/resources" -o /tmp/fluster-out \
		run -j 1 -t 600 -ts "$suite" -d "$ours" -s -so "$OUT/fluster-$suite.md" || true
	# The summary's first table: |Test|decoder...| then |TOTAL|passed/total...|.
	rc=0
	python3 - "$suite" "$ours" "$OUT/fluster-$suite.md" "$ref" \
		"$CLIPS/fluster/reference-$suite.md" >>"$summary" <<'PY' || rc=$?
import sys
suite, ours, ours_md, ref, ref_md = sys.argv[1:]
totals = {}
for md in (ours_md, ref_md):
    rows = [l.strip().strip("|").split("|") for l in open(md) if l.startswith("|")]
    names = next(r for r in rows if r[0] == "Test")[1:]
    totals.update(zip(names, next(r for r in rows if r[0] == "TOTAL")[1:]))
print(f"{suite}: {ours} {totals[ours]}, {ref} {totals[ref]} (reference)")
(got, n), (want, m) = (map(int, totals[d].split("/")) for d in (ours, ref))
sys.exit(0 if got == want == n == m else 1)
PY
	tail -1 "$summary"
	[ "$rc" = 0 ] || fail "$suite: our device does not pass what $ref passes"
done
stop_daemon
rmmod daedalus-v4l2
