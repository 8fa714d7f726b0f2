# SPDX-License-Identifier: GPL-2.0
# Helpers for test scripts that run inside the guest (see tools/vm-run). Source, do not execute.
set -euo pipefail
CLIPS=/build/clips
OUT=/out

# each step says when it started, in seconds of its script: what a step costs is the difference
step() { printf '\n### %s  (at %d s)\n' "$*" "$SECONDS"; }
fail() { printf 'FAIL: %s\n' "$*"; exit 1; }

# media_dev DRIVER: the /dev/mediaN whose driver is DRIVER
media_dev() {
	local m
	for m in /dev/media*; do
		if media-ctl -d "$m" -p 2>/dev/null | grep "^driver *$1\$" >/dev/null; then
			echo "$m"; return 0
		fi
	done
	return 1
}

# video_dev DRIVER: the decoder's /dev/videoN, through the media topology's interface
video_dev() {
	local m
	m=$(media_dev "$1") || return 1
	media-ctl -d "$m" -p | sed -n 's/.*device node name \(\/dev\/video[0-9]*\).*/\1/p' | sed -n 1p
}

# compliance ARGS...: run v4l2-compliance, print its summary, fail unless 0 failed
compliance() {
	local log
	log=$OUT/compliance-$(basename "${@: -1}").log
	v4l2-compliance "$@" >"$log" 2>&1 || true
	grep -E "^(Total|Grand Total)" "$log" || { tail -20 "$log"; fail "v4l2-compliance gave no total"; }
	if grep -E "^(Total|Grand Total).*Failed: [1-9]" "$log" >/dev/null; then
		grep -E "fail:|FAIL" "$log" | sed -n 1,30p
		fail "v4l2-compliance $*"
	fi
}

# gst ARGS...: run gst-launch-1.0 with a fresh registry (devices are found at registry scan),
# killed after $GST_TIMEOUT seconds (exit 124) so that a hang fails the test instead of the run
gst() {
	GST_REGISTRY=/tmp/gst-registry.bin timeout "${GST_TIMEOUT:-600}" \
		gst-launch-1.0 -q --no-position "$@"
}

# What this guest runs: on x86_64 the test kernel and the module built against it, the daemon
# built natively; on aarch64 Debian's own arm64-16k kernel, the module cross-built against its
# headers package (tools/cross-module.sh) and the daemon cross-built for arm64.
case $(uname -m) in
aarch64)
	DAEMON=/build/target/aarch64-unknown-linux-gnu/release/daedalus-v4l2d
	MODULE=${MODULE:-/build/xhdr/build/$(uname -r)/daedalus-v4l2.ko}
	;;
*)
	DAEMON=/build/target/release/daedalus-v4l2d
	# (guest-init names the one built against the KASAN variant when it boots that kernel)
	MODULE=${MODULE:-${DAEDALUS_MODULE:-/build/module/daedalus-v4l2.ko}}
	;;
esac
# (used by the scripts that source this file)
# shellcheck disable=SC2034
CTL=$(dirname "$DAEMON")/daedalus-v4l2ctl
# our stateful test client (tests/sfclient, on the v4l2r crate), built beside the daemon
# shellcheck disable=SC2034
SFCLIENT=$(dirname "$DAEMON")/daedalus-sfclient
# tests/ctrlrace.c, built beside the daemon
# shellcheck disable=SC2034
CTRLRACE=$(dirname "$DAEMON")/ctrlrace
# tests/vasync.c, built beside the daemon
# shellcheck disable=SC2034
VASYNC=$(dirname "$DAEMON")/vasync

