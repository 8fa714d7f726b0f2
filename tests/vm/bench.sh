# SPDX-License-Identifier: GPL-2.0
# ./daedalus bench, in the guest: 1080p VP9, H.264 and AV1, 8- and 10-bit (clips from
# tools/make-clips.sh --bench, build/clips/bench/), each decoded
#   - through the stateless node (GStreamer's v4l2sl*dec to fakesink), also with one job per
#     stream (module parameter jobs_per_stream=1: no pipelining),
#   - through the stateful node (FFmpeg's *_v4l2m2m wrappers; AV1 through tests/sfclient),
#   - by FFmpeg alone with the same threads (slice threads, as the daemon's stateless decoder
#     uses; and frame threads, as its stateful one does), to pixel format NV12 (P010 for 10-bit),
#   - and inside the daemon (decode + CAPTURE write, no kernel round trip: its journal's
#     decode_fps for the stateless run);
#   - through our VA-API driver over the stateless node (FFmpeg's vaapi hwaccel, frames left
#     on the surfaces; VP9 and 8-bit H.264, the profiles it offers);
# frames/s, CPU seconds (client + daemon) and ratios to FFmpeg alone, measured in one run. Then
# 1, 2, 4 and 8 concurrent 1080p H.264 streams through the stateless node: aggregate frames/s,
# and the longest job any stream's worker spent on one frame. Writes $OUT/bench.txt.
# Arguments (clip names of build/clips/bench/) limit the table to those, without the
# concurrent streams.
. /src/tests/vm/lib.sh

B=bench
JOBS_PARAM=/sys/module/daedalus_v4l2/parameters/jobs_per_stream
threads=$(nproc)
tck=$(getconf CLK_TCK)
load_daedalus
use_va_driver
DAEDALUS_LOG=info,daedalus_v4l2d=debug start_daemon --threads "$threads"
gst-inspect-1.0 v4l2slvp9dec >/dev/null # registry scan, not timed

# the daemon's CPU time, its zygote's and the zygote's ended (reaped) workers'
daemon_ticks() {
	local zygote
	zygote=$(pgrep -P "$DAEMON_PID" -x daedalus-zygote || true)
	awk '{ t += $14 + $15 + $16 + $17 } END { print t }' "/proc/$DAEMON_PID/stat" \
		${zygote:+"/proc/$zygote/stat"}
}
# measure CMD...: run CMD; sets WALL, CPU (the command's and the daemon's, seconds) and RC
measure() {
	local t0 t1
	t0=$(daemon_ticks)
	echo "0 0 1" >/tmp/bench.t
	python3 /src/tests/cpurun.py /tmp/bench.t "$@" >/tmp/bench.log 2>&1 || true
	workers_gone
	t1=$(daemon_ticks)
	read -r WALL CPU RC </tmp/bench.t
	CPU=$(awk -v c="$CPU" -v a="$t0" -v b="$t1" -v t="$tck" 'BEGIN { printf "%.2f", c + (b - a) / t }')
	[ "$RC" = 0 ] || { tail -n 5 /tmp/bench.log; echo "($* exited $RC)"; }
}
fps() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.1f", n / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# the clip of the loop below through the stateless node (GStreamer), measured
measure_stateless() {
	# shellcheck disable=SC2086 # the parser is several words
	measure env GST_REGISTRY=/tmp/gst-registry.bin timeout 600 gst-launch-1.0 -q --no-position \
		filesrc location="$CLIPS/$B/$clip" ! $parse ! "v4l2sl${codec}dec" ! \
		fakesink sync=false
}
row() { printf '%-16s %-22s %7s %7s %9s %s\n' "$@" | tee -a "$OUT/bench.txt"; }
: >"$OUT/bench.txt"
{
	echo "daedalus-v4l2 bench ($(uname -r), $(nproc) vCPUs, $(grep -q daedalus.accel=kvm /proc/cmdline && echo KVM || echo "emulated, TCG"); $threads decoder threads per stream)"
	echo "frames/s; CPU: seconds of the client and the daemon together; ratio: frames/s over FFmpeg alone's (same threads, same kind)"
	echo
} | tee -a "$OUT/bench.txt"
# one untimed decode through each node first: the daemon's allocator and GStreamer's plugins
# warm up outside the table
gst_decode vp9-320x240.ivf /tmp/warm.nv12 || fail "warm-up decode"
timeout 120 ffmpeg -nostdin -v error -c:v vp9_v4l2m2m -i "$CLIPS/vp9-320x240.ivf" -f null - ||
	fail "warm-up decode (stateful)"
rm -f /tmp/warm.nv12
row clip path frames/s CPU-s ratio ""
clips=("$@")
[ $# != 0 ] || clips=(vp9-1920x1080.ivf vp9-10bit-1920x1080.ivf h264-1920x1080.h264
	h264-10bit-1920x1080.h264 av1-1920x1080.ivf av1-10bit-1920x1080.ivf)
