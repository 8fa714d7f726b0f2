# SPDX-License-Identifier: GPL-2.0
# Run several guest tests in one boot (a boot, with udev, the module and the daemon started,
# costs ~15 s, emulated aarch64 more):
#   tools/vm-run --arch aarch64 tests/vm/each.sh pagesize allocators compliance
#   tools/vm-run tests/vm/each.sh codec:vp9 codec:h264     (NAME:ARG: NAME.sh with argument ARG)
# Each runs as its own script; a leftover daemon or module is cleared between them.
. /src/tests/vm/lib.sh

rc=0
for name in "$@"; do
	printf '\n======== %s\n' "$name"
	script=${name%%:*}
	args=()
	[ "$script" = "$name" ] || args=("${name#*:}")
	t0=$SECONDS
	if bash "/src/tests/vm/$script.sh" "${args[@]}"; then
		echo "======== $name: passed ($((SECONDS - t0)) s)"
	else
		echo "======== $name: FAILED ($((SECONDS - t0)) s)"
		rc=1
	fi
	pkill -x daedalus-v4l2d 2>/dev/null && sleep 1
	[ -d /sys/module/daedalus_v4l2 ] && rmmod daedalus-v4l2
done
exit "$rc"
