# SPDX-License-Identifier: GPL-2.0
# H.264 through /dev/videoN: GStreamer's v4l2slh264dec parses the stream and passes SPS/PPS as
# controls, the daemon rebuilds them for FFmpeg and hands back each job's picture in decode
# order; the output is byte-exact with FFmpeg's own decode, frame by frame.
. /src/tests/vm/lib.sh

step "load the module and start the daemon"
load_daedalus
start_daemon
v4l2-ctl -d "$(video_dev daedalus-v4l2)" --list-formats-out
v4l2-ctl -d "$(video_dev daedalus-v4l2)" -l | grep -i h264

# tools/make-clips.sh says what each clip exercises (B-pyramid, slices, CAVLC + weighted
# prediction, scaling matrices, IDRs at 1080p) and checks that the clip really does.
for clip in ${CLIPS_TO_TEST:-$(cd "$CLIPS" && ls h264-*.h264)}; do
	step "GStreamer v4l2slh264dec: $clip"
	t0=$(now)
	gst_decode "$clip" /tmp/out.nv12
	echo "decoded in $(seconds "$t0" "$(now)") s"
	byte_exact "$clip" /tmp/out.nv12
	rm -f /tmp/out.nv12
done
for clip in $(cd "$CLIPS" && ls h264-*.mkv); do
	step "$clip: a seek in the middle resumes byte-exact at the next key picture"
	seek_test "$clip"
done
stop_daemon
rmmod daedalus-v4l2
