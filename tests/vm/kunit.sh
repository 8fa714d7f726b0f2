# SPDX-License-Identifier: GPL-2.0
# The module's KUnit tests (kernel/daedalus-nl-test.c: every job ends exactly once, whether
# job-done, the watchdog or the daemon going away ends it, racing), in the KUnit build of the
# module (build/module-kunit, tools/build-module.sh), which runs them when it is loaded.
. /src/tests/vm/lib.sh

step "load the module's KUnit build: its suite runs at load"
modprobe v4l2-mem2mem
modprobe videobuf2-vmalloc
insmod /build/module-kunit/daedalus-v4l2.ko
dmesg | sed -n '/KTAP\|daedalus-upcall\|# daedalus_test\|races:/p'
dmesg | grep -E "# daedalus-upcall: pass:3 fail:0 skip:0 total:3" ||
	fail "the daedalus-upcall KUnit suite did not pass"
rmmod daedalus-v4l2
