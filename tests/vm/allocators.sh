# SPDX-License-Identifier: GPL-2.0
# The daemon's allocator fallback order: GBM on a DRM device first, then a dma-heap, then
# udmabuf (what Debian's arm64 kernels offer: no dma-heaps). Each time the daemon logs its
# choice once, and a VP9 clip decodes byte-exact into buffers from that allocator.
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

step "a DRM device (vkms, vgem): GBM"
ls /dev/dri /dev/dma_heap
decode_with gbm

step "no DRM device: the system dma-heap"
rmmod vgem vkms
[ ! -e /dev/dri ] || [ -z "$(ls /dev/dri)" ] || fail "DRM nodes left: $(ls /dev/dri)"
decode_with dma-heap

step "no DRM device, no dma-heap (as on Debian's arm64 kernels): udmabuf"
mount -t tmpfs none /dev/dma_heap
decode_with udmabuf
umount /dev/dma_heap
rmmod daedalus-v4l2
