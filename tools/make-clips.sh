#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Generate the test clips with trixie's FFmpeg encoders, and their reference output from FFmpeg's
# own software decoders: NAME.nv12 (`ffmpeg -i NAME -pix_fmt nv12 -f rawvideo`), NAME.framemd5
# (one MD5 per NV12 frame, so a mismatch names the frame) and NAME.info (size, frame count).
# Also writes a fluster test suite per codec (build/clips/fluster/*.json).
#
# Clips are deterministic for a given FFmpeg build (single-threaded encoders, fixed sources).
. "$(dirname "$0")/lib.sh"

OUT=$BUILD/clips
want=$(cat "$0" "$TOP/tools/fluster-suite.py" | sha256sum | cut -c1-16)
if [ -f "$OUT/.stamp" ] && [ "$(cat "$OUT/.stamp")" = "$want" ]; then
	log "clips up to date"
	exit 0
fi
mkdir -p "$OUT"
rm -f "$OUT/.stamp"

in_buildenv /bin/bash -euo pipefail -c '
	cd /build/clips
	ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }
	src() { echo "testsrc2=size=$1:rate=30,format=yuv420p"; }

	# VP9 with hidden alt-ref frames: libvpx emits them only with two-pass encoding.
	vp9_2pass() { # NAME SIZE FRAMES BITRATE
		ff -f lavfi -i "$(src "$2")" -frames:v "$3" -c:v libvpx-vp9 -b:v "$4" \
			-deadline good -cpu-used 4 -auto-alt-ref 1 -lag-in-frames 16 -threads 1 \
			-pass 1 -passlogfile "$1.pass" -f null -
		ff -f lavfi -i "$(src "$2")" -frames:v "$3" -c:v libvpx-vp9 -b:v "$4" \
			-deadline good -cpu-used 4 -auto-alt-ref 1 -lag-in-frames 16 -threads 1 \
			-pass 2 -passlogfile "$1.pass" "$1"
		rm -f "$1".pass*
	}
	vp9_2pass vp9-320x240.ivf 320x240 60 300k
	vp9_2pass vp9-1920x1080.ivf 1920x1080 120 3M

	# H.264 High, 3 B-frames with b-pyramid, Annex B elementary stream.
	ff -f lavfi -i "$(src 320x240)" -frames:v 60 -c:v libx264 -profile:v high -bf 3 \
		-x264-params b-pyramid=normal:keyint=30:threads=1 -bsf:v h264_mp4toannexb \
		h264-320x240.h264

	# AV1 from libaom, random access (hidden frames shown later).
	ff -f lavfi -i "$(src 320x240)" -frames:v 30 -c:v libaom-av1 -cpu-used 8 -b:v 200k \
		-lag-in-frames 16 -threads 1 av1-320x240.ivf

	for clip in vp9-320x240.ivf vp9-1920x1080.ivf h264-320x240.h264 av1-320x240.ivf; do
		dec=
		case $clip in av1*) dec="-c:v libdav1d" ;; esac
		ff $dec -i "$clip" -pix_fmt nv12 -f rawvideo "${clip%.*}.nv12"
		ff $dec -i "$clip" -pix_fmt nv12 -f framemd5 "${clip%.*}.framemd5"
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
		esac
		printf "clip=%s\nsize=%s\nframes=%s\npackets=%s\nhidden_frames=%s\n" \
			"$clip" "$size" "$frames" "$packets" "$hidden" > "${clip%.*}.info"
	done
	# The VP9 clips are only useful if they really have hidden frames.
	for info in vp9-*.info; do
		grep -q "^hidden_frames=[1-9]" "$info" || { echo "$info: no hidden frames"; exit 1; }
	done
	python3 /src/tools/fluster-suite.py /build/clips
'
echo "$want" >"$OUT/.stamp"
grep -H . "$OUT"/*.info
