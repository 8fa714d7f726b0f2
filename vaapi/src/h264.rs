// SPDX-License-Identifier: GPL-2.0
//! H.264: libva's picture, matrix and slice parameters as the stateless node's SPS, PPS,
//! scaling-matrix and decode-parameter controls; the slices (NAL units as the client found them
//! in the stream) behind Annex B start codes in one OUTPUT buffer (frame-based decoding).
//!
//! libva leaves out a few syntax elements the controls carry. They are read from the slice
//! headers (`pic_parameter_set_id`, `idr_pic_id`, `pic_order_cnt_lsb`, whether a slice
//! overrides the PPS's reference counts), or are ones no decode depends on (level,
//! constraint flags). Streams with `pic_order_cnt_type` 1, whose cycle offsets libva does not
//! pass at all, are refused.

use std::collections::HashMap;

use crate::{
    codec::{Built, Ctrls, H264Ctrls},
    driver::{err, RenderBuf, VaResult},
    ffi::{read, sys::*, Bits},
};

pub struct Params {
    profile: VAProfile,
    pic: Option<VAPictureParameterBufferH264>,
    matrix: Option<VAIQMatrixBufferH264>,
    /// Each slice's parameters, and where its NAL unit is in `bitstream`.
    slices: Vec<(VASliceParameterBufferH264, std::ops::Range<usize>)>,
    /// The OUTPUT buffer's bytes: the slices behind Annex B start codes.
    bitstream: Vec<u8>,
}

/// What the start of a slice header says (7.3.3).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct SliceHeader {
    nal_ref_idc: u8,
    nal_unit_type: u8,
    slice_type: u32,
    pps_id: u32,
    idr_pic_id: u32,
    pic_order_cnt_lsb: u32,
    delta_pic_order_cnt_bottom: i32,
    /// num_ref_idx_active_override_flag
    overrides: bool,
}

/// Reads the RBSP of a NAL unit (emulation prevention bytes removed on the way).
struct Rbsp<'a> {
    data: &'a [u8],
    pos: usize,
    zeros: usize,
    byte: u8,
    bits_left: u8,
}

impl<'a> Rbsp<'a> {
    fn new(data: &'a [u8]) -> Self {
        Rbsp {
            data,
            pos: 0,
            zeros: 0,
            byte: 0,
            bits_left: 0,
        }
    }

    fn bit(&mut self) -> Option<u32> {
        if self.bits_left == 0 {
            let mut b = *self.data.get(self.pos)?;
            self.pos += 1;
            if self.zeros >= 2 && b == 3 {
                b = *self.data.get(self.pos)?;
                self.pos += 1;
                self.zeros = 0;
            }
            self.zeros = if b == 0 { self.zeros + 1 } else { 0 };
            self.byte = b;
            self.bits_left = 8;
        }
        self.bits_left -= 1;
        Some(u32::from(self.byte >> self.bits_left) & 1)
    }

    fn u(&mut self, n: u32) -> Option<u32> {
        (0..n).try_fold(0, |acc, _| Some((acc << 1) | self.bit()?))
    }

    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        Some(((1u64 << zeros) - 1 + u64::from(self.u(zeros)?)) as u32)
    }

    fn se(&mut self) -> Option<i32> {
        let k = self.ue()?;
        Some(if k & 1 == 1 {
            k.div_ceil(2) as i32
        } else {
            -((k / 2) as i32)
        })
    }
}

