# SPDX-License-Identifier: GPL-2.0
# Streams as the world makes them (tools/make-clips.sh: build/clips/world/): a stream that
# shrinks and grows again at key frames, full-range video, interlaced H.264 (MBAFF, field
# pictures, and progressive frames flagged interlaced), streams of one to nine pictures, through
# every client of each node, each frame byte-exact with FFmpeg's software decode (each at its
# own size); 10-bit through FFmpeg's wrappers (which know no P010) as NV12; streams a node
# cannot decode end with an error the client sees (VP9 4:4:4 on the stateful node), 720p
# pictures of 1 to 900 slices, PCM macroblocks; VP9 and AV1 frames that change size between
# key frames (reference scaling), AV1 superres, AV1 key frames shown later.
# Arguments (clip names, "unsupported") limit the run to those.
. /src/tests/vm/lib.sh

SF=/dev/video10
W=world

parser() { # CLIP: the GStreamer elements that take the clip's file to parsed frames
	case $1 in *.ivf) echo "ivfparse ! $(clip_codec "$1")parse" ;; *) echo "$(clip_codec "$1")parse" ;; esac
}
# gst_frames CLIP DECODER [REFERENCE]: decode the clip with GStreamer's DECODER, a file per
# frame, and compare each with the reference (default: the clip's), at its size (REFERENCE.sizes)
gst_frames() {
	local clip=$1 dec=$2 ref=${3:-${1%.*}} out=/tmp/frames-$2
	rm -rf "$out"
	mkdir "$out"
	# shellcheck disable=SC2046 # the parser is several words
	gst filesrc location="$CLIPS/$W/$clip" ! $(parser "$clip") ! "$dec" ! \
		video/x-raw,format=NV12 ! multifilesink location="$out/%05d.nv12" ||
		fail "$dec failed on $clip"
	python3 /src/tests/framecmp.py --frames "$out" "$CLIPS/$W/$ref.framemd5" \
		"$CLIPS/$W/$ref.sizes" || fail "$dec: $clip"
}
FFMPEG_TIMEOUT=120
WORLD_CLIPS="$*"
want() { # CLIP: the clip is one this run takes
	[ -z "$WORLD_CLIPS" ] && return 0
	case " $WORLD_CLIPS " in *" $1 "*) return 0 ;; esac
	return 1
}

step "load the module and start the daemon"
load_daedalus
start_daemon

failed=()
# check WHAT CMD...: run CMD in a subshell (a fail ends only it); count what failed
check() {
	local what=$1
	shift
	step "$what"
	("$@") || failed+=("$what")
}
sfclient_av1() { # CLIP
	timeout -k 5 120 "$SFCLIENT" "$SF" "$CLIPS/$W/$1" "$CLIPS/$W/${1%.*}.framemd5" AV01 ||
		fail "sfclient on $1"
}
ffmpeg_frames() { # CLIP
	ffmpeg_sf "$W/$1" /tmp/out.framemd5 || fail "ffmpeg failed on $1"
	same_md5 /tmp/out.framemd5 "$CLIPS/$W/${1%.*}.framemd5" "$(clip_codec "$1")_v4l2m2m: $1"
}
# Every clip through each client of its codec. Besides the kinds named above: VP9 and AV1
# frames that change size between key frames (GStreamer sets the new OUTPUT format while both
# queues stream, the references of other sizes staying queued, and outputs each frame at its
# size; the stateful node tells each new size, 213x160 being odd, with a source change; VP9:
# 160 frames, 7 changes of size, 3 at key frames and 4 between them), AV1 frames coded
# narrower than they show (superres), and AV1 key frames decoded hidden and shown later
# (show_existing_frame, which refreshes every reference slot: the stateless client sends no
# job for the showing, only the slots of the next frame say it happened).
for clip in vp9-updown.ivf av1-updown.ivf h264-updown.h264 h264-fullrange.h264 \
	vp9-fullrange.ivf h264-mbaff.h264 h264-paff.h264 h264-fake-interlaced.h264 \
	h264-short1.h264 h264-short2.h264 h264-short3.h264 h264-short9-bframes.h264 \
	vp9-short1.ivf vp9-short2.ivf vp9-short3.ivf h264-pcm.h264 \
	vp9-scaled.ivf av1-scaled.ivf av1-superres.ivf av1-hidden-key.ivf; do
	want "$clip" || continue
	codec=$(clip_codec "$clip")
	# the stateless client decodes beside the stateful ones: both nodes at once
	sl=v4l2sl${codec}dec
	step "stateless, GStreamer $sl: $clip (beside the stateful decodes below)"
	(gst_frames "$clip" "$sl") >/tmp/sl.log 2>&1 &
	slpid=$!
	if [ "$codec" = av1 ]; then
		check "stateful, sfclient (v4l2r): $clip" sfclient_av1 "$clip"
	else
		check "stateful, FFmpeg ${codec}_v4l2m2m: $clip" ffmpeg_frames "$clip"
		check "stateful, GStreamer v4l2${codec}dec: $clip" gst_frames "$clip" "v4l2${codec}dec"
	fi
	wait "$slpid" || failed+=("stateless, GStreamer $sl: $clip")
	sed "s/^/$sl: /" /tmp/sl.log
