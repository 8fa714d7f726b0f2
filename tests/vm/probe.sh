# SPDX-License-Identifier: GPL-2.0
# What real clients check before they use a decoder (tests/probe.py replays each one's rules):
# on our stateless node, upstream Chromium's stateless scan (/dev/video-dec0, paired with
# /dev/media-dec0), FFmpeg's v4l2-request scan and Raspberry Pi's FFmpeg fork must accept it;
# on our stateful node, Raspberry Pi OS's Chromium (/dev/video10, no requests) and Firefox's
# v4l2test scan of /dev/video* must accept it. And the probe must refuse a node that breaks a
# rule: Raspberry Pi OS's Chromium skips any device that advertises requests, as a stateless
# node does; the stateless clients find no stateless format on the stateful node.
. /src/tests/vm/lib.sh

# The package's udev rules give the nodes the names Chromium opens.
install -m 0644 /src/udev/70-daedalus-v4l2.rules /etc/udev/rules.d/
udevadm control --reload
load_daedalus
start_daemon
udevadm settle --timeout=10 || true
ls -l /dev/video-dec0 /dev/media-dec0

ls -l /dev/video10
for client in chromium-stateless ffmpeg-request rpi-ffmpeg rpi-chromium firefox; do
	step "$client"
	python3 /src/tests/probe.py "$client" || fail "$client would not use our decoder"
done

step "a rule broken: Raspberry Pi OS's Chromium, shown our stateless node, must refuse it"
if python3 /src/tests/probe.py rpi-chromium /dev/video-dec0 | tee /tmp/refused; then
	fail "the probe accepted a node that advertises requests"
fi
grep -q "advertises SUPPORTS_REQUESTS" /tmp/refused || fail "refused, but not for requests"

step "a rule broken: upstream Chromium's stateless scan, shown our stateful node, must refuse it"
if python3 /src/tests/probe.py chromium-stateless /dev/video10 | tee /tmp/refused; then
	fail "the probe accepted a node without stateless formats"
fi
grep -q "no stateless coded format" /tmp/refused || fail "refused, but not for its formats"
stop_daemon
rmmod daedalus-v4l2
