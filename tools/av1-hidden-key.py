#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Make an AV1 stream's later key frames ones that are shown after they are decoded.

    av1-hidden-key.py IN.ivf OUT.ivf [SLOT]

An encoder's forward key frame (libaom's `enable-fwd-kf`) is a key frame decoded hidden
(show_frame 0, showable) into some reference slots while the others still hold the previous
pictures, and shown later by a frame header with show_existing_frame, which for a key frame
refreshes every slot (AV1 7.21: the frame loading process, then refresh_frame_flags allFrames).
No encoder in Debian writes one on request, so this rewrites a stream that has shown key frames
(each frame's header and tiles in their own OBUs: libaom's num-tile-groups=2): every key frame
after the first becomes one hidden into SLOT only (showable_frame 1, error_resilient_mode 0,
refresh_frame_flags 1<<SLOT), followed in its temporal unit by a frame header that shows it.
The frames after it were coded against all eight slots holding that key frame: a decoder that
does not refresh every slot when the key frame is shown predicts them from older pictures.
"""

import os
import sys

# the IVF container as the fuzzer reads and writes it
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from fuzz import ivf_join, ivf_units  # noqa: E402

OBU_SEQUENCE_HEADER = 1
OBU_FRAME_HEADER = 3
OBU_TILE_GROUP = 4
OBU_FRAME = 6


def leb128(data, pos):
    value = 0
    for i in range(8):
        byte = data[pos + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, pos + i + 1
    sys.exit("leb128 too long")


def leb128_bytes(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def obus(unit):
    """(type, header bytes without the size, payload) of each OBU of a temporal unit."""
    out, pos = [], 0
    while pos < len(unit):
        first = unit[pos]
        kind, ext, has_size = (first >> 3) & 15, (first >> 2) & 1, (first >> 1) & 1
        if not has_size:
            sys.exit("an OBU without a size field")
        head = unit[pos:pos + 1 + ext]
        size, pos = leb128(unit, pos + 1 + ext)
        out.append((kind, head, unit[pos:pos + size]))
        pos += size
    return out


def obu(kind, payload):
    return bytes([(kind << 3) | 2]) + leb128_bytes(len(payload)) + payload


class Bits:
    def __init__(self, data):
        self.bits = [(b >> (7 - i)) & 1 for b in data for i in range(8)]
        self.pos = 0

    def f(self, n):
        value = 0
        for _ in range(n):
            value = (value << 1) | self.bits[self.pos]
            self.pos += 1
        return value

    def uvlc(self):
        zeros = 0
        while not self.f(1):
            zeros += 1
        return self.f(zeros) + (1 << zeros) - 1 if zeros < 32 else (1 << 32) - 1


def parse_sequence(payload):
    """What a frame header's first fields depend on (AV1 5.5)."""
    b, s = Bits(payload), {}
    b.f(3)  # seq_profile
    b.f(1)  # still_picture
    if b.f(1):
        sys.exit("reduced_still_picture_header: not a video")
    s["decoder_model"] = False
    if b.f(1):  # timing_info_present_flag
        b.f(32)
        b.f(32)
        if b.f(1):
            b.uvlc()
        s["decoder_model"] = bool(b.f(1))
        if s["decoder_model"]:
            sys.exit("decoder model info: not handled")
    initial_display_delay = b.f(1)
    for _ in range(b.f(5) + 1):
        b.f(12)
        if b.f(5) > 7:
            b.f(1)
        if initial_display_delay and b.f(1):
            b.f(4)
    wbits, hbits = b.f(4) + 1, b.f(4) + 1
    b.f(wbits)
    b.f(hbits)
    if b.f(1):
        sys.exit("frame_id_numbers_present_flag: not handled")
    b.f(3)  # 128x128, filter intra, intra edge
    b.f(4)  # interintra, masked, warped, dual filter
    order_hint = b.f(1)
    if order_hint:
        b.f(2)
    s["force_sct"] = 2 if b.f(1) else b.f(1)
    s["force_int_mv"] = 2
    if s["force_sct"] > 0:
        s["force_int_mv"] = 2 if b.f(1) else b.f(1)
    s["order_hint_bits"] = b.f(3) + 1 if order_hint else 0
    return s


def hidden_key(payload, seq, slot):
    """The frame header OBU payload of a shown key frame, as one hidden into `slot` only."""
    b = Bits(payload)
    end = max(i for i, bit in enumerate(b.bits) if bit)  # trailing_one_bit
    if b.f(1) or b.f(2) != 0 or b.f(1) != 1:
        sys.exit("SECOND's first frame header is not a shown key frame")
    out = b.bits[:3] + [0, 1, 0]  # show_frame 0, showable_frame 1, error_resilient_mode 0
    b.f(1)  # disable_cdf_update
    sct = b.f(1) if seq["force_sct"] == 2 else seq["force_sct"]
    if sct and seq["force_int_mv"] == 2:
        b.f(1)
    b.f(1)  # frame_size_override_flag
    b.f(seq["order_hint_bits"])
    # primary_ref_frame: none for intra frames; no decoder model: refresh_frame_flags next
    out += b.bits[4:b.pos] + [(1 << slot) >> (7 - i) & 1 for i in range(8)]
    out += b.bits[b.pos:end] + [1]
    out += [0] * (-len(out) % 8)
    return bytes(int("".join(map(str, out[i:i + 8])), 2) for i in range(0, len(out), 8))


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    slot = int(sys.argv[3]) if len(sys.argv) == 4 else 7
    with open(sys.argv[1], "rb") as f:
        header, units = ivf_units(f.read())
    seq, out, rewritten = None, [], 0
    for n, (pts, unit) in enumerate(units):
        parsed = obus(unit)
        for kind, _head, payload in parsed:
            if kind == OBU_SEQUENCE_HEADER:
                seq = parse_sequence(payload)
            if kind == OBU_FRAME and n > 0 and payload[0] >> 4 == 1:  # shown key frame
                sys.exit("a key frame in one OBU_FRAME: encode with num-tile-groups=2")
        key = [p for k, _, p in parsed if k == OBU_FRAME_HEADER and p[0] >> 4 == 1]
        if n == 0 or not key:
            out.append((pts, unit))
            continue
        new = bytearray()
        for kind, _head, payload in parsed:
            if kind == OBU_FRAME_HEADER:
                payload = hidden_key(payload, seq, slot)
            new += obu(kind, payload)
        # show_existing_frame 1, frame_to_show_map_idx, trailing bits
        new += obu(OBU_FRAME_HEADER, bytes([0x80 | slot << 4 | 0x08]))
        out.append((pts, new))
        rewritten += 1
    if not rewritten:
        sys.exit("no key frame after the first")
    with open(sys.argv[2], "wb") as f:
        f.write(ivf_join(header, out))
    print(f"{sys.argv[2]}: {rewritten} key frames shown after they are decoded")


if __name__ == "__main__":
    main()
