# SPDX-License-Identifier: GPL-2.0
# The user's path, on a booted trixie system with systemd as PID 1 (tools/vm-run --systemd):
#   boot 1: apt install the three .debs from build/debs (DKMS builds the module against the
#           headers of every installed kernel), then reboot;
#   boot 2: the module is loaded at boot, udev has started the service, an unprivileged user in
#           group video decodes VP9 byte-exact, through V4L2 and through VA-API (vainfo finds
#           our driver with no environment), v4l2-compliance -m passes;
#   then the service's behaviour (journal, counters, socket activation, watchdog, sandbox), and
#   last apt remove / purge leave no daemon, no module and (purge) no config.
#   With arguments (aarch64: the kernels with headers installed, as vm/pins.env names them: the
#   guest's own, tools/build-arm64.sh), DKMS must have built the module for each; the checks of
#   boot 2 run on the first, the guest's kernel (each kernel's module, cross-built, runs the
#   decoder tests in a stage of its own: the arm64-<kernel> stages of ./daedalus test).
# ./daedalus test runs it on aarch64, the Pi's architecture (stage arm64-packages):
#   tools/vm-run --arch aarch64 --systemd tests/vm/packages.sh 6.12.117+deb13
# (Debian's arm64-16k kernel); on x86_64, by hand (the test kernel and its headers; the suite
# left it out on 2026-12-07 for its time, ~11 min under emulation with the debug kernel):
#   tools/vm-run --systemd tests/vm/packages.sh
. /src/tests/vm/lib.sh
KERNELS=("$@")

STATE=/var/lib/daedalus-test
CLIP=vp9-320x240.ivf
UNIT=daedalus-v4l2d.service
mkdir -p "$STATE"

# wait_for SECONDS CMD...: poll CMD every half second until it succeeds
wait_for() {
	local n=$(($1 * 2))
	shift
	while ! "$@" >/dev/null 2>&1; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || return 1
		sleep 0.5
	done
}
active() { [ "$(systemctl is-active "$1")" = active ]; }
# watch_workers PID: while PID (a client) runs, the most threads any stream worker had, and the
# threads their cgroups refused (pids.events "max"), as "THREADS REFUSED"
watch_workers() {
	local w n most=0 refused=0
	while kill -0 "$1" 2>/dev/null; do
		for w in $(pgrep -x daedalus-worker); do
			n=$(awk '/^Threads:/ { print $2 }' "/proc/$w/status" 2>/dev/null) || continue
			[ -n "$n" ] && [ "$n" -gt "$most" ] && most=$n
			n=$(sed -n 's/^max //p' "$svc/worker-$w/pids.events" 2>/dev/null) || continue
			[ -n "$n" ] && [ "$n" -gt "$refused" ] && refused=$n
		done
		sleep 0.05
	done
	echo "$most $refused"
}
as_tester() { runuser -u tester -- env GST_REGISTRY=/tmp/gst-tester.bin "$@"; }

