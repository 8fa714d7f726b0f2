#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Generate the test clips with trixie's FFmpeg encoders, and their reference output from FFmpeg's
# own software decoders: NAME.framemd5 (`ffmpeg -i NAME -pix_fmt FORMAT -f framemd5`: one MD5 per
# frame, so a mismatch names the frame; FORMAT is nv12, or p010le for the 10-bit clips, whose
# names say 10bit) and NAME.info (size, frame count, format). Every clip has a key frame in the
# middle and a Matroska copy (NAME.mkv, with timestamps), for the seek tests.
# Also writes a fluster test suite per codec (build/clips/fluster/*.json).
#
# Clips are deterministic for a given FFmpeg build (single-threaded encoders, fixed sources).
. "$(dirname "$0")/lib.sh"

OUT=$BUILD/clips
# --bench: the 1080p clips of ./daedalus bench (tests/vm/bench.sh), kept apart from the suite's
# (made only when asked: a minute of encoding nothing else needs), with their own stamp; and
# the first 15 pictures of each (NAME-head), for the bench's steady-state figures.
if [ "${1:-}" = --bench ]; then
	want=$(sha256sum "$0" | cut -c1-16)
	if [ -f "$OUT/bench/.stamp" ] && [ "$(cat "$OUT/bench/.stamp")" = "$want" ]; then
		log "bench clips up to date"
		exit 0
	fi
	mkdir -p "$OUT/bench"
	in_buildenv /bin/bash -euo pipefail -c '
		cd /build/clips/bench
		ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }
		src() { echo "testsrc2=size=1920x1080:rate=30,format=$1"; }
		for depth in 8 10; do
			fmt=yuv420p tag= vp9=() x264=(-profile:v high)
			if [ $depth = 10 ]; then
				fmt=yuv420p10le tag=-10bit vp9=(-profile:v 2) x264=(-profile:v high10)
			fi
			ff -f lavfi -i "$(src $fmt)" -frames:v 60 -c:v libvpx-vp9 -b:v 4M -g 30 \
				-deadline realtime -cpu-used 8 "${vp9[@]}" -pix_fmt $fmt vp9$tag-1920x1080.ivf
			ff -f lavfi -i "$(src $fmt)" -frames:v 60 -c:v libx264 -preset veryfast -bf 3 \
				-g 30 -x264-params threads=1 "${x264[@]}" -pix_fmt $fmt \
				-bsf:v h264_mp4toannexb -f h264 h264$tag-1920x1080.h264
			SVT_LOG=1 ff -f lavfi -i "$(src $fmt)" -frames:v 60 -c:v libsvtav1 -preset 12 \
				-g 30 -pix_fmt $fmt av1$tag-1920x1080.ivf
		done
		# the first 15 pictures of each, as coded (no new encode): the bench decodes both and
		# takes the difference, the start-up costs (process, plugins, the worker of the
		# stream, the first key frame) out
		for clip in *-1920x1080.ivf *-1920x1080.h264; do
			raw=()
			case $clip in *.h264) raw=(-f h264) ;; esac
			ff -i "$clip" -c copy -frames:v 15 "${raw[@]}" "${clip%.*}-head.${clip##*.}"
		done
		for clip in *.ivf *.h264; do
			dec= fmt=nv12
			case $clip in av1*) dec="-c:v libdav1d" ;; esac
			case $clip in *10bit*) fmt=p010le ;; esac
			ff $dec -i "$clip" -pix_fmt $fmt -f framemd5 "${clip%.*}.framemd5"
			printf "clip=%s\nsize=1920x1080\nformat=%s\nframes=%s\n" "$clip" "$fmt" \
				"$(grep -vc "^#" "${clip%.*}.framemd5")" >"${clip%.*}.info"
		done
	'
	echo "$want" >"$OUT/bench/.stamp"
	exit 0
fi
want=$(cat "$0" "$TOP"/tools/{fluster-suite,av1-hidden-key,h264-fields}.py "$TOP/tests/fuzz.py" |
	sha256sum | cut -c1-16)
if [ -f "$OUT/.stamp" ] && [ "$(cat "$OUT/.stamp")" = "$want" ]; then
	log "clips up to date"
	exit 0
fi
mkdir -p "$OUT"
rm -f "$OUT/.stamp"

