# SPDX-License-Identifier: GPL-2.0
# VP9 through /dev/videoN: GStreamer's v4l2slvp9dec drives our stateless decoder, the daemon
# decodes, and the output is byte-exact with FFmpeg's own decode of the same clips (which have
# hidden alt-ref frames).
. /src/tests/vm/lib.sh

step "load the module and start the daemon"
load_daedalus
start_daemon
media=$(media_dev daedalus-v4l2) || fail "no daedalus media device"
echo "daedalus-v4l2: $(video_dev daedalus-v4l2) $media"
grep "CAPTURE buffers from" "$OUT/daemon.log"

# The 1080p clip is decoded byte-exact by tests/vm/fluster.sh and, frame by frame, by the demo.
for clip in ${CLIPS_TO_TEST:-vp9-320x240.ivf vp9-10bit-320x240.ivf}; do
	step "GStreamer v4l2slvp9dec: $clip ($(grep hidden_frames "$CLIPS/${clip%.*}.info"))"
	t0=$(now)
	gst_decode "$clip" /tmp/out.nv12
	echo "decoded in $(seconds "$t0" "$(now)") s"
	byte_exact "$clip" /tmp/out.nv12
	rm -f /tmp/out.nv12
done
# A seek in the middle of each clip resumes byte-exact at the next key frame (1080p: at 2.5 s,
# so that only its last 30 frames are decoded).
for seek in vp9-320x240:0.5 vp9-10bit-320x240:0.5 vp9-1920x1080:2.5; do
	step "${seek%:*}: a seek to ${seek#*:} s resumes byte-exact at the next key frame"
	seek_test "${seek%:*}" "${seek#*:}"
done
step "zero-copy: frames read through VIDIOC_EXPBUF'd dmabufs, which are the daemon's"
expbuf_test vp9-320x240.ivf
step "daedalus-v4l2ctl status (as an unprivileged user)"
runuser -u tester -- "$CTL" status
runuser -u tester -- "$CTL" status --json >/tmp/status.json
python3 - /tmp/status.json <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
# three whole decodes of 60 frames plus hidden ones, and two seeks
assert s["attached"] and s["frames_decoded"] >= 180 and s["decode_errors"] == 0, s
print("status --json: %d frames, %d streams" % (s["frames_decoded"], s["streams_started"]))
PY
stop_daemon
rmmod daedalus-v4l2
