#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The stateful node tells a stream's range in the CAPTURE format: a full-range stream's format
has V4L2_QUANTIZATION_FULL_RANGE once the daemon has decoded its first picture, and a
limited-range one's has not.

usage: quantization.py STATEFUL_NODE FULL_RANGE.h264 LIMITED_RANGE.h264
"""
import os
import sys
import time

import v4l2uapi as v

QUANTIZATION_FULL_RANGE = 1


def capture_quantization(node: str, clip: str, want_full: bool) -> int:
    """Feed the start of an H.264 clip (CAPTURE not set up: the daemon announces the format),
    wait up to 20 s for a full-range format if one is expected (3 s if not), and return the
    CAPTURE format's quantization."""
    fd = os.open(node, os.O_RDWR)
    try:
        v.set_output(fd, "H264")
        v.queue_bitstream(fd, open(clip, "rb").read()[:65536])
        fmt = v.Format(type=v.CAPTURE_MPLANE)
        deadline = time.monotonic() + (20 if want_full else 3)
        while True:
            v.ioctl(fd, v.VIDIOC_G_FMT, fmt)
            q = fmt.fmt.pix_mp.quantization
            if q == QUANTIZATION_FULL_RANGE or time.monotonic() > deadline:
                return q
            time.sleep(0.05)
    finally:
        os.close(fd)


def main() -> int:
    node, full, limited = sys.argv[1:4]
    ok = True
    for clip, want_full in ((full, True), (limited, False)):
        q = capture_quantization(node, clip, want_full)
        print(f"{os.path.basename(clip)}: CAPTURE quantization {q}")
        ok &= (q == QUANTIZATION_FULL_RANGE) == want_full
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
