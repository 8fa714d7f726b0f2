#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""What one user may take of the decoder: the size caps hold whichever ioctl asks, and the
number of streams with buffers is bounded (opens are not: V4L2 allows any number).

usage: limits.py STATELESS_NODE STATEFUL_NODE
Root (it sets the module's max_streams for the test and puts it back). Exit 0 when every limit
held; prints one line per check.
"""
import errno
import os
import sys

import v4l2uapi as v

MAX_STREAMS = "/sys/module/daedalus_v4l2/parameters/max_streams"


def create_bufs(fd, kind, sizeimage):
    """VIDIOC_CREATE_BUFS of one MMAP buffer of `sizeimage` bytes on queue `kind`: errno or 0."""
    fmt = v.Format(type=kind)
    v.ioctl(fd, v.VIDIOC_G_FMT, fmt)
    fmt.fmt.pix_mp.plane_fmt[0].sizeimage = sizeimage
    req = v.CreateBuffers(count=1, memory=v.MEMORY_MMAP, format=fmt)
    try:
        v.ioctl(fd, v.VIDIOC_CREATE_BUFS, req)
        return 0
    except OSError as e:
        return e.errno


def sizes(node, fourcc):
    fd = os.open(node, os.O_RDWR)
    try:
        v.set_output(fd, fourcc)
        for kind, name, size in ((v.OUTPUT_MPLANE, "OUTPUT", 128 << 20),
                                 (v.CAPTURE_MPLANE, "CAPTURE", 1 << 30)):
            err = create_bufs(fd, kind, size)
            print(f"{node}: CREATE_BUFS {name} {size >> 20} MiB: "
                  f"{errno.errorcode.get(err, 'accepted')}")
            if err != errno.EINVAL:
                return False
        # within the caps, CREATE_BUFS still works
        err = create_bufs(fd, v.OUTPUT_MPLANE, 1 << 20)
        print(f"{node}: CREATE_BUFS OUTPUT 1 MiB: {errno.errorcode.get(err, 'accepted')}")
        return err == 0
    finally:
        os.close(fd)


def reqbufs(fd, count=1):
    """VIDIOC_REQBUFS of `count` MMAP OUTPUT buffers: errno or 0."""
    try:
        v.ioctl(fd, v.VIDIOC_REQBUFS,
                v.RequestBuffers(count=count, type=v.OUTPUT_MPLANE, memory=v.MEMORY_MMAP))
        return 0
    except OSError as e:
        return e.errno


def streams(node):
    """With max_streams=4: any number of opens, four streams with buffers, not a fifth."""
    old = open(MAX_STREAMS).read().strip()
    fds = []
    try:
        with open(MAX_STREAMS, "w") as f:
            f.write("4")
        fds = [os.open(node, os.O_RDWR) for _ in range(8)]
        errs = [reqbufs(fd) for fd in fds[:5]]
        print(f"{node}: 8 opens; REQBUFS on five of them with max_streams=4: "
              + ", ".join(errno.errorcode.get(e, "ok") for e in errs))
        if errs != [0, 0, 0, 0, errno.EBUSY]:
            return False
        os.close(fds.pop(0))
        err = reqbufs(fds[3])
        print(f"{node}: after one stream's close, the fifth: {errno.errorcode.get(err, 'ok')}")
        return err == 0
    finally:
        for fd in fds:
            os.close(fd)
        with open(MAX_STREAMS, "w") as f:
            f.write(old)


def main() -> int:
    stateless, stateful = sys.argv[1:3]
    ok = sizes(stateless, "VP9F") and sizes(stateful, "H264") and streams(stateful)
    print("limits: all held" if ok else "limits: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
