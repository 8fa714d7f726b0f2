#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Keep a media request open: allocate one on the decoder's media device, open the stateless
and stateful nodes (with buffers), say "held"; at the next line on stdin close the nodes and
say so; at the next, close the request. tests/vm/hostile.sh meanwhile unbinds the device and,
with the request alone open, tries rmmod.

usage: keepreq.py MEDIA_DEVICE STATELESS_NODE STATEFUL_NODE
"""
import ctypes
import fcntl
import os
import sys

import v4l2uapi as v

MEDIA_IOC_REQUEST_ALLOC = (2 << 30) | (ctypes.sizeof(ctypes.c_int) << 16) | (ord("|") << 8) | 5


def main() -> int:
    media, stateless, stateful = sys.argv[1:4]
    mfd = os.open(media, os.O_RDWR)
    req = ctypes.c_int(-1)
    fcntl.ioctl(mfd, MEDIA_IOC_REQUEST_ALLOC, req)
    os.close(mfd)  # the request fd alone keeps what it needs
    nodes = []
    for node, fourcc in ((stateless, "VP9F"), (stateful, "H264")):
        fd = os.open(node, os.O_RDWR)
        v.set_output(fd, fourcc)
        v.ioctl(fd, v.VIDIOC_REQBUFS,
                v.RequestBuffers(count=2, type=v.OUTPUT_MPLANE, memory=v.MEMORY_MMAP))
        nodes.append(fd)
    print("held: request fd", req.value, "and both nodes", flush=True)
    sys.stdin.readline()
    for fd in nodes:
        os.close(fd)
    print("nodes closed, the request open", flush=True)
    sys.stdin.readline()
    os.close(req.value)
    print("request closed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