impl SliceHeader {
    /// Parse as far as the reference count override, with the picture's parameters.
    fn parse(nal: &[u8], pic: &VAPictureParameterBufferH264) -> Option<SliceHeader> {
        let (&first, rest) = nal.split_first()?;
        let seq = pic.seq_fields.bits();
        let fields = pic.pic_fields.bits();
        let mut h = SliceHeader {
            nal_ref_idc: (first >> 5) & 3,
            nal_unit_type: first & 0x1f,
            ..Default::default()
        };
        if !matches!(h.nal_unit_type, 1 | 5) {
            return None;
        }
        let mut r = Rbsp::new(rest);
        r.ue()?; // first_mb_in_slice
        h.slice_type = r.ue()? % 5;
        h.pps_id = r.ue()?;
        if seq.residual_colour_transform_flag() != 0 {
            r.u(2)?; // colour_plane_id
        }
        r.u(seq.log2_max_frame_num_minus4() + 4)?; // frame_num
        let mut field_pic = false;
        if seq.frame_mbs_only_flag() == 0 {
            field_pic = r.u(1)? == 1;
            if field_pic {
                r.u(1)?; // bottom_field_flag
            }
        }
        if h.nal_unit_type == 5 {
            h.idr_pic_id = r.ue()?;
        }
        match seq.pic_order_cnt_type() {
            0 => {
                h.pic_order_cnt_lsb = r.u(seq.log2_max_pic_order_cnt_lsb_minus4() + 4)?;
                if fields.pic_order_present_flag() != 0 && !field_pic {
                    h.delta_pic_order_cnt_bottom = r.se()?;
                }
            }
            1 => return None,
            _ => {}
        }
        if fields.redundant_pic_cnt_present_flag() != 0 {
            r.ue()?;
        }
        if h.slice_type == 1 {
            r.u(1)?; // direct_spatial_mv_pred_flag
        }
        if matches!(h.slice_type, 0 | 1 | 3) {
            h.overrides = r.u(1)? == 1;
        }
        Some(h)
    }
}

/// `V4L2_CID_STATELESS_H264_SCALING_MATRIX` from libva's (both in raster order; libva has
/// the two 8x8 lists of 4:2:0, Intra Y and Inter Y, which are the first two of V4L2's six).
fn matrix(m: &VAIQMatrixBufferH264) -> v4l2_ctrl_h264_scaling_matrix {
    let mut out = v4l2_ctrl_h264_scaling_matrix {
        scaling_list_4x4: m.ScalingList4x4,
        ..Default::default()
    };
    for i in 0..6 {
        out.scaling_list_8x8[i] = m.ScalingList8x8[i % 2];
    }
    out
}

fn is_flat(m: &VAIQMatrixBufferH264) -> bool {
    m.ScalingList4x4.iter().flatten().all(|&v| v == 16)
        && m.ScalingList8x8.iter().flatten().all(|&v| v == 16)
}

impl Params {
    pub fn new(profile: VAProfile) -> Params {
        Params {
            profile,
            pic: None,
            matrix: None,
            slices: Vec::new(),
            bitstream: Vec::new(),
        }
    }

    fn push_slice(&mut self, p: VASliceParameterBufferH264, nal: &[u8]) {
        self.bitstream.extend_from_slice(&[0, 0, 1]);
        let start = self.bitstream.len();
        self.bitstream.extend_from_slice(nal);
        self.slices.push((p, start..self.bitstream.len()));
    }

    pub fn add(&mut self, buf: &RenderBuf) -> VaResult<()> {
        match buf.kind {
            VAPictureParameterBufferType => {
                self.pic = read(buf.data, buf.elem_size, 0);
                if self.pic.is_none() {
                    return err(
                        VA_STATUS_ERROR_INVALID_BUFFER,
                        "short H.264 picture parameters",
                    );
                }
            }
            VAIQMatrixBufferType => {
                self.matrix = read(buf.data, buf.elem_size, 0);
                if self.matrix.is_none() {
                    return err(VA_STATUS_ERROR_INVALID_BUFFER, "short H.264 matrix");
                }
            }
            // probability, Huffman and other tables of other codecs: nothing of H.264's
            k => {
                return err(
                    VA_STATUS_ERROR_UNSUPPORTED_BUFFERTYPE,
                    format!("buffer type {k} in an H.264 picture"),
                )
            }
        }
        Ok(())
    }

    pub fn slices(&mut self, params: &RenderBuf, data: &[u8]) -> VaResult<()> {
        for i in 0..params.count {
            let Some(p) = read::<VASliceParameterBufferH264>(params.data, params.elem_size, i)
            else {
                return err(
                    VA_STATUS_ERROR_INVALID_BUFFER,
                    "short H.264 slice parameters",
                );
            };
            let start = p.slice_data_offset as usize;
            let Some(bytes) = start
                .checked_add(p.slice_data_size as usize)
                .and_then(|end| data.get(start..end))
            else {
                return err(
                    VA_STATUS_ERROR_INVALID_BUFFER,
                    "H.264 slice outside its data buffer",
                );
            };
            self.push_slice(p, bytes);
        }
        Ok(())
    }