done

# Frame cropping with a left and top offset. The stateful node's daemon writes the visible
# window (G_SELECTION: at 0,0) and its clients output exactly FFmpeg's crop. Through the
# stateless node GStreamer outputs the window of the visible size at the top left of the coded
# picture: the stateless SPS control has no crop offsets, so the client must apply them, and
# v4l2slh264dec's copy does not (docs/testing.md). Checked as such, so that a change shows.
if want h264-crop.h264; then
	check "stateless, GStreamer v4l2slh264dec: h264-crop.h264 (GStreamer's top-left window)" \
		gst_frames h264-crop.h264 v4l2slh264dec h264-crop-topleft
	check "stateful, FFmpeg h264_v4l2m2m: h264-crop.h264" ffmpeg_frames h264-crop.h264
	check "stateful, GStreamer v4l2h264dec: h264-crop.h264" gst_frames h264-crop.h264 v4l2h264dec
fi

# The stateful node tells full range in the CAPTURE format (quantization).
want h264-fullrange.h264 && check "stateful: full range told in the CAPTURE format" \
	timeout 120 python3 /src/tests/quantization.py "$SF" "$CLIPS/$W/h264-fullrange.h264" \
	"$CLIPS/$W/h264-short3.h264"

# Many slices per picture: 720p intra pictures in 1 to 900 slices, byte-exact through
# GStreamer (stateless) and FFmpeg's wrapper (stateful); how long each clip takes through the
# stateless node beside FFmpeg alone (2 slice threads, as the daemon's decoder) is printed for
# the record, not judged (the VM's emulated CPUs say little of a Pi's).
slices() { # CLIP
	local t0 t1 t2
	t0=$(now)
	gst_frames "$1" v4l2slh264dec
	t1=$(now)
	timeout 300 ffmpeg -nostdin -v error -threads 2 -thread_type slice -i "$CLIPS/$W/$1" \
		-f null - || fail "FFmpeg alone"
	t2=$(now)
	echo "$1: 3 pictures through the stateless node in $(seconds "$t0" "$t1") s" \
		"(GStreamer's start included), FFmpeg alone $(seconds "$t1" "$t2") s"
	ffmpeg_frames "$1"
}
for n in 1 8 45 max; do
	want "h264-slices$n.h264" || continue
	check "many slices: h264-slices$n.h264" slices "h264-slices$n.h264"
done

# FFmpeg's v4l2m2m wrappers know no P010: their CAPTURE buffers, NV12 from the start, take a
# 10-bit stream's pictures in 8 bits, byte-exact with FFmpeg's own conversion.
ffmpeg_10bit() { # CLIP (in the clips' top directory)
	ffmpeg_sf "$1" /tmp/out.framemd5 || fail "ffmpeg failed on $1"
	same_md5 /tmp/out.framemd5 "$CLIPS/$W/$(clip_codec "$1")-10bit-as-nv12.framemd5" "$1 as NV12"
}
for clip in h264-10bit-320x240.h264 vp9-10bit-320x240.ivf; do
	want "$clip" || continue
	check "stateful, FFmpeg $(clip_codec "$clip")_v4l2m2m, 10 bits as NV12: $clip" ffmpeg_10bit "$clip"
done

# A stream the stateful node cannot decode (VP9 profile 1, 4:4:4) is an error the client sees:
# FFmpeg's QBUF fails once the daemon has refused the stream (exit status 69: error rate), and
# GStreamer stops with an error.
unsupported_sf() {
	local clip=unsupported/vp9-444-320x240.ivf rc=0
	timeout -k 5 120 ffmpeg -nostdin -hide_banner -loglevel error -y -c:v vp9_v4l2m2m \
		-i "$CLIPS/$clip" -f null - || rc=$?
	echo "ffmpeg exit status $rc"
	# 69: the decode error rate (every packet refused) is over the tool's maximum
	[ "$rc" = 69 ] || fail "ffmpeg: exit status $rc, not 69 (an error rate over its maximum)"
	rc=0
	gst filesrc location="$CLIPS/$clip" ! ivfparse ! vp9parse ! v4l2vp9dec ! fakesink || rc=$?
	echo "gst-launch exit status $rc"
	[ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "GStreamer v4l2vp9dec: no error (or a hang)"
}
want unsupported && check "stateful: an unsupported stream (VP9 4:4:4) is an error" unsupported_sf

stop_daemon
no_raw_ffmpeg_lines "$OUT/daemon.log"
rmmod daedalus-v4l2
if [ ${#failed[@]} != 0 ]; then
	printf 'failed: %s\n' "${failed[@]}"
	fail "${#failed[@]} failed"
fi
