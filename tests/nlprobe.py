#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Try one daemon operation of the daedalus family from this process, and report the errno.

usage: nlprobe.py attach|job-done|job-get|join
Prints "OP: errno N (NAME)" (0 = accepted) and exits with that errno. Used to show that a
process without CAP_NET_ADMIN, or one that is not the attached daemon, cannot act as the daemon,
nor listen to its job-ready notifications (join: the "jobs" multicast group).
"""
import errno
import os
import sys

from daedalusnl import C, Family, u32, u64


def main() -> int:
    op = sys.argv[1]
    family = Family()
    if op == "attach":
        err = family.attach()
    elif op == "join":
        err = family.join("jobs")
    elif op == "job-get":
        err = family.job_get()[0]
    elif op == "job-done":
        err = family.cmd("JOB_DONE", u64(C["DAEDALUS_A_DONE_ID"], 1)
                         + u32(C["DAEDALUS_A_DONE_STATUS"], 0))[0]
    else:
        sys.exit(f"unknown operation {op}")
    print(f"{op}: errno {err} ({errno.errorcode.get(err, 'ok')}) as uid {os.getuid()}")
    return err


if __name__ == "__main__":
    sys.exit(main())
