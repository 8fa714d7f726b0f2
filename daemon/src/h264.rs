//! H.264 through the stateless uAPI: the client passes SPS and PPS only as V4L2 controls
//! (`struct v4l2_ctrl_h264_sps`, `_pps`, `_scaling_matrix`, `_decode_params` from
//! `<linux/v4l2-controls.h>`), never in the OUTPUT buffer, which holds the picture's slice NAL
//! units behind Annex B start codes. FFmpeg wants a normal elementary stream, so this module
//! rebuilds SPS and PPS NAL units from the controls (ITU-T H.264 7.3.2.1.1 and 7.3.2.2) for the
//! decoder to read before the slices.
//!
//! What the controls do not carry cannot be rebuilt, and need not be: the VUI (display hints,
//! reorder depth: nothing that changes a decoded pixel) and the frame cropping (the CAPTURE
//! buffer holds the whole coded picture; the client crops, as with hardware decoders).

#![forbid(unsafe_code)]

use thiserror::Error;

use crate::bits::{i32_at, sized, u16_at, u32_at, BitWriter, CtrlError};

/// `V4L2_CID_STATELESS_H264_*` control ids (`V4L2_CID_CODEC_STATELESS_BASE` 0xa40900 + n).
pub const CID_SPS: u32 = 0x00a4_0900 + 2;
pub const CID_PPS: u32 = 0x00a4_0900 + 3;
pub const CID_SCALING_MATRIX: u32 = 0x00a4_0900 + 4;
pub const CID_DECODE_PARAMS: u32 = 0x00a4_0900 + 7;

/// Sizes of the uAPI structs (their layout is fixed ABI).
const SPS_SIZE: usize = 1048;
const PPS_SIZE: usize = 12;
const SCALING_MATRIX_SIZE: usize = 480;
const DECODE_PARAMS_SIZE: usize = 560;

const SPS_FLAG_SEPARATE_COLOUR_PLANE: u32 = 0x01;
const SPS_FLAG_QPPRIME_Y_ZERO_TRANSFORM_BYPASS: u32 = 0x02;
const SPS_FLAG_DELTA_PIC_ORDER_ALWAYS_ZERO: u32 = 0x04;
const SPS_FLAG_GAPS_IN_FRAME_NUM_VALUE_ALLOWED: u32 = 0x08;
const SPS_FLAG_FRAME_MBS_ONLY: u32 = 0x10;
const SPS_FLAG_MB_ADAPTIVE_FRAME_FIELD: u32 = 0x20;
const SPS_FLAG_DIRECT_8X8_INFERENCE: u32 = 0x40;

const PPS_FLAG_ENTROPY_CODING_MODE: u16 = 0x0001;
const PPS_FLAG_BOTTOM_FIELD_PIC_ORDER_IN_FRAME_PRESENT: u16 = 0x0002;
const PPS_FLAG_WEIGHTED_PRED: u16 = 0x0004;
const PPS_FLAG_DEBLOCKING_FILTER_CONTROL_PRESENT: u16 = 0x0008;
const PPS_FLAG_CONSTRAINED_INTRA_PRED: u16 = 0x0010;
const PPS_FLAG_REDUNDANT_PIC_CNT_PRESENT: u16 = 0x0020;
const PPS_FLAG_TRANSFORM_8X8_MODE: u16 = 0x0040;
const PPS_FLAG_SCALING_MATRIX_PRESENT: u16 = 0x0080;

const DECODE_PARAM_FLAG_FIELD_PIC: u32 = 0x02;

#[derive(Debug, Error, PartialEq)]
pub enum H264Error {
    #[error(transparent)]
    Ctrl(#[from] CtrlError),
    #[error("unsupported stream: {0}")]
    Unsupported(String),
}

/// `struct v4l2_ctrl_h264_sps`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sps {
    pub profile_idc: u8,
    /// Bit i is constraint_set{i}_flag (V4L2_H264_SPS_CONSTRAINT_SET{i}_FLAG).
    pub constraint_set_flags: u8,
    pub level_idc: u8,
    pub seq_parameter_set_id: u8,
    pub chroma_format_idc: u8,
    pub bit_depth_luma_minus8: u8,
    pub bit_depth_chroma_minus8: u8,
    pub log2_max_frame_num_minus4: u8,
    pub pic_order_cnt_type: u8,
    pub log2_max_pic_order_cnt_lsb_minus4: u8,
    pub max_num_ref_frames: u8,
    pub offset_for_ref_frame: Vec<i32>,
    pub offset_for_non_ref_pic: i32,
    pub offset_for_top_to_bottom_field: i32,
    pub pic_width_in_mbs_minus1: u16,
    pub pic_height_in_map_units_minus1: u16,
    pub flags: u32,
}

