#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Field pictures (PAFF) are refused where the client sees it: the stateless node's H.264
decode parameters control with V4L2_H264_DECODE_PARAM_FLAG_FIELD_PIC is EINVAL (x264 writes
no field pictures, so no clip has them), and the same control for a frame picture is taken.

usage: paff.py STATELESS_NODE
"""
import errno
import os
import struct
import sys

import v4l2uapi as v

CID_H264_DECODE_PARAMS = v.CID_STATELESS_BASE + 7
DECODE_PARAMS_SIZE = 560  # struct v4l2_ctrl_h264_decode_params
FLAGS_OFFSET = 556
FLAG_FIELD_PIC = 0x02
FLAG_BOTTOM_FIELD = 0x04


def decode_params(flags):
    data = bytearray(DECODE_PARAMS_SIZE)
    struct.pack_into("<I", data, FLAGS_OFFSET, flags)
    return bytes(data)


def main():
    fd = os.open(sys.argv[1], os.O_RDWR)
    v.set_output(fd, "S264")
    ok = True
    for name, flags, want in (("frame picture", 0, 0),
                              ("top field", FLAG_FIELD_PIC, errno.EINVAL),
                              ("bottom field", FLAG_FIELD_PIC | FLAG_BOTTOM_FIELD, errno.EINVAL)):
        try:
            v.try_compound_ctrl(fd, CID_H264_DECODE_PARAMS, decode_params(flags))
            got = 0
        except OSError as e:
            got = e.errno
        print(f"decode parameters of a {name}: {errno.errorcode.get(got, 'taken')}")
        ok &= got == want
    os.close(fd)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