if [ ! -e "$STATE/installed" ]; then
	step "boot 1: a trixie system with the test kernel $(uname -r) and its headers package"
	dpkg-query -W -f '${Package} ${Version}\n' 'linux-headers-*' dkms systemd
	ls /build/debs
	# Stands in for a Pi's GPU: a DRM device for the daemon's GBM allocations, now and at boot.
	# Debian's arm64 kernels have no vkms: there the daemon takes udmabuf (tests/vm/allocators.sh).
	if modinfo vkms >/dev/null 2>&1; then
		modprobe vkms
		echo vkms >/etc/modules-load.d/test-drm.conf
	fi
	# ... and for libva, which picks a driver by the render node's DRM driver: vgem here
	# (no GPU), v3d on a Pi 5; our VA package installs its driver under both names
	modprobe vgem
	echo vgem >>/etc/modules-load.d/test-drm.conf

	arch=$(dpkg --print-architecture)
	step "apt install ./daedalus-v4l2-dkms_*.deb ./daedalus-v4l2d_*_$arch.deb ./daedalus-v4l2-va_*_$arch.deb"
	cp /build/debs/*.deb /tmp/
	t0=$(now)
	DEBIAN_FRONTEND=noninteractive apt-get install -y /tmp/daedalus-v4l2-dkms_*_all.deb \
		/tmp/daedalus-v4l2d_*_"$arch".deb /tmp/daedalus-v4l2-va_*_"$arch".deb 2>&1 |
		tee "$OUT/apt-install.log"
	echo "apt install took $(seconds "$t0" "$(now)") s"
	dkms status daedalus-v4l2 | tee /tmp/dkms-status
	grep -q ": installed" /tmp/dkms-status || fail "DKMS did not install the module"
	for k in "${KERNELS[@]}"; do
		grep -q "$k-.*: installed" /tmp/dkms-status || fail "DKMS did not build for $k"
	done
	modinfo -n daedalus-v4l2 | grep /updates/dkms/ >/dev/null || fail "the module is not DKMS's"
	dpkg -L daedalus-v4l2d | grep -E "\.(service|socket|rules|toml)$|/(man[18])/"
	# No reboot needed to start using it: the postinst loaded the module, udev started the daemon.
	wait_for 60 active "$UNIT" || fail "$UNIT not active after apt install"
	echo "without a reboot: module $(lsmod | grep -c "^daedalus_v4l2 ") loaded, $UNIT active"
	touch "$STATE/installed"
	echo "rebooting"
	reboot_and_rerun
fi

step "boot $(($(cat /out/boots 2>/dev/null || echo 0) + 1)), $(uname -r): the module was loaded at boot (modules-load.d)"
wait_for 30 test -d /sys/module/daedalus_v4l2 || fail "module not loaded"
lsmod | grep daedalus
journalctl -b -u systemd-modules-load --no-pager -o cat | grep -i daedalus || true

step "udev started the service when the decoder appeared"
wait_for 60 active "$UNIT" || { systemctl status "$UNIT" --no-pager || true; fail "not active"; }
echo "systemctl is-active $UNIT: $(systemctl is-active "$UNIT")"
# Started by the device (SYSTEMD_WANTS), not by the socket: nothing has connected to it yet.
systemctl show -p WantedBy -p TriggeredBy "$UNIT"
systemctl show -p WantedBy --value "$UNIT" | grep "\.device" >/dev/null ||
	fail "$UNIT is not wanted by the decoder's device unit"
[ "$(systemctl show -p NAccepted --value daedalus-v4l2d.socket)" = 0 ] ||
	fail "something connected to the control socket already"
systemctl show -p Type -p WatchdogUSec -p User -p DynamicUser "$UNIT"
# what any user who can feed it streams can make it take: bounded
systemctl show -p LimitNOFILE -p TasksMax -p MemoryMax -p StartLimitBurst "$UNIT" | tee /tmp/limits
grep -qx "LimitNOFILE=8192" /tmp/limits && grep -qx "TasksMax=512" /tmp/limits &&
	! grep -q "MemoryMax=infinity" /tmp/limits || fail "$UNIT: resource limits missing"
ps -o user,group,supgrp,cmd -C daedalus-v4l2d
grep -E "^Cap(Prm|Eff|Bnd|Amb)" "/proc/$(systemctl show -p MainPID --value "$UNIT")/status"
v4l2-ctl --list-devices | tee /tmp/devices
grep -q "daedalus-v4l2" /tmp/devices || fail "v4l2-ctl does not list the decoder"

step "udev: stable names and permissions"
ls -l /dev/video-dec0 /dev/media-dec0
for dev in /dev/video-dec0 /dev/media-dec0; do
	[ "$(stat -L -c %G:%a "$dev")" = video:660 ] || fail "$dev: $(stat -L -c %G:%a "$dev")"
done
udevadm info -q property -n /dev/video-dec0 | grep -E "^(TAGS|CURRENT_TAGS|SYSTEMD_WANTS)="
udevadm info -q property -n /dev/video-dec0 | grep "^TAGS=.*:uaccess:" >/dev/null || fail "no uaccess tag"

step "an unprivileged user in group video decodes $CLIP with GStreamer; its stream's worker is confined"
id tester
t0=$(now)
# The stream stays open for at least 12 s (a sink that takes 200 ms a frame: the decoder waits
# for it), so that the worker and its cgroup are still there to be read: the 320x240 decode
# alone once ended within the 2 s the checks below took, and the worker's cgroup with it.
as_tester timeout 600 gst-launch-1.0 -q --no-position filesrc location="$CLIPS/$CLIP" ! \
	ivfparse ! vp9parse ! v4l2slvp9dec ! video/x-raw,format=NV12 ! \
	identity sleep-time=200000 ! filesink location=/tmp/tester.nv12 &
gst=$!
# its worker's threads, sampled from now until the decode ends (after the checks below it
# has ended: sampled there, before 2026-12-06, the count was always 0 and checked nothing)
svc=/sys/fs/cgroup/system.slice/$UNIT
watch_workers "$gst" >/tmp/watch.out &
watcher=$!
worker=
for _ in $(seq 1200); do
	worker=$(pgrep -x daedalus-worker || true)
	[ -n "$worker" ] && break
	sleep 0.05
done
[ -n "$worker" ] || fail "no worker process for the stream"
main=$(systemctl show -p MainPID --value "$UNIT")
# no capability, no new privileges, the service's seccomp filters and its own on top
grep -E "^(Uid|Cap(Prm|Eff|Amb)|NoNewPrivs|Seccomp|Seccomp_filters):" "/proc/$worker/status" |
	tee /tmp/worker.status
for cap in CapPrm CapEff CapAmb; do
	grep -qx "$cap:[[:space:]]*0*" /tmp/worker.status || fail "the worker has $cap"
done
grep -qx "NoNewPrivs:[[:space:]]*1" /tmp/worker.status || fail "the worker may gain privileges"
[ "$(awk '/^Seccomp_filters:/ { print $2 }' /tmp/worker.status)" -gt \
	"$(awk '/^Seccomp_filters:/ { print $2 }' "/proc/$main/status")" ] ||
	fail "the worker has no seccomp filter beyond the service's"
# ahead of ordinary processes: at the unit's Nice=, as the daemon
nice=$(unit_nice "/usr/lib/systemd/system/$UNIT")
worker_nice=$(ps -o ni= -p "$worker" | tr -d ' ')
echo "nice: daemon $(ps -o ni= -p "$main" | tr -d ' '), worker $worker_nice, unit $nice"
[ -n "$nice" ] && [ "$nice" -lt 0 ] || fail "the unit sets no priority above ordinary processes"
[ "$worker_nice" = "$nice" ] || fail "the worker runs at another priority"
# in a cgroup of its own (--worker-cgroups: the unit delegates the service's cgroup), beside the
# daemon's; its limits: pids.max twice the decoder threads and 4, memory.max --worker-memory-mib
echo "daemon: $(cat "/proc/$main/cgroup"), worker: $(cat "/proc/$worker/cgroup")"
[ "$(cat "/proc/$main/cgroup")" = "0::/system.slice/$UNIT/daemon" ] || fail "the daemon's cgroup"
[ "$(cat "/proc/$worker/cgroup")" = "0::/system.slice/$UNIT/worker-$worker" ] ||
	fail "the worker is not in a cgroup of its own"
echo "pids.max $(cat "$svc/worker-$worker/pids.max"), memory.max $(cat "$svc/worker-$worker/memory.max" 2>/dev/null || echo "(no memory controller)")"
[ "$(cat "$svc/worker-$worker/pids.max")" = $((2 * $(nproc) + 4)) ] || fail "the worker's pids.max"
# (the memory controller where the kernel has one: Debian's kernels have, the x86_64 test
# kernel not)
[ "$(uname -m)" != aarch64 ] || grep -qw memory "$svc/cgroup.subtree_control" ||
	fail "no memory controller for the workers' cgroups on Debian's kernel"
if grep -qw memory "$svc/cgroup.subtree_control"; then
	[ "$(cat "$svc/worker-$worker/memory.max")" = $((2048 << 20)) ] || fail "the worker's memory.max"
fi
# What a frame costs once a stream is under way: the status's last 5 s, read when the stream
# has decoded 45 of its 60 frames (5 a second: from about frame 20 on, each of its CAPTURE and
# OUTPUT buffers has been mapped once, at its first job; read earlier, 2026-12-06, the window
# held those first jobs: 16 maps in 22 frames) show not one fd installed or buffer mapped
for _ in $(seq 600); do
	as_tester daedalus-v4l2ctl status --json >/tmp/status.json
	python3 -c 'import json, sys; s = json.load(open(sys.argv[1]))["streams"]
sys.exit(not (s and s[0]["frames"] >= 45))' /tmp/status.json && break
	sleep 0.1
done
as_tester daedalus-v4l2ctl status | grep -E "CAPTURE buffers|last |stream [0-9]"
python3 - /tmp/status.json <<'PY' || fail "the status shows per-frame work in steady state"
import json, sys
s = json.load(open(sys.argv[1]))
r = s["recent"]
assert s["streams"] and s["streams"][0]["frames"] >= 45, f"the stream never reached 45 frames: {s}"
assert r and r["frames"] > 0, f"no frames in the last seconds: {r}"
assert r["fds_per_frame"] == 0 and r["maps_per_frame"] == 0, f"a frame under way costs: {r}"
PY
wait "$gst" || fail "the decode failed"
wait "$watcher"
read -r threads refused </tmp/watch.out
echo "decoded in $(seconds "$t0" "$(now)") s, by a worker of at most $threads threads ($refused refused)"
byte_exact "$CLIP" /tmp/tester.nv12
[ "$refused" = 0 ] || fail "the default task limit refused the decoder $refused threads"
# its own thread and FFmpeg's (the daemon's default: one per CPU)
[ "$threads" -gt 1 ] || fail "the worker decoded on $threads thread(s): its decoder's threads did not start"
# (removed once the zygote has reaped the worker, after the client's end: within 10 s)
no_worker_cgroups() { ! ls -d "$svc"/worker-* >/dev/null 2>&1; }
wait_for 10 no_worker_cgroups || fail "a worker's cgroup is left: $(ls -d "$svc"/worker-*)"

step "worker-tasks = 1: the cgroup holds the worker to one task; FFmpeg decodes on it alone"
cp /etc/daedalus-v4l2/daedalus-v4l2d.toml /tmp/config.toml
echo "worker-tasks = 1" >>/etc/daedalus-v4l2/daedalus-v4l2d.toml
systemctl restart "$UNIT"
as_tester timeout 600 gst-launch-1.0 -q --no-position filesrc location="$CLIPS/$CLIP" ! \
	ivfparse ! vp9parse ! v4l2slvp9dec ! video/x-raw,format=NV12 ! \
	filesink location=/tmp/tester.nv12 &
gst=$!
read -r one refused < <(watch_workers "$gst")
wait "$gst" || fail "the decode failed"
byte_exact "$CLIP" /tmp/tester.nv12
echo "threads refused by pids.max: $refused; the worker's threads: at most $one"
[ "$refused" -gt 0 ] && [ "$one" = 1 ] || fail "the task limit did not hold the worker"
dmesg | grep "fork rejected by pids controller" | tail -1
cp /tmp/config.toml /etc/daedalus-v4l2/daedalus-v4l2d.toml
systemctl restart "$UNIT"

step "VA-API: an unprivileged user in group video, no environment: vainfo finds our driver"
render=$(find /dev/dri -name 'renderD*' | sort | sed -n 1p)
[ -n "$render" ] || fail "no DRM render node"
echo "$render: $(cat "/sys/class/drm/${render##*/}/device/uevent" 2>/dev/null | sed -n 's/^DRIVER=//p')"
# env -i: no LIBVA_DRIVER_NAME, no LIBVA_DRIVERS_PATH
as_tester env -i PATH=/usr/bin:/bin vainfo --display drm --device "$render" >/tmp/vainfo 2>&1 ||
	{ cat /tmp/vainfo; fail "vainfo as tester"; }
