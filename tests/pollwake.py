#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Clients asleep on a node when the device goes away must wake up. For each NODE, a process
opens it, subscribes to an event that never comes (a source change on a stateful decoder with
no stream; elsewhere a change of a control nobody sets) and sleeps in poll() for it (POLLPRI);
for each dqbuf:NODE (a stateless decoder), a process opens it without O_NONBLOCK, sets up one
CAPTURE buffer, starts CAPTURE streaming and sleeps in VIDIOC_DQBUF (no picture can come: no
bitstream is queued). Once all sleep this says "waiting"; each must then come back within
TIMEOUT seconds, poll() with POLLERR or POLLHUP, DQBUF with an error; the exit status is 1 if
one did not. tests/vm/faults.sh unbinds the device meanwhile.

usage: pollwake.py TIMEOUT [dqbuf:]NODE...
"""
import ctypes
import os
import select
import signal
import sys
import time

import v4l2uapi as v

# V4L2_CID_STATELESS_H264_DECODE_MODE (a menu control of the stateless node)
H264_DECODE_MODE = 0x00A40900


def sleep_in_poll(node: str, ready) -> str:
    fd = os.open(node, os.O_RDWR | os.O_NONBLOCK)
    try:
        v.ioctl(fd, v.VIDIOC_SUBSCRIBE_EVENT,
                v.EventSubscription(type=v.V4L2_EVENT_SOURCE_CHANGE))
    except OSError:
        v.ioctl(fd, v.VIDIOC_SUBSCRIBE_EVENT,
                v.EventSubscription(type=v.V4L2_EVENT_CTRL, id=H264_DECODE_MODE))
    poller = select.poll()
    poller.register(fd, select.POLLPRI)
    ready()
    t0 = time.monotonic()
    revents = poller.poll()[0][1]
    ok = revents & (select.POLLERR | select.POLLHUP)
    took = time.monotonic() - t0
    if not ok:
        raise SystemExit(f"{node}: poll() woken after {took:.1f} s with {revents:#x}, "
                         "no POLLERR/POLLHUP")
    return f"{node}: poll() woken after {took:.1f} s, revents {revents:#x}"


def sleep_in_dqbuf(node: str, ready) -> str:
    fd = os.open(node, os.O_RDWR)
    v.set_output(fd, "VP9F")
    v.ioctl(fd, v.VIDIOC_REQBUFS,
            v.RequestBuffers(count=1, type=v.CAPTURE_MPLANE, memory=v.MEMORY_MMAP))
    v.ioctl(fd, v.VIDIOC_STREAMON, ctypes.c_int(v.CAPTURE_MPLANE))
    planes = (v.Plane * 2)()
    buf = v.Buffer(index=0, type=v.CAPTURE_MPLANE, memory=v.MEMORY_MMAP, length=2)
    buf.m.planes = planes
    v.ioctl(fd, v.VIDIOC_QBUF, buf)
    ready()
    t0 = time.monotonic()
    try:
        v.ioctl(fd, v.VIDIOC_DQBUF, buf)
    except OSError as e:
        return f"{node}: DQBUF woken after {time.monotonic() - t0:.1f} s: {os.strerror(e.errno)}"
    raise SystemExit(f"{node}: DQBUF returned a buffer, with no bitstream queued")


def main() -> int:
    timeout = float(sys.argv[1])
    children = {}
    for arg in sys.argv[2:]:
        kind, _, node = arg.rpartition(":")
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)

            def ready():
                os.write(w, b"1")
                os.close(w)
            try:
                print((sleep_in_dqbuf if kind == "dqbuf" else sleep_in_poll)(node, ready),
                      flush=True)
                os._exit(0)
            except BaseException as e:  # noqa: BLE001 (the child's one way out)
                print(f"{arg}: {e}", flush=True)
                os._exit(1)
        os.close(w)
        if os.read(r, 1) != b"1":
            print(f"{arg}: the process did not get to sleep")
            return 1
        os.close(r)
        children[pid] = arg
    print("waiting:", " ".join(children.values()), flush=True)
    deadline = time.monotonic() + timeout
    bad = 0
    while children and time.monotonic() < deadline:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            time.sleep(0.1)
            continue
        children.pop(pid, None)
        bad |= os.waitstatus_to_exitcode(status) != 0
    for pid, arg in children.items():
        print(f"{arg}: still asleep after {timeout:.0f} s")
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    return 1 if bad or children else 0


if __name__ == "__main__":
    sys.exit(main())
