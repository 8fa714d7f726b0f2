#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The zero-copy path: decoded frames reach a client as the daemon's own dmabufs.

usage: expbuf.py CLIP.ivf REFERENCE.framemd5 DAEMON_PID [DECODER]

GStreamer's decoder (DECODER: v4l2slvp9dec, the default, or the stateful v4l2vp9dec) exports
every CAPTURE buffer with VIDIOC_EXPBUF and hands frames downstream as dmabuf memory. This client takes them from an appsink that accepts only dmabuf
memory, checks that each fd is the same dmabuf (same inode) as one the daemon holds (the daemon
allocated it through GBM), maps the fd itself, reads the NV12 planes at the offsets and strides
the decoder reports, and compares each frame's MD5 with FFmpeg's. Exit 0 when all match.
"""
import hashlib
import mmap
import os
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstAllocators", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import Gst, GstAllocators, GstVideo  # noqa: E402


def daemon_dmabufs(pid: int) -> set:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        path = f"/proc/{pid}/fd/{fd}"
        try:
            if "dmabuf" in os.readlink(path):
                inodes.add(os.stat(path).st_ino)
        except OSError:
            pass
    return inodes


def main() -> int:
    clip, ref, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
    decoder = sys.argv[4] if len(sys.argv) > 4 else "v4l2slvp9dec"
    want = [line.split(",")[-1].strip() for line in open(ref) if not line.startswith("#")]
    Gst.init(None)
    pipe = Gst.parse_launch(
        f"filesrc location={clip} ! ivfparse ! vp9parse ! {decoder} ! "
        "appsink name=sink sync=false max-buffers=2 caps=video/x-raw,format=NV12")
    sink = pipe.get_by_name("sink")
    pipe.set_state(Gst.State.PLAYING)
    frames, foreign = 0, 0
    theirs = daemon_dmabufs(pid)
    while True:
        sample = sink.emit("pull-sample")
        if sample is None:
            msg = pipe.get_bus().pop_filtered(Gst.MessageType.ERROR)
            if msg:
                print(f"expbuf: pipeline error: {msg.parse_error()[0].message}")
                return 1
            break
        buf = sample.get_buffer()
        vinfo = GstVideo.VideoInfo.new_from_caps(sample.get_caps())
        w, h = vinfo.width, vinfo.height
        meta = GstVideo.buffer_get_video_meta(buf) or vinfo
        mem = buf.peek_memory(0)
        if buf.n_memory() != 1 or not GstAllocators.is_dmabuf_memory(mem):
            print(f"expbuf: frame {frames} is not dmabuf memory")
            return 1
        fd = GstAllocators.dmabuf_memory_get_fd(mem)
        ino = os.fstat(fd).st_ino
        if ino not in theirs:
            theirs = daemon_dmabufs(pid)    # buffers allocated since the last look
        if ino not in theirs:
            foreign += 1
        size = os.lseek(fd, 0, os.SEEK_END)
        with mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ) as m:
            y_off, uv_off = meta.offset[0], meta.offset[1]
            y_pitch, uv_pitch = meta.stride[0], meta.stride[1]
            plane = bytearray()
            for row in range(h):
                plane += m[y_off + row * y_pitch:y_off + row * y_pitch + w]
            for row in range((h + 1) // 2):
                plane += m[uv_off + row * uv_pitch:uv_off + row * uv_pitch + 2 * ((w + 1) // 2)]
        got = hashlib.md5(plane).hexdigest()
        if frames >= len(want) or got != want[frames]:
            print(f"expbuf: frame {frames} differs")
            return 1
        frames += 1
    pipe.set_state(Gst.State.NULL)
    if frames != len(want):
        print(f"expbuf: {frames} frames, reference has {len(want)}")
        return 1
    if foreign:
        print(f"expbuf: {foreign} frames were in dmabufs the daemon does not hold")
        return 1
    print(f"expbuf: all {frames} frames read from exported dmabufs are byte-exact, "
          f"and every one is a dmabuf the daemon allocated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
