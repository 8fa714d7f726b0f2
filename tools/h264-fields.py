#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Write an H.264 stream of field pictures (PAFF), with frame pictures between them.

    h264-fields.py WIDTHxHEIGHT IN.yuv OUT.h264

Broadcast TV codes most interlaced frames as two field pictures (field_pic_flag 1), each
predicted from earlier fields, and switches to frame pictures where that codes better (picture
adaptive frame/field). x264 writes MBAFF only and no other encoder in Debian writes field
pictures, so this writes them, as simply as the syntax allows (Main profile, CAVLC): every
macroblock is either I_PCM (its samples, raw) or P_Skip (a copy of the co-located macroblock of
the first reference: motion vectors are zero when every neighbour is intra, skipped or absent).
IN.yuv holds raw yuv420p frames of the given size (height a multiple of 32). Frame 0 is an IDR
top field of PCM macroblocks and a P bottom field predicted from it; then pairs of P fields,
the bottom field first in every third frame, and a P frame picture in every fourth; each P
picture codes a band of macroblock columns that moves, the rest is skipped. One slice per
picture, every picture a reference (sliding window of two frames). The decoder that checks it
is FFmpeg's own.
"""

import sys


class Bits:
    def __init__(self):
        self.bits = []

    def u(self, n, v):
        self.bits += [(v >> (n - 1 - i)) & 1 for i in range(n)]

    def ue(self, v):
        n = (v + 1).bit_length()
        self.u(n - 1, 0)
        self.u(n, v + 1)

    def se(self, v):
        self.ue(2 * v - 1 if v > 0 else -2 * v)

    def align(self):
        self.u(-len(self.bits) % 8, 0)

    def bytes(self, data):
        assert len(self.bits) % 8 == 0
        for b in data:
            self.u(8, b)

    def trailing(self):
        self.u(1, 1)
        self.align()
        return bytes(int("".join(map(str, self.bits[i:i + 8])), 2)
                     for i in range(0, len(self.bits), 8))


def nal(ref_idc, kind, rbsp):
    out, zeros = bytearray(), 0
    for b in rbsp:
        if zeros >= 2 and b <= 3:  # emulation prevention
            out.append(3)
            zeros = 0
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return b"\0\0\0\1" + bytes([ref_idc << 5 | kind]) + bytes(out)


def sps(mb_w, map_h):
    b = Bits()
    b.u(8, 77)  # profile_idc: Main
    b.u(8, 0)  # constraint flags
    b.u(8, 30)  # level_idc: 3.0 (interlace allowed)
    b.ue(0)  # seq_parameter_set_id
    b.ue(0)  # log2_max_frame_num_minus4
    b.ue(0)  # pic_order_cnt_type
    b.ue(4)  # log2_max_pic_order_cnt_lsb_minus4
    b.ue(2)  # max_num_ref_frames
    b.u(1, 0)  # gaps_in_frame_num_value_allowed_flag
    b.ue(mb_w - 1)
    b.ue(map_h - 1)  # pic_height_in_map_units_minus1 (map units: pairs of MB rows)
    b.u(1, 0)  # frame_mbs_only_flag
    b.u(1, 0)  # mb_adaptive_frame_field_flag
    b.u(1, 1)  # direct_8x8_inference_flag
    b.u(1, 0)  # frame_cropping_flag
    b.u(1, 0)  # vui_parameters_present_flag
    return nal(3, 7, b.trailing())


def pps():
    b = Bits()
    b.ue(0)  # pic_parameter_set_id
    b.ue(0)  # seq_parameter_set_id
    b.u(1, 0)  # entropy_coding_mode_flag: CAVLC
    b.u(1, 0)  # bottom_field_pic_order_in_frame_present_flag
    b.ue(0)  # num_slice_groups_minus1
    b.ue(0)  # num_ref_idx_l0_default_active_minus1
    b.ue(0)  # num_ref_idx_l1_default_active_minus1
    b.u(1, 0)  # weighted_pred_flag
    b.u(2, 0)  # weighted_bipred_idc
    b.se(0)  # pic_init_qp_minus26
    b.se(0)  # pic_init_qs_minus26
    b.se(0)  # chroma_qp_index_offset
    b.u(1, 1)  # deblocking_filter_control_present_flag
    b.u(1, 0)  # constrained_intra_pred_flag
    b.u(1, 0)  # redundant_pic_cnt_present_flag
    return nal(3, 8, b.trailing())


def picture(planes, size, frame_num, poc_lsb, structure, coded):
    """One picture's slice NAL unit. structure: "frame", "top" or "bottom"; coded(mb_x, mb_y):
    whether a macroblock is I_PCM (else P_Skip; None for an IDR picture: all I_PCM)."""
    width, height = size
    idr = coded is None
    field = structure != "frame"
    b = Bits()
    b.ue(0)  # first_mb_in_slice
    b.ue(2 if idr else 0)  # slice_type: I or P
    b.ue(0)  # pic_parameter_set_id
    b.u(4, frame_num)
    b.u(1, field)  # field_pic_flag
    if field:
        b.u(1, structure == "bottom")  # bottom_field_flag
    if idr:
        b.ue(0)  # idr_pic_id
    b.u(8, poc_lsb)
    if not idr:
        b.u(1, 1)  # num_ref_idx_active_override_flag
        b.ue(0)  # num_ref_idx_l0_active_minus1
        b.u(1, 0)  # ref_pic_list_modification_flag_l0
    if idr:
        b.u(1, 0)  # no_output_of_prior_pics_flag
        b.u(1, 0)  # long_term_reference_flag
    else:
        b.u(1, 0)  # adaptive_ref_pic_marking_mode_flag: sliding window
    b.se(0)  # slice_qp_delta
    b.ue(1)  # disable_deblocking_filter_idc: off
    # the picture's rows of each plane: every row of a frame, or every other of a field
    first, step = {"frame": (0, 1), "top": (0, 2), "bottom": (1, 2)}[structure]

    def block(plane, pw, x, y, n):
        rows = []
        for r in range(n):
            row = first + step * (y * n + r)
            rows.append(plane[row * pw + x * n:row * pw + x * n + n])
        return b"".join(rows)

    mb_w, mb_h = width // 16, height // 16 // (2 if field else 1)
    skip = 0
    for mb_y in range(mb_h):
        for mb_x in range(mb_w):
            if not idr and not coded(mb_x, mb_y):
                skip += 1
                continue
            if not idr:
                b.ue(skip)  # mb_skip_run
                skip = 0
            b.ue(25 if idr else 30)  # mb_type: I_PCM
            b.align()  # pcm_alignment_zero_bit
            y, cb, cr = planes
            b.bytes(block(y, width, mb_x, mb_y, 16))
            b.bytes(block(cb, width // 2, mb_x, mb_y, 8))
            b.bytes(block(cr, width // 2, mb_x, mb_y, 8))
    if skip:
        b.ue(skip)
    return nal(2, 5 if idr else 1, b.trailing())


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    width, height = map(int, sys.argv[1].split("x"))
    if width % 16 or height % 32:
        sys.exit("width a multiple of 16, height of 32")
    with open(sys.argv[2], "rb") as f:
        raw = f.read()
    luma, chroma = width * height, width * height // 4
    frames = len(raw) // (luma + 2 * chroma)
    out = [sps(width // 16, height // 32), pps()]
    counts = {"frame": 0, "field": 0}
    for n in range(frames):
        at = n * (luma + 2 * chroma)
        # PCM samples of 0 were reserved in the first edition of H.264: keep them 1 or more
        data = bytes(max(v, 1) for v in raw[at:at + luma + 2 * chroma])
        planes = (data[:luma], data[luma:luma + chroma], data[luma + chroma:])
        frame_num, poc = n % 16, (4 * n) % 256

        def band(mb_x, _mb_y, n=n):
            return (mb_x - 3 * n) % (width // 16) < 4

        if n == 0:
            out.append(picture(planes, (width, height), 0, 0, "top", None))
            out.append(picture(planes, (width, height), 0, 1, "bottom", band))
            counts["field"] += 2
        elif n % 4 == 2:
            out.append(picture(planes, (width, height), frame_num, poc, "frame", band))
            counts["frame"] += 1
        else:
            order = ("bottom", "top") if n % 3 == 0 else ("top", "bottom")
            for structure in order:
                out.append(picture(planes, (width, height), frame_num,
                                   poc + (structure == "bottom"), structure, band))
            counts["field"] += 2
    with open(sys.argv[3], "wb") as f:
        f.write(b"".join(out))
    print(f"{sys.argv[3]}: {frames} frames, {counts['field']} field pictures, "
          f"{counts['frame']} frame pictures")


if __name__ == "__main__":
    main()
