#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A hostile daemon: attach to the daedalus family in the daemon's place and answer the module's
jobs as a confused or compromised decoder might, while this process also plays the client that
made them. Each case must fail only the job it names (the client sees an error, never a hang)
and leave the kernel sound: tools/vm-run fails the run on any oops, WARN, hung task or leak.

usage: hostiled.py STATEFUL_NODE STATELESS_NODE CLIP.h264 [CASE...]
Runs every case, or those named. Prints one line per case and "hostile daemon: N cases passed";
exits 1 on the first failure.
Needs root (CAP_NET_ADMIN), no daemon attached, and /dev/udmabuf for the buffers it gives.
"""
import errno
import os
import select
import socket
import struct
import sys
import threading
import time

import v4l2uapi as v
from daedalusnl import C, Family

TIMEOUT_PARAM = "/sys/module/daedalus_v4l2/parameters/timeout_ms"
FILLED = C["DAEDALUS_DONE_FLAGS_FILLED"]
LAST = C["DAEDALUS_DONE_FLAGS_LAST"]
FORMAT = C["DAEDALUS_DONE_FLAGS_FORMAT"]
KEPT = C["DAEDALUS_DONE_FLAGS_OUTPUT_KEPT"]
FEED = C["DAEDALUS_JOB_KIND_FEED"]
ALLOC = C["DAEDALUS_JOB_KIND_ALLOC"]
CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def check(cond, what):
    if not cond:
        raise AssertionError(what)


class Hostile:
    def __init__(self, stateful, stateless, clip):
        self.stateful, self.stateless = stateful, stateless
        self.data = open(clip, "rb").read()[:65536]
        self.nl = Family()
        err = self.nl.attach()
        check(err == 0, f"attach: errno {err} (is a daemon attached?)")

    def job(self, kind, timeout=5.0):
        """The next job of `kind` (one-way jobs met on the way end by being taken)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            err, job = self.nl.job_get()
            if err == errno.EAGAIN:
                time.sleep(0.01)
                continue
            check(err == 0, f"job-get: errno {err}")
            for fd in job["fds"]:
                os.close(fd)
            if job["kind"] == kind:
                return job
        raise AssertionError(f"no job of kind {kind} within {timeout} s")

    def feed_client(self):
        """A stateful client that queued one OUTPUT buffer and started OUTPUT: a feed job with
        bitstream and no CAPTURE buffer goes to the daemon."""
        fd = os.open(self.stateful, os.O_RDWR | os.O_NONBLOCK)
        v.set_output(fd, "H264")
        v.queue_bitstream(fd, self.data)
        return fd

    @staticmethod
    def output_back(fd, timeout=5.0):
        """The client's OUTPUT buffer, dequeued: its flags."""
        p = select.poll()
        p.register(fd, select.POLLOUT | select.POLLERR)
        check(p.poll(timeout * 1000), f"the OUTPUT buffer did not come back in {timeout} s")
        planes = (v.Plane * 1)()
        buf = v.Buffer(type=v.OUTPUT_MPLANE, memory=v.MEMORY_MMAP, length=1)
        buf.m.planes = planes
        v.ioctl(fd, v.VIDIOC_DQBUF, buf)
        return buf.flags

    @staticmethod
    def requeue_output(fd, used=1024):
        """Queue the client's OUTPUT buffer (index 0) again, `used` bytes of it."""
        planes = (v.Plane * 1)()
        planes[0].bytesused = used
        buf = v.Buffer(index=0, type=v.OUTPUT_MPLANE, memory=v.MEMORY_MMAP, length=1)
        buf.m.planes = planes
        v.ioctl(fd, v.VIDIOC_QBUF, buf)


@case
def contradicting_answers(h):
    """A picture, or the last buffer, for a job without a CAPTURE buffer: the job fails."""
    for flags in (FILLED, LAST, FILLED | LAST | FORMAT):
        fd = h.feed_client()
        try:
            job = h.job(FEED)
            check("capture" not in job, "the feed job has a CAPTURE buffer")
            err = h.nl.job_done(job["id"], 0, flags=flags, pending=0)
            check(err == 0, f"job-done: errno {err}")
            check(h.output_back(fd) & v.BUF_FLAG_ERROR, f"flags {flags:#x}: buffer not failed")
        finally:
            os.close(fd)
    return "3 answers, each job failed"


