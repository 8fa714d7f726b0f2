#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Compare decoded NV12 output frame by frame with FFmpeg's reference framemd5.

usage: framecmp.py OUTPUT.nv12 REFERENCE.framemd5 WIDTH HEIGHT
OUTPUT holds tightly packed NV12 frames (width-byte rows). Exit 0 when every frame matches,
1 naming the first frame that differs (or a frame count mismatch).
"""
import hashlib
import sys


def main() -> int:
    out, ref, w, h = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    size = w * h + 2 * ((w + 1) // 2) * ((h + 1) // 2)
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
    print(f"framecmp: all {len(got)} frames byte-exact ({w}x{h})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