# use_va_driver: VA-API clients of this shell load our libva driver as built (vaapi/), not an
# installed one: LIBVA_DRIVERS_PATH/LIBVA_DRIVER_NAME, and GStreamer's va plugin told to take a
# driver it does not know. Sets RENDER, the DRM render node to open (vgem's).
use_va_driver() {
	local so=/build/target/release/libdaedalus_drv_video.so
	[ "$(uname -m)" = aarch64 ] &&
		so=/build/target/aarch64-unknown-linux-gnu/release/libdaedalus_drv_video.so
	[ -f "$so" ] || fail "$so missing (tools/build-daemon.sh builds it)"
	mkdir -p /tmp/va
	ln -sf "$so" /tmp/va/daedalus_drv_video.so
	export LIBVA_DRIVERS_PATH=/tmp/va LIBVA_DRIVER_NAME=daedalus GST_VA_ALL_DRIVERS=1
	# shellcheck disable=SC2034 # used by the scripts that source this file
	RENDER=/dev/dri/renderD128
}

# load_daedalus: the module and what it links against, plus vkms/vgem so GBM has a DRM device
# (Debian's arm64 kernels have no vkms)
load_daedalus() {
	[ -f "$MODULE" ] || fail "$MODULE missing (on aarch64: run tools/cross-module.sh first)"
	modprobe v4l2-mem2mem
	modprobe videobuf2-vmalloc
	modprobe vkms 2>/dev/null || true
	modprobe vgem 2>/dev/null || true
	insmod "$MODULE" "$@"
	udevadm settle --timeout=10 || true
}

# unit_nice [UNIT-FILE]: the Nice= of the daemon's systemd unit (default: the source tree's)
# shellcheck disable=SC2120 # tests/vm/packages.sh passes the installed unit
unit_nice() { sed -n 's/^Nice=//p' "${1:-/src/systemd/daedalus-v4l2d.service}"; }

# start_daemon [ARGS]: run the daemon in the background, wait until it has attached
start_daemon() {
	local before
	touch "$OUT/daemon.log"
	before=$(grep -c "attached to the daedalus-v4l2 module" "$OUT/daemon.log" || true)
	# at the service's priority (its unit's Nice=), as systemd starts it
	nice -n "$(unit_nice)" "$DAEMON" --log "${DAEDALUS_LOG:-info}" "$@" >>"$OUT/daemon.log" 2>&1 &
	DAEMON_PID=$!
	for _ in $(seq 100); do
		[ "$(grep -c "attached to the daedalus-v4l2 module" "$OUT/daemon.log")" -gt "$before" ] &&
			return 0
		kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$OUT/daemon.log"; fail "daemon exited"; }
		sleep 0.1
	done
	cat "$OUT/daemon.log"
	fail "daemon did not attach"
}

# no_raw_ffmpeg_lines LOG: FFmpeg's log lines go through the daemon's logging (attributed to a
# stream, rate-limited), never straight to stderr as "[codec @ 0x...] ..." lines
no_raw_ffmpeg_lines() {
	local raw
	raw=$(grep -cE '^\[[a-z0-9_]+ @ 0x[0-9a-f]+\]' "$1" || true)
	[ "$raw" = 0 ] || {
		grep -E '^\[[a-z0-9_]+ @ 0x[0-9a-f]+\]' "$1" | sed -n 1,3p
		fail "$raw FFmpeg log lines went to stderr, outside the daemon's logging"
	}
	echo "FFmpeg's log lines: all through the daemon's logging"
}

stop_daemon() {
	kill "$DAEMON_PID" 2>/dev/null || true
	wait "$DAEMON_PID" 2>/dev/null || true
}

# clip_size CLIP: WIDTHxHEIGHT from the clip's .info
clip_size() { sed -n 's/^size=//p' "$CLIPS/${1%.*}.info"; }
# clip_codec CLIP: vp9, h264 or av1, the first word of the clip's name
clip_codec() {
	local name=${1##*/}
	echo "${name%%-*}"
}
# clip_format CLIP: FFmpeg's name of the clip's decoded format (nv12, or p010le when 10-bit)
clip_format() { sed -n 's/^format=//p' "$CLIPS/${1%.*}.info" 2>/dev/null; }

# gst_decode CLIP OUT: decode CLIP through our stateless decoder with GStreamer into OUT, NV12 or
# P010 frames (clip_format)
gst_decode() {
	local clip=$1 out=$2 codec parse='' caps=NV12
	codec=$(clip_codec "$clip")
	case $clip in *.ivf) parse="ivfparse ! " ;; esac
	[ "$(clip_format "$clip")" = p010le ] && caps=P010_10LE
	gst filesrc location="$CLIPS/$clip" ! ${parse}${codec}parse ! "v4l2sl${codec}dec" ! \
		video/x-raw,format=$caps ! filesink location="$out"
}

