#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The VA-API driver (vaapi/, daedalus_drv_video.so) with clients nobody here wrote: vainfo lists
# its profiles; FFmpeg's vaapi hwaccel and GStreamer's va decoders decode every VP9, H.264 and
# AV1 clip byte-exact (frames downloaded, compared with FFmpeg's software decode); mpv reports
# hardware decoding active (where the guest has mpv: not the aarch64 one); frames exported
# with vaExportSurfaceHandle are the daemon's own dmabufs, byte-exact when mapped;
# vaSyncSurface2 keeps its timeout (tests/vasync.c); bad input
# (garbage frames, a profile or size the driver does not offer, no daemon) ends in an error the
# client reports, within the kernel's timeout, and the next decode is byte-exact again.
# Arguments (clip names) limit the run to those.
. /src/tests/vm/lib.sh

use_va_driver

step "load the module and start the daemon"
load_daedalus
start_daemon
[ -e "$RENDER" ] || fail "no $RENDER (vgem)"

step "vainfo"
timeout 60 vainfo --display drm --device "$RENDER" >/tmp/vainfo 2>&1 || { cat /tmp/vainfo; fail "vainfo"; }
cat /tmp/vainfo
for p in H264ConstrainedBaseline H264Main H264High VP9Profile0 VP9Profile2 AV1Profile0; do
	grep -Eq "VAProfile${p}[[:space:]]*:[[:space:]]*VAEntrypointVLD" /tmp/vainfo || fail "vainfo does not list VAProfile$p"
done