impl Sps {
    pub fn parse(data: &[u8]) -> Result<Sps, H264Error> {
        let b = sized(CID_SPS, data, SPS_SIZE)?;
        let cycle = usize::from(b[11]).min(255);
        Ok(Sps {
            profile_idc: b[0],
            constraint_set_flags: b[1],
            level_idc: b[2],
            seq_parameter_set_id: b[3],
            chroma_format_idc: b[4],
            bit_depth_luma_minus8: b[5],
            bit_depth_chroma_minus8: b[6],
            log2_max_frame_num_minus4: b[7],
            pic_order_cnt_type: b[8],
            log2_max_pic_order_cnt_lsb_minus4: b[9],
            max_num_ref_frames: b[10],
            offset_for_ref_frame: (0..cycle).map(|i| i32_at(b, 12 + 4 * i)).collect(),
            offset_for_non_ref_pic: i32_at(b, 1032),
            offset_for_top_to_bottom_field: i32_at(b, 1036),
            pic_width_in_mbs_minus1: u16_at(b, 1040),
            pic_height_in_map_units_minus1: u16_at(b, 1042),
            flags: u32_at(b, 1044),
        })
    }

    /// Profiles whose SPS carries chroma format, bit depths and scaling matrices (7.3.2.1.1).
    fn has_chroma_format(&self) -> bool {
        matches!(
            self.profile_idc,
            100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
        )
    }

    fn chroma_format(&self) -> u8 {
        if self.has_chroma_format() {
            self.chroma_format_idc
        } else {
            1
        }
    }

    /// The SPS NAL unit (with its 4-byte start code).
    pub fn nal(&self) -> Vec<u8> {
        let mut w = BitWriter::default();
        w.u(8, u32::from(self.profile_idc));
        for i in 0..6 {
            w.flag(self.constraint_set_flags & (1 << i) != 0);
        }
        w.u(2, 0); // reserved_zero_2bits
        w.u(8, u32::from(self.level_idc));
        w.ue(u32::from(self.seq_parameter_set_id));
        if self.has_chroma_format() {
            w.ue(u32::from(self.chroma_format_idc));
            if self.chroma_format_idc == 3 {
                w.flag(self.flags & SPS_FLAG_SEPARATE_COLOUR_PLANE != 0);
            }
            w.ue(u32::from(self.bit_depth_luma_minus8));
            w.ue(u32::from(self.bit_depth_chroma_minus8));
            w.flag(self.flags & SPS_FLAG_QPPRIME_Y_ZERO_TRANSFORM_BYPASS != 0);
            // The scaling matrix control holds the matrices in force for the picture; they
            // go into the PPS, which overrides whatever the SPS would say.
            w.flag(false); // seq_scaling_matrix_present_flag
        }
        w.ue(u32::from(self.log2_max_frame_num_minus4));
        w.ue(u32::from(self.pic_order_cnt_type));
        match self.pic_order_cnt_type {
            0 => w.ue(u32::from(self.log2_max_pic_order_cnt_lsb_minus4)),
            1 => {
                w.flag(self.flags & SPS_FLAG_DELTA_PIC_ORDER_ALWAYS_ZERO != 0);
                w.se(self.offset_for_non_ref_pic);
                w.se(self.offset_for_top_to_bottom_field);
                w.ue(self.offset_for_ref_frame.len() as u32);
                for &o in &self.offset_for_ref_frame {
                    w.se(o);
                }
            }
            _ => {}
        }
        w.ue(u32::from(self.max_num_ref_frames));
        w.flag(self.flags & SPS_FLAG_GAPS_IN_FRAME_NUM_VALUE_ALLOWED != 0);
        w.ue(u32::from(self.pic_width_in_mbs_minus1));
        w.ue(u32::from(self.pic_height_in_map_units_minus1));
        let frame_mbs_only = self.flags & SPS_FLAG_FRAME_MBS_ONLY != 0;
        w.flag(frame_mbs_only);
        if !frame_mbs_only {
            w.flag(self.flags & SPS_FLAG_MB_ADAPTIVE_FRAME_FIELD != 0);
        }
        w.flag(self.flags & SPS_FLAG_DIRECT_8X8_INFERENCE != 0);
        w.flag(false); // frame_cropping_flag
        w.flag(false); // vui_parameters_present_flag
        w.nal(3, 7)
    }

