# SPDX-License-Identifier: GPL-2.0
# A hostile daemon (tests/hostiled.py): the module must survive a daemon that lies. Each case
# fails only the job it names, with a kernel log line; tools/vm-run fails the run on any oops,
# WARN, hung task or kmemleak report. Then the real daemon decodes a clip byte-exact.
. /src/tests/vm/lib.sh

param=/sys/module/daedalus_v4l2/parameters

step "load the module with a 1.5 s watchdog; no daemon: the test plays it"
load_daedalus timeout_ms=1500
modprobe udmabuf 2>/dev/null || true
[ -c /dev/udmabuf ] || fail "no /dev/udmabuf for the test's buffers"

step "timeout_ms refuses what would turn the watchdog off or make clients wait for ever"
for bad in 0 50 700000; do
	if (echo "$bad" >"$param/timeout_ms") 2>/dev/null; then
		fail "timeout_ms=$bad accepted"
	fi
done
[ "$(cat "$param/timeout_ms")" = 1500 ] || fail "timeout_ms changed to $(cat "$param/timeout_ms")"
echo "timeout_ms: 0, 50 and 700000 refused"

step "the hostile daemon's cases"
before=$(dmesg | grep -c "contradicts the job" || true)
timeout -k 5 300 python3 /src/tests/hostiled.py /dev/video10 "$(video_dev daedalus-v4l2)" \
	"$CLIPS/h264-320x240.h264"
[ "$(dmesg | grep -c "contradicts the job" || true)" -gt "$before" ] ||
	fail "no kernel log line for the contradicting answers"
dmesg | grep "contradicts the job" | tail -n 1

step "then the real daemon decodes a clip byte-exact"
start_daemon
gst_decode vp9-320x240.ivf /tmp/out.nv12
byte_exact vp9-320x240.ivf /tmp/out.nv12
stop_daemon
rmmod daedalus-v4l2