cat /tmp/vainfo
grep -q "Driver version: daedalus-v4l2 VA-API driver" /tmp/vainfo || fail "vainfo: not our driver"
for p in H264ConstrainedBaseline H264Main H264High VP9Profile0 VP9Profile2; do
	grep -Eq "VAProfile${p}[[:space:]]*:[[:space:]]*VAEntrypointVLD" /tmp/vainfo ||
		fail "vainfo does not list VAProfile$p"
done
if command -v ffmpeg >/dev/null; then
	step "VA-API: the same user decodes $CLIP with ffmpeg -hwaccel vaapi"
	as_tester env -i PATH=/usr/bin:/bin timeout 600 ffmpeg -nostdin -hide_banner -loglevel error \
		-hwaccel vaapi -hwaccel_device "$render" -hwaccel_output_format vaapi \
		-i "$CLIPS/$CLIP" -vf hwdownload,format=nv12 -f framemd5 /tmp/tester-va.framemd5 ||
		fail "ffmpeg -hwaccel vaapi as tester"
	same_md5 /tmp/tester-va.framemd5 "$CLIPS/${CLIP%.*}.framemd5" "ffmpeg -hwaccel vaapi: $CLIP"
else
	step "VA-API: the same user decodes $CLIP with GStreamer's vavp9dec"
	# GStreamer's va plugin takes drivers other than Intel's and Mesa's only when told
	as_tester env -i PATH=/usr/bin:/bin GST_VA_ALL_DRIVERS=1 GST_REGISTRY=/tmp/gst-tester-va.bin \
		timeout 600 gst-launch-1.0 -q --no-position filesrc location="$CLIPS/$CLIP" ! ivfparse ! \
		vp9parse ! vavp9dec ! video/x-raw,format=NV12 ! filesink location=/tmp/tester-va.nv12
	byte_exact "$CLIP" /tmp/tester-va.nv12