    /// Refuse what this decoder does not do, before it decodes garbage.
    pub fn check_supported(&self) -> Result<(), H264Error> {
        let unsupported = |what: String| Err(H264Error::Unsupported(what));
        if self.chroma_format() != 1 {
            return unsupported(format!(
                "chroma_format_idc {} (only 4:2:0)",
                self.chroma_format_idc
            ));
        }
        if self.has_chroma_format()
            && (self.bit_depth_luma_minus8 != self.bit_depth_chroma_minus8
                || ![0, 2].contains(&self.bit_depth_luma_minus8))
        {
            return unsupported(format!(
                "{}-bit luma, {}-bit chroma (only 8 or 10 bits, the same for both)",
                8 + u32::from(self.bit_depth_luma_minus8),
                8 + u32::from(self.bit_depth_chroma_minus8)
            ));
        }
        Ok(())
    }
}

/// `struct v4l2_ctrl_h264_pps`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pps {
    pub pic_parameter_set_id: u8,
    pub seq_parameter_set_id: u8,
    pub num_slice_groups_minus1: u8,
    pub num_ref_idx_l0_default_active_minus1: u8,
    pub num_ref_idx_l1_default_active_minus1: u8,
    pub weighted_bipred_idc: u8,
    pub pic_init_qp_minus26: i8,
    pub pic_init_qs_minus26: i8,
    pub chroma_qp_index_offset: i8,
    pub second_chroma_qp_index_offset: i8,
    pub flags: u16,
}

impl Pps {
    pub fn parse(data: &[u8]) -> Result<Pps, H264Error> {
        let b = sized(CID_PPS, data, PPS_SIZE)?;
        Ok(Pps {
            pic_parameter_set_id: b[0],
            seq_parameter_set_id: b[1],
            num_slice_groups_minus1: b[2],
            num_ref_idx_l0_default_active_minus1: b[3],
            num_ref_idx_l1_default_active_minus1: b[4],
            weighted_bipred_idc: b[5],
            pic_init_qp_minus26: b[6] as i8,
            pic_init_qs_minus26: b[7] as i8,
            chroma_qp_index_offset: b[8] as i8,
            second_chroma_qp_index_offset: b[9] as i8,
            flags: u16_at(b, 10),
        })
    }

    pub fn check_supported(&self) -> Result<(), H264Error> {
        if self.num_slice_groups_minus1 != 0 {
            return Err(H264Error::Unsupported(
                "slice groups (FMO): the controls do not carry their maps".into(),
            ));
        }
        Ok(())
    }

