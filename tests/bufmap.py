#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Buffers of an odd frame size on a system of any page size (16 KiB on a Raspberry Pi 5).

usage: bufmap.py /dev/videoN FOURCC WIDTH HEIGHT

Sets the OUTPUT format (coded FOURCC, e.g. VP9F) at WIDTHxHEIGHT, then on both queues allocates
MMAP buffers and checks, plane by plane, what a client relies on:
  - QUERYBUF: length >= the format's sizeimage, mem_offset a multiple of the page size, and the
    offsets of all planes of all buffers distinct;
  - mmap() of length bytes at mem_offset works, a pattern written through it reads back;
  - EXPBUF (CAPTURE, where buffers are the daemon's dmabufs): the exported dmabuf's size is a
    whole number of pages and >= length, and mapping it shows the same memory as the V4L2 mmap
    (no copy between the two).
Prints one line per plane; exits 0 when every check holds.
"""
import fcntl
import mmap
import os
import sys

from v4l2uapi import (CAPTURE_MPLANE, MEMORY_MMAP, OUTPUT_MPLANE, VIDIOC_EXPBUF, VIDIOC_G_FMT,
                      VIDIOC_QUERYBUF, VIDIOC_REQBUFS, VIDIOC_S_FMT, Buffer, ExportBuffer,
                      Format, Plane, RequestBuffers, fourcc)

PAGE = os.sysconf("SC_PAGESIZE")

problems = []


def check(cond: bool, what: str) -> None:
    if not cond:
        problems.append(what)
        print(f"  FAIL: {what}")


def queue(fd: int, qtype: int, name: str, offsets: set) -> None:
    fmt = Format(type=qtype)
    fcntl.ioctl(fd, VIDIOC_G_FMT, fmt)
    pix = fmt.fmt.pix_mp
    print(f"{name}: {pix.pixelformat.to_bytes(4, 'little').decode()} {pix.width}x{pix.height}, "
          f"{pix.num_planes} plane(s): " + ", ".join(
              f"{pix.plane_fmt[p].bytesperline}/{pix.plane_fmt[p].sizeimage}"
              for p in range(pix.num_planes)) + " (bytesperline/sizeimage)")
    req = RequestBuffers(count=2, type=qtype, memory=MEMORY_MMAP)
    fcntl.ioctl(fd, VIDIOC_REQBUFS, req)
    check(req.count >= 1, f"{name}: REQBUFS gave no buffers")
    for index in range(req.count):
        planes = (Plane * 8)()
        buf = Buffer(index=index, type=qtype, memory=MEMORY_MMAP, length=8)
        buf.m.planes = planes
        fcntl.ioctl(fd, VIDIOC_QUERYBUF, buf)
        for p in range(buf.length):
            length, offset = planes[p].length, planes[p].m.mem_offset
            where = f"{name} buffer {index} plane {p}"
            check(length >= pix.plane_fmt[p].sizeimage,
                  f"{where}: length {length} < sizeimage {pix.plane_fmt[p].sizeimage}")
            check(offset % PAGE == 0, f"{where}: mem_offset {offset:#x} not page-aligned")
            check(offset not in offsets, f"{where}: mem_offset {offset:#x} used twice")
            offsets.add(offset)
            m = mmap.mmap(fd, length, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE,
                          offset=offset)
            pattern = bytes((i * 7 + index + p) & 0xFF for i in range(251)) * (length // 251 + 1)
            m[:] = pattern[:length]
            check(m[:] == pattern[:length], f"{where}: mmap does not read back what was written")
            line = f"  {where}: {length} bytes at {offset:#x}, mmap ok"
            if qtype == CAPTURE_MPLANE:
                exp = ExportBuffer(type=qtype, index=index, plane=p)
                fcntl.ioctl(fd, VIDIOC_EXPBUF, exp)
                size = os.lseek(exp.fd, 0, os.SEEK_END)
                check(size >= length and size % PAGE == 0,
                      f"{where}: exported dmabuf of {size} bytes for length {length}")
                dm = mmap.mmap(exp.fd, length, mmap.MAP_SHARED, mmap.PROT_READ)
                check(dm[:] == pattern[:length],
                      f"{where}: the exported dmabuf is not the mmap'd memory")
                dm.close()
                os.close(exp.fd)
                line += f", EXPBUF dmabuf {size} bytes ({size // PAGE} pages), same memory"
            m.close()
            print(line)
    fcntl.ioctl(fd, VIDIOC_REQBUFS, RequestBuffers(count=0, type=qtype, memory=MEMORY_MMAP))


def main() -> int:
    dev, coded, width, height = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    print(f"page size {PAGE} bytes; {dev}: {coded} {width}x{height}")
    fd = os.open(dev, os.O_RDWR)
    fmt = Format(type=OUTPUT_MPLANE)
    fmt.fmt.pix_mp.width, fmt.fmt.pix_mp.height = width, height
    fmt.fmt.pix_mp.pixelformat, fmt.fmt.pix_mp.num_planes = fourcc(coded), 1
    fcntl.ioctl(fd, VIDIOC_S_FMT, fmt)
    offsets = set()
    queue(fd, OUTPUT_MPLANE, "OUTPUT", offsets)
    queue(fd, CAPTURE_MPLANE, "CAPTURE", offsets)
    os.close(fd)
    print("bufmap: ok" if not problems else f"bufmap: {len(problems)} problem(s)")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
