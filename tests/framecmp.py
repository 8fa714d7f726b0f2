#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Compare decoded output frame by frame with FFmpeg's reference framemd5.

usage: framecmp.py OUTPUT REFERENCE.framemd5 WIDTH HEIGHT [FORMAT]
OUTPUT holds frames of FORMAT, nv12 (the default) or p010le (16-bit samples), in GStreamer's
default layout for them (what filesink writes): each row padded to a multiple of 4 bytes, the
chroma plane after an even number of luma rows. FFmpeg's framemd5 hashes the frames packed (rows
of exactly the visible width), so the padding is dropped before hashing. Exit 0 when every frame
matches, 1 naming the first frame that differs (or a frame count mismatch).
"""
import hashlib
import sys


def main() -> int:
    out, ref, w, h = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    fmt = sys.argv[5] if len(sys.argv) > 5 else "nv12"
    sample = {"nv12": 1, "p010le": 2}[fmt]
    luma_row, chroma_row, chroma_rows = sample * w, sample * 2 * ((w + 1) // 2), (h + 1) // 2
    stride = (max(luma_row, chroma_row) + 3) & ~3
    luma_rows = (h + 1) & ~1
    size = stride * (luma_rows + chroma_rows)

    def packed(frame: bytes) -> bytes:
        rows = [frame[r * stride:r * stride + luma_row] for r in range(h)]
        chroma = frame[stride * luma_rows:]
        rows += [chroma[r * stride:r * stride + chroma_row] for r in range(chroma_rows)]
        return b"".join(rows)

    want = [line.split(",")[-1].strip() for line in open(ref) if not line.startswith("#")]
    data = open(out, "rb").read()
    got = [hashlib.md5(packed(data[i:i + size])).hexdigest() for i in range(0, len(data), size)]
    for i, (g, r) in enumerate(zip(got, want)):
        if g != r:
            print(f"framecmp: frame {i} differs (got {g}, want {r})")
            return 1
    if len(got) != len(want) or len(data) % size:
        print(f"framecmp: {len(data) / size:g} frames decoded, reference has {len(want)}")
        return 1
    print(f"framecmp: all {len(got)} frames byte-exact ({w}x{h} {fmt})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