fi

step "v4l2-compliance -m on the installed system ($(uname -m), page size $(getconf PAGESIZE))"
compliance -m "$(media_dev daedalus-v4l2)"

step "journalctl -u $UNIT: the stream's start and end lines, with fields"
journalctl -b -u "$UNIT" --no-pager -o short-monotonic | tail -8
journalctl -b -u "$UNIT" -o json --no-pager >/tmp/journal.json
python3 - /tmp/journal.json <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
start = [r for r in recs if r.get("MESSAGE") == "stream started"]
end = [r for r in recs if r.get("MESSAGE") == "stream ended"]
assert start and end, "no stream start/end lines"
s, e = start[-1], end[-1]
for k in ("STREAM", "CODEC", "WIDTH", "HEIGHT"):
    assert k in s, (k, s)
for k in ("STREAM", "CODEC", "WIDTH", "HEIGHT", "FRAMES", "ERRORS", "RESULT", "FPS"):
    assert k in e, (k, e)
assert s["STREAM"] == e["STREAM"] and e["CODEC"] == "vp9", (s, e)
assert (e["WIDTH"], e["HEIGHT"], e["RESULT"]) == ("320", "240", "ok"), e
assert int(e["FRAMES"]) >= 60 and e["ERRORS"] == "0", e
assert e.get("_SYSTEMD_UNIT") == "daedalus-v4l2d.service", e
per_frame = [r for r in recs if r.get("MESSAGE") == "frame decoded"]
assert not per_frame, "per-frame lines at info level"
print("journal: stream %s: %s %sx%s, %s frames, result %s, priority %s"
      % (e["STREAM"], e["CODEC"], e["WIDTH"], e["HEIGHT"], e["FRAMES"], e["RESULT"], e["PRIORITY"]))
