# SPDX-License-Identifier: GPL-2.0
# Hostile clients: what any user who can open the decoder nodes may do to them. Each case must
# end (every client runs under a timeout), with no oops, WARN or hung task in the kernel log
# (tools/vm-run fails the run on any), and a clean decode byte-exact afterwards.
. /src/tests/vm/lib.sh

step "load the module"
load_daedalus

# (no daemon: each request fails at once, after the driver took its snapshot of the controls,
# so thousands go by; on the KASAN kernel, a snapshot taken without the handler's lock reads
# the array the other thread just freed, and the run fails on the report)
step "controls set outside a request while the driver snapshots them for queued requests"
# 50 files here, 200 on the KASAN kernel (./daedalus kasan), where it finds what it is for
files=50
[ -n "${DAEDALUS_MODULE:-}" ] && files=200
[ "$(uname -m)" = aarch64 ] && files=10 # (emulated: slow)
timeout -k 5 300 "$CTRLRACE" "$(video_dev daedalus-v4l2)" "$(media_dev daedalus-v4l2)" $files

step "start the daemon"
start_daemon

step "close the stateful node while a feed job is in flight (and its source change comes)"
timeout -k 5 300 python3 /src/tests/earlyclose.py /dev/video10 "$CLIPS/h264-320x240.h264" 40

# (not in the emulated aarch64 guest: slow there, and nothing of it depends on the machine)
if [ "$(uname -m)" != aarch64 ]; then
	step "2000 connections to the control socket, held: the daemon stays cool and keeps decoding"
	(
		ulimit -n 4096
		timeout -k 5 300 python3 /src/tests/connflood.py /run/daedalus-v4l2/control.sock \
			"$DAEMON_PID" 2000 3 bash -c '. /src/tests/vm/lib.sh
			gst_decode vp9-320x240.ivf /tmp/flood.nv12 && byte_exact vp9-320x240.ivf /tmp/flood.nv12'
	)
	"$CTL" status >/dev/null || fail "no status after the flood"
fi

step "buffer sizes are capped whichever ioctl asks; open streams are bounded"
timeout -k 5 120 python3 /src/tests/limits.py "$(video_dev daedalus-v4l2)" /dev/video10

# A request fd outlives everything else a client had: the node's file, the device (unbind), and
# would the module (its release calls the media device's ops). An unbind with both nodes open
# (with buffers) leaves the nodes to the last close; with the request alone left, rmmod is
# refused (before, it unloaded the module under the request).
step "a request fd and both nodes kept open: unbind; nodes closed: rmmod refused; bind again"
PDRV=/sys/bus/platform/drivers/daedalus-v4l2
coproc KEEP { timeout -k 5 120 python3 /src/tests/keepreq.py "$(media_dev daedalus-v4l2)" \
	"$(video_dev daedalus-v4l2)" /dev/video10; }
keep() { # say the next line to keepreq.py (unless none) and print its answer
	[ -z "$1" ] || echo >&"${KEEP[1]}"
	read -r -t 60 line <&"${KEEP[0]}" || fail "keepreq.py did not answer"
	echo "$line"
}
keep ""
echo daedalus-v4l2 >"$PDRV/unbind"
echo "unbound:" /dev/video* /dev/media*
keep next
if rmmod daedalus-v4l2 2>/tmp/rmmod.err; then
	fail "rmmod succeeded with a request fd open"
fi
cat /tmp/rmmod.err
keep next
wait "$KEEP_PID" || fail "keepreq.py failed"
echo daedalus-v4l2 >"$PDRV/bind"
udevadm settle --timeout=10 || true
video_dev daedalus-v4l2 >/dev/null || fail "no stateless node after bind"

step "then a clean decode through the stateless node, byte-exact"
gst_decode vp9-320x240.ivf /tmp/out.nv12
byte_exact vp9-320x240.ivf /tmp/out.nv12
kill -0 "$DAEMON_PID" || fail "the daemon died"
stop_daemon
rmmod daedalus-v4l2
