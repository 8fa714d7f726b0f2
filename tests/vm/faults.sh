# SPDX-License-Identifier: GPL-2.0
# Faults (#20, #19): a stream's worker process killed or stopped mid-stream while two other
# streams decode beside it (they stay byte-exact); the worker zygote stopped (a new one serves
# the next stream); the daemon killed (SIGKILL) or stopped past the watchdog (SIGSTOP) at random
# points while a stream decodes, KILLS times; the platform device unbound while streams decode
# on both nodes and clients sleep on them (poll, DQBUF: each woken), and while a stateful client
# waits for its format; a module unload refused while they decode, done once they end. Each
# client must end within its timeout (an error is fine: its daemon died), and after each group
# a clean decode is byte-exact and the daemon's fd count is back to its idle value.
# tools/vm-run fails the run on any oops, WARN, hung task or kmemleak report.
. /src/tests/vm/lib.sh

KILLS=${KILLS:-6}
SF=/dev/video10
PDRV=/sys/bus/platform/drivers/daedalus-v4l2
sfclient() { # CLIP FOURCC [FRAMEMD5]: our stateful client, ended within 60 s (CLIP: a clip's
	# name, or a path; FRAMEMD5: by default the clip's own)
	local clip=$1
	[ "${clip#/}" != "$clip" ] || clip=$CLIPS/$clip
	timeout -k 5 60 "$SFCLIENT" $SF "$clip" "${3:-${clip%.*}.framemd5}" "$2"
}
step "load the module and start the daemon"
load_daedalus
start_daemon
# the watchdog (module parameter timeout_ms, read as each job is queued): the default 5 s, but
# 1 s while the daemon is stopped past it again and again (1080p pictures, which the streams
# beside a victim decode, may take longer than 1 s under emulation on a busy host)
watchdog() { echo "$1" >/sys/module/daedalus_v4l2/parameters/timeout_ms; }

step "a stream's worker killed (SIGKILL), or stopped (SIGSTOP), mid-stream: its stream alone fails"
given_up=$(grep -c "given up" "$OUT/daemon.log" || true)	# (the log is the boot's)
for sig in KILL STOP; do
	workers_gone
	GST_TIMEOUT=120 gst_decode vp9-1920x1080.ivf /tmp/victim.nv12 >/tmp/victim.log 2>&1 &
	victim=$!
	# its worker, once GStreamer is up and its stream's first job came
	for i in $(seq 600); do w=$(daemon_workers); [ -n "$w" ] && break; sleep 0.1; done
	[ -n "$w" ] || fail "no worker for the 1080p stream"
	# nothing of the daemon's but its own socket (no netlink socket, no other stream's)
	sockets=$(find "/proc/$w/fd" -lname "socket:*" | wc -l)
	[ "$sockets" = 1 ] || { ls -l "/proc/$w/fd"; fail "worker $w holds $sockets sockets"; }
	sleep 1
	sfclient vp9-320x240.ivf VP90 >/tmp/sf.log 2>&1 &
	sf=$!
	gst_decode av1-320x240.ivf /tmp/sl.nv12 >/tmp/sl.log 2>&1 &
	sl=$!
	sleep 1
	kill -0 "$w" || { tail -n 3 /tmp/victim.log; fail "the 1080p stream's worker ($w) ended early"; }
	"$CTL" status | grep "worker pid $w\$" || fail "daedalus-v4l2ctl status does not name worker $w"
	kill -"$sig" "$w"
	echo "SIG$sig to worker $w"
	rc=0
	wait "$victim" || rc=$?
	[ "$rc" != 124 ] || fail "the stream whose worker got SIG$sig hung"
	tail -n 2 /tmp/victim.log
	echo "its client ended ($rc)"
	wait "$sf" || { cat /tmp/sf.log; fail "a stateful stream beside it failed"; }
	wait "$sl" || { cat /tmp/sl.log; fail "a stateless stream beside it failed"; }
	byte_exact av1-320x240.ivf /tmp/sl.nv12
	# a stopped worker is killed at its stream's close
	for i in $(seq 50); do [ -d "/proc/$w" ] || break; sleep 0.1; done
	[ ! -d "/proc/$w" ] || fail "worker $w still there after its stream closed"
	grep "given up\|worker ended" "$OUT/daemon.log" | tail -n 2
	rm -f /tmp/victim.nv12 /tmp/sl.nv12
