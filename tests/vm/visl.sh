# SPDX-License-Identifier: GPL-2.0
# The test bed works: the reference stateless decoder visl passes v4l2-compliance, and
# GStreamer's v4l2codecs decoders find it through the media controller and decode to the end.
# visl paints test patterns, so only the pipelines' success counts here.
. /src/tests/vm/lib.sh

step "load visl"
modprobe visl
media=$(media_dev visl) || fail "no visl media device"
video=$(video_dev visl)
echo "visl: $video $media"

step "v4l2-compliance -m $media"
compliance -m "$media"

step "GStreamer elements registered for visl"
gst-inspect-1.0 v4l2slvp9dec >/dev/null || fail "no v4l2slvp9dec element"
gst-inspect-1.0 v4l2slh264dec >/dev/null || fail "no v4l2slh264dec element"

step "v4l2slvp9dec on visl"
gst filesrc location=$CLIPS/vp9-320x240.ivf ! ivfparse ! vp9parse ! v4l2slvp9dec ! \
	fakesink sync=false
step "v4l2slh264dec on visl"
gst filesrc location=$CLIPS/h264-320x240.h264 ! h264parse ! v4l2slh264dec ! \
	fakesink sync=false
echo "visl: compliance and GStreamer pipelines passed"
# gone before a test of ours runs in the same boot (tests/vm/each.sh): GStreamer gives the plain
# element names (v4l2slvp9dec) to the first stateless decoder it finds
rmmod visl
