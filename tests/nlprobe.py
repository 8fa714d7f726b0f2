#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Send one daemon operation of the daedalus family from this process, and report the errno.

usage: nlprobe.py attach|job-done|job-get
Prints "OP: errno N (NAME)" (0 = accepted) and exits with that errno. Used to show that a
process without CAP_NET_ADMIN, or one that is not the attached daemon, cannot act as the daemon.
Message layout: kernel/Documentation/netlink/specs/daedalus.yaml (plain stdlib sockets on purpose:
this is an independent client, not the daemon's code).
"""
import errno
import os
import re
import socket
import struct
import sys

NETLINK_GENERIC = 16
GENL_ID_CTRL = 0x10
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_ID = 1
CTRL_ATTR_FAMILY_NAME = 2
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2
# the protocol version an attach must carry, from the uapi header generated from the spec
UAPI = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                    "../kernel/include/uapi/linux/daedalus.h")
VERSION = int(re.search(r"#define DAEDALUS_VERSION\s+(\d+)", open(UAPI).read()).group(1))
# from the spec: operations attach=1, job-ready=2, job-get=3, job-done=4
OPS = {"attach": (1, [(1, VERSION)]), "job-get": (3, []), "job-done": (4, [(1, 1), (2, 0)])}


def attr(kind: int, payload: bytes) -> bytes:
    n = 4 + len(payload)
    return struct.pack("HH", n, kind) + payload + b"\0" * (-n % 4)


SEQ = [0]


def request(sock, family: int, cmd: int, attrs: bytes, version: int = 1):
    """Send one request with an ACK; return (errno, first reply payload) once its ACK arrives."""
    SEQ[0] += 1
    seq = SEQ[0]
    body = struct.pack("BBH", cmd, version, 0) + attrs
    sock.send(struct.pack("IHHII", 16 + len(body), family, NLM_F_REQUEST | NLM_F_ACK, seq, 0)
              + body)
    reply = b""
    while True:
        data = sock.recv(65536)
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


def main() -> int:
    op = sys.argv[1]
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
    sock.bind((0, 0))
    err, data = request(sock, GENL_ID_CTRL, CTRL_CMD_GETFAMILY,
                        attr(CTRL_ATTR_FAMILY_NAME, b"daedalus\0"), version=2)
    if err:
        print(f"resolve family: errno {err} ({errno.errorcode.get(err)})")
        return 2
    family = None
    pos = 20
    while pos + 4 <= len(data):
        n, kind = struct.unpack("HH", data[pos:pos + 4])
        if kind == CTRL_ATTR_FAMILY_ID:
            family = struct.unpack("H", data[pos + 4:pos + 6])[0]
        pos += (n + 3) & ~3
    cmd, values = OPS[op]
    attrs = b"".join(attr(k, struct.pack("I", v)) for k, v in values)
    err, _ = request(sock, family, cmd, attrs)
    print(f"{op}: errno {err} ({errno.errorcode.get(err, 'ok')}) as uid {os.getuid()}")
    return err


if __name__ == "__main__":
    sys.exit(main())
