#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Compare decoded output frame by frame with FFmpeg's reference framemd5.

usage: framecmp.py OUTPUT REFERENCE.framemd5 WIDTH HEIGHT [FORMAT]
OUTPUT holds tightly packed frames of FORMAT: nv12 (the default; width-byte rows) or p010le
(16-bit samples). Exit 0 when every frame matches, 1 naming the first frame that differs (or a
frame count mismatch).
"""
import hashlib
import sys


def main() -> int:
    out, ref, w, h = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    fmt = sys.argv[5] if len(sys.argv) > 5 else "nv12"
    sample = {"nv12": 1, "p010le": 2}[fmt]
    size = sample * (w * h + 2 * ((w + 1) // 2) * ((h + 1) // 2))
    want = [line.split(",")[-1].strip() for line in open(ref) if not line.startswith("#")]
    data = open(out, "rb").read()
    got = [hashlib.md5(data[i:i + size]).hexdigest() for i in range(0, len(data), size)]
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
