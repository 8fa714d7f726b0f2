# SPDX-License-Identifier: GPL-2.0
# Damaged bitstreams (#20): every 320x240 clip, mutated by tests/fuzz.py (seeded: flipped bits,
# truncated, duplicated, dropped and swapped frames or NAL units, zeroed runs), decoded through
# GStreamer's v4l2sl*dec on the stateless node and, at the same time, FFmpeg's *_v4l2m2m (AV1:
# our v4l2r client) on the stateful node. A client may fail (the stream is garbage) but must end
# within its timeout; the daemon must not die; after all of it a clean decode through each node
# is byte-exact and the daemon holds no more fds than before. tools/vm-run fails the run on any
# oops, WARN, KASAN/UBSAN/KFENCE report or kmemleak leak.
#   usage: fuzz.sh [COPIES [SEED]]   (1 copy per clip, seed 1: the same streams every run; the
#   suite's time allows no more: ./daedalus vm-run tests/vm/fuzz.sh 8 7 for a longer run)
. /src/tests/vm/lib.sh

COPIES=${1:-1}
SEED=${2:-1}
FUZZ_TIMEOUT=60

load_daedalus
start_daemon
idle=$(settled_fds)

# decode CLIENT FILE: run one client on a damaged FILE, say how it ended; 124/137 is a hang
stateless() {
	local codec parse=''
	codec=$(clip_codec "$1")
	case $1 in *.ivf) parse="ivfparse ! " ;; esac
	GST_REGISTRY=/tmp/gst-registry.bin timeout -k 5 $FUZZ_TIMEOUT gst-launch-1.0 -q \
		filesrc location="$1" ! ${parse}${codec}parse ! "v4l2sl${codec}dec" ! fakesink
}
stateful() {
	local codec
	codec=$(clip_codec "$1")
	if [ "$codec" = av1 ]; then
		local clip=${1##*/}
		timeout -k 5 $FUZZ_TIMEOUT "$SFCLIENT" /dev/video10 "$1" \
			"$CLIPS/${clip%%.*}.framemd5" AV01
	else
		timeout -k 5 $FUZZ_TIMEOUT ffmpeg -nostdin -hide_banner -loglevel error -y \
			-c:v "${codec}_v4l2m2m" -i "$1" -f null -
	fi
}

step "mutate every 320x240 clip, $COPIES copies each (seed $SEED)"
rm -rf /tmp/fuzz
for clip in "$CLIPS"/*-320x240.ivf "$CLIPS"/*-320x240.h264; do
	python3 /src/tests/fuzz.py "$clip" /tmp/fuzz "$COPIES" "$SEED"
done

step "each copy through both nodes at once"
declare -A ok=() err=() hung=()
for f in /tmp/fuzz/*; do
	for node in stateless stateful; do
		"$node" "$f" >"/tmp/fuzz-$node.log" 2>&1 &
		eval "pid_$node=$!"
	done
	for node in stateless stateful; do
		rc=0
		eval "wait \$pid_$node" || rc=$?
		case $rc in
		0) ok[$node]=$((${ok[$node]:-0} + 1)) ;;
		124 | 137)
			hung[$node]=$((${hung[$node]:-0} + 1))
			echo "HUNG: $node client on $f"
			tail -5 "/tmp/fuzz-$node.log"
			;;
		*) err[$node]=$((${err[$node]:-0} + 1)) ;;
		esac
	done
	kill -0 "$DAEMON_PID" 2>/dev/null || { tail -20 "$OUT/daemon.log"; fail "the daemon died on $f"; }
done
for node in stateless stateful; do
	echo "$node: $(ls /tmp/fuzz | wc -l) damaged streams: ${ok[$node]:-0} ended well," \
		"${err[$node]:-0} with an error, ${hung[$node]:-0} hung"
done
[ "${hung[stateless]:-0}${hung[stateful]:-0}" = 00 ] || fail "clients hung on damaged streams"
echo "daemon: alive (pid $DAEMON_PID), $(grep -c 'failed' "$OUT/daemon.log" || true) failed-job lines"

step "then a clean decode through each node, byte-exact, the daemon's fds back to idle ($idle)"
clean_decode
[ "$(daemon_fds)" = "$idle" ] || fail "daemon fds $(daemon_fds), before the fuzzing $idle"
no_raw_ffmpeg_lines "$OUT/daemon.log"
stop_daemon
rmmod daedalus-v4l2
