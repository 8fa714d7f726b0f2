#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The VA-API driver (vaapi/, daedalus_drv_video.so) with clients nobody here wrote: vainfo lists
# its profiles; FFmpeg's vaapi hwaccel and GStreamer's va decoders decode every VP9 and H.264
# clip byte-exact (frames downloaded, compared with FFmpeg's software decode); frames exported
# with vaExportSurfaceHandle are the daemon's own dmabufs, byte-exact when mapped.
# Arguments (clip names) limit the run to those.
. /src/tests/vm/lib.sh

case $(uname -m) in
aarch64) VA_SO=/build/target/aarch64-unknown-linux-gnu/release/libdaedalus_drv_video.so ;;
*) VA_SO=/build/target/release/libdaedalus_drv_video.so ;;
esac
[ -f "$VA_SO" ] || fail "$VA_SO missing (tools/build-daemon.sh builds it)"
mkdir -p /tmp/va
ln -sf "$VA_SO" /tmp/va/daedalus_drv_video.so
export LIBVA_DRIVERS_PATH=/tmp/va LIBVA_DRIVER_NAME=daedalus
# GStreamer's va plugin registers its elements only for drivers it knows, unless told
export GST_VA_ALL_DRIVERS=1
RENDER=/dev/dri/renderD128

step "load the module and start the daemon"
load_daedalus
start_daemon
[ -e "$RENDER" ] || fail "no $RENDER (vgem)"

step "vainfo"
timeout 60 vainfo --display drm --device "$RENDER" >/tmp/vainfo 2>&1 || { cat /tmp/vainfo; fail "vainfo"; }
cat /tmp/vainfo
for p in H264ConstrainedBaseline H264Main H264High VP9Profile0 VP9Profile2; do
	grep -Eq "VAProfile$p[[:space:]]*:[[:space:]]*VAEntrypointVLD" /tmp/vainfo || fail "vainfo does not list VAProfile$p"
done

failed=()
# ffmpeg_va CLIP: decode CLIP with FFmpeg's vaapi hwaccel, frames downloaded, byte-exact
ffmpeg_va() {
	local clip=$1 fmt
	fmt=$(clip_format "$clip")
	timeout -k 5 300 ffmpeg -nostdin -hide_banner -loglevel error -y \
		-hwaccel vaapi -hwaccel_device "$RENDER" -hwaccel_output_format vaapi \
		-i "$CLIPS/$clip" -vf "hwdownload,format=$fmt" -fps_mode passthrough \
		-f framemd5 /tmp/va.framemd5 || { failed+=("$clip"); return; }
	(same_md5 /tmp/va.framemd5 "$CLIPS/${clip%.*}.framemd5" "ffmpeg -hwaccel vaapi: $clip") ||
		failed+=("$clip")
}
clips=("$@")
if [ ${#clips[@]} = 0 ]; then
	# H.264 in 10 bits has no VA-API profile FFmpeg would use (it decodes it in software)
	for c in "$CLIPS"/vp9-*.ivf "$CLIPS"/h264-*.h264; do
		case $c in */h264-10bit-*) continue ;; esac
		clips+=("${c##*/}")
	done
fi
# gst_va CLIP: decode CLIP with GStreamer's va decoder into system memory, byte-exact
gst_va() {
	local clip=$1 codec parse caps=NV12
	codec=$(clip_codec "$clip")
	parse="${codec}parse"
	case $clip in *.ivf) parse="ivfparse ! $parse" ;; esac
	[ "$(clip_format "$clip")" = p010le ] && caps=P010_10LE
	# shellcheck disable=SC2086 # the parser is several words
	gst filesrc location="$CLIPS/$clip" ! $parse ! "va${codec}dec" ! \
		"video/x-raw,format=$caps" ! filesink location=/tmp/gstva.yuv &&
		byte_exact "$clip" /tmp/gstva.yuv || failed+=("va${codec}dec: $clip")
}
for clip in "${clips[@]}"; do
	step "ffmpeg -hwaccel vaapi: $clip"
	ffmpeg_va "$clip"
	step "GStreamer va$(clip_codec "$clip")dec: $clip"
	gst_va "$clip"
done
step "zero-copy: vavp9dec's exported surfaces are the daemon's dmabufs"
GST_REGISTRY=/tmp/gst-registry.bin timeout 300 python3 /src/tests/expbuf.py \
	"$CLIPS/vp9-320x240.ivf" "$CLIPS/vp9-320x240.framemd5" "$DAEMON_PID" vavp9dec ||
	failed+=("zero-copy")
stop_daemon
[ ${#failed[@]} = 0 ] || fail "${#failed[@]} failed: ${failed[*]}"
echo "vaapi: all passed"
