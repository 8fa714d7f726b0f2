# SPDX-License-Identifier: GPL-2.0
# v4l2-compliance (trixie's 1.30, with its stateless decoder tests) on our media device, with
# the daemon attached (CAPTURE buffers are the daemon's), then streaming tests on the video node.
. /src/tests/vm/lib.sh

load_daedalus
start_daemon
media=$(media_dev daedalus-v4l2) || fail "no daedalus media device"
step "every codec exposed: VP9, H.264 and AV1 OUTPUT formats"
formats=$(v4l2-ctl -d "$(video_dev daedalus-v4l2)" --list-formats-out)
echo "$formats"
for fourcc in VP9F S264 AV1F; do
	grep -q "'$fourcc'" <<<"$formats" || fail "OUTPUT format $fourcc not offered"
done
step "v4l2-compliance -m $media"
compliance -m "$media"
stop_daemon
