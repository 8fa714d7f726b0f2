#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Compare decoded output frame by frame with FFmpeg's reference framemd5.

usage: framecmp.py OUTPUT REFERENCE.framemd5 WIDTH HEIGHT [FORMAT]
       framecmp.py --frames DIR REFERENCE.framemd5 SIZES
OUTPUT holds frames of FORMAT, nv12 (the default) or p010le (16-bit samples), in GStreamer's
default layout for them (what filesink writes): each row padded to a multiple of 4 bytes, the
chroma plane after an even number of luma rows. FFmpeg's framemd5 hashes the frames packed (rows
of exactly the visible width), so the padding is dropped before hashing. With --frames, DIR holds
one NV12 file per frame (multifilesink), in name order, and SIZES a line "WIDTHxHEIGHT" per
frame: the size of each (streams whose frames change size). There GStreamer copies a frame to
its default layout (at the start of a buffer that may be larger: v4l2videodec's copies keep the
size of the decoder's buffers), or passes the decoder's buffer on as it is (when the first size
needed no copy), in the nodes' CAPTURE layout: rows of a multiple of 16 pixels, the chroma plane
after the visible rows (stateful node) or after whole 16-row blocks (stateless). A frame matches
when it does in one of these layouts. Exit 0 when every frame matches, 1 naming the first frame
that differs (or a frame count mismatch).
"""
import hashlib
import os
import sys


def layout(w: int, h: int, sample: int, stride: int = 0, luma_rows: int = 0):
    """The size of a frame in GStreamer's layout (or rows of `stride` bytes, the chroma plane
    after `luma_rows` rows), and a function that packs one."""
    luma_row, chroma_row, chroma_rows = sample * w, sample * 2 * ((w + 1) // 2), (h + 1) // 2
    stride = stride or (max(luma_row, chroma_row) + 3) & ~3
    luma_rows = luma_rows or (h + 1) & ~1

    def packed(frame: bytes) -> bytes:
        rows = [frame[r * stride:r * stride + luma_row] for r in range(h)]
        chroma = frame[stride * luma_rows:]
        rows += [chroma[r * stride:r * stride + chroma_row] for r in range(chroma_rows)]
        return b"".join(rows)

    return stride * (luma_rows + chroma_rows), packed


def compare(got, want, what: str) -> int:
    for i, (g, r) in enumerate(zip(got, want)):
        if g != r:
            print(f"framecmp: frame {i} differs (got {g}, want {r})")
            return 1
    if len(got) != len(want):
        print(f"framecmp: {len(got)} frames decoded, reference has {len(want)}")
        return 1
    print(f"framecmp: all {len(got)} frames byte-exact ({what})")
    return 0


def main() -> int:
    want = [line.split(",")[-1].strip() for line in open(sys.argv[2 + (sys.argv[1] == "--frames")])
            if not line.startswith("#")]
    if sys.argv[1] == "--frames":
        frames_dir, sizes = sys.argv[2], [line.split("x") for line in open(sys.argv[4]).read().split()]
        names = sorted(os.listdir(frames_dir))
        if len(names) != len(sizes):
            print(f"framecmp: {len(names)} frames decoded, reference has {len(sizes)}")
            return 1
        got = []
        for name, (w, h), ref in zip(names, sizes, want):
            w, h = int(w), int(h)
            frame = open(os.path.join(frames_dir, name), "rb").read()
            block = (w + 15) & ~15
            layouts = [layout(w, h, 1), layout(w, h, 1, block, h),
                       layout(w, h, 1, block, (h + 15) & ~15)]
            sums = [hashlib.md5(packed(frame)).hexdigest()
                    for size, packed in layouts if size <= len(frame)]
            if not sums:
                print(f"framecmp: frame {len(got)} ({name}) has {len(frame)} bytes, "
                      f"too few for {w}x{h} nv12")
                return 1
            got.append(ref if ref in sums else sums[0])
        return compare(got, want, "each at its own size, nv12")
    out, w, h = sys.argv[1], int(sys.argv[3]), int(sys.argv[4])
    fmt = sys.argv[5] if len(sys.argv) > 5 else "nv12"
    size, packed = layout(w, h, {"nv12": 1, "p010le": 2}[fmt])
    data = open(out, "rb").read()
    if len(data) % size:
        print(f"framecmp: {len(data) / size:g} frames decoded, reference has {len(want)}")
        return 1
    got = [hashlib.md5(packed(data[i:i + size])).hexdigest() for i in range(0, len(data), size)]
    return compare(got, want, f"{w}x{h} {fmt}")


if __name__ == "__main__":
    sys.exit(main())
