# SPDX-License-Identifier: GPL-2.0
# The daemon's allocator fallback order: GBM on a DRM device first, then a dma-heap, then
# udmabuf. Each time the daemon logs its choice once (with why it passed over the ones before),
# and a VP9 clip decodes byte-exact into buffers from that allocator. Runs on both guests: the
# x86_64 test kernel has all three; Debian's arm64 kernels have vgem (no vkms) and no dma-heaps
# (CONFIG_DMABUF_HEAPS is off), so there the daemon goes from GBM straight to udmabuf.
. /src/tests/vm/lib.sh

load_daedalus
clip=vp9-320x240.ivf
# decode_with WANT: start the daemon, check it chose WANT, decode the clip byte-exact
decode_with() {
	local line
	start_daemon
	line=$(grep "CAPTURE buffers from" "$OUT/daemon.log" | tail -n 1)
	echo "$line"
	grep -q "allocator=\"$1\"" <<<"$line" || fail "the daemon chose another allocator than $1"
	gst_decode "$clip" /tmp/out.nv12
	byte_exact "$clip" /tmp/out.nv12
	rm -f /tmp/out.nv12
	stop_daemon
}

step "$(uname -m), kernel $(uname -r): DRM nodes: $(echo /dev/dri/*) dma-heaps: $(echo /dev/dma_heap/*)"
step "DRM devices (vkms and vgem on x86_64; vgem on arm64, through Mesa's drm backend): GBM"
decode_with gbm
if [ -e /dev/dri/card0 ]; then
	step "GBM on a primary node: the daemon does not keep DRM master (a compositor starting later needs it)"
	start_daemon --drm-device /dev/dri/card0
	grep "CAPTURE buffers from" "$OUT/daemon.log" | tail -n 1 | grep -q "/dev/dri/card0" ||
		fail "the daemon did not take GBM on /dev/dri/card0"
	python3 /src/tests/drmmaster.py /dev/dri/card0 || fail "the daemon holds DRM master"
	gst_decode "$clip" /tmp/out.nv12
	byte_exact "$clip" /tmp/out.nv12
	rm -f /tmp/out.nv12
	stop_daemon
fi
for m in vkms vgem; do
	[ ! -d /sys/module/$m ] || rmmod $m
done
# (udev removes the by-path links after the nodes: only device nodes count)
udevadm settle --timeout=10 || true
[ -z "$(find /dev/dri -type c 2>/dev/null)" ] || fail "DRM nodes left: $(ls /dev/dri)"

if [ -e /dev/dma_heap/system ]; then
	step "no DRM device: the system dma-heap"
	decode_with dma-heap
	step "no DRM device, no dma-heap (as on Debian's arm64 kernels): udmabuf"
	mount -t tmpfs none /dev/dma_heap
	decode_with udmabuf
	umount /dev/dma_heap
else
	step "no dma-heap in this kernel: udmabuf"
	decode_with udmabuf
fi
rmmod daedalus-v4l2
