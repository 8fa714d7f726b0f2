# SPDX-License-Identifier: GPL-2.0
"""The daedalus generic netlink family from Python, for tests that play the daemon (or try to).

Plain stdlib sockets on purpose: an independent client, not the daemon's code. Every number
(commands, attributes, flags, the protocol version) is read from the uapi header generated from
kernel/Documentation/netlink/specs/daedalus.yaml, the protocol's one definition.
"""
import os
import re
import socket
import struct

NETLINK_GENERIC = 16
SOL_NETLINK = 270
NETLINK_ADD_MEMBERSHIP, NETLINK_DROP_MEMBERSHIP = 1, 2
GENL_ID_CTRL = 0x10
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_ID = 1
CTRL_ATTR_FAMILY_NAME = 2
CTRL_ATTR_MCAST_GROUPS = 7
CTRL_ATTR_MCAST_GRP_NAME = 1
CTRL_ATTR_MCAST_GRP_ID = 2
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2

UAPI = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                    "../kernel/include/uapi/linux/daedalus.h")


def _constants(text: str) -> dict:
    """The uapi header's #defines and enum values, by name."""
    c = {m[0]: int(m[1]) for m in re.findall(r"#define (DAEDALUS_\w+)\s+(\d+)\b", text)}
    for body in re.findall(r"enum(?: \w+)? \{(.*?)\};", text, re.S):
        value = -1
        for name, given in re.findall(r"^\s*(\w+)(?:\s*=\s*(\w+))?,", body, re.M):
            if given:
                value = int(given) if given.isdigit() else c[given] if given in c else value
            else:
                value += 1
            c[name] = value
    return c


C = _constants(open(UAPI).read())
VERSION = C["DAEDALUS_VERSION"]


def attr(kind: int, payload: bytes) -> bytes:
    n = 4 + len(payload)
    return struct.pack("HH", n, kind) + payload + b"\0" * (-n % 4)


def u32(kind: int, value: int) -> bytes:
    return attr(kind, struct.pack("I", value))


def u64(kind: int, value: int) -> bytes:
    return attr(kind, struct.pack("Q", value))


def attrs(data: bytes) -> dict:
    """Attributes by type; each value is a list of payloads (attributes may repeat)."""
    out, pos = {}, 0
    while pos + 4 <= len(data):
        n, kind = struct.unpack("HH", data[pos:pos + 4])
        if n < 4:
            break
        out.setdefault(kind & 0x3fff, []).append(data[pos + 4:pos + n])
        pos += (n + 3) & ~3
    return out


def as_u32(payload: bytes) -> int:
    return struct.unpack("I", payload[:4])[0]


def as_uint(payload: bytes) -> int:
    """A u32 or u64 attribute (job and buffer ids are 64-bit)."""
    return struct.unpack("Q" if len(payload) >= 8 else "I", payload[:8 if len(payload) >= 8 else 4])[0]


class Family:
    """A socket on the daedalus family."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
        self.sock.bind((0, 0))
        self.seq = 0
        err, data = self.request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY,
                                 attr(CTRL_ATTR_FAMILY_NAME, b"daedalus\0"), version=2)
        if err:
            raise OSError(err, "resolve the daedalus family")
        a = attrs(data[20:])
        self.id = struct.unpack("H", a[CTRL_ATTR_FAMILY_ID][0][:2])[0]
        self.groups = {}
        for group in attrs(a.get(CTRL_ATTR_MCAST_GROUPS, [b""])[0]).values():
            g = attrs(group[0])
            name = g[CTRL_ATTR_MCAST_GRP_NAME][0].rstrip(b"\0").decode()
            self.groups[name] = as_u32(g[CTRL_ATTR_MCAST_GRP_ID][0])

    def request(self, family: int, cmd: int, payload: bytes, version: int = 1):
        """Send one request with an ACK; return (errno, first reply message) once acked."""
        self.seq += 1
        seq = self.seq
        body = struct.pack("BBH", cmd, version, 0) + payload
        self.sock.send(struct.pack("IHHII", 16 + len(body), family, NLM_F_REQUEST | NLM_F_ACK,
                                   seq, 0) + body)
        reply = b""
        while True:
            data = self.sock.recv(1 << 20)
            pos = 0
            while pos + 16 <= len(data):
                length, kind, _flags, mseq, _pid = struct.unpack("IHHII", data[pos:pos + 16])
                msg = data[pos:pos + length]
                pos += (length + 3) & ~3
                if mseq != seq:
                    continue
                if kind == NLMSG_ERROR:
                    return -struct.unpack("i", msg[16:20])[0], reply
                reply = reply or msg

    def cmd(self, name: str, payload: bytes = b""):
        return self.request(self.id, C["DAEDALUS_CMD_" + name], payload)

    def attach(self) -> int:
        return self.cmd("ATTACH", u32(C["DAEDALUS_A_ATTACH_VERSION"], VERSION))[0]

    def join(self, group: str = "jobs") -> int:
        try:
            self.sock.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, self.groups[group])
            return 0
        except OSError as e:
            return e.errno

    def leave(self, group: str = "jobs") -> None:
        self.sock.setsockopt(SOL_NETLINK, NETLINK_DROP_MEMBERSHIP, self.groups[group])

    def drain(self) -> None:
        """Drop whatever waits on the socket (notifications, late answers, an overrun)."""
        self.sock.setblocking(False)
        try:
            while True:
                try:
                    self.sock.recv(1 << 20)
                except BlockingIOError:
                    return
                except OSError:
                    continue
        finally:
            self.sock.setblocking(True)

    def job_get(self):
        """(errno, job): the job's attributes by name, its nests parsed, its fds as ints."""
        err, msg = self.cmd("JOB_GET")
        if err:
            return err, None
        a = attrs(msg[20:])
        job = {}
        for name in ("ID", "KIND", "STREAM", "CODEC", "SEQUENCE", "FLAGS"):
            v = a.get(C["DAEDALUS_A_JOB_" + name])
            if v:
                job[name.lower()] = as_uint(v[0])
        for nest in ("OUTPUT", "CAPTURE"):
            v = a.get(C["DAEDALUS_A_JOB_" + nest])
            if v:
                inner = attrs(v[0])
                job[nest.lower()] = {
                    name[len("DAEDALUS_A_" + nest) + 1:].lower(): [x for x in inner[num]]
                    for name, num in C.items()
                    if name.startswith("DAEDALUS_A_" + nest + "_") and num in inner
                    and not name.endswith("_MAX")}
        job["more"] = C["DAEDALUS_A_JOB_MORE"] in a
        job["fds"] = [as_u32(x) for nest in ("output", "capture")
                      for x in job.get(nest, {}).get("fd", [])]
        return 0, job

    def job_done(self, job_id: int, status: int = 0, **fields) -> int:
        payload = u64(C["DAEDALUS_A_DONE_ID"], job_id) + u32(C["DAEDALUS_A_DONE_STATUS"], status)
        for name, value in fields.items():
            kind = C["DAEDALUS_A_DONE_" + name.upper()]
            payload += u32(kind, value) if isinstance(value, int) else attr(kind, value)
        return self.cmd("JOB_DONE", payload)[0]

    def close(self):
        self.sock.close()
