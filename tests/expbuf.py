#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The zero-copy path: decoded frames reach a client as the daemon's own dmabufs.

usage: expbuf.py CLIP.ivf REFERENCE.framemd5 DAEMON_PID [DECODER]

GStreamer's decoder (DECODER: v4l2slvp9dec, the default, or the stateful v4l2vp9dec) exports
every CAPTURE buffer with VIDIOC_EXPBUF and hands frames downstream as dmabuf memory; GStreamer's
VA-API decoder (vavp9dec, over our VA driver) exports every surface with vaExportSurfaceHandle
(DMA_DRM caps). This client takes each frame from a fakevideosink (which reads GstVideoMeta, as
the VA decoders require for dmabuf caps), fails unless it is dmabuf memory, checks that each fd is the same dmabuf (same
inode) as one the daemon's processes hold (the daemon allocated it through GBM and handed it to
the stream's worker, a process its zygote forked), maps the fd itself, reads
the NV12 planes at the offsets and strides the decoder reports, and compares each frame's MD5
with FFmpeg's. Exit 0 when all match.
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

Gst.init(None)


def family(pid: int) -> list:
    """pid and its descendants (the daemon, its zygote, the zygote's stream workers)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    # the field after the parenthesised name: state, then ppid
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo += [c for c, pp in parents.items() if pp == p]
    return found


def daemon_dmabufs(pid: int) -> set:
    inodes = set()
    for proc in family(pid):
        try:
            fds = os.listdir(f"/proc/{proc}/fd")
        except OSError:
            continue
        for fd in fds:
            path = f"/proc/{proc}/fd/{fd}"
            try:
                if "dmabuf" in os.readlink(path):
                    inodes.add(os.stat(path).st_ino)
            except OSError:
                pass
    return inodes


class DmabufCheck:
    """Checks each frame as it arrives (the decoder's dmabufs are only lent while rendered),
    from the handoff signal of a fakevideosink: a sink that reads GstVideoMeta, which the VA
    decoders require for dmabuf caps."""

    def __init__(self, sink, want, pid):
        self.sink, self.want, self.pid = sink, want, pid
        self.theirs = daemon_dmabufs(pid)
        self.frames, self.foreign, self.error = 0, 0, None
        sink.set_property("signal-handoffs", True)
        sink.connect("handoff", self.handoff)

    def handoff(self, _sink, buf, pad):
        if self.error is None:
            self.error = self.check(buf, pad)

    def check(self, buf, pad):
        st = pad.get_current_caps().get_structure(0)
        w, h = st.get_int("width")[1], st.get_int("height")[1]
        meta = GstVideo.buffer_get_video_meta(buf)
        if meta is None:
            meta = GstVideo.VideoInfo.new_from_caps(pad.get_current_caps())
        mem = buf.peek_memory(0)
        if buf.n_memory() != 1 or not GstAllocators.is_dmabuf_memory(mem):
            return f"frame {self.frames} is not dmabuf memory"
        fd = GstAllocators.dmabuf_memory_get_fd(mem)
        ino = os.fstat(fd).st_ino
        if ino not in self.theirs:
            self.theirs = daemon_dmabufs(self.pid)    # buffers allocated since the last look
        if ino not in self.theirs:
            self.foreign += 1
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
        if self.frames >= len(self.want) or got != self.want[self.frames]:
            return f"frame {self.frames} differs"
        self.frames += 1
        return None


def main() -> int:
    clip, ref, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
    decoder = sys.argv[4] if len(sys.argv) > 4 else "v4l2slvp9dec"
    caps = "video/x-raw(memory:DMABuf)" if decoder.startswith("va") else "video/x-raw,format=NV12"
    pipe = Gst.parse_launch(
        f"filesrc location={clip} ! ivfparse ! vp9parse ! {decoder} ! {caps} ! "
        "fakevideosink name=sink sync=false")
    want = [line.split(",")[-1].strip() for line in open(ref) if not line.startswith("#")]
    sink = DmabufCheck(pipe.get_by_name("sink"), want, pid)
    pipe.set_state(Gst.State.PLAYING)
    msg = pipe.get_bus().timed_pop_filtered(
        Gst.CLOCK_TIME_NONE, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    pipe.set_state(Gst.State.NULL)
    if sink.error:
        print(f"expbuf: {sink.error}")
        return 1
    if msg.type == Gst.MessageType.ERROR:
        print(f"expbuf: pipeline error: {msg.parse_error()[0].message}")
        return 1
    if sink.frames != len(sink.want):
        print(f"expbuf: {sink.frames} frames, reference has {len(sink.want)}")
        return 1
    if sink.foreign:
        print(f"expbuf: {sink.foreign} frames were in dmabufs the daemon's processes do not hold")
        return 1
    print(f"expbuf: all {sink.frames} frames read from dmabufs {decoder} handed out are "
          f"byte-exact, and every one is a dmabuf the daemon allocated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
