#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""What one user may take of the decoder: the size caps hold whichever ioctl asks, the
number of streams with buffers is bounded (opens are not: V4L2 allows any number), and a
stateless stream's controls may not describe pictures larger than the node takes (H.264: than
the OUTPUT format), which the daemon's decoder would otherwise allocate.

usage: limits.py STATELESS_NODE STATEFUL_NODE
Root (it sets the module's max_streams for the test and puts it back). Exit 0 when every limit
held; prints one line per check.
"""
import errno
import os
import struct
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


# the size fields of the controls that describe a stateless stream's pictures (offsets from
# <linux/v4l2-controls.h>; 8-bit 4:2:0, the rest zero, which the control core takes)
CID_H264_SPS = v.CID_STATELESS_BASE + 2
CID_VP9_FRAME = v.CID_STATELESS_BASE + 300
CID_AV1_SEQUENCE = v.CID_STATELESS_BASE + 500
FRAME_MBS_ONLY = 0x10
VP9_SUBSAMPLING_XY = 0x80 | 0x100  # 4:2:0
AV1_SUBSAMPLING_XY = 0x10000 | 0x20000  # 4:2:0, as profile 0 must be


def h264_sps(width, height):
    sps = bytearray(1048)
    sps[4] = 1  # chroma_format_idc 4:2:0
    struct.pack_into("<HHI", sps, 1040, width // 16 - 1, height // 16 - 1, FRAME_MBS_ONLY)
    return bytes(sps)


def vp9_frame(width, height):
    frame = bytearray(168)
    struct.pack_into("<I", frame, 112, VP9_SUBSAMPLING_XY)  # flags
    struct.pack_into("<HH", frame, 120, width - 1, height - 1)
    frame[156] = 8  # bit_depth
    return bytes(frame)


def av1_sequence(width, height):
    seq = bytearray(12)
    struct.pack_into("<I", seq, 0, AV1_SUBSAMPLING_XY)  # flags (7.x kernels require them)
    seq[6] = 8  # bit_depth
    struct.pack_into("<HH", seq, 8, width - 1, height - 1)
    return bytes(seq)


def picture_sizes(node):
    """OUTPUT format 320x240: controls for 320x240 pictures are taken; for pictures past the
    node's largest (4096x2304) refused; for H.264 also past the OUTPUT format."""
    ok = True
    for fourcc, cid, make, cases in (
            ("S264", CID_H264_SPS, h264_sps,
             ((320, 240, 0), (336, 240, errno.EINVAL), (4096, 2304, errno.EINVAL))),
            ("VP9F", CID_VP9_FRAME, vp9_frame,
             ((320, 240, 0), (4096, 2304, 0), (4112, 2304, errno.EINVAL),
              (65536, 65536, errno.EINVAL))),
            ("AV1F", CID_AV1_SEQUENCE, av1_sequence,
             ((320, 240, 0), (4096, 2304, 0), (4096, 2320, errno.EINVAL),
              (65536, 65536, errno.EINVAL)))):
        fd = os.open(node, os.O_RDWR)
        try:
            v.set_output(fd, fourcc)
            for width, height, want in cases:
                try:
                    v.try_compound_ctrl(fd, cid, make(width, height))
                    got = 0
                except OSError as e:
                    got = e.errno
                print(f"{node}: {fourcc} control for {width}x{height} pictures "
                      f"(OUTPUT 320x240): {errno.errorcode.get(got, 'taken')}")
                ok &= got == want
        finally:
            os.close(fd)
    return ok


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
    ok = (sizes(stateless, "VP9F") and sizes(stateful, "H264") and streams(stateful)
          and picture_sizes(stateless))
    print("limits: all held" if ok else "limits: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
