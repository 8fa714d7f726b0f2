# SPDX-License-Identifier: GPL-2.0
# AV1 through /dev/videoN: GStreamer's v4l2slav1dec parses the OBUs and passes sequence header,
# frame header and film grain as controls; the daemon rebuilds the OBUs for libdav1d and hands
# back each job's picture, hidden frames included; the output is byte-exact with FFmpeg's decode
# (libdav1d), frame by frame.
. /src/tests/vm/lib.sh

step "load the module and start the daemon"
load_daedalus
start_daemon
v4l2-ctl -d "$(video_dev daedalus-v4l2)" -l | grep -i av1

# tools/make-clips.sh says what each clip exercises (libaom and SVT-AV1 random access with
# hidden frames, film grain, 10-bit) and checks that the clip really does.
for clip in ${CLIPS_TO_TEST:-$(cd "$CLIPS" && ls av1-*.ivf)}; do
	step "GStreamer v4l2slav1dec: $clip"
	t0=$(now)
	gst_decode "$clip" /tmp/out.yuv
	echo "decoded in $(seconds "$t0" "$(now)") s"
	byte_exact "$clip" /tmp/out.yuv
	rm -f /tmp/out.yuv
done
for clip in $(cd "$CLIPS" && ls av1-*.mkv); do
	step "$clip: a seek in the middle resumes byte-exact at the next key frame"
	seek_test "$clip"
done
stop_daemon
rmmod daedalus-v4l2
