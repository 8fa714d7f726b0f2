# SPDX-License-Identifier: GPL-2.0
# Run several quick guest tests in one boot (an emulated aarch64 boot costs ~15 s):
#   tools/vm-run --arch aarch64 tests/vm/each.sh pagesize allocators compliance
# Each runs as its own script; a leftover daemon or module is cleared between them.
. /src/tests/vm/lib.sh

rc=0
for name in "$@"; do
	printf '\n======== %s\n' "$name"
	if bash "/src/tests/vm/$name.sh"; then
		echo "======== $name: passed"
	else
		echo "======== $name: FAILED"
		rc=1
	fi
	pkill -x daedalus-v4l2d 2>/dev/null && sleep 1
	[ -d /sys/module/daedalus_v4l2 ] && rmmod daedalus-v4l2
done
exit "$rc"
