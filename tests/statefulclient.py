#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A V4L2 stateful decoder client, for the codec no client in trixie decodes statefully: AV1.

usage: statefulclient.py DEVICE CLIP.ivf REFERENCE.framemd5 [FOURCC]

Follows the stateful decoder interface (dev-decoder.rst) as the browsers do: S_FMT OUTPUT
(FOURCC, default AV01), one IVF frame (an AV1 temporal unit, or a VP9 frame) per OUTPUT buffer
with its timestamp, wait for V4L2_EVENT_SOURCE_CHANGE, set CAPTURE up from G_FMT and
V4L2_CID_MIN_BUFFERS_FOR_CAPTURE, decode; at the end V4L2_DEC_CMD_STOP and read pictures until
the one flagged V4L2_BUF_FLAG_LAST, then V4L2_EVENT_EOS. Each picture's visible rectangle
(G_SELECTION), packed, is hashed and compared with FFmpeg's framemd5 of the clip, in order, and
each must carry the timestamp of an OUTPUT buffer fed. Exit 0 when every frame matches.
"""
import ctypes
import errno
import hashlib
import mmap
import os
import select
import struct
import sys

from v4l2uapi import (BUF_FLAG_ERROR, BUF_FLAG_LAST, CAPTURE, CAPTURE_MPLANE,
                      DEC_CMD_STOP, EVENT_EOS, EVENT_SOURCE_CHANGE, MEMORY_MMAP, OUTPUT_MPLANE,
                      SEL_TGT_COMPOSE, VIDIOC_DECODER_CMD, VIDIOC_DQBUF, VIDIOC_DQEVENT,
                      VIDIOC_G_FMT, VIDIOC_G_SELECTION, VIDIOC_QBUF, VIDIOC_QUERYBUF,
                      VIDIOC_REQBUFS, VIDIOC_S_FMT, VIDIOC_STREAMOFF, VIDIOC_STREAMON,
                      VIDIOC_SUBSCRIBE_EVENT, Buffer, DecoderCmd, Event, EventSubscription,
                      Format, Plane, RequestBuffers, Selection, fourcc, fourcc_str, ioctl)

OUTPUT_BUFFERS = 4


def ivf_frames(path: str):
    data = open(path, "rb").read()
    assert data[:4] == b"DKIF", f"{path}: not IVF"
    width, height = struct.unpack_from("<HH", data, 12)
    frames, pos = [], struct.unpack_from("<H", data, 6)[0]
    while pos + 12 <= len(data):
        size, pts = struct.unpack_from("<IQ", data, pos)
        frames.append((data[pos + 12:pos + 12 + size], pts))
        pos += 12 + size
    return width, height, frames


class Queue:
    """The mmap'd buffers of one queue (one memory plane each)."""

    def __init__(self, fd: int, qtype: int, count: int):
        self.fd, self.qtype, self.maps = fd, qtype, []
        req = ioctl(fd, VIDIOC_REQBUFS, RequestBuffers(count=count, type=qtype,
                                                       memory=MEMORY_MMAP))
        for i in range(req.count):
            buf, planes = self.buffer(i)
            ioctl(fd, VIDIOC_QUERYBUF, buf)
            self.maps.append(mmap.mmap(fd, planes[0].length, mmap.MAP_SHARED,
                                       mmap.PROT_READ | mmap.PROT_WRITE,
                                       offset=planes[0].m.mem_offset))

    def buffer(self, index: int = 0):
        planes = (Plane * 1)()
        buf = Buffer(index=index, type=self.qtype, memory=MEMORY_MMAP, length=1)
        buf.m.planes = ctypes.cast(planes, ctypes.POINTER(Plane))
        return buf, planes

    def queue(self, index: int, payload: bytes = b"", timestamp_us: int = 0) -> None:
        buf, planes = self.buffer(index)
        if payload:
            self.maps[index][:len(payload)] = payload
        planes[0].bytesused = len(payload)
        buf.timestamp.tv_sec, buf.timestamp.tv_usec = divmod(timestamp_us, 1000000)
        ioctl(self.fd, VIDIOC_QBUF, buf)

    def dequeue(self):
        """(buffer, planes), or None when none is ready (or EPIPE after the LAST one)."""
        buf, planes = self.buffer()
        try:
            ioctl(self.fd, VIDIOC_DQBUF, buf)
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EPIPE):
                return None
            raise
        return buf, planes

    def release(self) -> None:
        for m in self.maps:
            m.close()
        self.maps = []
        ioctl(self.fd, VIDIOC_REQBUFS, RequestBuffers(count=0, type=self.qtype,
                                                      memory=MEMORY_MMAP))


