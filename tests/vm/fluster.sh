# SPDX-License-Identifier: GPL-2.0
# fluster (fluster-conformance, as Debian ships it) runs the project's own suites
# (tools/make-clips.sh -> build/clips/fluster) through GStreamer's V4L2 stateless decoders on
# our device. The reference is the same suites through the software decoders, which
# tools/make-clips.sh runs natively (build/clips/fluster/reference-SUITE.md): FFmpeg's for VP9
# and H.264, the dav1d tool for AV1 (fluster has no FFmpeg software AV1 decoder). One vector of
# each suite: the suites are the clips tests/vm/codec.sh already decodes through the same
# GStreamer decoders, checked frame by frame, so fluster's whole-output MD5 of the rest would
# repeat those decodes. The vectors: VP9 at 350x202 (odd sizes: fluster's whole output is
# the visible picture), H.264 with B-pyramid, AV1 with 28 hidden frames; each must pass as it
# does in the reference. (The 1080p VP9 clip, 71 s here, is decoded whole through the same
# decoder by tests/vm/faults.sh, and in part by codec.sh's seek.)
. /src/tests/vm/lib.sh

load_daedalus
start_daemon
export GST_REGISTRY=/tmp/gst-registry.bin
cd /tmp
summary=$OUT/fluster-summary.txt
: >"$summary"
for quad in DAEDALUS-VP9:VP9:FFmpeg-VP9:vp9-350x202 \
	DAEDALUS-H264:H.264:FFmpeg-H.264:h264-320x240 DAEDALUS-AV1:AV1:dav1d-AV1:av1-svt-320x240; do
	IFS=: read -r suite codec ref vector <<<"$quad"
	ours=GStreamer-$codec-V4L2SL-Gst1.0
	step "fluster: $suite, $vector, with $ours"
	fluster -ne -tsd "$CLIPS/fluster/suites" -r "$CLIPS/fluster/resources" -o /tmp/fluster-out \
		run -j 1 -t 600 -ts "$suite" -tv "$vector" -d "$ours" -s -so "$OUT/fluster-$suite.md" ||
		true
	# each summary has a row |vector|result| per vector
	rc=0
	python3 - "$suite" "$vector" "$ours" "$OUT/fluster-$suite.md" "$ref" \
		"$CLIPS/fluster/reference-$suite.md" >>"$summary" <<'PY' || rc=$?
import sys
suite, vector, ours, ours_md, ref, ref_md = sys.argv[1:]
def result(md):
    rows = [l.strip().strip("|").split("|") for l in open(md) if l.startswith("|")]
    return next(r[1] for r in rows if r[0] == vector)
got, want = result(ours_md), result(ref_md)
print(f"{suite} {vector}: {ours} {got}, {ref} {want} (reference)")
sys.exit(0 if got == want == "OK" else 1)
PY
	tail -1 "$summary"
	[ "$rc" = 0 ] || fail "$suite: $vector does not pass through our device as through $ref"
done
stop_daemon
rmmod daedalus-v4l2
