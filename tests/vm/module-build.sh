# SPDX-License-Identifier: GPL-2.0
# The test kernel's headers package is installed in the guest as on a Debian system, so an
# out-of-tree module builds there natively, as DKMS will build ours: build kernel/ in the guest
# against /lib/modules/$(uname -r)/build (W=1, no warnings), load it, see the decoder, unload.
. /src/tests/vm/lib.sh

rel=$(uname -r)
step "build kernel/ in the guest against /lib/modules/$rel/build"
ls -l "/lib/modules/$rel/build"
cp -r /src/kernel /tmp/module
make -j"$(nproc)" -C "/lib/modules/$rel/build" M=/tmp/module W=1 modules 2>&1 | tee /tmp/build.log
grep -qE "warning:|error:" /tmp/build.log && fail "warnings building the module in the guest"
modinfo /tmp/module/daedalus-v4l2.ko | grep -E "^(vermagic|name)"

step "load the module built in the guest"
MODULE=/tmp/module/daedalus-v4l2.ko load_daedalus
media_dev daedalus-v4l2 >/dev/null || fail "no daedalus media device"
v4l2-ctl --list-devices
rmmod daedalus-v4l2
echo "module-build: built, loaded and unloaded in the guest"