# ffmpeg_sf CLIP OUT: decode CLIP (under $CLIPS) with FFmpeg's CODEC_v4l2m2m wrapper on the
# stateful node into a framemd5, each frame at its own size (a resolution change is kept, not
# scaled away). The wrapper's frames are the mmap'd CAPTURE buffers themselves, and at a
# resolution change it waits until the application has let go of every one; the ffmpeg tool's
# frame-rate logic keeps the last frame (a deadlock of the tool, not of the device), so the
# frames are copied (hflip twice) first. Every picture the wrapper returns is kept (-fps_mode
# passthrough): a raw H.264 stream has no timestamps, for which the wrapper queues 0
# (v4l2_buffers.c: v4l2_set_pts), so the tool would drop all but two pictures as duplicates.
ffmpeg_sf() {
	timeout -k 5 "${FFMPEG_TIMEOUT:-300}" ffmpeg -nostdin -hide_banner -loglevel error -y \
		-c:v "$(clip_codec "$1")_v4l2m2m" -i "$CLIPS/$1" -noautoscale -vf hflip,hflip \
		-fps_mode passthrough -f framemd5 "$2"
}

# same_md5 OUT REF [WHAT]: the frames' MD5s (the last column) of two framemd5 files are the
# same (WHAT names the decode in the failure, OUT by default)
same_md5() {
	local got want
	got=$(mktemp) want=$(mktemp) # (several may run at once)
	grep -v '^#' "$1" | awk -F, '{print $NF}' | tr -d ' ' >"$got"
	grep -v '^#' "$2" | awk -F, '{print $NF}' | tr -d ' ' >"$want"
	if ! cmp -s "$got" "$want"; then
		diff "$want" "$got" | sed -n 1,10p
		fail "${3:-$1}: frames differ from $2 ($(wc -l <"$got") decoded, $(wc -l <"$want") in the reference)"
	fi
	echo "byte-exact: all $(wc -l <"$got") frames"
	rm -f "$got" "$want"
}

# frames_md5 DIR OUT: the MD5 of each file of DIR (one frame each, as multifilesink writes
# them), in name order, as the last column of a framemd5 file
frames_md5() {
	(cd "$1" && md5sum -- * | awk '{ print ", " $1 }') >"$2"
}

# byte_exact CLIP OUT: compare OUT frame by frame with FFmpeg's reference decode of CLIP
byte_exact() {
	local size
	size=$(clip_size "$1")
	python3 /src/tests/framecmp.py "$2" "$CLIPS/${1%.*}.framemd5" "${size%x*}" "${size#*x}" \
		"$(clip_format "$1")"
}

# daemon_fds: how many fds the running daemon holds
daemon_fds() { ls "/proc/$DAEMON_PID/fd" | wc -l; }

# daemon_workers: the pids of the running daemon's stream workers (a process per stream, forked
# by its zygote)
daemon_workers() {
	local zygote
	zygote=$(pgrep -P "$DAEMON_PID" -x daedalus-zygote) || return 0
	pgrep -P "$zygote" -x daedalus-worker || true
}

# workers_gone: wait (up to 10 s) until the daemon's stream workers have ended and been reaped
# (the streams' close jobs)
workers_gone() {
	for _ in $(seq 100); do
		[ -z "$(daemon_workers)" ] && return 0
		sleep 0.1
	done
	fail "stream workers still running: $(daemon_workers | tr '\n' ' ')"
}

