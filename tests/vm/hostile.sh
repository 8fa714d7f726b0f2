# SPDX-License-Identifier: GPL-2.0
# Hostile clients: what any user who can open the decoder nodes may do to them. Each case must
# end (every client runs under a timeout), with no oops, WARN or hung task in the kernel log
# (tools/vm-run fails the run on any), and a clean decode byte-exact afterwards.
. /src/tests/vm/lib.sh

step "load the module and start the daemon"
load_daedalus
start_daemon

step "close the stateful node while a feed job is in flight (and its source change comes)"
timeout -k 5 300 python3 /src/tests/earlyclose.py /dev/video10 "$CLIPS/h264-320x240.h264" 40

step "buffer sizes are capped whichever ioctl asks; open streams are bounded"
timeout -k 5 120 python3 /src/tests/limits.py "$(video_dev daedalus-v4l2)" /dev/video10

step "then a clean decode through the stateless node, byte-exact"
gst_decode vp9-320x240.ivf /tmp/out.nv12
byte_exact vp9-320x240.ivf /tmp/out.nv12
kill -0 "$DAEMON_PID" || fail "the daemon died"
stop_daemon
rmmod daedalus-v4l2
