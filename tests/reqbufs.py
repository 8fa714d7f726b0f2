#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Time VIDIOC_REQBUFS (2 MMAP buffers) on a decoder's CAPTURE queue.

usage: reqbufs.py /dev/videoN
Prints "reqbufs: ok|errno N in S seconds"; exits 0 if REQBUFS succeeded, 1 if it failed.
"""
import fcntl
import os
import struct
import sys
import time

VIDIOC_REQBUFS = 0xC0145608          # _IOWR('V', 8, struct v4l2_requestbuffers)
V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE = 9
V4L2_MEMORY_MMAP = 1

fd = os.open(sys.argv[1], os.O_RDWR)
req = bytearray(struct.pack("IIIIB3x", 2, V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE, V4L2_MEMORY_MMAP, 0, 0))
t0 = time.monotonic()
try:
    fcntl.ioctl(fd, VIDIOC_REQBUFS, req)
    print(f"reqbufs: ok in {time.monotonic() - t0:.3f} s")
    sys.exit(0)
except OSError as e:
    print(f"reqbufs: errno {e.errno} ({os.strerror(e.errno)}) in {time.monotonic() - t0:.3f} s")
    sys.exit(1)
