#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Whether a process can become DRM master of a primary node now: what a compositor starting
after the daemon needs. Opening a primary node nobody holds makes the opener master; else
DRM_IOCTL_SET_MASTER (as root) succeeds only if no other file is master.

usage: drmmaster.py /dev/dri/cardN
Prints and exits 0 if this process is master, 1 if another holds it.
"""
import errno
import fcntl
import os
import sys

DRM_IOCTL_SET_MASTER = (ord("d") << 8) | 0x1e     # _IO('d', 0x1e)

fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.ioctl(fd, DRM_IOCTL_SET_MASTER)
    print(f"{sys.argv[1]}: this process is DRM master: nobody else holds it")
    sys.exit(0)
except OSError as e:
    print(f"{sys.argv[1]}: SET_MASTER: {errno.errorcode.get(e.errno, e.errno)}: another file holds it")
    sys.exit(1)
finally:
    os.close(fd)