    pub fn build(self, timestamps: &HashMap<VASurfaceID, u64>) -> VaResult<Built> {
        let Some(pic) = self.pic else {
            return err(
                VA_STATUS_ERROR_INVALID_PARAMETER,
                "H.264 picture without picture parameters",
            );
        };
        if self.slices.is_empty() {
            return err(
                VA_STATUS_ERROR_INVALID_PARAMETER,
                "H.264 picture without slices",
            );
        }
        let seq = pic.seq_fields.bits();
        let fields = pic.pic_fields.bits();
        if seq.pic_order_cnt_type() == 1 {
            return err(
                VA_STATUS_ERROR_UNSUPPORTED_PROFILE,
                "H.264 pic_order_cnt_type 1: libva does not pass its offsets",
            );
        }
        let mut headers = Vec::with_capacity(self.slices.len());
        for (_, nal) in &self.slices {
            match SliceHeader::parse(&self.bitstream[nal.clone()], &pic) {
                Some(h) => headers.push(h),
                None => {
                    return err(
                        VA_STATUS_ERROR_DECODING_ERROR,
                        "H.264 slice header unreadable",
                    )
                }
            }
        }
        let first = headers[0];
        // the PPS defaults: the counts of a slice that does not override them
        let mut l0 = 0;
        let mut l1 = 0;
        for ((p, _), h) in self.slices.iter().zip(&headers) {
            if !h.overrides && matches!(h.slice_type, 0 | 1 | 3) {
                l0 = p.num_ref_idx_l0_active_minus1;
                if h.slice_type == 1 {
                    l1 = p.num_ref_idx_l1_active_minus1;
                }
            }
        }

        let (profile_idc, constraints) = match self.profile {
            VAProfileH264ConstrainedBaseline => (66, 0x02),
            VAProfileH264Main => (77, 0),
            _ => (100, 0),
        };
        let frame_mbs_only = seq.frame_mbs_only_flag() != 0;
        let mut sps_flags = 0;
        for (on, flag) in [
            (
                seq.residual_colour_transform_flag(),
                V4L2_H264_SPS_FLAG_SEPARATE_COLOUR_PLANE,
            ),
            (
                seq.delta_pic_order_always_zero_flag(),
                V4L2_H264_SPS_FLAG_DELTA_PIC_ORDER_ALWAYS_ZERO,
            ),
            (
                seq.gaps_in_frame_num_value_allowed_flag(),
                V4L2_H264_SPS_FLAG_GAPS_IN_FRAME_NUM_VALUE_ALLOWED,
            ),
            (seq.frame_mbs_only_flag(), V4L2_H264_SPS_FLAG_FRAME_MBS_ONLY),
            (
                seq.mb_adaptive_frame_field_flag(),
                V4L2_H264_SPS_FLAG_MB_ADAPTIVE_FRAME_FIELD,
            ),
            (
                seq.direct_8x8_inference_flag(),
                V4L2_H264_SPS_FLAG_DIRECT_8X8_INFERENCE,
            ),
        ] {
            if on != 0 {
                sps_flags |= flag;
            }
        }
        let sps = v4l2_ctrl_h264_sps {
            profile_idc,
            constraint_set_flags: constraints,
            level_idc: 51,
            seq_parameter_set_id: 0,
            chroma_format_idc: seq.chroma_format_idc() as u8,
            bit_depth_luma_minus8: pic.bit_depth_luma_minus8,
            bit_depth_chroma_minus8: pic.bit_depth_chroma_minus8,
            log2_max_frame_num_minus4: seq.log2_max_frame_num_minus4() as u8,
            pic_order_cnt_type: seq.pic_order_cnt_type() as u8,
            log2_max_pic_order_cnt_lsb_minus4: seq.log2_max_pic_order_cnt_lsb_minus4() as u8,
            max_num_ref_frames: pic.num_ref_frames,
            pic_width_in_mbs_minus1: pic.picture_width_in_mbs_minus1,
            pic_height_in_map_units_minus1: (pic.picture_height_in_mbs_minus1 + 1)
                / if frame_mbs_only { 1 } else { 2 }
                - 1,
            flags: sps_flags,
            ..Default::default()
        };

        let matrix = self.matrix.filter(|m| !is_flat(m)).map(|m| matrix(&m));
        let mut pps_flags = 0;
        for (on, flag) in [
            (
                fields.entropy_coding_mode_flag(),
                V4L2_H264_PPS_FLAG_ENTROPY_CODING_MODE,
            ),
            (
                fields.pic_order_present_flag(),
                V4L2_H264_PPS_FLAG_BOTTOM_FIELD_PIC_ORDER_IN_FRAME_PRESENT,
            ),
            (
                fields.weighted_pred_flag(),
                V4L2_H264_PPS_FLAG_WEIGHTED_PRED,
            ),
            (
                fields.deblocking_filter_control_present_flag(),
                V4L2_H264_PPS_FLAG_DEBLOCKING_FILTER_CONTROL_PRESENT,
            ),
            (
                fields.constrained_intra_pred_flag(),
                V4L2_H264_PPS_FLAG_CONSTRAINED_INTRA_PRED,
            ),
            (
                fields.redundant_pic_cnt_present_flag(),
                V4L2_H264_PPS_FLAG_REDUNDANT_PIC_CNT_PRESENT,
            ),
            (
                fields.transform_8x8_mode_flag(),
                V4L2_H264_PPS_FLAG_TRANSFORM_8X8_MODE,
            ),
            (
                matrix.is_some() as u32,
                V4L2_H264_PPS_FLAG_SCALING_MATRIX_PRESENT,
            ),
        ] {
            if on != 0 {
                pps_flags |= flag;
            }
        }
        let Ok(pps_id) = u8::try_from(first.pps_id) else {
            return err(
                VA_STATUS_ERROR_DECODING_ERROR,
                format!("H.264 PPS id {}", first.pps_id),
            );
        };
        let pps = v4l2_ctrl_h264_pps {
            pic_parameter_set_id: pps_id,
            seq_parameter_set_id: 0,
            num_slice_groups_minus1: pic.num_slice_groups_minus1,
            num_ref_idx_l0_default_active_minus1: l0,
            num_ref_idx_l1_default_active_minus1: l1,
            weighted_bipred_idc: fields.weighted_bipred_idc() as u8,
            pic_init_qp_minus26: pic.pic_init_qp_minus26,
            pic_init_qs_minus26: pic.pic_init_qs_minus26,
            chroma_qp_index_offset: pic.chroma_qp_index_offset,
            second_chroma_qp_index_offset: pic.second_chroma_qp_index_offset,
            flags: pps_flags as u16,
        };

        let mut decode = v4l2_ctrl_h264_decode_params {
            nal_ref_idc: u16::from(first.nal_ref_idc),
            frame_num: pic.frame_num,
            top_field_order_cnt: pic.CurrPic.TopFieldOrderCnt,
            bottom_field_order_cnt: pic.CurrPic.BottomFieldOrderCnt,
            idr_pic_id: first.idr_pic_id as u16,
            pic_order_cnt_lsb: first.pic_order_cnt_lsb as u16,
            delta_pic_order_cnt_bottom: first.delta_pic_order_cnt_bottom,
            ..Default::default()
        };
        if first.nal_unit_type == 5 {
            decode.flags |= V4L2_H264_DECODE_PARAM_FLAG_IDR_PIC;
        }
        if fields.field_pic_flag() != 0 {
            decode.flags |= V4L2_H264_DECODE_PARAM_FLAG_FIELD_PIC;
            if pic.CurrPic.flags & VA_PICTURE_H264_BOTTOM_FIELD != 0 {
                decode.flags |= V4L2_H264_DECODE_PARAM_FLAG_BOTTOM_FIELD;
            }
        }
        for h in &headers {
            decode.flags |= match h.slice_type {
                0 | 3 => V4L2_H264_DECODE_PARAM_FLAG_PFRAME,
                1 => V4L2_H264_DECODE_PARAM_FLAG_BFRAME,
                _ => 0,
            };
        }
        let refs = pic.ReferenceFrames.iter().filter(|r| {
            r.flags & VA_PICTURE_H264_INVALID == 0 && r.picture_id != VA_INVALID_SURFACE
        });
        for (entry, r) in decode.dpb.iter_mut().zip(refs) {
            let Some(&ts) = timestamps.get(&r.picture_id) else {
                continue;
            };
            let long = r.flags & VA_PICTURE_H264_LONG_TERM_REFERENCE != 0;
            let parity = r.flags & (VA_PICTURE_H264_TOP_FIELD | VA_PICTURE_H264_BOTTOM_FIELD);
            *entry = v4l2_h264_dpb_entry {
                reference_ts: ts,
                pic_num: r.frame_idx,
                frame_num: r.frame_idx as u16,
                fields: match parity {
                    VA_PICTURE_H264_TOP_FIELD => V4L2_H264_TOP_FIELD_REF,
                    VA_PICTURE_H264_BOTTOM_FIELD => V4L2_H264_BOTTOM_FIELD_REF,
                    _ => V4L2_H264_FRAME_REF,
                } as u8,
                top_field_order_cnt: r.TopFieldOrderCnt,
                bottom_field_order_cnt: r.BottomFieldOrderCnt,
                flags: V4L2_H264_DPB_ENTRY_FLAG_VALID
                    | V4L2_H264_DPB_ENTRY_FLAG_ACTIVE
                    | if long {
                        V4L2_H264_DPB_ENTRY_FLAG_LONG_TERM
                    } else {
                        0
                    },
                ..Default::default()
            };
        }

        Ok(Built {
            bitstream: self.bitstream,
            ctrls: Ctrls::H264(Box::new(H264Ctrls {
                sps,
                pps,
                matrix,
                decode,
            })),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes of a bit string ("1 010 ..."; spaces ignored), padded with a stop bit and zeros.
    fn bits(s: &str) -> Vec<u8> {
        let mut v: Vec<u8> = s
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| (c == '1') as u8)
            .collect();
        v.push(1);
        while v.len() % 8 != 0 {
            v.push(0);
        }
        v.chunks(8)
            .map(|c| c.iter().fold(0, |a, b| (a << 1) | b))
            .collect()
    }

    /// A 4:2:0 frame picture: log2_max_frame_num 4, POC type 0 with 6-bit lsb.
    fn picture() -> VAPictureParameterBufferH264 {
        let mut seq = _VAPictureParameterBufferH264__bindgen_ty_1__bindgen_ty_1::default();
        seq.set_chroma_format_idc(1);
        seq.set_frame_mbs_only_flag(1);
        seq.set_direct_8x8_inference_flag(1);
        seq.set_log2_max_frame_num_minus4(0);
        seq.set_pic_order_cnt_type(0);
        seq.set_log2_max_pic_order_cnt_lsb_minus4(2);
        let mut fields = _VAPictureParameterBufferH264__bindgen_ty_2__bindgen_ty_1::default();
        fields.set_entropy_coding_mode_flag(1);
        fields.set_transform_8x8_mode_flag(1);
        VAPictureParameterBufferH264 {
            picture_width_in_mbs_minus1: 19,
            picture_height_in_mbs_minus1: 14,
            num_ref_frames: 3,
            seq_fields: _VAPictureParameterBufferH264__bindgen_ty_1 { bits: seq },
            pic_fields: _VAPictureParameterBufferH264__bindgen_ty_2 { bits: fields },
            frame_num: 3,
            ..Default::default()
        }
    }

    /// An IDR I slice of PPS 1 (idr_pic_id 2, POC lsb 6), a P slice that overrides its
    /// reference count, and one that does not.
    fn slices() -> [Vec<u8>; 3] {
        let mut idr = vec![0x65];
        idr.extend(bits("1 0001000 010 0000 011 000110"));
        let mut p1 = vec![0x41];
        p1.extend(bits("1 00110 010 0011 000100 1 010"));
        let mut p2 = vec![0x41];
        p2.extend(bits("00101 00110 010 0011 000100 0"));
        [idr, p1, p2]
    }

    #[test]
    fn slice_headers_say_what_libva_leaves_out() {
        let pic = picture();
        let [idr, p1, p2] = slices();
        let h = SliceHeader::parse(&idr, &pic).unwrap();
        assert_eq!(
            h,
            SliceHeader {
                nal_ref_idc: 3,
                nal_unit_type: 5,
                slice_type: 2,
                pps_id: 1,
                idr_pic_id: 2,
                pic_order_cnt_lsb: 6,
                delta_pic_order_cnt_bottom: 0,
                overrides: false,
            }
        );
        let h = SliceHeader::parse(&p1, &pic).unwrap();
        assert_eq!(
            (
                h.nal_ref_idc,
                h.slice_type,
                h.pps_id,
                h.pic_order_cnt_lsb,
                h.overrides
            ),
            (2, 0, 1, 4, true)
        );
        assert!(!SliceHeader::parse(&p2, &pic).unwrap().overrides);
        // not a slice, or cut short: no header
        assert_eq!(SliceHeader::parse(&[0x67, 0x42], &pic), None);
        assert_eq!(SliceHeader::parse(&idr[..2], &pic), None);
    }

    #[test]
    fn a_picture_becomes_controls_and_annex_b_slices() {
        let mut params = Params::new(VAProfileH264High);
        params.pic = Some(picture());
        let [_, p1, p2] = slices();
        for (nal, l0) in [(&p1, 0), (&p2, 2)] {
            let slice = VASliceParameterBufferH264 {
                slice_data_size: nal.len() as u32,
                slice_type: 0,
                num_ref_idx_l0_active_minus1: l0,
                ..Default::default()
            };
            params.push_slice(slice, nal);
        }
        let built = params.build(&HashMap::new()).unwrap();
        let mut want = vec![0, 0, 1];
        want.extend(&p1);
        want.extend([0, 0, 1]);
        want.extend(&p2);
        assert_eq!(built.bitstream, want);
        let Ctrls::H264(c) = built.ctrls else {
            panic!("not H.264 controls");
        };
        assert_eq!(
            (
                c.sps.profile_idc,
                c.sps.chroma_format_idc,
                c.sps.max_num_ref_frames
            ),
            (100, 1, 3)
        );
        assert_eq!(
            (
                c.sps.pic_width_in_mbs_minus1,
                c.sps.pic_height_in_map_units_minus1
            ),
            (19, 14)
        );
        assert_eq!(c.sps.log2_max_pic_order_cnt_lsb_minus4, 2);
        assert_ne!(c.sps.flags & V4L2_H264_SPS_FLAG_FRAME_MBS_ONLY, 0);
        assert_eq!(c.pps.pic_parameter_set_id, 1);
        // the default count is the one the slice without an override uses
        assert_eq!(c.pps.num_ref_idx_l0_default_active_minus1, 2);
        assert_eq!(
            u32::from(c.pps.flags),
            V4L2_H264_PPS_FLAG_ENTROPY_CODING_MODE | V4L2_H264_PPS_FLAG_TRANSFORM_8X8_MODE
        );
        assert_eq!(
            (
                c.decode.nal_ref_idc,
                c.decode.frame_num,
                c.decode.pic_order_cnt_lsb
            ),
            (2, 3, 4)
        );
        assert_eq!(c.decode.flags, V4L2_H264_DECODE_PARAM_FLAG_PFRAME);
        assert!(c.matrix.is_none());
    }

    #[test]
    fn pic_order_cnt_type_1_is_refused() {
        let mut pic = picture();
        let mut seq = *pic.seq_fields.bits();
        seq.set_pic_order_cnt_type(1);
        pic.seq_fields = _VAPictureParameterBufferH264__bindgen_ty_1 { bits: seq };
        let mut params = Params::new(VAProfileH264Main);
        params.pic = Some(pic);
        params.push_slice(VASliceParameterBufferH264::default(), &slices()[0]);
        let e = params.build(&HashMap::new()).err().unwrap();
        assert_eq!(e.status, VA_STATUS_ERROR_UNSUPPORTED_PROFILE as VAStatus);
    }

    #[test]
    fn exp_golomb_through_emulation_prevention() {
        // 1 (ue 0), 010 (ue 1), 011 (ue 2), 00100 (ue 3), four zero bits; then 0x00 0x00 0x03
        // 0x01 is 0x00 0x00 0x01 once the emulation prevention byte is dropped
        let mut r = Rbsp::new(&[0b1010_0110, 0b0100_0000, 0, 0, 3, 1]);
        assert_eq!(r.ue(), Some(0));
        assert_eq!(r.ue(), Some(1));
        assert_eq!(r.ue(), Some(2));
        assert_eq!(r.ue(), Some(3));
        assert_eq!(r.u(4 + 16), Some(0));
        assert_eq!(r.u(8), Some(1));
        assert_eq!(r.u(1), None);
        let mut r = Rbsp::new(&[0b0010_0011, 0b1000_0000]);
        assert_eq!(r.se(), Some(2));
        assert_eq!(r.se(), Some(-1));
    }
}
