# SPDX-License-Identifier: GPL-2.0
# ./daedalus bench, in the guest: 1080p VP9, H.264 and AV1, 8- and 10-bit (clips from
# tools/make-clips.sh --bench, build/clips/bench/), each decoded
#   - through the stateless node (GStreamer's v4l2sl*dec to fakevideosink: a sink that takes
#     the decoder's buffers as they are, as a display does; fakesink made GStreamer copy each
#     picture, "GstVideoMeta support required, copying frames"), also with one job per
#     stream (module parameter jobs_per_stream=1: no pipelining),
#   - through the stateful node (FFmpeg's *_v4l2m2m wrappers; AV1 through tests/sfclient),
#   - by FFmpeg alone with the same threads (slice threads, as the daemon's stateless decoder
#     uses, for AV1 libdav1d with no frame delay; and frame threads, as its stateful one
#     does), to pixel format NV12 (P010 for 10-bit; and NV12 too for the stateful node's 10-bit
#     VP9 and H.264, which FFmpeg's wrappers take as NV12),
#   - and inside the daemon (decode + CAPTURE write, no kernel round trip: its journal's
#     decode_fps for the stateless run), and by the daemon's decode loop alone
#     (daedalus-v4l2d --bench: the same work with no kernel, client or other process);
#   - through our VA-API driver over the stateless node (FFmpeg's vaapi hwaccel, frames left
#     on the surfaces; VP9 and 8-bit H.264, the profiles it offers);
# frames/s, CPU seconds (client + daemon) and ratios to FFmpeg alone, measured in one run, for
# the whole clip and in the steady state (the whole clip less its first 15 pictures). Then
# 1, 2, 4 and 8 concurrent 1080p H.264 streams through the stateless node: aggregate frames/s,
# and the longest job any stream's worker spent on one frame. Writes $OUT/bench.txt.
# Arguments (clip names of build/clips/bench/) limit the table to those, without the
# concurrent streams; so does instruction counting (DAEDALUS_ACCEL=icount: docs/testing.md).
. /src/tests/vm/lib.sh

