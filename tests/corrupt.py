#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Copy an IVF VP9 file, truncating every EVERY-th frame (after the first) to its first KEEP
bytes: the uncompressed header still parses, so a client's parser passes the frame on, but the
compressed header and tiles are gone -- garbage that only the decoder can refuse. Superframes
(hidden frame + shown frame) are left alone so that the client's superframe split still works.

usage: corrupt.py IN.ivf OUT.ivf [EVERY] [KEEP]
"""
import struct
import sys

src, dst = sys.argv[1], sys.argv[2]
every = int(sys.argv[3]) if len(sys.argv) > 3 else 3
keep = int(sys.argv[4]) if len(sys.argv) > 4 else 12
data = open(src, "rb").read()
out = bytearray(data[:32])
pos, index, cut = 32, 0, 0
while pos + 12 <= len(data):
    size = struct.unpack("<I", data[pos:pos + 4])[0]
    header, frame = data[pos + 4:pos + 12], data[pos + 12:pos + 12 + size]
    superframe = (frame[-1] & 0xE0) == 0xC0
    if index and index % every == 0 and not superframe and size > keep:
        frame = frame[:keep]
        cut += 1
    out += struct.pack("<I", len(frame)) + header + frame
    pos += 12 + size
    index += 1
open(dst, "wb").write(out)
print(f"corrupt.py: truncated {cut} of {index} frames to {keep} bytes")