# settled_fds: the daemon's fd count once its worker zygote is up (it starts in the background:
# its socket is opened, then duplicated for the thread that reads it) and the count holds still
settled_fds() {
	local n m
	for _ in $(seq 100); do
		pgrep -P "$DAEMON_PID" -x daedalus-zygote >/dev/null && break
		sleep 0.1
	done
	n=$(daemon_fds)
	for _ in $(seq 20); do
		sleep 0.2
		m=$(daemon_fds)
		[ "$m" = "$n" ] && break
		n=$m
	done
	echo "$n"
}

# clean_decode: (daemon started) a decode through each node byte-exact -- VP9 through our
# stateful client and through GStreamer's stateless decoder -- and the daemon's fds back to
# their value before it (nothing a previous test did is left behind)
clean_decode() {
	local idle
	idle=$(settled_fds)
	timeout -k 5 60 "$SFCLIENT" /dev/video10 "$CLIPS/vp9-320x240.ivf" "$CLIPS/vp9-320x240.framemd5" \
		VP90 >/tmp/clean.log 2>&1 || { cat /tmp/clean.log; fail "stateful decode"; }
	gst_decode vp9-320x240.ivf /tmp/out.nv12
	byte_exact vp9-320x240.ivf /tmp/out.nv12
	sleep 1 # the stream-close jobs
	[ "$(daemon_fds)" = "$idle" ] || {
		ls -l "/proc/$DAEMON_PID/fd"
		fail "daemon fds: $(daemon_fds), idle $idle"
	}
	echo "daemon fds back to idle ($idle)"
}

# seek_test CLIP [SECONDS]: a seek to SECONDS (default 0.5) in the clip's Matroska copy resumes
# byte-exact at the next key frame (tests/seek.py)
seek_test() {
	local clip=${1%.*}
	GST_REGISTRY=/tmp/gst-registry.bin timeout 300 python3 /src/tests/seek.py \
		"$CLIPS/$clip.mkv" "$CLIPS/$clip.framemd5" "v4l2sl$(clip_codec "$clip")dec" "${2:-0.5}"
}

# expbuf_test CLIP: (VP9, daemon started) a client reads each frame through the VIDIOC_EXPBUF'd
# dmabufs GStreamer hands out, checks they are the daemon's own and byte-exact (tests/expbuf.py)
expbuf_test() {
	GST_REGISTRY=/tmp/gst-registry.bin timeout 300 python3 /src/tests/expbuf.py \
		"$CLIPS/$1" "$CLIPS/${1%.*}.framemd5" "$DAEMON_PID"
}

# reboot_and_rerun: (tools/vm-run --systemd only) reboot the guest on the same disk and run
# this script again from the start; it finds its progress in its own files on the guest's disk.
reboot_and_rerun() {
	[ "$(cat /proc/1/comm)" = systemd ] || fail "reboot_and_rerun needs tools/vm-run --systemd"
	: >"$OUT/reboot-requested"
	exit 0
}

# machine: what a measurement ran on, for a table's heading: "KERNEL-RELEASE, debug kernel|release
# kernel, N vCPUs, KVM|emulated, TCG[ counting instructions (icount)]" (the debug test kernel or
# ./daedalus bench's build of it without the debug options: lockdep's /proc file tells them
# apart)
machine() {
	local how
	case $(accel) in
	kvm) how=KVM ;;
	icount) how="emulated, TCG counting instructions (icount)" ;;
	*) how="emulated, TCG" ;;
	esac
	echo "$(uname -r), $([ -e /proc/lockdep ] && echo "debug kernel" || echo "release kernel"), $(nproc) vCPUs, $how"
}
# accel: how tools/vm-run runs this guest (its daedalus.accel=): kvm, tcg, or icount (QEMU's
# instruction counting: the guest's clock advances one nanosecond per instruction any vCPU
# retires)
accel() { sed -n 's/.*daedalus\.accel=\([a-z]*\).*/\1/p' /proc/cmdline; }

now() { date +%s.%N; }
# seconds T0 T1: T1 - T0 with millisecond precision
seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
# rate N SECONDS: N / SECONDS with one decimal
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.1f", n / s }'; }