failed=()
# ffmpeg_va CLIP [REFERENCE]: decode CLIP with FFmpeg's vaapi hwaccel, frames downloaded, each
# at its own size (-noautoscale), byte-exact with the clip's reference (or REFERENCE's)
ffmpeg_va() {
	local clip=$1 ref=${2:-${1%.*}} fmt out decoder=()
	fmt=$(clip_format "$clip" || true)
	out=/tmp/va-${clip//\//_}.framemd5
	# (FFmpeg prefers libdav1d, which has no hwaccel, to its own AV1 decoder, which has)
	[ "$(clip_codec "$clip")" = av1 ] && decoder=(-c:v av1)
	timeout -k 5 300 ffmpeg -nostdin -hide_banner -loglevel error -y \
		-hwaccel vaapi -hwaccel_device "$RENDER" -hwaccel_output_format vaapi \
		"${decoder[@]}" -i "$CLIPS/$clip" -noautoscale -vf "hwdownload,format=${fmt:-nv12}" \
		-fps_mode passthrough -f framemd5 "$out" || { failed+=("$clip"); return; }
	(same_md5 "$out" "$CLIPS/$ref.framemd5" "ffmpeg -hwaccel vaapi: $clip") ||
		failed+=("$clip")
}
clips=("$@")
if [ ${#clips[@]} = 0 ] && [ "$(uname -m)" = aarch64 ]; then
	# emulated arm64: the small clips of each kind (the guest has no FFmpeg: GStreamer only)
	clips=(vp9-320x240.ivf vp9-10bit-320x240.ivf h264-320x240.h264 av1-320x240.ivf)
elif [ ${#clips[@]} = 0 ]; then
	# H.264 in 10 bits has no VA-API profile FFmpeg would use (it decodes it in software)
	for c in "$CLIPS"/vp9-*.ivf "$CLIPS"/h264-*.h264 "$CLIPS"/av1-*.ivf; do
		case $c in */h264-10bit-*) continue ;; esac
		clips+=("${c##*/}")
	done
fi
have_ffmpeg=0
command -v ffmpeg >/dev/null && have_ffmpeg=1
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
# Each clip through both clients at the same time (two processes, two VA contexts on the
# node; the 1080p ones beside each other): what a browser and a player beside it do, in the
# time of the longer of the two.
for clip in "${clips[@]}"; do
	dec=va$(clip_codec "$clip")dec
	if [ "$have_ffmpeg" = 0 ]; then
		step "GStreamer $dec: $clip"
		gst_va "$clip"
		continue
	fi
	step "ffmpeg -hwaccel vaapi and GStreamer $dec at once: $clip"
	n=${#failed[@]}
	(gst_va "$clip" && [ ${#failed[@]} = "$n" ]) >/tmp/gstva.log 2>&1 &
	gst=$!
	ffmpeg_va "$clip"
	wait "$gst" || failed+=("$dec: $clip")
	sed "s/^/$dec: /" /tmp/gstva.log
done
if [ $# = 0 ] && [ "$have_ffmpeg" = 1 ]; then
	# streams as the world makes them (tests/vm/world.sh): FFmpeg makes a new VA context at
	# each size change (a new stream for the node), both ways
	for clip in resize/vp9-resize.ivf world/vp9-updown.ivf world/h264-updown.h264 \
		world/h264-mbaff.h264 world/h264-paff.h264 world/h264-fullrange.h264 world/vp9-fullrange.ivf \
		world/h264-short1.h264 world/h264-short9-bframes.h264 world/h264-slices45.h264 \
		world/av1-updown.ivf world/av1-scaled.ivf world/av1-superres.ivf world/av1-hidden-key.ivf; do
		step "ffmpeg -hwaccel vaapi: $clip"
		ffmpeg_va "$clip"
	done
	# a new SPS of the same size (High, then Main): FFmpeg makes a new VA context and keeps
	# its surfaces, which move to it
	step "ffmpeg -hwaccel vaapi: two H.264 streams of one size, one after the other"
	cat "$CLIPS/h264-320x240.h264" "$CLIPS/h264-main-cavlc-wp-320x240.h264" >/tmp/sps2.h264
	cat "$CLIPS/h264-320x240.framemd5" "$CLIPS/h264-main-cavlc-wp-320x240.framemd5" |
		grep -v '^#' >/tmp/sps2.framemd5
	timeout -k 5 300 ffmpeg -nostdin -hide_banner -loglevel error -y -hwaccel vaapi \
		-hwaccel_device "$RENDER" -hwaccel_output_format vaapi -i /tmp/sps2.h264 -noautoscale \
		-vf hwdownload,format=nv12 -fps_mode passthrough -f framemd5 /tmp/sps2-va.framemd5 &&
		(same_md5 /tmp/sps2-va.framemd5 /tmp/sps2.framemd5 "new SPS, same size") ||
		failed+=("new SPS, same size")
	# (world/h264-crop.h264 is left out: FFmpeg crops a hardware frame only at the right and
	# bottom, av_frame_apply_cropping, and leaves the left and top offsets to the application,
	# so hwdownload's frames are a window no reference here has)
fi
if [ $# = 0 ]; then
	# two streams in one process: one VA display, two contexts (a browser with two videos)
	step "two decodes in one GStreamer pipeline (one VA display, two contexts)"
	gst filesrc location="$CLIPS/vp9-320x240.ivf" ! ivfparse ! vp9parse ! vavp9dec ! \
		video/x-raw,format=NV12 ! filesink location=/tmp/two-a.yuv \
		filesrc location="$CLIPS/h264-320x240.h264" ! h264parse ! vah264dec ! \
		video/x-raw,format=NV12 ! filesink location=/tmp/two-b.yuv &&
		byte_exact vp9-320x240.ivf /tmp/two-a.yuv && byte_exact h264-320x240.h264 /tmp/two-b.yuv ||
		failed+=("two contexts in one display")
fi
step "zero-copy: vavp9dec's exported surfaces are the daemon's dmabufs"
GST_REGISTRY=/tmp/gst-registry.bin timeout 300 python3 /src/tests/expbuf.py \
	"$CLIPS/vp9-320x240.ivf" "$CLIPS/vp9-320x240.framemd5" "$DAEMON_PID" vavp9dec ||
	failed+=("zero-copy")

# FFmpeg's hwaccel hands back each VA surface before its picture is decoded; a client may poll
step "vaSyncSurface2: its timeout while the daemon is stopped, then the frame byte-exact"
timeout -k 5 60 "$VASYNC" "$CLIPS/vp9-320x240.ivf" "$CLIPS/vp9-320x240.framemd5" "$RENDER" \
	"$DAEMON_PID" || { kill -CONT "$DAEMON_PID"; failed+=("vaSyncSurface2"); }

if command -v mpv >/dev/null; then
	# headless, so copy-back (vaapi-copy: vaDeriveImage/vaGetImage); with a display, --hwdec=vaapi
	# hands mpv's renderer the exported dmabufs
	step "mpv --hwdec=vaapi-copy: hardware decoding reported active"
	timeout -k 5 300 mpv --no-config --vo=null --ao=null --hwdec=vaapi-copy \
		--vaapi-device="$RENDER" --msg-level=all=info "$CLIPS/vp9-320x240.ivf" >/tmp/mpv.log 2>&1 ||
		failed+=("mpv exited $?")
	grep -i "hardware decoding\|hwdec\|vaapi" /tmp/mpv.log | sed -n 1,5p
	grep -q "Using hardware decoding (vaapi-copy)" /tmp/mpv.log || failed+=("mpv: no hardware decoding")
	! grep -qi "falling back to software" /tmp/mpv.log || failed+=("mpv fell back to software")
fi

# va_err CLIP LOG [ARGS...]: decode CLIP with FFmpeg's vaapi hwaccel (no fallback to software:
# frames must be VA surfaces), log in LOG; the exit status is FFmpeg's
va_err() {
	local clip=$1 log=$2
	shift 2
	timeout -k 5 120 ffmpeg -nostdin -hide_banner -loglevel error -y \
		-hwaccel vaapi -hwaccel_device "$RENDER" -hwaccel_output_format vaapi "$@" \
		-i "$clip" -noautoscale -vf hwdownload,format=nv12 -f framemd5 /tmp/err.framemd5 \
		>"$log" 2>&1
}
if [ $# = 0 ] && [ "$have_ffmpeg" = 1 ]; then
	# FFmpeg parses VP9's headers itself (the compressed one too) and drops frames cut inside
	# them; cut inside the tiles, which only the decoder behind the driver reads (it conceals
	# them, as FFmpeg's software decoder does): the decode ends, and the next is clean
	step "bad input: garbage VP9 frames (every 3rd cut inside its tiles)"
	python3 /src/tests/corrupt.py "$CLIPS/vp9-320x240.ivf" /tmp/garbage.ivf 3 200
	rc=0
	va_err /tmp/garbage.ivf /tmp/garbage.log || rc=$?
	grep -m3 "daedalus" /tmp/garbage.log || true
	echo "ffmpeg exit status $rc, $(grep -vc '^#' /tmp/err.framemd5 || true) frames"
	[ "$rc" != 124 ] && [ "$rc" != 137 ] || failed+=("garbage: the decode hung")
	step "bad input: a profile the driver does not offer (H.264 High 10)"
	if va_err "$CLIPS/h264-10bit-320x240.h264" /tmp/profile.log; then
		failed+=("High 10 decoded through VA-API")
	fi
	grep -m2 -i "profile\|support" /tmp/profile.log || true
	step "bad input: a size the driver does not offer (4112x64)"
	ffmpeg -nostdin -hide_banner -loglevel error -f lavfi -i testsrc=s=4112x64:r=25 -frames 2 \
		-c:v libvpx-vp9 -y /tmp/wide.ivf
	if va_err /tmp/wide.ivf /tmp/wide.log; then
		failed+=("4112x64 decoded through VA-API")
	fi
	grep -m2 -i "size\|support" /tmp/wide.log || true
	step "bad input: no daemon"
	stop_daemon
	t0=$(now)
	if va_err "$CLIPS/vp9-320x240.ivf" /tmp/nodaemon.log; then
		failed+=("decoded without a daemon")
	fi
	echo "failed after $(seconds "$t0" "$(now)") s:"
	grep -m3 "daedalus" /tmp/nodaemon.log || true
	start_daemon
	step "and the next decode is byte-exact again"
	ffmpeg_va vp9-320x240.ivf
fi
stop_daemon
[ ${#failed[@]} = 0 ] || fail "${#failed[@]} failed: ${failed[*]}"
echo "vaapi: all passed"