    /// The PPS NAL unit (with its 4-byte start code). `matrix` is the scaling matrix control,
    /// used when the PPS flags say it is present.
    pub fn nal(&self, sps: &Sps, matrix: Option<&ScalingMatrix>) -> Vec<u8> {
        let mut w = BitWriter::default();
        let flag = |f: u16| self.flags & f != 0;
        w.ue(u32::from(self.pic_parameter_set_id));
        w.ue(u32::from(self.seq_parameter_set_id));
        w.flag(flag(PPS_FLAG_ENTROPY_CODING_MODE));
        w.flag(flag(PPS_FLAG_BOTTOM_FIELD_PIC_ORDER_IN_FRAME_PRESENT));
        w.ue(u32::from(self.num_slice_groups_minus1));
        w.ue(u32::from(self.num_ref_idx_l0_default_active_minus1));
        w.ue(u32::from(self.num_ref_idx_l1_default_active_minus1));
        w.flag(flag(PPS_FLAG_WEIGHTED_PRED));
        w.u(2, u32::from(self.weighted_bipred_idc));
        w.se(i32::from(self.pic_init_qp_minus26));
        w.se(i32::from(self.pic_init_qs_minus26));
        w.se(i32::from(self.chroma_qp_index_offset));
        w.flag(flag(PPS_FLAG_DEBLOCKING_FILTER_CONTROL_PRESENT));
        w.flag(flag(PPS_FLAG_CONSTRAINED_INTRA_PRED));
        w.flag(flag(PPS_FLAG_REDUNDANT_PIC_CNT_PRESENT));
        let transform_8x8 = flag(PPS_FLAG_TRANSFORM_8X8_MODE);
        let matrix = matrix.filter(|_| flag(PPS_FLAG_SCALING_MATRIX_PRESENT));
        // The optional tail, written only when it says something the defaults do not.
        if transform_8x8
            || matrix.is_some()
            || self.second_chroma_qp_index_offset != self.chroma_qp_index_offset
        {
            w.flag(transform_8x8);
            w.flag(matrix.is_some());
            if let Some(m) = matrix {
                for list in &m.lists_4x4 {
                    w.flag(true);
                    w.scaling_list(list, &ZIGZAG_4X4);
                }
                if transform_8x8 {
                    let n = if sps.chroma_format() == 3 { 6 } else { 2 };
                    for list in &m.lists_8x8[..n] {
                        w.flag(true);
                        w.scaling_list(list, &ZIGZAG_8X8);
                    }
                }
            }
            w.se(i32::from(self.second_chroma_qp_index_offset));
        }
        w.nal(3, 8)
    }
}

/// `struct v4l2_ctrl_h264_scaling_matrix`: the matrices in force, in raster order (as the
/// V4L2 documentation specifies), lists in the PPS's order.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalingMatrix {
    pub lists_4x4: [[u8; 16]; 6],
    pub lists_8x8: [[u8; 64]; 6],
}

impl ScalingMatrix {
    pub fn parse(data: &[u8]) -> Result<ScalingMatrix, H264Error> {
        let b = sized(CID_SCALING_MATRIX, data, SCALING_MATRIX_SIZE)?;
        let mut m = ScalingMatrix {
            lists_4x4: [[0; 16]; 6],
            lists_8x8: [[0; 64]; 6],
        };
        for (i, list) in m.lists_4x4.iter_mut().enumerate() {
            list.copy_from_slice(&b[16 * i..16 * (i + 1)]);
        }
        for (i, list) in m.lists_8x8.iter_mut().enumerate() {
            list.copy_from_slice(&b[96 + 64 * i..96 + 64 * (i + 1)]);
        }
        Ok(m)
    }
}

/// What this decoder needs of `struct v4l2_ctrl_h264_decode_params` (FFmpeg reads the rest
/// from the slice headers).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecodeParams {
    pub field_pic: bool,
}

impl DecodeParams {
    pub fn parse(data: &[u8]) -> Result<DecodeParams, H264Error> {
        let b = sized(CID_DECODE_PARAMS, data, DECODE_PARAMS_SIZE)?;
        let flags = u32_at(b, 556);
        Ok(DecodeParams {
            field_pic: flags & DECODE_PARAM_FLAG_FIELD_PIC != 0,
        })
    }
}

/// One job's parameter sets, from its controls, and whether its picture is a field.
pub struct Headers {
    pub sps: Sps,
    pub pps: Pps,
    pub matrix: Option<ScalingMatrix>,
    pub field_pic: bool,
}

impl Headers {
    /// Parse and check the job's controls (`find` looks one up by id).
    pub fn from_ctrls<'a>(find: impl Fn(u32) -> Option<&'a [u8]>) -> Result<Headers, H264Error> {
        let get = |id| find(id).ok_or(CtrlError::Missing(id));
        let sps = Sps::parse(get(CID_SPS)?)?;
        let pps = Pps::parse(get(CID_PPS)?)?;
        let matrix = find(CID_SCALING_MATRIX)
            .map(ScalingMatrix::parse)
            .transpose()?;
        sps.check_supported()?;
        pps.check_supported()?;
        let field_pic = DecodeParams::parse(get(CID_DECODE_PARAMS)?)?.field_pic;
        Ok(Headers {
            sps,
            pps,
            matrix,
            field_pic,
        })
    }

    /// SPS and PPS NAL units to put before the picture's slices.
    pub fn nals(&self) -> Vec<u8> {
        let mut out = self.sps.nal();
        out.extend(self.pps.nal(&self.sps, self.matrix.as_ref()));
        out
    }
}