PY

step "per-stream counters on request (SIGUSR1)"
systemctl kill -s USR1 "$UNIT"
wait_for 10 sh -c "journalctl -b -u $UNIT -o cat --no-pager | grep '^counters'" >/dev/null ||
	fail "no counters line after SIGUSR1"
journalctl -b -u "$UNIT" -o cat --no-pager | grep "^counters" | tail -1

step "socket activation: daedalus-v4l2ctl status starts the stopped service"
systemctl stop "$UNIT"
[ "$(systemctl is-active "$UNIT")" = inactive ] || fail "$UNIT did not stop"
active daedalus-v4l2d.socket || fail "the socket is not listening"
as_tester daedalus-v4l2ctl status | tee /tmp/status.txt
grep -q "attached to the kernel module" /tmp/status.txt || fail "status: not attached"
active "$UNIT" || fail "connecting did not start $UNIT"
if runuser -u nobody -- daedalus-v4l2ctl status >/tmp/nobody.txt 2>&1; then
	fail "a user outside group video read the status (every user's streams)"
fi
echo "outside group video: $(head -1 /tmp/nobody.txt)"
as_tester daedalus-v4l2ctl status --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["attached"] and s["version"], s
print("status --json: attached, allocator", s["allocator"])'

step "the watchdog: a daemon that stops making progress is restarted"
pid=$(systemctl show -p MainPID --value "$UNIT")
systemctl kill -s STOP "$UNIT"
wait_for 90 sh -c "[ \"\$(systemctl show -p MainPID --value $UNIT)\" != $pid ] &&
	[ \"\$(systemctl is-active $UNIT)\" = active ]" || fail "the watchdog did not restart $UNIT"
journalctl -b -u "$UNIT" -o cat --no-pager | grep -iE "watchdog" | tail -2
as_tester daedalus-v4l2ctl status | sed -n 1p

step "systemd-analyze security $UNIT"
systemd-analyze security --no-pager "$UNIT" | tee "$OUT/security.txt" | grep -E "✗|Overall"
exposure=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$OUT/security.txt")
echo "exposure: $exposure"
awk -v e="$exposure" 'BEGIN { exit !(e != "" && e <= 1.3) }' || fail "exposure $exposure > 1.3"

# An upgrade is not run: it would build the module under emulation a second time (~3 min), to
# check what the steps here check one by one. The prerm unloads the module on upgrade as on
# remove (the same branch, checked at apt remove below); the postinst loads the new one (checked
# at apt install: "without a reboot"); the daemon attaches to a module loaded again
# (tests/vm/robustness.sh).

step "apt remove: no daemon, no module left; the config stays"
DEBIAN_FRONTEND=noninteractive apt-get remove -y daedalus-v4l2-dkms daedalus-v4l2d daedalus-v4l2-va 2>&1 |
	tee "$OUT/apt-remove.log"
pgrep -a daedalus-v4l2d && fail "a daemon is still running"
[ -d /sys/module/daedalus_v4l2 ] && fail "the module is still loaded"
active daedalus-v4l2d.socket && fail "the socket still listens"
[ -e /dev/video-dec0 ] && fail "/dev/video-dec0 is still there"
dkms status daedalus-v4l2 | grep . && fail "DKMS still has the module"
find /usr/lib -name '*_drv_video.so' -lname daedalus_drv_video.so | grep . && fail "VA driver links left"
find /usr/lib -name daedalus_drv_video.so | grep . && fail "the VA driver is still there"
test -f /etc/daedalus-v4l2/daedalus-v4l2d.toml || fail "remove deleted the conffile"

step "apt purge: the config goes"
DEBIAN_FRONTEND=noninteractive apt-get purge -y daedalus-v4l2d 2>&1 | tail -3
[ -e /etc/daedalus-v4l2 ] && fail "purge left /etc/daedalus-v4l2"
dpkg -l 'daedalus-v4l2*' 2>/dev/null | grep -E "^(ii|rc)" && fail "packages left behind"
echo "packages: installed, used, removed and purged"
