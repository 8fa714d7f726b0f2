# SPDX-License-Identifier: GPL-2.0
# One codec through the stateless node: tests/vm/codec.sh vp9|h264|av1.
# GStreamer's v4l2sl<codec>dec parses the stream and passes its headers as controls (VP9 frame
# control; H.264 SPS/PPS; AV1 sequence, frame header and film grain), the daemon decodes (for
# H.264 and AV1 it rebuilds the headers for its decoder) and hands back each job's picture, hidden
# frames included. The output is byte-exact with FFmpeg's own decode, frame by frame; a seek in
# the middle of the 8- and 10-bit clips (and the 1080p VP9 one) resumes byte-exact at the next
# key frame; frames read through
# VIDIOC_EXPBUF'd dmabufs are the daemon's own; `daedalus-v4l2ctl status` answers an
# unprivileged user and counts every frame.
. /src/tests/vm/lib.sh

codec=${1:?usage: codec.sh vp9|h264|av1}
# tools/make-clips.sh says what each clip exercises (VP9: hidden alt-refs, profile 2; H.264:
# B-pyramid, slices, CAVLC + weighted prediction, scaling matrices, IDRs at 1080p, High 10;
# AV1: libaom and SVT-AV1 random access with hidden frames, global motion, error resilience,
# film grain, 10-bit) and checks that the clip really does. The 1080p VP9 clip is decoded whole
# by tests/vm/fluster.sh and, frame by frame, by the demo: here only its last second, after a
# seek to 0.5 s.
case $codec in
vp9)
	clips="vp9-320x240.ivf vp9-10bit-320x240.ivf"
	seeks="vp9-320x240:0.5 vp9-10bit-320x240:0.5 vp9-1920x1080:0.5"
	;;
h264 | av1)
	# H.264 as an Annex B byte stream, AV1 in IVF (the seeks read their Matroska copies)
	[ "$codec" = h264 ] && ext=h264 || ext=ivf
	clips=$(cd "$CLIPS" && ls "$codec"-*."$ext")
	# A seek flushes the stream and starts it again at a key frame whatever coding tools the
	# clip uses: tried on the 8- and 10-bit clips (and SVT-AV1's random access), not on every
	# clip (each seek costs a GStreamer decode: 7 s under emulation)
	seeks="$codec-320x240:0.5 $codec-10bit-320x240:0.5"
	[ "$codec" != av1 ] || seeks="$seeks av1-svt-320x240:0.5"
	;;
*) fail "unknown codec $codec" ;;
esac

step "load the module and start the daemon"
load_daedalus
start_daemon
dev=$(video_dev daedalus-v4l2) || fail "no daedalus media device"
echo "daedalus-v4l2: $dev $(media_dev daedalus-v4l2)"
grep "CAPTURE buffers from" "$OUT/daemon.log"
v4l2-ctl -d "$dev" --list-formats-out
v4l2-ctl -d "$dev" -l | grep -i "$codec"

frames=0
for clip in ${CLIPS_TO_TEST:-$clips}; do
	step "GStreamer v4l2sl${codec}dec: $clip ($(grep hidden_frames "$CLIPS/${clip%.*}.info"))"
	t0=$(now)
	gst_decode "$clip" /tmp/out.yuv
	echo "decoded in $(seconds "$t0" "$(now)") s"
	byte_exact "$clip" /tmp/out.yuv
	rm -f /tmp/out.yuv
	frames=$((frames + $(grep -vc "^#" "$CLIPS/${clip%.*}.framemd5")))
done
for seek in $seeks; do
	step "${seek%:*}: a seek to ${seek#*:} s resumes byte-exact at the next key frame"
	seek_test "${seek%:*}" "${seek#*:}"
done
if [ "$codec" = vp9 ]; then
	step "zero-copy: frames read through VIDIOC_EXPBUF'd dmabufs, which are the daemon's"
	expbuf_test vp9-320x240.ivf
fi
step "daedalus-v4l2ctl status (as an unprivileged user)"
runuser -u tester -- "$CTL" status
runuser -u tester -- "$CTL" status --json >/tmp/status.json
python3 - /tmp/status.json "$frames" <<'PY'
import json, sys
s, frames = json.load(open(sys.argv[1])), int(sys.argv[2])
# every picture of the whole decodes (hidden frames and seeks come on top)
assert s["attached"] and s["frames_decoded"] >= frames and s["decode_errors"] == 0, (s, frames)
print("status --json: %d frames (at least %d), %d streams"
      % (s["frames_decoded"], frames, s["streams_started"]))
PY
stop_daemon
rmmod daedalus-v4l2
