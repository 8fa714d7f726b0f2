#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A seeded mutation fuzzer for coded video: write COUNT damaged copies of a clip.

The clip is cut into its units -- the frames of an IVF file (VP9, AV1), the NAL units of an
H.264 Annex B stream -- and each copy gets a few mutations, each on a unit picked at random:
bits flipped, a unit truncated, duplicated, dropped, swapped with its neighbour, or a run of
bytes zeroed. Containers stay well-formed (IVF frame sizes are rewritten, start codes kept), so
the damage reaches the client's parser and then our device, not a container error. The same
clip, seed and index always give the same bytes, so a failure can be replayed:

usage: fuzz.py CLIP OUTDIR COUNT [SEED]   -> OUTDIR/<clip stem>.<i>.<ext>, one line per copy
"""
import os
import random
import re
import struct
import sys


def ivf_units(data):
    header, units, pos = data[:32], [], 32
    while pos + 12 <= len(data):
        size = struct.unpack("<I", data[pos:pos + 4])[0]
        units.append((data[pos + 4:pos + 12], bytearray(data[pos + 12:pos + 12 + size])))
        pos += 12 + size
    return header, units


def ivf_join(header, units):
    out = bytearray(header)
    for pts, frame in units:
        out += struct.pack("<I", len(frame)) + pts + frame
    return bytes(out)


def annexb_units(data):
    # each unit keeps its own start code, so a truncated unit still starts one
    starts = [m.start() for m in re.finditer(b"\x00\x00\x01", data)]
    starts = [s - 1 if s and data[s - 1] == 0 else s for s in starts]
    bounds = starts + [len(data)]
    return b"", [(b"", bytearray(data[a:b])) for a, b in zip(bounds, bounds[1:])]


def annexb_join(_header, units):
    return b"".join(bytes(u) for _, u in units)


def mutate(units, rng):
    """Apply 1 + len/15 mutations; return what was done, for the log line."""
    done = []
    # the payload of a unit starts after the IVF frame's first bytes or the start code + NAL
    # header; damage there too now and then (a unit that no longer parses at all)
    for _ in range(1 + len(units) // 15):
        if not units:
            break
        i = rng.randrange(len(units))
        pts, unit = units[i]
        op = rng.choice(["flip", "flip", "truncate", "duplicate", "drop", "swap", "zero"])
        if op == "flip" and unit:
            for _ in range(rng.randint(1, 8)):
                bit = rng.randrange(len(unit) * 8)
                unit[bit // 8] ^= 1 << (bit % 8)
        elif op == "truncate" and len(unit) > 1:
            del unit[rng.randint(1, len(unit) - 1):]
        elif op == "duplicate":
            units.insert(i + 1, (pts, bytearray(unit)))
        elif op == "drop" and len(units) > 1:
            del units[i]
        elif op == "swap" and i + 1 < len(units):
            units[i], units[i + 1] = units[i + 1], units[i]
        elif op == "zero" and unit:
            at = rng.randrange(len(unit))
            n = rng.randint(1, 64)
            unit[at:at + n] = bytes(len(unit[at:at + n]))
        else:
            continue
        done.append(f"{op}@{i}")
    return done


def main():
    clip, outdir, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    seed = sys.argv[4] if len(sys.argv) > 4 else "daedalus"
    data = open(clip, "rb").read()
    stem, ext = os.path.splitext(os.path.basename(clip))
    split, join = (ivf_units, ivf_join) if data[:4] == b"DKIF" else (annexb_units, annexb_join)
    os.makedirs(outdir, exist_ok=True)
    for n in range(count):
        rng = random.Random(f"{seed}:{stem}:{n}")
        header, units = split(data)
        done = mutate(units, rng)
        out = os.path.join(outdir, f"{stem}.{n}{ext}")
        with open(out, "wb") as f:
            f.write(join(header, units))
        print(f"{out}: {len(units)} units, {' '.join(done)}")


if __name__ == "__main__":
    main()