in_buildenv /bin/bash -euo pipefail -c '
	cd /build/clips
	ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }
	src() { echo "testsrc2=size=$1:rate=30,format=${2:-yuv420p}"; }

	# VP9 with hidden alt-ref frames: libvpx emits them only with two-pass encoding. A key
	# frame every 30 frames (1 s), for the seek test.
	vp9_2pass() { # NAME SIZE FRAMES BITRATE [FFMPEG OPTIONS...]
		local name=$1 size=$2 frames=$3 rate=$4 fmt=yuv420p
		shift 4
		case $name in *10bit*) fmt=yuv420p10le ;; esac
		ff -f lavfi -i "$(src "$size" $fmt)" -frames:v "$frames" -c:v libvpx-vp9 -b:v "$rate" \
			-deadline good -cpu-used 4 -auto-alt-ref 1 -lag-in-frames 16 -g 30 -threads 1 \
			"$@" -pass 1 -passlogfile "$name.pass" -f null -
		ff -f lavfi -i "$(src "$size" $fmt)" -frames:v "$frames" -c:v libvpx-vp9 -b:v "$rate" \
			-deadline good -cpu-used 4 -auto-alt-ref 1 -lag-in-frames 16 -g 30 -threads 1 \
			"$@" -pass 2 -passlogfile "$name.pass" "$name"
		rm -f "$name".pass*
	}
	vp9_2pass vp9-320x240.ivf 320x240 60 300k
	vp9_2pass vp9-1920x1080.ivf 1920x1080 60 3M
	# A size whose planes are no whole number of pages, 4 KiB or 16 KiB (tests/vm/pagesize.sh).
	vp9_2pass vp9-350x202.ivf 350x202 60 200k
	# Profile 2: 10-bit 4:2:0, to P010.
	vp9_2pass vp9-10bit-320x240.ivf 320x240 60 300k -profile:v 2 -pix_fmt yuv420p10le
	# A resolution change (320x240, then 352x288 from a key frame on) for the stateful node
	# (tests/vm/stateful.sh); kept apart from the suites, whose clips keep one size. Its
	# reference keeps each frame at its own size (-noautoscale).
	mkdir -p resize
	vp9_2pass resize/a.ivf 320x240 30 300k
	vp9_2pass resize/b.ivf 352x288 30 300k
	printf "file %s\n" a.ivf b.ivf >resize/list.txt
	ff -f concat -safe 0 -i resize/list.txt -c copy resize/vp9-resize.ivf
	rm resize/a.ivf resize/b.ivf resize/list.txt
	ff -i resize/vp9-resize.ivf -noautoscale -pix_fmt nv12 -f framemd5 resize/vp9-resize.framemd5
	for size in 320x240 352x288; do
		n=$(grep -c ", *$((${size%x*} * ${size#*x} * 3 / 2)), " resize/vp9-resize.framemd5)
		[ "$n" -eq 30 ] || { echo "resize/vp9-resize.ivf: $n frames of $size, not 30"; exit 1; }
	done

	# H.264 from x264, each clip exercising a part of the bridge: Matroska (timestamps, for
	# the seek test) and the Annex B elementary stream taken from it.
	x264() { # NAME SOURCE FRAMES PROFILE X264-PARAMS [FFMPEG OPTIONS...]
		local name=$1 source=$2 frames=$3 profile=$4 params=$5
		shift 5
		ff -f lavfi -i "$source" -frames:v "$frames" -c:v libx264 -profile:v "$profile" \
			-x264-params "$params:threads=1" "$@" "${name%.h264}.mkv"
		ff -i "${name%.h264}.mkv" -c copy -bsf:v h264_mp4toannexb "$name"
	}
	# High, 3 B-frames with b-pyramid (decode order is not display order).
	x264 h264-320x240.h264 "$(src 320x240)" 60 high b-pyramid=normal:keyint=30 -bf 3
	# Baseline (CAVLC, no B), four slices per picture.
	x264 h264-baseline-slices-320x240.h264 "$(src 320x240)" 60 baseline slices=4:keyint=30
	# Main, CAVLC, explicit weighted P prediction and implicit weighted bi-prediction, on a
	# fade (weights are only chosen where brightness changes).
	x264 h264-main-cavlc-wp-320x240.h264 "$(src 320x240),fade=in:0:30" 60 main \
		weightp=2:weightb=1:keyint=30 -coder 0 -bf 2
	# High with the JVT scaling matrices (the scaling-matrix control, rebuilt into the PPS).
	x264 h264-cqm-320x240.h264 "$(src 320x240)" 60 high cqm=jvt:keyint=30 -bf 2
	# 1080p with an IDR every 8 frames (the decoder starts over at each). Four slices, so
	# that the slice threads of the daemon share a picture: GStreamer gives a request one second,
	# and emulated CPUs in the VM are ~40x slower than real ones.
	x264 h264-1920x1080-idr.h264 "$(src 1920x1080)" 24 high \
		keyint=8:min-keyint=8:scenecut=0:slices=4 -bf 2
	# High 10: 10-bit 4:2:0 with B-frames, to P010.
	x264 h264-10bit-320x240.h264 "$(src 320x240 yuv420p10le)" 60 high10 \
		b-pyramid=normal:keyint=30 -bf 3 -pix_fmt yuv420p10le

	# Streams as the world makes them (tests/vm/world.sh, kept out of the suites): each a class
	# of stream that players meet every day. Their references keep each frame at its own size.
	mkdir -p world
	# segments NAME ENCODE SIZE:FRAMES...: one segment per SIZE (ENCODE SIZE FRAMES OUT encodes
	# one), joined in order, so the stream grows and shrinks at key frames (a new sequence
	# each time)
	segments() {
		local name=$1 enc=$2 ext=${1##*.} i=0 seg
		shift 2
		rm -f world/list.txt
		for seg in "$@"; do
			"$enc" "${seg%:*}" "${seg#*:}" "world/seg$i.$ext"
			echo "file seg$i.$ext" >>world/list.txt
			i=$((i + 1))
		done
		ff -f concat -safe 0 -i world/list.txt -c copy "world/$name"
		rm -f world/seg* world/list.txt
	}
	vp9_seg() { ff -f lavfi -i "$(src "$1")" -frames:v "$2" -c:v libvpx-vp9 -b:v 200k \
		-deadline good -cpu-used 8 -threads 1 "$3"; }
	av1_seg() { ff -f lavfi -i "$(src "$1")" -frames:v "$2" -c:v libaom-av1 -b:v 200k \
		-cpu-used 8 -threads 1 "$3"; }
	h264_seg() { ff -f lavfi -i "$(src "$1")" -frames:v "$2" -c:v libx264 -bf 2 \
		-x264-params threads=1 -bsf:v h264_mp4toannexb -f h264 "$3"; }
	# A player stepping down and back up: larger, smaller, smallest, larger again. The last
	# change comes 30 pictures before the end: FFmpeg'"'"'s v4l2m2m wrapper cannot take one once
	# it drains (docs/stateful.md), and it queues up to 16 packets ahead.
	for codec in vp9 av1 h264; do
		ext=ivf
		[ $codec = h264 ] && ext=h264
		segments $codec-updown.$ext ${codec}_seg 352x288:10 320x240:10 176x144:10 352x288:30
	done
	# AV1 frames that change size between key frames, each predicted from references of
	# other sizes (reference scaling: SVT-AV1'"'"'s random resize, low delay as video calls are,
	# so that every frame shows when decoded), and frames coded narrower and upscaled
	# (superres).
	SVT_LOG=1 ff -f lavfi -i "$(src 320x240)" -frames:v 30 -c:v libsvtav1 -preset 8 -g 60 \
		-svtav1-params lp=1:pred-struct=1:resize-mode=2 world/av1-scaled.ivf
	SVT_LOG=1 ff -f lavfi -i "$(src 320x240)" -frames:v 30 -c:v libsvtav1 -preset 8 -g 60 \
		-svtav1-params lp=1:superres-mode=2 world/av1-superres.ivf
	# AV1 key frames decoded hidden into one reference slot and shown later (show_existing_frame
	# refreshes every slot: what libaom'"'"'s forward key frames do): libaom writes shown key
	# frames only, so tools/av1-hidden-key.py rewrites them. A new picture at frame 20.
	ff -f lavfi -i "$(src 320x240)" -f lavfi -i "testsrc=size=320x240:rate=30:duration=1" \
		-filter_complex "[0]trim=end_frame=20[a];[a][1]concat=n=2:v=1,format=yuv420p" \
		-c:v libaom-av1 -b:v 200k -cpu-used 8 -threads 1 -tile-columns 1 \
		-aom-params num-tile-groups=2 -force_key_frames 0.667 world/key.ivf
	python3 /src/tools/av1-hidden-key.py world/key.ivf world/av1-hidden-key.ivf
	rm world/key.ivf
	# VP9 likewise, from libvpx'"'"'s two-pass rate control, which scales frames down and up
	# again between key frames when the rate is too low for the size (213x160, odd); a long
	# stream that changes size several times both ways, at key frames and between them: that
	# stream twice, with key-frame segments of other sizes after each (the last change 30
	# pictures before the end, as above).
	ff -f lavfi -i "$(src 320x240)" -frames:v 60 -f yuv4mpegpipe world/src.y4m
	vpxenc --codec=vp9 --good --cpu-used=8 --passes=2 --end-usage=vbr --target-bitrate=10 \
		--resize-allowed=1 --kf-max-dist=9999 --threads=1 --ivf -q -o world/scaled.ivf \
		world/src.y4m </dev/null
	vp9_seg 352x288 10 world/seg-a.ivf
	vp9_seg 176x144 30 world/seg-b.ivf
	printf "file %s\n" scaled.ivf seg-a.ivf scaled.ivf seg-b.ivf >world/list.txt
	ff -f concat -safe 0 -i world/list.txt -c copy world/vp9-scaled.ivf
	rm world/src.y4m world/scaled.ivf world/seg-a.ivf world/seg-b.ivf world/list.txt
	# 10-bit as the stateful node gives it to clients that know no P010 (FFmpeg'"'"'s wrappers):
	# the reference is FFmpeg'"'"'s own conversion to NV12.
	ff -i h264-10bit-320x240.h264 -pix_fmt nv12 -f framemd5 world/h264-10bit-as-nv12.framemd5
	ff -i vp9-10bit-320x240.ivf -pix_fmt nv12 -f framemd5 world/vp9-10bit-as-nv12.framemd5
	# Full range (video_full_range_flag, "yuvj420p": phones, screen recorders).
	ff -f lavfi -i "$(src 320x240 yuvj420p)" -frames:v 20 -c:v libx264 -bf 2 \
		-x264-params threads=1 -color_range pc world/h264-fullrange.h264
	ff -f lavfi -i "$(src 320x240 yuvj420p)" -frames:v 20 -c:v libvpx-vp9 -deadline good \
		-cpu-used 8 -threads 1 -color_range pc world/vp9-fullrange.ivf
	# Interlaced H.264 (broadcast TV, camcorders): MBAFF frames, top field first, with
	# B-frames; and progressive frames in an interlaced stream (x264 --fake-interlaced).
	ff -f lavfi -i "$(src 320x240)" -frames:v 20 -c:v libx264 -bf 2 \
		-x264-params threads=1:tff=1 world/h264-mbaff.h264
	ff -f lavfi -i "$(src 320x240)" -frames:v 20 -c:v libx264 -bf 2 \
		-x264-params threads=1:fake-interlaced=1:pic-struct=1 world/h264-fake-interlaced.h264
	# Field pictures (PAFF), with frame pictures between them: no encoder in Debian writes
	# them, so tools/h264-fields.py does (I_PCM and P_Skip macroblocks only).
	ff -f lavfi -i "$(src 320x192)" -frames:v 20 -f rawvideo world/src.yuv
	python3 /src/tools/h264-fields.py 320x192 world/src.yuv world/h264-paff.h264
	rm world/src.yuv
	# Many slices per picture: 720p intra pictures in 1, 8, 45 (one per macroblock row, as
	# broadcasters cut them) and 900 slices (4 macroblocks each). 720p, not 1080p: GStreamer
	# waits one second for a picture, and in the emulated VM FFmpeg alone took 1.1-1.4 s for a
	# 1080p picture of 1020 slices, so the test measured the speed of the machine.
	for n in 1 8 45 max; do
		p=slices=$n
		[ $n = max ] && p=slice-max-mbs=4
		ff -f lavfi -i "$(src 1280x720)" -frames:v 3 -c:v libx264 -bf 0 \
			-x264-params "threads=1:keyint=1:$p" world/h264-slices$n.h264
	done
	# PCM macroblocks (raw samples: what x264 writes for noise at high rates without its
	# psychovisual tuning), about half of each picture: frames larger than their raw pictures.
	ff -f lavfi -i "$(src 320x240),noise=alls=20:allf=t" -frames:v 10 -c:v libx264 -qp 2 \
		-bf 2 -x264-params threads=1:psy=0:subme=9 world/h264-pcm.h264
	# Frame cropping on all four sides (left 2, top 4, right 6, bottom 8: 312x228 visible);
	# and the window of that size at the top left of the coded picture, which GStreamer'"'"'s
	# v4l2slh264dec outputs (docs/testing.md).
	ff -f lavfi -i "$(src 320x240)" -frames:v 10 -c:v libx264 -bf 2 \
		-x264-params threads=1:crop-rect=2,4,6,8 world/h264-crop.h264
	# Short streams: one, two and three pictures, and nine with B-frames.
	for n in 1 2 3; do
		ff -f lavfi -i "$(src 320x240)" -frames:v $n -c:v libx264 -bf 2 \
			-x264-params threads=1 world/h264-short$n.h264
		ff -f lavfi -i "$(src 320x240)" -frames:v $n -c:v libvpx-vp9 -deadline good \
			-cpu-used 8 -threads 1 world/vp9-short$n.ivf
	done
	ff -f lavfi -i "$(src 320x240)" -frames:v 9 -c:v libx264 -bf 3 \
		-x264-params threads=1:b-pyramid=normal world/h264-short9-bframes.h264
	# Each clip'"'"'s reference, and from the same decode the size of each of its frames
	# (CLIP.sizes, showinfo'"'"'s log: framecmp.py --frames takes a GStreamer frame in any of the
	# layouts it comes in).
	for clip in world/*.ivf world/*.h264; do
		dec=
		case $clip in *av1*) dec="-c:v libdav1d" ;; esac
		# shellcheck disable=SC2086 # $dec is two words or none
		ffmpeg -nostdin -hide_banner -y $dec -i "$clip" -vf showinfo -noautoscale \
			-pix_fmt nv12 -f framemd5 "${clip%.*}.framemd5" 2>&1 |
			grep -o " s:[0-9]*x[0-9]*" | cut -c4- >"${clip%.*}.sizes"
	done
	ff -flags2 +ignorecrop -i world/h264-crop.h264 -vf crop=312:228:0:0 -pix_fmt nv12 \
		-f framemd5 world/h264-crop-topleft.framemd5
	cp world/h264-crop.sizes world/h264-crop-topleft.sizes

	# Streams the decoder refuses (tests/vm/robustness.sh), kept out of the suites: VP9 profile 1
	# (4:4:4), H.264 High 4:2:2 and AV1 high profile (4:4:4).
	mkdir -p unsupported
	ff -f lavfi -i "$(src 320x240 yuv444p)" -frames:v 10 -c:v libvpx-vp9 -deadline good \
		-cpu-used 8 -threads 1 unsupported/vp9-444-320x240.ivf
	ff -f lavfi -i "$(src 320x240 yuv422p)" -frames:v 10 -c:v libx264 -profile:v high422 \
		-x264-params threads=1 -f h264 unsupported/h264-422-320x240.h264
	ff -f lavfi -i "$(src 320x240 yuv444p)" -frames:v 5 -c:v libaom-av1 -cpu-used 8 \
		-threads 1 unsupported/av1-444-320x240.ivf

	# AV1 from libaom, random access (hidden frames shown later), 8- and 10-bit.
	ff -f lavfi -i "$(src 320x240)" -frames:v 60 -c:v libaom-av1 -cpu-used 8 -b:v 200k \
		-lag-in-frames 16 -g 30 -threads 1 av1-320x240.ivf
	ff -f lavfi -i "$(src 320x240 yuv420p10le)" -frames:v 60 -c:v libaom-av1 -cpu-used 8 \
		-b:v 200k -lag-in-frames 16 -g 30 -threads 1 -pix_fmt yuv420p10le av1-10bit-320x240.ivf
	# AV1 with global motion (a camera pan over the test picture; libaom at -cpu-used 3 models
	# it as rotation and zoom, coded against the primary reference frame'"'"'s parameters).
	ff -f lavfi -i "testsrc2=size=640x480:rate=30,crop=320:240:x=t*60:y=t*30,format=yuv420p" \
		-frames:v 60 -c:v libaom-av1 -cpu-used 3 -b:v 300k -lag-in-frames 16 -g 30 -threads 1 \
		-aom-params enable-global-motion=1 av1-gm-320x240.ivf
	# AV1 in error-resilient mode: every frame header repeats the reference order hints.
	ff -f lavfi -i "$(src 320x240)" -frames:v 60 -c:v libaom-av1 -cpu-used 8 -b:v 200k \
		-lag-in-frames 16 -g 30 -threads 1 -error-resilience default av1-er-320x240.ivf
	# AV1 from SVT-AV1: random access with hierarchical B-frames (half of them hidden), a key
	# frame every 30 frames (seek test); and with film grain synthesis.
	export SVT_LOG=1
	ff -f lavfi -i "$(src 320x240)" -frames:v 60 -c:v libsvtav1 -preset 8 -g 30 \
		-svtav1-params lp=1 av1-svt-320x240.ivf
	ff -f lavfi -i "$(src 320x240)" -frames:v 60 -c:v libsvtav1 -preset 8 -g 30 \
		-svtav1-params lp=1:film-grain=8 av1-grain-320x240.ivf

	for clip in vp9-*.ivf av1-*.ivf; do
		ff -i "$clip" -c copy "${clip%.ivf}.mkv"
	done
	th() { ffmpeg -nostdin -hide_banner -i "$1" -c copy -bsf:v trace_headers -f null - 2>&1; }
	for clip in vp9-*.ivf h264-*.h264 av1-*.ivf; do
		dec= fmt=nv12
		case $clip in av1*) dec="-c:v libdav1d" ;; esac
		case $clip in *10bit*) fmt=p010le ;; esac
		ff $dec -i "$clip" -pix_fmt $fmt -f framemd5 "${clip%.*}.framemd5"
		frames=$(grep -vc "^#" "${clip%.*}.framemd5")
		size=$(ffprobe -v error -select_streams v:0 -show_entries stream=width,height \
			-of csv=p=0:s=x "$clip")
		packets=$(ffprobe -v error -select_streams v:0 -count_packets \
			-show_entries stream=nb_read_packets -of csv=p=0 "$clip")
		hidden=0
		case $clip in vp9*)
			split=$(ffmpeg -nostdin -v error -i "$clip" -c copy -bsf:v vp9_superframe_split \
				-f framecrc - | grep -vc "^#")
			hidden=$((split - packets)) ;;
		av1*)
			hidden=$(th "$clip" | grep -cE "show_frame +0 = 0" || true) ;;
		esac
		printf "clip=%s\nsize=%s\nformat=%s\nframes=%s\npackets=%s\nhidden_frames=%s\n" \
			"$clip" "$size" "$fmt" "$frames" "$packets" "$hidden" > "${clip%.*}.info"
	done
	# The VP9 and AV1 clips are only useful if they really have hidden frames.
	for info in vp9-*.info av1-*.info; do
		grep -q "^hidden_frames=[1-9]" "$info" || { echo "$info: no hidden frames"; exit 1; }
	done
	# ... and the others only if they use what they are meant to exercise.
	has() { # CLIP WHAT REGEX [MIN-COUNT]
		local n
		n=$(th "$1" | grep -cE "$3" || true)
		[ "$n" -ge "${4:-1}" ] || { echo "$1: no $2"; exit 1; }
		echo "$1: $2 ($n)"
	}
	has h264-320x240.h264 "B slices" "slice_type +[0-9]+ = (1|6)$"
	has h264-baseline-slices-320x240.h264 "4 slices per picture" "Slice Header$" 120
	has h264-main-cavlc-wp-320x240.h264 "CAVLC" "entropy_coding_mode_flag +0 = 0"
	has h264-main-cavlc-wp-320x240.h264 "explicit weights" "luma_log2_weight_denom"
	has h264-main-cavlc-wp-320x240.h264 "implicit bi-prediction" "weighted_bipred_idc +10 = 2"
	has h264-cqm-320x240.h264 "scaling matrices" "pic_scaling_matrix_present_flag +1 = 1"
	has h264-1920x1080-idr.h264 "IDR pictures" "nal_unit_type +00101 = 5" 3
	has h264-10bit-320x240.h264 "10-bit samples" "bit_depth_luma_minus8 +[01]+ = 2"
	has h264-10bit-320x240.h264 "B slices" "slice_type +[0-9]+ = (1|6)$"
	has av1-320x240.ivf "frames shown later" "show_existing_frame +1 = 1"
	has av1-svt-320x240.ivf "frames shown later" "show_existing_frame +1 = 1" 10
	has av1-svt-320x240.ivf "key frames" "frame_type +00 = 0" 2
	has av1-grain-320x240.ivf "film grain" "apply_grain +1 = 1" 10
	has av1-10bit-320x240.ivf "10-bit samples" "high_bitdepth +1 = 1"
	has av1-er-320x240.ivf "error-resilient frames" "error_resilient_mode +1 = 1" 10
	has av1-er-320x240.ivf "reference order hints" "ref_order_hint" 10
	has av1-gm-320x240.ivf "global motion (rotation and zoom)" "is_rot_zoom\[[0-9]\] +1 = 1" 10
	has world/av1-scaled.ivf "frames smaller than the sequence maximum" \
		"frame_size_override_flag +1 = 1" 20
	[ "$(sort -u world/av1-scaled.sizes | wc -l)" -ge 5 ] || { echo "av1-scaled: few sizes"; exit 1; }
	keys=$(th world/vp9-scaled.ivf | grep -cE "frame_type +0 = 0" || true)
	runs=$(uniq world/vp9-scaled.sizes | wc -l)
	[ "$keys" = 4 ] && [ "$runs" -ge 8 ] ||
		{ echo "world/vp9-scaled.ivf: $keys key frames, $runs runs of a size"; exit 1; }
	echo "world/vp9-scaled.ivf: sizes change at key frames and between them" \
		"($runs runs of a size, $keys key frames)"
	has world/av1-superres.ivf "superres" "use_superres +1 = 1" 10
	keys=$(th world/av1-hidden-key.ivf | grep -E "frame_type|show_frame " |
		grep -A1 -E "frame_type +00 = 0" | grep -cE "show_frame +0 = 0" || true)
	[ "$keys" -ge 1 ] || { echo "world/av1-hidden-key.ivf: no key frame shown later"; exit 1; }
	echo "world/av1-hidden-key.ivf: key frames shown later ($keys)"
	pcm=$(ffmpeg -nostdin -hide_banner -debug mb_type -i world/h264-pcm.h264 -f null - 2>&1 |
		grep -o " P " | wc -l)
	[ "$pcm" -ge 1000 ] || { echo "world/h264-pcm.h264: $pcm PCM macroblocks"; exit 1; }
	echo "world/h264-pcm.h264: PCM macroblocks ($pcm of 3000)"
	has world/h264-mbaff.h264 "MBAFF" "mb_adaptive_frame_field_flag +1 = 1"
	has world/h264-paff.h264 "field pictures" "field_pic_flag +1 = 1" 30
	has world/h264-paff.h264 "frame pictures beside them" "field_pic_flag +0 = 0" 5
	has world/h264-fake-interlaced.h264 "an interlaced SPS" "frame_mbs_only_flag +0 = 0"
	has world/h264-fullrange.h264 "full range" "video_full_range_flag +1 = 1"
	has world/h264-crop.h264 "a crop with a left and top offset" "frame_crop_top_offset +[01]+ = 2"
	has world/h264-slices45.h264 "45 slices per picture" "Slice Header$" 135
	has world/h264-slicesmax.h264 "900 slices per picture" "Slice Header$" 2700
	python3 /src/tools/fluster-suite.py /build/clips
	# The reference score: the software decoders on the same suites, natively (the VM runs only
	# our device through fluster: tests/vm/fluster.sh). FFmpeg'"'"'s for VP9 and H.264; fluster has
	# no FFmpeg software AV1 decoder, so for AV1 the dav1d tool, on libdav1d as FFmpeg uses it.
	for pair in DAEDALUS-VP9:FFmpeg-VP9 DAEDALUS-H264:FFmpeg-H.264 DAEDALUS-AV1:dav1d-AV1; do
		suite=${pair%%:*}
		fluster -ne -tsd fluster/suites -r fluster/resources -o /tmp/fluster-out run -j 2 \
			-ts "$suite" -d "${pair#*:}" -s -so "fluster/reference-$suite.md" >/dev/null
		grep -H "^|TOTAL|" "fluster/reference-$suite.md"
	done
'
echo "$want" >"$OUT/.stamp"
grep -H . "$OUT"/*.info