@case
def output_kept(h):
    """The daemon says it keeps an OUTPUT buffer's mapping (done flag output-kept): the buffer's
    next job carries its export id and no fd; after a failed job of it, the fd again (the daemon
    may have lost the mapping)."""
    fd = h.feed_client()
    try:
        job = h.job(FEED)
        check({"fd", "buf"} <= job["output"].keys(), "the first job: no fd or no export id")
        check(h.nl.job_done(job["id"], 0, flags=KEPT, pending=0) == 0, "output-kept refused")
        check(not h.output_back(fd) & v.BUF_FLAG_ERROR, "the job that kept the mapping failed")
        h.requeue_output(fd)
        job = h.job(FEED)
        check("fd" not in job["output"], "the fd of an export the daemon keeps was sent again")
        check("buf" in job["output"], "no export id")
        check(h.nl.job_done(job["id"], errno.EINVAL, pending=0) == 0, "failure refused")
        check(h.output_back(fd) & v.BUF_FLAG_ERROR, "the failed job's buffer is not failed")
        h.requeue_output(fd)
        job = h.job(FEED)
        check("fd" in job["output"], "no fd after a failed job of the buffer")
        check(h.nl.job_done(job["id"], 0, pending=0) == 0, "answer refused")
        h.output_back(fd)
    finally:
        os.close(fd)
    return "fd, then none, then again after a failure"


@case
def unknown_and_repeated_answers(h):
    """An id never handed out (one past 32 bits too: ids are 64-bit), and the same job answered
    twice: ENOENT, nothing else moves."""
    for never in (0xdeadbeef, (1 << 32) + 1):
        err = h.nl.job_done(never, 0)
        check(err == errno.ENOENT, f"unknown id {never:#x}: errno {err}")
    fd = h.feed_client()
    try:
        job = h.job(FEED)
        check(h.nl.job_done(job["id"], 0, flags=0, pending=0) == 0, "first answer refused")
        err = h.nl.job_done(job["id"], 0, flags=0, pending=0)
        check(err == errno.ENOENT, f"second answer: errno {err}")
        check(not h.output_back(fd) & v.BUF_FLAG_ERROR, "the answered job failed")
    finally:
        os.close(fd)
    return "ENOENT both"


@case
def out_of_range_status(h):
    """A status that is no errno is refused by the policy; the job waits for a real answer."""
    fd = h.feed_client()
    try:
        job = h.job(FEED)
        err = h.nl.job_done(job["id"], 5000)
        check(err in (errno.EINVAL, errno.ERANGE), f"status 5000: errno {err}")
        check(h.nl.job_done(job["id"], errno.EINVAL, pending=0) == 0, "real answer refused")
        check(h.output_back(fd) & v.BUF_FLAG_ERROR, "the failed job's buffer is not failed")
    finally:
        os.close(fd)
    return f"refused with errno {err}"


@case
def silent_daemon(h):
    """A job never answered: the watchdog fails it; the client's close waits for that, and
    nobody else's use of the node does; a late answer gets ENOENT."""
    timeout_ms = int(open(TIMEOUT_PARAM).read())
    fd = h.feed_client()
    job = h.job(FEED)
    closed = {}

    def close():
        t0 = time.monotonic()
        os.close(fd)
        closed["s"] = time.monotonic() - t0

    t = threading.Thread(target=close)
    t.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    other = os.open(h.stateful, os.O_RDWR)
    v.ioctl(other, v.VIDIOC_G_FMT, v.Format(type=v.OUTPUT_MPLANE))
    os.close(other)
    other_s = time.monotonic() - t0
    t.join(timeout_ms / 1000 + 10)
    check(not t.is_alive(), "close() hung past the watchdog")
    check(other_s < 0.5, f"another open + G_FMT waited {other_s:.2f} s for the closing stream")
    check(closed["s"] > timeout_ms / 1000 / 2, f"close took {closed['s']:.2f} s only")
    err = h.nl.job_done(job["id"], 0, flags=0, pending=0)
    check(err == errno.ENOENT, f"answer after the watchdog: errno {err}")
    return f"close {closed['s']:.2f} s (watchdog {timeout_ms} ms), other user {other_s:.3f} s"


@case
def bad_capture_buffers(h):
    """Alloc jobs answered with no fd, a pipe, a closed fd, a dmabuf too small: REQBUFS fails
    each time; then a good dmabuf, and it succeeds."""
    r, w = os.pipe()
    page = os.sysconf("SC_PAGE_SIZE")  # udmabuf takes whole pages only (16 KiB on a Pi)
    small = v.udmabuf(page)
    answers = [("no fd", {}), ("a pipe", {"fd": r}), ("a closed fd", {"fd": 999}),
               (f"a {page // 1024} KiB dmabuf", {"fd": small})]
    fd = os.open(h.stateless, os.O_RDWR)
    try:
        v.set_output(fd, "VP9F")
        got = []
        for what, fields in answers + [("a good dmabuf", None)]:
            result = {}

            def reqbufs():
                try:
                    v.ioctl(fd, v.VIDIOC_REQBUFS, v.RequestBuffers(
                        count=1, type=v.CAPTURE_MPLANE, memory=v.MEMORY_MMAP))
                    result["errno"] = 0
                except OSError as e:
                    result["errno"] = e.errno

            t = threading.Thread(target=reqbufs)
            t.start()
            job = h.job(ALLOC)
            size = struct.unpack("I", job["capture"]["plane_size"][0][:4])[0]
            if fields is None:
                good = v.udmabuf((size + 65535) & ~65535)
                fields = {"fd": good}
            err = h.nl.job_done(job["id"], 0, **fields)
            check(err == 0, f"{what}: job-done errno {err}")
            t.join(10)
            check(not t.is_alive(), f"{what}: REQBUFS hung")
            if what == "a good dmabuf":
                os.close(good)
                check(result["errno"] == 0, f"good dmabuf: REQBUFS errno {result['errno']}")
                v.ioctl(fd, v.VIDIOC_REQBUFS,
                        v.RequestBuffers(count=0, type=v.CAPTURE_MPLANE, memory=v.MEMORY_MMAP))
            else:
                check(result["errno"] != 0, f"{what}: REQBUFS succeeded")
                got.append(f"{what}: {errno.errorcode.get(result['errno'])}")
        return "; ".join(got)
    finally:
        os.close(fd)
        for x in (r, w, small):
            os.close(x)


