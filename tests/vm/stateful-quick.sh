# SPDX-License-Identifier: GPL-2.0
# The stateful node in a few steps, for the emulated aarch64 guest (16 KiB pages; it has no
# ffmpeg tool, and emulation is slow): our stateful client (tests/sfclient) decodes VP9 (also at 350x202, planes
# no whole number of pages) and AV1 byte-exact through /dev/video10 with source change and
# drain, and GStreamer's v4l2h264dec the H.264 clip. tests/vm/stateful.sh is the whole test.
. /src/tests/vm/lib.sh

load_daedalus
start_daemon
echo "page size $(getconf PAGESIZE)"
for run in vp9-320x240.ivf:VP90 vp9-350x202.ivf:VP90 av1-320x240.ivf:AV01; do
	clip=${run%%:*}
	step "sfclient (v4l2r, ${run#*:}): $clip"
	timeout -k 5 300 "$SFCLIENT" /dev/video10 "$CLIPS/$clip" "$CLIPS/${clip%.*}.framemd5" \
		"${run#*:}"
done
step "GStreamer v4l2h264dec: h264-320x240.h264"
gst filesrc location="$CLIPS/h264-320x240.h264" ! h264parse ! v4l2h264dec ! \
	video/x-raw,format=NV12 ! filesink location=/tmp/out.nv12 || fail "gst-launch"
byte_exact h264-320x240.h264 /tmp/out.nv12
stop_daemon
rmmod daedalus-v4l2
