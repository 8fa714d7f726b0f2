# SPDX-License-Identifier: GPL-2.0
# The README's main job, in the guest: decode a 1080p VP9 clip (libvpx, with hidden alt-ref
# frames) through /dev/videoN with GStreamer's stateless decoder, check it byte for byte against
# FFmpeg's decode, and compare the speed with FFmpeg decoding the same clip in the same VM with
# the same number of threads. Writes /out/summary.txt.
. /src/tests/vm/lib.sh

clip=${1:-vp9-1920x1080.ivf}
frames=$(sed -n 's/^frames=//p' "$CLIPS/${clip%.*}.info")
hidden=$(sed -n 's/^hidden_frames=//p' "$CLIPS/${clip%.*}.info")
threads=$(nproc)

load_daedalus
start_daemon --threads "$threads"
video=$(video_dev daedalus-v4l2)
media=$(media_dev daedalus-v4l2)
allocator=$(sed -n 's/.*CAPTURE buffers from \(.*\) allocator=.*/\1/p' "$OUT/daemon.log")
gst-inspect-1.0 v4l2slvp9dec >/dev/null	# registry scan, not timed

step "decode $clip through $video (GStreamer v4l2slvp9dec)"
gst_decode "$clip" /tmp/out.nv12
if byte_exact "$clip" /tmp/out.nv12 >/tmp/cmp.txt; then exact=yes; else exact=no; fi
cat /tmp/cmp.txt
rm -f /tmp/out.nv12

step "speed through $video (to fakesink)"
t0=$(now)
gst filesrc location="$CLIPS/$clip" ! ivfparse ! vp9parse ! v4l2slvp9dec ! fakesink sync=false
ours=$(seconds "$t0" "$(now)")

step "speed of FFmpeg alone, same clip, $threads threads"
t0=$(now)
ffmpeg -nostdin -v error -threads "$threads" -i "$CLIPS/$clip" -pix_fmt nv12 -f null -
ffm=$(seconds "$t0" "$(now)")
t0=$(now)
ffmpeg -nostdin -v error -threads "$threads" -thread_type slice -i "$CLIPS/$clip" -pix_fmt nv12 -f null -
ffm_slice=$(seconds "$t0" "$(now)")
stop_daemon
daemon_fps=$(grep "stream ended" "$OUT/daemon.log" | tail -1 |
	sed -n 's/.*decode_fps="\{0,1\}\([0-9.]*\).*/\1/p')

{
	# (the test kernel, with its debug options: they make the device's system calls dearer,
	# not FFmpeg alone's decoding; ./daedalus bench measures on the kernel without them)
	echo "daedalus-v4l2 demo ($(machine))"
	echo "  clip:        $clip, $frames frames, $hidden hidden alt-ref frames (libvpx 2-pass)"
	echo "  device:      $video ($media), stateless VP9, GStreamer v4l2slvp9dec"
	echo "  buffers:     $allocator"
	echo "  byte-exact:  $exact ($(cat /tmp/cmp.txt))"
	echo "  speed:       $(rate "$frames" "$ours") frames/s through $video ($ours s)"
	echo "               $(rate "$frames" "$ffm") frames/s FFmpeg alone, $threads threads ($ffm s)"
	echo "               $(rate "$frames" "$ffm_slice") frames/s FFmpeg alone, $threads slice threads as the daemon uses ($ffm_slice s)"
	echo "               ${daemon_fps:-?} frames/s inside the daemon (decode + NV12 write, no kernel round trip)"
	echo "  ratio:       $(awk -v a="$ffm" -v b="$ours" 'BEGIN { printf "%.2f", a / b }') of FFmpeg's speed (same VM, same threads)"
	if [ -e /proc/lockdep ]; then
		echo "               (on the debug test kernel: ./daedalus bench measures on a release build of it)"
	fi
} | tee "$OUT/summary.txt"
[ "$exact" = yes ]
