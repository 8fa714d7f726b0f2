#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A seek in the middle of a clip, through one of our decoders (stateless or stateful).

usage: seek.py CLIP.mkv REFERENCE.framemd5 DECODER SECONDS

Plays CLIP (Matroska, so that the demuxer can seek) through `matroskademux ! parse ! DECODER`,
seeks to SECONDS with KEY_UNIT | SNAP_AFTER (the next key picture), and checks that playback
resumes at that key picture and that every frame from there to the end is byte-exact with
FFmpeg's decode of the whole clip (REFERENCE: one MD5 per NV12 frame, in display order). A
frame is placed by its timestamp. The decoder (and the daemon behind it) must follow the
client: drop what it held, start over at the key picture, and not drift.
"""
import hashlib
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import Gst, GstVideo  # noqa: E402

PARSERS = {"v4l2slvp9dec": "vp9parse", "v4l2slh264dec": "h264parse",
           "v4l2slav1dec": "av1parse", "v4l2vp9dec": "vp9parse", "v4l2h264dec": "h264parse"}


def frame_md5(sample) -> str:
    buf = sample.get_buffer()
    vinfo = GstVideo.VideoInfo.new_from_caps(sample.get_caps())
    w, h = vinfo.width, vinfo.height
    meta = GstVideo.buffer_get_video_meta(buf) or vinfo
    ok, info = buf.map(Gst.MapFlags.READ)
    assert ok, "cannot map a decoded frame"
    try:
        data = info.data
        # NV12, or P010 (16-bit samples): FFmpeg's nv12 or p010le
        b = 2 if vinfo.finfo.format == GstVideo.VideoFormat.P010_10LE else 1
        plane = bytearray()
        for row in range(h):
            off = meta.offset[0] + row * meta.stride[0]
            plane += data[off:off + b * w]
        for row in range((h + 1) // 2):
            off = meta.offset[1] + row * meta.stride[1]
            plane += data[off:off + b * 2 * ((w + 1) // 2)]
    finally:
        buf.unmap(info)
    return hashlib.md5(plane).hexdigest()


def main() -> int:
    clip, ref, decoder, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    want = [line.split(",")[-1].strip() for line in open(ref) if not line.startswith("#")]
    Gst.init(None)
    pipe = Gst.parse_launch(
        f"filesrc location={clip} ! matroskademux ! {PARSERS[decoder]} ! {decoder} ! "
        "appsink name=sink sync=false caps=video/x-raw,format={NV12,P010_10LE}")
    sink = pipe.get_by_name("sink")
    pipe.set_state(Gst.State.PAUSED)
    state = pipe.get_state(60 * Gst.SECOND)[0]
    if state != Gst.StateChangeReturn.SUCCESS:
        msg = pipe.get_bus().pop_filtered(Gst.MessageType.ERROR)
        if msg:
            err, debug = msg.parse_error()
            why = f"{err.message} ({debug})"
        else:
            why = state
        print(f"seek: the pipeline did not preroll: {why}")
        return 1
    flags = Gst.SeekFlags.FLUSH | Gst.SeekFlags.KEY_UNIT | Gst.SeekFlags.SNAP_AFTER
    if not pipe.seek_simple(Gst.Format.TIME, flags, int(seconds * Gst.SECOND)):
        print("seek: the seek was refused")
        return 1
    pipe.set_state(Gst.State.PLAYING)
    seen = []
    while True:
        sample = sink.emit("try-pull-sample", 60 * Gst.SECOND)
        if sample is None:
            msg = pipe.get_bus().pop_filtered(Gst.MessageType.ERROR)
            if msg:
                print(f"seek: pipeline error: {msg.parse_error()[0].message}")
                return 1
            if not sink.get_property("eos"):
                print("seek: no frame for 60 s")
                return 1
            break
        rate = sample.get_caps().get_structure(0).get_fraction("framerate")
        fps = rate.value_numerator / rate.value_denominator
        index = round(sample.get_buffer().pts / Gst.SECOND * fps)
        seen.append(index)
        if index >= len(want) or frame_md5(sample) != want[index]:
            print(f"seek: frame {index} (after the seek) differs from FFmpeg's")
            return 1
    pipe.set_state(Gst.State.NULL)
    if not seen:
        print("seek: no frame after the seek")
        return 1
    if seen != list(range(seen[0], len(want))):
        print(f"seek: frames after the seek are not {seen[0]}..{len(want) - 1}: {seen}")
        return 1
    if seen[0] < seconds * fps:
        print(f"seek: resumed at frame {seen[0]}, before the seek target {seconds} s")
        return 1
    print(f"seek: to {seconds} s, resumed at key frame {seen[0]}; frames {seen[0]}.."
          f"{len(want) - 1} byte-exact")
    return 0


if __name__ == "__main__":
    sys.exit(main())