/// Frame zig-zag scan (Table 8-13): bitstream position -> raster index.
const ZIGZAG_4X4: [usize; 16] = [0, 1, 4, 8, 5, 2, 3, 6, 9, 12, 13, 10, 7, 11, 14, 15];
const ZIGZAG_8X8: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// H.264's parts of the bit writer: scaling lists and the NAL unit around an RBSP.
impl BitWriter {
    /// scaling_list() (7.3.2.1.1.1) for a list given in raster order: every value coded
    /// explicitly as a delta from the previous one in scan order.
    fn scaling_list(&mut self, raster: &[u8], scan: &[usize]) {
        let mut last = 8i32;
        for &pos in scan {
            let value = i32::from(raster[pos]);
            // delta_scale is in -128..=127 and nextScale = (last + delta + 256) % 256
            let delta = (value - last + 128).rem_euclid(256) - 128;
            self.se(delta);
            last = value;
        }
    }

    /// rbsp_trailing_bits(), then the NAL unit: start code, header, payload with emulation
    /// prevention bytes (7.4.1).
    pub fn nal(mut self, nal_ref_idc: u8, nal_unit_type: u8) -> Vec<u8> {
        self.trailing_bits();
        let mut out = vec![0, 0, 0, 1, (nal_ref_idc << 5) | nal_unit_type];
        let mut zeros = 0;
        for &b in &self.into_bytes() {
            if zeros == 2 && b <= 3 {
                out.push(3);
                zeros = 0;
            }
            out.push(b);
            zeros = if b == 0 { zeros + 1 } else { 0 };
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(f: impl FnOnce(&mut BitWriter)) -> String {
        let mut w = BitWriter::default();
        f(&mut w);
        w.to_bit_string()
    }

    #[test]
    fn exp_golomb_codes() {
        // Table 9-2 and 9-3
        assert_eq!(bits(|w| w.ue(0)), "1");
        assert_eq!(bits(|w| w.ue(1)), "010");
        assert_eq!(bits(|w| w.ue(2)), "011");
        assert_eq!(bits(|w| w.ue(3)), "00100");
        assert_eq!(bits(|w| w.ue(7)), "0001000");
        assert_eq!(bits(|w| w.se(1)), "010");
        assert_eq!(bits(|w| w.se(-1)), "011");
        assert_eq!(bits(|w| w.se(2)), "00100");
        assert_eq!(bits(|w| w.se(-3)), "00111");
        assert_eq!(bits(|w| w.ue(u32::MAX - 1)).len(), 63);
    }

    #[test]
    fn emulation_prevention() {
        let mut w = BitWriter::default();
        for b in [0u32, 0, 1, 0, 0, 0, 0, 0, 4] {
            w.u(8, b);
        }
        // trailing bits add 0x80
        assert_eq!(
            w.nal(0, 1),
            [0, 0, 0, 1, 1, 0, 0, 3, 1, 0, 0, 3, 0, 0, 3, 0, 4, 0x80]
        );
    }

    /// x264's parameter sets of the project's test clip (`ffmpeg -bsf:v trace_headers` gives
    /// the fields), as a client would put them into the controls.
    fn x264_sps() -> Sps {
        Sps {
            profile_idc: 100,
            level_idc: 13,
            chroma_format_idc: 1,
            log2_max_pic_order_cnt_lsb_minus4: 2,
            max_num_ref_frames: 4,
            pic_width_in_mbs_minus1: 19,
            pic_height_in_map_units_minus1: 14,
            flags: SPS_FLAG_FRAME_MBS_ONLY | SPS_FLAG_DIRECT_8X8_INFERENCE,
            ..Sps::default()
        }
    }

    #[test]
    fn sps_matches_x264_up_to_its_vui() {
        // x264: 67 64 00 0d ac d9 41 41 fb 01 10 ...: bit 70 of the NAL unit is
        // vui_parameters_present_flag. Ours says 0 there and ends: ...1111 10 + stop bit 1.
        let x264 = [0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb];
        let ours = x264_sps().nal();
        assert_eq!(&ours[..4], &[0, 0, 0, 1]);
        assert_eq!(&ours[4..12], &x264[..8]);
        assert_eq!(ours[12] & 0xfc, x264[8] & 0xfc, "bits 64..69");
        assert_eq!(ours[12] & 0x03, 0b01, "vui flag 0, stop bit");
        assert_eq!(ours.len(), 13);
    }

    #[test]
    fn pps_is_x264s_byte_for_byte() {
        let pps = Pps {
            num_ref_idx_l0_default_active_minus1: 2,
            weighted_bipred_idc: 2,
            pic_init_qp_minus26: -3,
            chroma_qp_index_offset: -2,
            second_chroma_qp_index_offset: -2,
            flags: PPS_FLAG_ENTROPY_CODING_MODE
                | PPS_FLAG_WEIGHTED_PRED
                | PPS_FLAG_DEBLOCKING_FILTER_CONTROL_PRESENT
                | PPS_FLAG_TRANSFORM_8X8_MODE,
            ..Pps::default()
        };
        assert_eq!(
            pps.nal(&x264_sps(), None),
            [0, 0, 0, 1, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0]
        );
    }

    #[test]
    fn the_uapi_structs_parse_at_their_offsets() {
        let mut sps = vec![0u8; SPS_SIZE];
        sps[0] = 100;
        sps[11] = 2;
        sps[12..16].copy_from_slice(&(-5i32).to_ne_bytes());
        sps[16..20].copy_from_slice(&7i32.to_ne_bytes());
        sps[1040..1042].copy_from_slice(&119u16.to_ne_bytes());
        sps[1042..1044].copy_from_slice(&67u16.to_ne_bytes());
        sps[1044..1048].copy_from_slice(&0x50u32.to_ne_bytes());
        let s = Sps::parse(&sps).unwrap();
        assert_eq!(s.offset_for_ref_frame, [-5, 7]);
        assert_eq!(
            (s.pic_width_in_mbs_minus1, s.pic_height_in_map_units_minus1),
            (119, 67)
        );
        assert_eq!(s.flags, 0x50);
        assert!(Sps::parse(&sps[1..]).is_err());

        let mut dp = vec![0u8; DECODE_PARAMS_SIZE];
        dp[556] = 0x01; // IDR: not a field picture
        assert!(!DecodeParams::parse(&dp).unwrap().field_pic);
        dp[556] = 0x02;
        assert!(DecodeParams::parse(&dp).unwrap().field_pic);
    }

    #[test]
    fn scaling_lists_are_coded_in_zigzag_order() {
        // A raster list whose values are their zig-zag positions codes as deltas 1, 1, 1...
        let mut raster = [0u8; 16];
        for (j, &pos) in ZIGZAG_4X4.iter().enumerate() {
            raster[pos] = 9 + j as u8;
        }
        assert_eq!(
            bits(|w| w.scaling_list(&raster, &ZIGZAG_4X4)),
            "010".repeat(16)
        );
        // Wrap-around: 8 -> 255 is delta -9, not +247.
        let flat = [255u8; 16];
        assert!(bits(|w| w.scaling_list(&flat, &ZIGZAG_4X4)).starts_with("000010011"));
    }

    #[test]
    fn unsupported_streams_are_refused() {
        let mut s = x264_sps();
        assert!(s.check_supported().is_ok());
        s.chroma_format_idc = 2;
        assert!(s.check_supported().is_err());
        s = x264_sps();
        s.bit_depth_luma_minus8 = 2;
        assert!(s.check_supported().is_err());
        s.bit_depth_chroma_minus8 = 2;
        assert!(s.check_supported().is_ok());
        s.bit_depth_luma_minus8 = 1;
        s.bit_depth_chroma_minus8 = 1;
        assert!(s.check_supported().is_err());
        s = x264_sps();
        // interlaced: MBAFF frames and field pictures are decoded
        s.flags &= !SPS_FLAG_FRAME_MBS_ONLY;
        s.flags |= SPS_FLAG_MB_ADAPTIVE_FRAME_FIELD;
        assert!(s.check_supported().is_ok());
        // Baseline has no chroma_format_idc: 4:2:0 implied.
        s = x264_sps();
        s.profile_idc = 66;
        s.chroma_format_idc = 0;
        assert!(s.check_supported().is_ok());
        let pps = Pps {
            num_slice_groups_minus1: 1,
            ..Pps::default()
        };
        assert!(pps.check_supported().is_err());
    }
}