done
[ "$(grep -c "given up" "$OUT/daemon.log")" = $((given_up + 2)) ] ||
	fail "the daemon did not say it gave up 2 workers"
clean_decode

# The zygote answers a fork in milliseconds; one that does not answer within SPAWN_TIMEOUT
# (10 s) is killed and another started, and the stream that asked gets its worker from that
# one. Its client may fail meanwhile (GStreamer waits a second for a request), never hang.
step "the worker zygote stopped (SIGSTOP): a new stream's worker comes from a new zygote"
idle=$(settled_fds)
zygote=$(pgrep -P "$DAEMON_PID" -x daedalus-zygote) || fail "no worker zygote"
kill -STOP "$zygote"
rc=0
GST_TIMEOUT=120 gst_decode vp9-320x240.ivf /tmp/z.nv12 >/tmp/z.log 2>&1 || rc=$?
[ "$rc" != 124 ] || fail "the stream started while the zygote was stopped hung"
tail -n 2 /tmp/z.log
echo "its client ended ($rc)"
for _ in $(seq 300); do [ -d "/proc/$zygote" ] || break; sleep 0.1; done
[ ! -d "/proc/$zygote" ] || fail "the stopped zygote ($zygote) is still there"
grep "the worker zygote failed" "$OUT/daemon.log" | tail -n 1 ||
	fail "the daemon did not say its zygote failed"
# (the stream's worker, forked late, runs what the stream had queued, then its close)
workers_gone
[ "$(settled_fds)" = "$idle" ] || fail "daemon fds: $(daemon_fds), before the zygote's stop $idle"
echo "zygote $zygote stopped; the daemon's zygote now: $(pgrep -P "$DAEMON_PID" -x daedalus-zygote)"
rm -f /tmp/z.nv12
clean_decode

step "$KILLS times: a stream decodes, the daemon is killed or stopped past the watchdog"
kills=0 stops=0 hung=0
watchdog_was=$(cat /sys/module/daedalus_v4l2/parameters/timeout_ms)
watchdog 1000
for i in $(seq "$KILLS"); do
	sfclient av1-320x240.ivf AV01 >/tmp/victim.log 2>&1 &
	victim=$!
	sleep "0.$((RANDOM % 10))$((RANDOM % 10))"
	if [ $((i % 3)) = 0 ]; then
		# stopped longer than the watchdog: its jobs fail, its late answers are refused
		kill -STOP "$DAEMON_PID"
		sleep 1.5
		kill -CONT "$DAEMON_PID"
		stops=$((stops + 1))
	else
		kill -KILL "$DAEMON_PID"
		wait "$DAEMON_PID" 2>/dev/null || true
		kills=$((kills + 1))
	fi
	rc=0
	wait "$victim" || rc=$?
	[ "$rc" = 124 ] || [ "$rc" = 137 ] && { hung=$((hung + 1)); cat /tmp/victim.log; }
	kill -0 "$DAEMON_PID" 2>/dev/null || start_daemon
done
watchdog "$watchdog_was"
echo "$kills SIGKILLs, $stops SIGSTOPs past the watchdog: $hung clients hung"
[ "$hung" = 0 ] || fail "$hung clients did not end within their timeout"
clean_decode