def open_fds():
    return len(os.listdir("/proc/self/fd"))


@case
def more_flag(h):
    """job-get's more flag: set while other jobs wait behind the one taken, absent on the last,
    which a job-get after it confirms (EAGAIN); a job queued after that has its own job-ready."""
    while True:
        err, job = h.nl.job_get()
        if err:
            break
        for fd in job["fds"]:
            os.close(fd)
    check(err == errno.EAGAIN, f"job-get: errno {err}")
    for _ in range(3):
        os.close(os.open(h.stateful, os.O_RDWR))  # a stream-close job each
    got = []
    for _ in range(3):
        err, job = h.nl.job_get()
        check(err == 0, f"job-get: errno {err}")
        for fd in job["fds"]:
            os.close(fd)
        got.append(job["more"])
    check(got == [True, True, False], f"more flags of three queued jobs: {got}")
    err, _ = h.nl.job_get()
    check(err == errno.EAGAIN, f"job-get after the last: errno {err}, not EAGAIN")
    check(h.nl.join("jobs") == 0, "cannot join the jobs group")
    try:
        os.close(os.open(h.stateful, os.O_RDWR))
        h.nl.sock.settimeout(2.0)
        try:
            data = h.nl.sock.recv(1 << 16)
        except TimeoutError:
            data = b""
        finally:
            h.nl.sock.settimeout(None)
        ready = len(data) >= 20 and struct.unpack("H", data[4:6])[0] == h.nl.id and \
            data[16] == C["DAEDALUS_CMD_JOB_READY"]
        check(ready, "no job-ready for a job queued after the last one was taken")
        err, job = h.nl.job_get()
        check(err == 0 and not job["more"], f"the new job: errno {err}")
    finally:
        h.nl.leave("jobs")
        h.nl.drain()
    return "flags " + ", ".join(map(str, got)) + "; then EAGAIN; a new job notified"


@case
def undelivered_reply(h):
    """A job-get reply the daemon's full socket cannot take: the fds it named are not left in
    the daemon, and the job fails at once (not at its watchdog)."""
    fd = h.feed_client()
    try:
        sock = h.nl.sock
        # fill the socket with job-ready notifications it does not read: stream-close jobs
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 0)
        check(h.nl.join("jobs") == 0, "cannot join the jobs group")
        for _ in range(16):
            os.close(os.open(h.stateful, os.O_RDWR))
        # the overrun's ENOBUFS is reported once: take it (MSG_PEEK leaves the queue full)
        while True:
            try:
                sock.recv(64, socket.MSG_PEEK | socket.MSG_DONTWAIT)
                break
            except BlockingIOError:
                raise AssertionError("no notification queued")
            except OSError as e:
                check(e.errno == errno.ENOBUFS, f"peek: {e}")
        before = open_fds()
        sock.settimeout(2.0)
        try:
            err, job = h.nl.job_get()
            delivered = f"errno {err}" if err else f"job {job['id']} kind {job['kind']}"
        except OSError as e:
            delivered = f"not delivered ({errno.errorcode.get(e.errno, e)})"
        except TimeoutError:
            delivered = "not delivered (no answer)"
        finally:
            sock.settimeout(None)
        leaked = open_fds() - before
        check(delivered.startswith("not delivered"), f"the reply was delivered: {delivered}")
        check(leaked == 0, f"{leaked} fd(s) of the undelivered reply left in the daemon")
        t0 = time.monotonic()
        failed = h.output_back(fd) & v.BUF_FLAG_ERROR
        took = time.monotonic() - t0
        check(failed, "the undelivered job's buffer was not failed")
    finally:
        h.nl.leave("jobs")
        h.nl.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        h.nl.drain()
        os.close(fd)
    return f"{delivered}, 0 fds left, job failed in {took:.2f} s"


def main() -> int:
    h = Hostile(*sys.argv[1:4])
    wanted = sys.argv[4:]
    cases = [fn for fn in CASES if not wanted or fn.__name__ in wanted]
    for fn in cases:
        try:
            print(f"case {fn.__name__}: ok ({fn(h)})", flush=True)
        except (AssertionError, OSError) as e:
            print(f"case {fn.__name__}: FAILED: {e}", flush=True)
            return 1
    print(f"hostile daemon: {len(cases)} cases passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