def packed(mem, fmt, visible) -> bytes:
    """The visible picture, rows packed: FFmpeg's nv12 or p010le."""
    pix = fmt.fmt.pix_mp
    bpl, b = pix.plane_fmt[0].bytesperline, 2 if fourcc_str(pix.pixelformat) == "P010" else 1
    w, h = visible.width, visible.height
    rows = [mem[r * bpl:r * bpl + w * b] for r in range(h)]
    chroma = bpl * pix.height
    cw = 2 * ((w + 1) // 2) * b
    rows += [mem[chroma + r * bpl:chroma + r * bpl + cw] for r in range((h + 1) // 2)]
    return b"".join(rows)


def main() -> int:
    if len(sys.argv) not in (4, 5):
        print(__doc__)
        return 2
    dev, clip, ref = sys.argv[1:4]
    coded = sys.argv[4] if len(sys.argv) == 5 else "AV01"
    want = [line.split(",")[-1].strip() for line in open(ref) if not line.startswith("#")]
    width, height, frames = ivf_frames(clip)
    fd = os.open(dev, os.O_RDWR | os.O_NONBLOCK)
    for ev in (EVENT_SOURCE_CHANGE, EVENT_EOS):
        ioctl(fd, VIDIOC_SUBSCRIBE_EVENT, EventSubscription(type=ev))
    fmt = Format(type=OUTPUT_MPLANE)
    fmt.fmt.pix_mp.pixelformat, fmt.fmt.pix_mp.num_planes = fourcc(coded), 1
    fmt.fmt.pix_mp.width, fmt.fmt.pix_mp.height = width, height
    fmt.fmt.pix_mp.plane_fmt[0].sizeimage = max(len(f) for f, _ in frames)
    ioctl(fd, VIDIOC_S_FMT, fmt)
    out = Queue(fd, OUTPUT_MPLANE, OUTPUT_BUFFERS)
    free = list(range(len(out.maps)))
    ioctl(fd, VIDIOC_STREAMON, ctypes.c_int(OUTPUT_MPLANE))
    cap, cap_fmt, visible = None, None, None
    fed, got, stamps, stopped, last, eos = 0, [], set(), False, False, False
    while not (last and eos):
        while free and fed < len(frames):
            data, pts = frames[fed]
            out.queue(free.pop(), data, 1000 * (fed + 1))
            stamps.add(1000 * (fed + 1))
            fed += 1
        if fed == len(frames) and not stopped:
            ioctl(fd, VIDIOC_DECODER_CMD, DecoderCmd(cmd=DEC_CMD_STOP))
            stopped = True
        readable, _, exceptional = select.select([fd], [], [fd], 30)
        if not readable and not exceptional:
            print(f"statefulclient: no progress in 30 s ({fed} fed, {len(got)} decoded)")
            return 1
        while True:
            ev = Event()
            try:
                ioctl(fd, VIDIOC_DQEVENT, ev)
            except OSError:
                break
            if ev.type == EVENT_EOS:
                eos = True
                continue
            # a source change: CAPTURE anew at the stream's format
            if cap:
                ioctl(fd, VIDIOC_STREAMOFF, ctypes.c_int(CAPTURE_MPLANE))
                cap.release()
            cap_fmt = ioctl(fd, VIDIOC_G_FMT, Format(type=CAPTURE_MPLANE))
            visible = ioctl(fd, VIDIOC_G_SELECTION,
                            Selection(type=CAPTURE, target=SEL_TGT_COMPOSE)).r
            pix = cap_fmt.fmt.pix_mp
            print(f"statefulclient: source change: {fourcc_str(pix.pixelformat)} "
                  f"{pix.width}x{pix.height}, visible {visible.width}x{visible.height}")
            cap = Queue(fd, CAPTURE_MPLANE, 4)
            for i in range(len(cap.maps)):
                cap.queue(i)
            ioctl(fd, VIDIOC_STREAMON, ctypes.c_int(CAPTURE_MPLANE))
        while (done := out.dequeue()) is not None:
            free.append(done[0].index)
            if done[0].flags & BUF_FLAG_ERROR:
                print(f"statefulclient: OUTPUT buffer {done[0].index} came back with an error")
                return 1
        while cap and (done := cap.dequeue()) is not None:
            buf, planes = done
            if planes[0].bytesused:
                ts = buf.timestamp.tv_sec * 1000000 + buf.timestamp.tv_usec
                if ts not in stamps:
                    print(f"statefulclient: picture {len(got)} has timestamp {ts}, fed none")
                    return 1
                got.append(hashlib.md5(packed(cap.maps[buf.index], cap_fmt,
                                              visible)).hexdigest())
            if buf.flags & BUF_FLAG_LAST:
                last = True
                break
            cap.queue(buf.index)
    for i, (g, r) in enumerate(zip(got, want)):
        if g != r:
            print(f"statefulclient: frame {i} differs (got {g}, want {r})")
            return 1
    if len(got) != len(want):
        print(f"statefulclient: {len(got)} frames decoded, the reference has {len(want)}")
        return 1
    print(f"statefulclient: {coded}: all {len(got)} frames byte-exact, drained (LAST, EOS)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