B=bench
# runs of each clip (head and whole) and path; the least is kept
RUNS=3
JOBS_PARAM=/sys/module/daedalus_v4l2/parameters/jobs_per_stream
threads=$(nproc)
tck=$(getconf CLK_TCK)
# The clips, our programs (the daemon, the stateful test client) and the VA-API driver from the
# guest's memory: /build is a 9p share, read from the host at each read(2) and page fault (no
# cache). Such a wait is host time the table would count, more for a path that reads its clip up
# front (the loop alone) than for one whose reads overlap its decode; counting instructions, a
# wait with both vCPUs idle jumps the clock to the next timer. 1080p VP9, icount: the loop
# alone 0.95 of FFmpeg alone's steady frames/s from the share, 1.00 from memory
# (docs/testing.md).
mkdir -p /tmp/clips/$B
cp "$CLIPS/$B"/* /tmp/clips/$B/
cp "$CLIPS"/vp9-320x240.* /tmp/clips/
CLIPS=/tmp/clips
install -m 0755 "$DAEMON" /tmp/daedalus-v4l2d
DAEMON=/tmp/daedalus-v4l2d
install -m 0755 "$SFCLIENT" /tmp/daedalus-sfclient
SFCLIENT=/tmp/daedalus-sfclient
load_daedalus
use_va_driver
cp --remove-destination "$(readlink /tmp/va/daedalus_drv_video.so)" /tmp/va/daedalus_drv_video.so
# at the service's log level: per-frame debug lines (the concurrent streams' below) cost the
# daemon and its workers CPU the table would count
start_daemon --threads "$threads"
gst-inspect-1.0 v4l2slvp9dec >/dev/null # registry scan, not timed

# ticks PID: a process's CPU ticks, its reaped children's included (0 for no PID: a daemon
# with its workers as threads has no zygote)
ticks() {
	if [ -n "$1" ]; then awk '{ print $14 + $15 + $16 + $17 }' "/proc/$1/stat"; else echo 0; fi
}
# measure CMD...: run CMD; sets WALL, CCPU (the command's CPU), MCPU (the daemon's own), WCPU
# (its zygote's and the stream workers the zygote reaped), in seconds, and RC
measure() {
	local zygote m0 w0
	zygote=$(pgrep -P "$DAEMON_PID" -x daedalus-zygote || true)
	m0=$(ticks "$DAEMON_PID") w0=$(ticks "$zygote")
	echo "0 0 1" >/tmp/bench.t
	python3 /src/tests/cpurun.py /tmp/bench.t "$@" >/tmp/bench.log 2>&1 || true
	workers_gone
	read -r WALL CCPU RC </tmp/bench.t
	MCPU=$(awk -v a="$m0" -v b="$(ticks "$DAEMON_PID")" -v t="$tck" 'BEGIN { print (b - a) / t }')
	WCPU=$(awk -v a="$w0" -v b="$(ticks "$zygote")" -v t="$tck" 'BEGIN { print (b - a) / t }')
	[ "$RC" = 0 ] || { tail -n 5 /tmp/bench.log; echo "($* exited $RC)"; }
}
fps() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.1f", n / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
# measure_paths PATH...: each PATH (a function path_PATH FILE MD5 that runs `measure` on the
# clip or its head) on $head, the clip's first 15 pictures (tools/make-clips.sh), and on the
# whole $clip, in $RUNS rounds, each round every path in turn: a host that slows down for a
# minute (emulation shares it) slows every path of the clip alike, not the paths that happened
# to run then. Of each path's runs the least is kept (emulation's process start-up varies by
# half a second, and FFmpeg alone's steady figures by a fifth between two runs).
measure_paths() {
	local p what c
	# (anew for each clip: no run of the clip before is read as this one's)
	rm -rf /tmp/bench-runs
	mkdir /tmp/bench-runs
	for _ in $(seq "$RUNS"); do
		for p in "$@"; do
			for what in head whole; do
				c=$clip
				[ "$what" = head ] && c=$head
				"path_$p" "$CLIPS/$B/$c" "$CLIPS/$B/${c%.*}.framemd5"
				echo "$what $WALL $CCPU $MCPU $WCPU $RC" >>"/tmp/bench-runs/$p"
			done
		done
	done
	# every run's figures kept, to see how far they spread (what, wall, client, daemon,
	# workers, exit status)
	for p in "$@"; do cp "/tmp/bench-runs/$p" "$OUT/runs-${clip%.*}-$p.txt"; done
}
# figures PATH: what measure_paths measured of PATH: FPS and CPU (the whole clip: frames/s,
# CPU seconds of the client and the daemon), RC (the first failure, or 0), and for the steady
# state, the pictures after the head, from the whole run less the head's (what a decode costs
# once out: the process's start, its plugins, the stream's worker, the first key frame): SFPS,
# SMS (CPU ms per picture) and SPARTS (the client's, the daemon's and the workers' ms per
# picture)
figures() {
	read -r FPS CPU SFPS SMS SPARTS RC <<<"$(awk -v n="$frames" -v h="$head_frames" '
		function least(k, v) { if (!(k in m) || v < m[k]) m[k] = v }
		{ least($1 "w", $2); least($1 "c", $3); least($1 "m", $4); least($1 "k", $5)
		  least($1 "t", $3 + $4 + $5); if (!rc && $6) rc = $6 }
		END {
			ms = 1000 / (n - h)
			c = (m["wholec"] - m["headc"]) * ms; d = (m["wholem"] - m["headm"]) * ms
			k = (m["wholek"] - m["headk"]) * ms
			printf "%.1f %.2f %.1f %.0f %.0f/%.0f/%.0f %d\n", n / m["wholew"], m["wholet"],
				(n - h) / (m["wholew"] - m["headw"]), c + d + k, c, d, k, rc
		}' "/tmp/bench-runs/$1")"
}

# The paths, for the clip of the loop below; each takes FILE MD5 (the clip or its head, and
# its framemd5). FFmpeg alone with slice threads (as the daemon's stateless decoder uses; AV1:
# libdav1d with no frame delay), and with frame threads (as its stateful one does):
path_slice() {
	measure ffmpeg -nostdin -v error -threads "$threads" -thread_type slice "${dec[@]}" \
		"${low[@]}" -i "$1" -pix_fmt "$fmt" -f null -
}
path_frame() {
	measure ffmpeg -nostdin -v error -threads "$threads" "${dec[@]}" -i "$1" -pix_fmt "$fmt" \
		-f null -
}
# FFmpeg's wrappers take 10-bit pictures as NV12 (they know no P010): the daemon converts them
# with swscale as `ffmpeg -pix_fmt nv12` does, so they are compared with that
path_nv12() {
	measure ffmpeg -nostdin -v error -threads "$threads" "${dec[@]}" -i "$1" -pix_fmt nv12 \
		-f null -
}
# FILE through the stateless node (GStreamer)
stateless_decode() {
	# shellcheck disable=SC2086 # the parser is several words
	measure env GST_REGISTRY=/tmp/gst-registry.bin timeout 600 gst-launch-1.0 -q \
		--no-position filesrc location="$1" ! $parse ! "v4l2sl${codec}dec" ! \
		fakevideosink sync=false
}
# through the stateless node; for the whole clip, the daemon's own frames/s of the stream
# (decode and CAPTURE write, no kernel round trip: its journal's decode_fps) go to
# /tmp/bench.inside
path_stateless() {
	stateless_decode "$1"
	if [ "$1" = "$CLIPS/$B/$clip" ]; then
		grep "stream ended" "$OUT/daemon.log" | tail -n 1 |
			sed -n 's/.*decode_fps="\{0,1\}\([0-9.]*\).*/\1/p' >>/tmp/bench.inside || true
	fi
}
# the same with one job per stream (module parameter jobs_per_stream=1: no pipelining)
path_stateless1() {
	local jobs
	jobs=$(cat "$JOBS_PARAM")
	echo 1 >"$JOBS_PARAM"
	stateless_decode "$1"
	echo "$jobs" >"$JOBS_PARAM"
}
# the daemon's decode loop alone (`daedalus-v4l2d --bench`: the stateless worker's decode and
# CAPTURE write, no kernel, no client, no other process beside it)
path_loop() {
	measure "$DAEMON" --threads "$threads" --bench "$1"
}
# through our VA-API driver over the stateless node (AV1: FFmpeg's own decoder, which has the
# hwaccel; it prefers libdav1d)
path_vaapi() {
	local d=()
	[ "$codec" = av1 ] && d=(-c:v av1)
	measure timeout -k 5 600 ffmpeg -nostdin -v error -hwaccel vaapi -hwaccel_device "$RENDER" \
		-hwaccel_output_format vaapi "${d[@]}" -i "$1" -f null -
}
# through the stateful node: FFmpeg's wrappers; AV1 through tests/sfclient (--count-only: the
# pictures counted, not read, as a display client does; hashing each one cost it 20 ms of
# emulated CPU per 1080p picture)
path_stateful() {
	if [ "$codec" = av1 ]; then
		measure timeout -k 5 600 "$SFCLIENT" --count-only /dev/video10 "$1" "$2" AV01
	else
		measure timeout -k 5 600 ffmpeg -nostdin -v error -c:v "${codec}_v4l2m2m" -i "$1" \
			-f null -
	fi
}