# Beside them, clients asleep in poll() on each node for an event that never comes, and one in
# a blocking DQBUF on the stateless node: the unbind must wake each (the DQBUF slept on until
# 2026-12-07: the module now puts the open contexts' queues in error).
step "unbind while streams decode on both nodes, and clients sleep in poll() and DQBUF; bind again"
python3 /src/tests/pollwake.py 30 "$(video_dev daedalus-v4l2)" $SF \
	"dqbuf:$(video_dev daedalus-v4l2)" >/tmp/pollwake.log 2>&1 &
waker=$!
for _ in $(seq 300); do grep -q waiting /tmp/pollwake.log && break; sleep 0.1; done
grep -q waiting /tmp/pollwake.log || { cat /tmp/pollwake.log; fail "pollwake.py is not waiting"; }
GST_TIMEOUT=120 gst_decode vp9-1920x1080.ivf /tmp/big.nv12 >/tmp/sl.log 2>&1 &
sl=$!
sfclient av1-320x240.ivf AV01 >/tmp/sf.log 2>&1 &
sf=$!
sleep 3
echo daedalus-v4l2 >"$PDRV/unbind"
for pid in $sl $sf; do
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" != 124 ] || fail "a client hung after the unbind"
	echo "client $pid ended ($rc)"
done
wait "$waker" || { cat /tmp/pollwake.log; fail "a client asleep on a node was not woken"; }
cat /tmp/pollwake.log
rm -f /tmp/big.nv12
echo daedalus-v4l2 >"$PDRV/bind"
udevadm settle --timeout=10 || true

# A stateful client whose clip is all queued before the device sends its format (the daemon
# stopped meanwhile), waiting in its drain when the device is unbound: it must end, with an
# error (it waited for ever until 2026-12-08: v4l2r's capture thread had ended at the unbind,
# and a drain asked of it waits for its answer with no timeout).
step "unbind while a stateful client waits for its format, its clip all queued; bind again"
ffmpeg -nostdin -v error -i "$CLIPS/av1-320x240.ivf" -c copy -frames:v 3 -y /tmp/short.ivf
kill -STOP "$DAEMON_PID"
sfclient /tmp/short.ivf AV01 "$CLIPS/av1-320x240.framemd5" >/tmp/sf.log 2>&1 &
sf=$!
for _ in $(seq 300); do grep -q draining /tmp/sf.log && break; sleep 0.1; done
if ! grep -q draining /tmp/sf.log; then
	kill -CONT "$DAEMON_PID"
	cat /tmp/sf.log
	fail "sfclient never drained"
fi
echo daedalus-v4l2 >"$PDRV/unbind"
kill -CONT "$DAEMON_PID"
rc=0
wait "$sf" || rc=$?
cat /tmp/sf.log
[ "$rc" != 124 ] || fail "the stateful client hung after the unbind"
[ "$rc" != 0 ] || fail "the stateful client succeeded with its device unbound"
rm -f /tmp/short.ivf
echo daedalus-v4l2 >"$PDRV/bind"
udevadm settle --timeout=10 || true
clean_decode

# (the 24-picture 1080p H.264 clip: rmmod is tried as soon as the daemon has its first job)
step "module unload while streams decode: refused; done once they end"
started=$(grep -c "stream started" "$OUT/daemon.log" || true)
BIG=h264-1920x1080-idr.h264
GST_TIMEOUT=120 gst_decode $BIG /tmp/big.nv12 >/tmp/sl.log 2>&1 &
sl=$!
for _ in $(seq 300); do
	[ "$(grep -c "stream started" "$OUT/daemon.log")" -gt "$started" ] && break
	sleep 0.1
done
if rmmod daedalus-v4l2 2>/tmp/rmmod.err; then
	fail "rmmod succeeded with a stream decoding"
fi
cat /tmp/rmmod.err
wait "$sl" || fail "the stream failed: $(tail -n 3 /tmp/sl.log)"
byte_exact $BIG /tmp/big.nv12
rm -f /tmp/big.nv12
stop_daemon
rmmod daedalus-v4l2
load_daedalus
start_daemon
clean_decode
stop_daemon
rmmod daedalus-v4l2