for clip in "${clips[@]}"; do
	[ -f "$CLIPS/$B/$clip" ] || fail "$B/$clip missing: run tools/make-clips.sh --bench"
	codec=$(clip_codec "$clip")
	frames=$(sed -n 's/^frames=//p' "$CLIPS/$B/${clip%.*}.info")
	fmt=$(sed -n 's/^format=//p' "$CLIPS/$B/${clip%.*}.info")
	parse="${codec}parse"
	case $clip in *.ivf) parse="ivfparse ! $parse" ;; esac
	dec=()
	[ "$codec" = av1 ] && dec=(-c:v libdav1d)

	measure ffmpeg -nostdin -v error -threads "$threads" -thread_type slice "${dec[@]}" \
		-i "$CLIPS/$B/$clip" -pix_fmt "$fmt" -f null -
	slice_fps=$(fps "$frames" "$WALL") slice_cpu=$CPU
	measure ffmpeg -nostdin -v error -threads "$threads" "${dec[@]}" -i "$CLIPS/$B/$clip" \
		-pix_fmt "$fmt" -f null -
	frame_fps=$(fps "$frames" "$WALL") frame_cpu=$CPU

	measure_stateless
	sl_fps=$(fps "$frames" "$WALL") sl_cpu=$CPU sl_rc=$RC
	inside=$(grep "stream ended" "$OUT/daemon.log" | tail -n 1 |
		sed -n 's/.*decode_fps="\{0,1\}\([0-9.]*\).*/\1/p' || true)
	jobs=$(cat "$JOBS_PARAM")
	echo 1 >"$JOBS_PARAM"
	measure_stateless
	echo "$jobs" >"$JOBS_PARAM"
	one_fps=$(fps "$frames" "$WALL") one_cpu=$CPU one_rc=$RC

	va_fps='' va_cpu='' va_rc=''
	if [ "$clip" != h264-10bit-1920x1080.h264 ]; then
		# (AV1: FFmpeg's own decoder, which has the hwaccel; it prefers libdav1d)
		dec=()
		[ "$codec" = av1 ] && dec=(-c:v av1)
		measure timeout -k 5 600 ffmpeg -nostdin -v error -hwaccel vaapi \
			-hwaccel_device "$RENDER" -hwaccel_output_format vaapi "${dec[@]}" \
			-i "$CLIPS/$B/$clip" -f null -
		va_fps=$(fps "$frames" "$WALL") va_cpu=$CPU va_rc=$RC
	fi

	if [ "$codec" = av1 ]; then
		measure timeout -k 5 600 "$SFCLIENT" /dev/video10 "$CLIPS/$B/$clip" \
			"$CLIPS/$B/${clip%.*}.framemd5" AV01
	else
		measure timeout -k 5 600 ffmpeg -nostdin -v error -c:v "${codec}_v4l2m2m" \
			-i "$CLIPS/$B/$clip" -f null -
	fi
	sf_fps=$(fps "$frames" "$WALL") sf_cpu=$CPU sf_rc=$RC

	row "$clip" "FFmpeg, slice threads" "$slice_fps" "$slice_cpu" "" ""
	row "" "FFmpeg, frame threads" "$frame_fps" "$frame_cpu" "" ""
	row "" "stateless (GStreamer)" "$sl_fps" "$sl_cpu" "$(ratio "$sl_fps" "$slice_fps")" \
		"$([ "$sl_rc" = 0 ] || echo "FAILED")"
	row "" "stateless, 1 job/stream" "$one_fps" "$one_cpu" \
		"$(ratio "$one_fps" "$slice_fps")" "$([ "$one_rc" = 0 ] || echo "FAILED")"
	row "" "inside the daemon" "${inside:-?}" "" "$(ratio "${inside:-0}" "$slice_fps")" ""
	[ -z "$va_fps" ] || row "" "VA-API (FFmpeg vaapi)" "$va_fps" "$va_cpu" \
		"$(ratio "$va_fps" "$slice_fps")" "$([ "$va_rc" = 0 ] || echo "FAILED")"
	row "" "stateful ($([ "$codec" = av1 ] && echo sfclient || echo FFmpeg))" "$sf_fps" \
		"$sf_cpu" "$(ratio "$sf_fps" "$frame_fps")" "$([ "$sf_rc" = 0 ] || echo "FAILED")"
done

if [ $# != 0 ]; then
	stop_daemon
	exit 0
fi
{
	echo
	echo "concurrent 1080p H.264 streams through the stateless node (GStreamer; one slice per"
	echo "picture: one core each); the longest job is the most one frame took in its worker"
} | tee -a "$OUT/bench.txt"
printf '%-8s %10s %12s %14s\n' streams wall-s "frames/s" "longest-job-ms" | tee -a "$OUT/bench.txt"
clip=h264-1920x1080.h264
frames=$(sed -n 's/^frames=//p' "$CLIPS/$B/${clip%.*}.info")
for n in 1 2 4 8; do
	lines=$(wc -l <"$OUT/daemon.log")
	t0=$(now)
	pids=()
	for _ in $(seq "$n"); do
		gst filesrc location="$CLIPS/$B/$clip" ! h264parse ! v4l2slh264dec ! \
			fakesink sync=false >/dev/null 2>&1 &
		pids+=($!)
	done
	bad=0
	for pid in "${pids[@]}"; do
		wait "$pid" || bad=$((bad + 1))
	done
	wall=$(seconds "$t0" "$(now)")
	longest=$(tail -n +"$lines" "$OUT/daemon.log" | grep "frame decoded" |
		sed -n 's/.*latency_us=\([0-9]*\).*/\1/p' | sort -n | tail -n 1 || true)
	printf '%-8s %10s %12s %14s %s\n' "$n" "$wall" "$(fps $((n * frames)) "$wall")" \
		"$(awk -v u="${longest:-0}" 'BEGIN { printf "%.0f", u / 1000 }')" \
		"$([ $bad = 0 ] || echo "$bad FAILED")" | tee -a "$OUT/bench.txt"
done
stop_daemon
rmmod daedalus-v4l2