# row CLIP PATH [REF-FPS REF-SFPS REF-SMS]: a row of the table for what `figures` read last;
# with a reference (FFmpeg alone, same kind), the ratios to it and where the CPU went
row() {
	local r='' sr='' cr='' parts='' verdict=''
	if [ $# -gt 2 ]; then
		r=$(ratio "$FPS" "$3") sr=$(ratio "$SFPS" "$4") cr=$(ratio "$SMS" "$5")
		parts=$SPARTS
		[ "$RC" = 0 ] || verdict=FAILED
	fi
	line "$1" "$2" "$FPS" "$CPU" "$r" "$SFPS" "$sr" "$SMS" "$cr" "$parts" "$verdict"
}
line() {
	printf '%-20s %-24s %5s %6s %5s | %5s %5s %5s %5s %-11s %s\n' "$@" | tee -a "$OUT/bench.txt"
}
: >"$OUT/bench.txt"
{
	# (./daedalus bench boots the kernel without its debug options)
	echo "daedalus-v4l2 bench ($(machine); $threads decoder threads per stream)"
	echo "Left: the whole clip: frames/s, CPU seconds of the client and the daemon together, and"
	echo "the ratio of frames/s to FFmpeg alone's (same threads, same kind). Right: the steady"
	echo "state, the pictures after the first 15 (the whole run less a run of the first 15;"
	echo "each the least of $RUNS runs, the paths of a clip taking turns): frames/s and its ratio,"
	echo "CPU ms per picture and its ratio, and that CPU's parts: the client's, the daemon's, its"
	echo "stream workers'."
	if [ "$(accel)" = icount ]; then
		echo "Counting instructions: the guest's clock advances a nanosecond per instruction"
		echo "any vCPU retires (and skips to the next timer when both idle), so frames/s is the"
		echo "inverse of the instructions a picture takes on both vCPUs together (client, kernel,"
		echo "daemon, workers) and its ratio the ratio of work per picture; CPU ms count a vCPU's"
		echo "time while the other also ran, and concurrent streams cannot run faster than one"
		echo "after the other (not measured)."
	fi
	echo
} | tee -a "$OUT/bench.txt"
# one untimed decode through each node first: the daemon's allocator and GStreamer's plugins
# warm up outside the table
gst_decode vp9-320x240.ivf /tmp/warm.nv12 || fail "warm-up decode"
timeout 120 ffmpeg -nostdin -v error -c:v vp9_v4l2m2m -i "$CLIPS/vp9-320x240.ivf" -f null - ||
	fail "warm-up decode (stateful)"
rm -f /tmp/warm.nv12
line clip path f/s CPU-s ratio f/s ratio ms ratio "client/d/w" ""
clips=("$@")
[ $# != 0 ] || clips=(vp9-1920x1080.ivf vp9-10bit-1920x1080.ivf h264-1920x1080.h264
	h264-10bit-1920x1080.h264 av1-1920x1080.ivf av1-10bit-1920x1080.ivf)
for clip in "${clips[@]}"; do
	head=${clip%.*}-head.${clip##*.}
	[ -f "$CLIPS/$B/$clip" ] && [ -f "$CLIPS/$B/${head%.*}.info" ] ||
		fail "$B/$clip or its head missing: run tools/make-clips.sh --bench"
	codec=$(clip_codec "$clip")
	frames=$(sed -n 's/^frames=//p' "$CLIPS/$B/${clip%.*}.info")
	head_frames=$(sed -n 's/^frames=//p' "$CLIPS/$B/${head%.*}.info")
	fmt=$(sed -n 's/^format=//p' "$CLIPS/$B/${clip%.*}.info")
	parse="${codec}parse"
	case $clip in *.ivf) parse="ivfparse ! $parse" ;; esac
	dec=()
	[ "$codec" = av1 ] && dec=(-c:v libdav1d)

	# (libdav1d knows no thread types: what keeps it to the stateless kind, one picture in
	# and that picture out, is no frame delay, FFmpeg's low_delay, as the daemon asks of it)
	low=()
	[ "$codec" = av1 ] && low=(-flags low_delay)
	paths=(slice frame)
	[ "$fmt" = p010le ] && [ "$codec" != av1 ] && paths+=(nv12)
	paths+=(stateless stateless1 loop)
	# (VA-API: the profiles our driver offers)
	[ "$clip" = h264-10bit-1920x1080.h264 ] || paths+=(vaapi)
	paths+=(stateful)
	: >/tmp/bench.inside
	measure_paths "${paths[@]}"

	figures slice
	row "$clip" "FFmpeg, slice threads"
	slice=("$FPS" "$SFPS" "$SMS")
	figures frame
	row "" "FFmpeg, frame threads"
	frame=("$FPS" "$SFPS" "$SMS")
	sf_ref=("${frame[@]}")
	if [ -s /tmp/bench-runs/nv12 ]; then
		figures nv12
		row "" "FFmpeg, frame thr., NV12"
		sf_ref=("$FPS" "$SFPS" "$SMS")
	fi
	figures stateless
	row "" "stateless (GStreamer)" "${slice[@]}"
	figures stateless1
	row "" "stateless, 1 job/stream" "${slice[@]}"
	inside=$(sort -n /tmp/bench.inside | tail -n 1)
	line "" "inside the daemon" "${inside:-?}" "" "$(ratio "${inside:-0}" "${slice[0]}")" \
		"" "" "" "" "" ""
	figures loop
	row "" "the daemon's loop alone" "${slice[@]}"
	if [ -s /tmp/bench-runs/vaapi ]; then
		figures vaapi
		row "" "VA-API (FFmpeg vaapi)" "${slice[@]}"
	fi
	figures stateful
	row "" "stateful ($([ "$codec" = av1 ] && echo sfclient || echo FFmpeg))" "${sf_ref[@]}"
done

if [ $# != 0 ] || [ "$(accel)" = icount ]; then
	stop_daemon
	exit 0
fi
{
	echo
	echo "concurrent 1080p H.264 streams through the stateless node (GStreamer; one slice per"
	echo "picture: one core each); the longest job is the most one frame took in its worker"
} | tee -a "$OUT/bench.txt"
# each job's time in its worker: the daemon's debug lines ("frame decoded", latency_us)
stop_daemon
DAEDALUS_LOG=info,daedalus_v4l2d=debug start_daemon --threads "$threads"
printf '%-8s %10s %12s %14s\n' streams wall-s "frames/s" "longest-job-ms" | tee -a "$OUT/bench.txt"
clip=h264-1920x1080.h264
frames=$(sed -n 's/^frames=//p' "$CLIPS/$B/${clip%.*}.info")
for n in 1 2 4 8; do
	lines=$(wc -l <"$OUT/daemon.log")
	t0=$(now)
	pids=()
	for _ in $(seq "$n"); do
		gst filesrc location="$CLIPS/$B/$clip" ! h264parse ! v4l2slh264dec ! \
			fakevideosink sync=false >/dev/null 2>&1 &
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
