# SPDX-License-Identifier: GPL-2.0
# Every job ends, whatever happens to the daemon, and only the daemon can act as the daemon:
#  - no daemon: CAPTURE allocation fails at once, a decode fails fast, with a clear log line
#  - a daemon that can allocate nothing (no GPU, no heap) stays up and fails allocations cleanly
#  - a process without CAP_NET_ADMIN cannot attach or complete a job; another root process
#    cannot take over or complete the attached daemon's jobs
#  - a garbage bitstream errors buffers, never the daemon
#  - a stream's process past its memory limit fails that stream, never the daemon
#  - killing the daemon mid-stream: the client gets errors, not a hang; a restarted daemon
#    decodes the next stream byte-exact
#  - unloading the module under an attached daemon: the daemon waits, attaches to the reloaded
#    module and decodes byte-exact; the module unloads cleanly
. /src/tests/vm/lib.sh

load_daedalus
video=$(video_dev daedalus-v4l2)

step "no daemon attached"
python3 /src/tests/reqbufs.py "$video" && fail "REQBUFS succeeded without a daemon"
t0=$(now)
if GST_TIMEOUT=60 gst filesrc location="$CLIPS/vp9-320x240.ivf" ! ivfparse ! vp9parse ! \
	v4l2slvp9dec ! fakesink; then
	fail "a decode succeeded without a daemon"
fi
echo "GStreamer failed after $(seconds "$t0" "$(now)") s (whole pipeline, start-up included)"
dmesg | grep "no daemon attached" >/dev/null || fail "no kernel log line says why"
dmesg | grep "no daemon attached" | tail -1

step "a daemon with no working allocator stays up; allocation fails with a clear error"
start_daemon --allocator gbm --drm-device /nonexistent
grep "no way to allocate CAPTURE buffers yet" "$OUT/daemon.log" || fail "no log line at start"
python3 /src/tests/reqbufs.py "$video" && fail "REQBUFS succeeded without an allocator"
grep "cannot allocate a CAPTURE buffer" "$OUT/daemon.log" || fail "no log line for the failure"
kill -0 "$DAEMON_PID" || fail "the daemon exited"
stop_daemon

step "unprivileged processes cannot act as the daemon, nor listen to its job notifications"
for op in attach job-done job-get join; do
	rc=0
	runuser -u tester -- python3 /src/tests/nlprobe.py "$op" || rc=$?
	[ "$rc" = 1 ] || fail "$op as an unprivileged user: errno $rc, want EPERM (1)"
done
rc=0
runuser -u tester -- "$DAEMON" >"$OUT/daemon-unprivileged.log" 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "the daemon attached as an unprivileged user"
grep -i "not permitted" "$OUT/daemon-unprivileged.log" || fail "unprivileged daemon: no clear error"

step "with the daemon attached, another root process can neither attach nor complete jobs"
start_daemon
rc=0; python3 /src/tests/nlprobe.py attach || rc=$?
[ "$rc" = 16 ] || fail "second attach: errno $rc, want EBUSY (16)"
for op in job-done job-get; do
	rc=0; python3 /src/tests/nlprobe.py "$op" || rc=$?
	[ "$rc" = 1 ] || fail "$op from another socket: errno $rc, want EPERM (1)"
done

step "garbage bitstream"
python3 /src/tests/corrupt.py "$CLIPS/vp9-320x240.ivf" /tmp/garbage.ivf 3
n0=$(wc -l <"$OUT/daemon.log")
GST_TIMEOUT=120 gst filesrc location=/tmp/garbage.ivf ! ivfparse ! vp9parse ! v4l2slvp9dec ! \
	fakesink || echo "(GStreamer reported the errors)"
kill -0 "$DAEMON_PID" || fail "the daemon died on a garbage bitstream"
# this decode's lines only (the log is the boot's: each.sh runs other tests before)
tail -n +$((n0 + 1)) "$OUT/daemon.log" >/tmp/garbage.log
echo "frames the daemon refused: $(grep -c "frame not decoded" /tmp/garbage.log || true)"
no_raw_ffmpeg_lines "$OUT/daemon.log"
# (one grep on the file: with `set -o pipefail`, a `| head` that ended before a long log's
# writer failed this step once, in a boot where the fuzz test had logged 540 refused frames)
grep -m 1 'frame not decoded.*decoder_said="[^"]' /tmp/garbage.log ||
	fail "no refused frame says what FFmpeg said about it"
