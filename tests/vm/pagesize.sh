# SPDX-License-Identifier: GPL-2.0
# Page-size-clean buffers, on both guests: 4 KiB pages on x86_64, 16 KiB on the aarch64 guest
# (Debian's arm64-16k kernel, as a Raspberry Pi 5 runs). At a frame size whose planes are no
# whole number of pages (350x202): the sizes, offsets, mmap() and EXPBUF of OUTPUT and CAPTURE
# buffers (tests/bufmap.py) and a byte-exact decode through GStreamer; then frames read through
# exported CAPTURE dmabufs, which are the daemon's own (tests/expbuf.py).
. /src/tests/vm/lib.sh

step "$(uname -m), kernel $(uname -r), page size $(getconf PAGESIZE) bytes"
load_daedalus
start_daemon
dev=$(video_dev daedalus-v4l2) || fail "no daedalus video device"
clip=vp9-350x202.ivf

step "buffers at $(clip_size $clip): sizes, mmap offsets, mmap, EXPBUF"
python3 /src/tests/bufmap.py "$dev" VP9F 350 202

step "$clip through GStreamer (OUTPUT buffers mmap'd, CAPTURE exported), byte-exact"
gst_decode "$clip" /tmp/out.nv12
byte_exact "$clip" /tmp/out.nv12
rm -f /tmp/out.nv12

# (expbuf.py takes GStreamer's frames from an appsink, which cannot take a frame with its own
# strides: at 350x202 v4l2codecs copies them out, so this decode is at 320x240.)
step "zero-copy at this page size: frames read through EXPBUF'd dmabufs, which are the daemon's"
expbuf_test vp9-320x240.ivf
stop_daemon
rmmod daedalus-v4l2
