#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Flood the daemon's control socket (#20 defect 11): open COUNT connections and keep them,
silent, for SECONDS; meanwhile the daemon must stay cool (no hot accept loop: under 0.5 CPU
seconds over the window), hold at most its idle fds plus a few connections (the rest wait in
the listen queue), and keep decoding -- the caller runs a decode during the flood. Prints the
figures; exits 1 if a bound is broken.

usage: connflood.py SOCKET DAEMON_PID COUNT SECONDS
"""
import os
import socket
import subprocess
import sys
import time

MAX_ANSWERED = 8  # status.rs MAX_CONNECTIONS
SLACK = 4  # fds a decode may hold meanwhile (its stream's buffers are counted apart)


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def main():
    path, pid, count, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    idle = fds(pid)
    conns, refused = [], 0
    for _ in range(count):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(path)
        except BlockingIOError:  # the listen queue is full: the kernel says so, not the daemon
            refused += 1
            s.close()
            continue
        conns.append(s)
    print(f"connflood.py: {len(conns)} connections held, {refused} refused by a full listen queue",
          flush=True)
    cpu0, t0, most = cpu_seconds(pid), time.monotonic(), 0
    while time.monotonic() - t0 < seconds:
        most = max(most, fds(pid))
        time.sleep(0.1)
    cpu = cpu_seconds(pid) - cpu0
    print(f"connflood.py: over {seconds:.0f} s the daemon used {cpu:.2f} CPU s and held at most "
          f"{most} fds (idle {idle})", flush=True)
    ok = True
    if len(sys.argv) > 5:
        rc = subprocess.call(sys.argv[5:])
        print(f"connflood.py: under the flood, {sys.argv[5]} exited {rc}")
        ok = rc == 0
    for s in conns:
        s.close()
    if cpu > 0.5 * seconds / 3:
        print("FAIL: the daemon burned CPU under the flood")
        ok = False
    if most > idle + MAX_ANSWERED + SLACK:
        print("FAIL: the daemon took more connections than it answers")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