gst_decode vp9-320x240.ivf /tmp/out.nv12
byte_exact vp9-320x240.ivf /tmp/out.nv12

step "streams of a chroma format or bit depth the daemon cannot decode are refused"
why="refused: .* streams of this chroma format or bit depth are not supported"
for clip in unsupported/vp9-444-320x240.ivf unsupported/h264-422-320x240.h264 \
	unsupported/av1-444-320x240.ivf; do
	before=$(dmesg | grep -c "$why" || true)
	if gst_decode "$clip" /tmp/out.nv12 >/tmp/gst.log 2>&1; then
		fail "$clip: decoded (to what?) instead of refused"
	fi
	grep -m1 "ERROR" /tmp/gst.log || true
	[ "$(dmesg | grep -c "$why" || true)" -gt "$before" ] ||
		fail "$clip: no kernel log line says why the stream was refused"
	dmesg | grep "$why" | tail -n 1
done
rm -f /tmp/out.nv12

step "a stream's process past its memory limit fails its stream, not the daemon"
# (16 MiB: less than a worker holds before it decodes, so every allocation of the stream fails)
stop_daemon
start_daemon --worker-memory-mib 16
failed="given up\|frame not decoded"
before=$(grep -c "$failed" "$OUT/daemon.log" || true)
GST_TIMEOUT=120 gst_decode vp9-320x240.ivf /tmp/out.nv12 >/tmp/gst.log 2>&1 ||
	echo "(GStreamer reported the errors)"
after=$(grep -c "$failed" "$OUT/daemon.log" || true)
[ "$after" -gt "$before" ] || fail "a stream decoded within a 16 MiB limit"
kill -0 "$DAEMON_PID" || fail "the daemon died"
grep "$failed" "$OUT/daemon.log" | tail -n 1
echo "$((after - before)) failures in the limited stream; the daemon is up"
stop_daemon
start_daemon
gst_decode vp9-320x240.ivf /tmp/out.nv12
byte_exact vp9-320x240.ivf /tmp/out.nv12

step "kill the daemon mid-stream"
GST_TIMEOUT=120 gst filesrc location="$CLIPS/vp9-1920x1080.ivf" ! ivfparse ! vp9parse ! \
	v4l2slvp9dec ! fakesink >"$OUT/gst-killed.log" 2>&1 &
gst_pid=$!
for _ in $(seq 300); do
	grep -q "width=1920" "$OUT/daemon.log" && break
	sleep 0.1
done
sleep 2
frames_before=$(dmesg | grep -c "decode failed" || true)
kill -9 "$DAEMON_PID"
t0=$(now)
rc=0
wait "$gst_pid" || rc=$?
echo "client ended $(seconds "$t0" "$(now)") s after the kill (exit $rc)"
[ "$rc" != 124 ] || fail "the client hung after the daemon died"
echo "frames failed since the kill: $(($(dmesg | grep -c "decode failed" || true) - frames_before))" \
	"(the kernel log is rate-limited)"
dmesg | grep "detached (socket closed)" | tail -1
dmesg | grep "detached (socket closed)" >/dev/null || fail "the kernel did not notice the daemon's death"

step "a restarted daemon decodes the next stream"
start_daemon
gst_decode vp9-320x240.ivf /tmp/out.nv12
byte_exact vp9-320x240.ivf /tmp/out.nv12

step "the module unloads under the attached daemon, which waits and attaches to the reloaded one"
attached=$(grep -c "attached to the daedalus-v4l2 module" "$OUT/daemon.log")
rmmod daedalus-v4l2
for _ in $(seq 50); do grep -q "went away" "$OUT/daemon.log" && break; sleep 0.1; done
grep "went away" "$OUT/daemon.log" || fail "the daemon did not notice the unload"
kill -0 "$DAEMON_PID" || fail "the daemon exited when the module went away"
load_daedalus
for _ in $(seq 100); do
	[ "$(grep -c "attached to the daedalus-v4l2 module" "$OUT/daemon.log")" -gt "$attached" ] && break
	sleep 0.1
done
[ "$(grep -c "attached to the daedalus-v4l2 module" "$OUT/daemon.log")" -gt "$attached" ] ||
	fail "the daemon did not attach to the reloaded module"
gst_decode vp9-320x240.ivf /tmp/out.nv12
byte_exact vp9-320x240.ivf /tmp/out.nv12
stop_daemon

step "the module unloads"
rmmod daedalus-v4l2
lsmod | grep daedalus >/dev/null && fail "module still loaded"
echo "robustness: all checks passed"
