#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Run a command; print its wall time and CPU time (user + system, its children included).

    cpurun.py OUT CMD...   writes "WALL CPU EXIT" (seconds, seconds, exit status) to OUT and
                           exits with the command's status.
"""
import resource
import subprocess
import sys
import time

out, cmd = sys.argv[1], sys.argv[2:]
t0 = time.monotonic()
rc = subprocess.call(cmd)
wall = time.monotonic() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(out, "w") as f:
    f.write(f"{wall:.3f} {ru.ru_utime + ru.ru_stime:.3f} {rc}\n")
sys.exit(rc)
