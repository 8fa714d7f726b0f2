#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Close a decoder file while its job runs: what any user with the node open can do.

usage: earlyclose.py DEVICE CLIP.h264 [ROUNDS]

Each round opens the stateful node DEVICE, sets OUTPUT to H.264, queues one buffer holding the
start of the clip (its parameter sets and first pictures), starts OUTPUT streaming, so that a
feed job goes to the daemon, and closes the file after a few milliseconds: before, while and
after the daemon answers, which for the first picture is a source change (an event for the file
being closed). The kernel must neither oops nor hang; tools/vm-run fails the run on any oops,
WARN or hung task. Exit 0 when every round ended.
"""
import os
import random
import sys
import time

import v4l2uapi as v


def round_once(device: str, data: bytes, delay: float) -> None:
    fd = os.open(device, os.O_RDWR)
    try:
        v.set_output(fd, "H264")
        v.queue_bitstream(fd, data)
        time.sleep(delay)
    finally:
        os.close(fd)


def main() -> int:
    device, clip = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 40
    data = open(clip, "rb").read()[:65536]
    rng = random.Random(20261204)
    t0 = time.monotonic()
    for _ in range(rounds):
        round_once(device, data, rng.uniform(0, 0.03))
    print("earlyclose: %d rounds of close with a feed job in flight, %.1f s"
          % (rounds, time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
