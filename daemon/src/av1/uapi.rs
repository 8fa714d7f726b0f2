//! Reading the AV1 uAPI: the V4L2 controls' structs (`struct v4l2_ctrl_av1_sequence`, `_frame`,
//! `_film_grain`, `_tile_group_entry` from `<linux/v4l2-controls.h>`) as typed values, each
//! field named as there. Every byte offset into a control is in this file.

use crate::bits::{i16_at, i32_at, sized, u16_at, u32_at, u64_at, CtrlError};

use super::{invalid, Av1Error};

/// `V4L2_CID_STATELESS_AV1_*` control ids (`V4L2_CID_CODEC_STATELESS_BASE` 0xa40900 + n).
pub const CID_SEQUENCE: u32 = 0x00a4_0900 + 500;
pub const CID_TILE_GROUP_ENTRY: u32 = 0x00a4_0900 + 501;
pub const CID_FRAME: u32 = 0x00a4_0900 + 502;
pub const CID_FILM_GRAIN: u32 = 0x00a4_0900 + 505;

/// The uAPI structs' sizes.
const SEQUENCE_SIZE: usize = 12;
const TILE_GROUP_ENTRY_SIZE: usize = 16;
const FRAME_SIZE: usize = 1784;
const FILM_GRAIN_SIZE: usize = 194;

pub const SEQ_FLAG_STILL_PICTURE: u32 = 0x1;
pub const SEQ_FLAG_USE_128X128_SUPERBLOCK: u32 = 0x2;
pub const SEQ_FLAG_ENABLE_FILTER_INTRA: u32 = 0x4;
pub const SEQ_FLAG_ENABLE_INTRA_EDGE_FILTER: u32 = 0x8;
pub const SEQ_FLAG_ENABLE_INTERINTRA_COMPOUND: u32 = 0x10;
pub const SEQ_FLAG_ENABLE_MASKED_COMPOUND: u32 = 0x20;
pub const SEQ_FLAG_ENABLE_WARPED_MOTION: u32 = 0x40;
pub const SEQ_FLAG_ENABLE_DUAL_FILTER: u32 = 0x80;
pub const SEQ_FLAG_ENABLE_ORDER_HINT: u32 = 0x100;
pub const SEQ_FLAG_ENABLE_JNT_COMP: u32 = 0x200;
pub const SEQ_FLAG_ENABLE_REF_FRAME_MVS: u32 = 0x400;
pub const SEQ_FLAG_ENABLE_SUPERRES: u32 = 0x800;
pub const SEQ_FLAG_ENABLE_CDEF: u32 = 0x1000;
pub const SEQ_FLAG_ENABLE_RESTORATION: u32 = 0x2000;
pub const SEQ_FLAG_MONO_CHROME: u32 = 0x4000;
pub const SEQ_FLAG_COLOR_RANGE: u32 = 0x8000;
pub const SEQ_FLAG_SUBSAMPLING_X: u32 = 0x10000;
pub const SEQ_FLAG_SUBSAMPLING_Y: u32 = 0x20000;
pub const SEQ_FLAG_FILM_GRAIN_PARAMS_PRESENT: u32 = 0x40000;
pub const SEQ_FLAG_SEPARATE_UV_DELTA_Q: u32 = 0x80000;

pub const FRAME_FLAG_SHOW_FRAME: u32 = 0x1;
pub const FRAME_FLAG_SHOWABLE_FRAME: u32 = 0x2;
pub const FRAME_FLAG_ERROR_RESILIENT_MODE: u32 = 0x4;
pub const FRAME_FLAG_DISABLE_CDF_UPDATE: u32 = 0x8;
pub const FRAME_FLAG_ALLOW_SCREEN_CONTENT_TOOLS: u32 = 0x10;
pub const FRAME_FLAG_FORCE_INTEGER_MV: u32 = 0x20;
pub const FRAME_FLAG_ALLOW_INTRABC: u32 = 0x40;
pub const FRAME_FLAG_USE_SUPERRES: u32 = 0x80;
pub const FRAME_FLAG_ALLOW_HIGH_PRECISION_MV: u32 = 0x100;
pub const FRAME_FLAG_IS_MOTION_MODE_SWITCHABLE: u32 = 0x200;
pub const FRAME_FLAG_USE_REF_FRAME_MVS: u32 = 0x400;
pub const FRAME_FLAG_DISABLE_FRAME_END_UPDATE_CDF: u32 = 0x800;
pub const FRAME_FLAG_ALLOW_WARPED_MOTION: u32 = 0x1000;
pub const FRAME_FLAG_REFERENCE_SELECT: u32 = 0x2000;
pub const FRAME_FLAG_REDUCED_TX_SET: u32 = 0x4000;
pub const FRAME_FLAG_SKIP_MODE_PRESENT: u32 = 0x10000;
pub const FRAME_FLAG_FRAME_SIZE_OVERRIDE: u32 = 0x20000;

pub const TILE_INFO_FLAG_UNIFORM_TILE_SPACING: u8 = 0x1;
pub const QUANT_FLAG_DIFF_UV_DELTA: u8 = 0x1;
pub const QUANT_FLAG_USING_QMATRIX: u8 = 0x2;
pub const QUANT_FLAG_DELTA_Q_PRESENT: u8 = 0x4;
pub const SEG_FLAG_ENABLED: u8 = 0x1;
pub const SEG_FLAG_UPDATE_MAP: u8 = 0x2;
pub const SEG_FLAG_TEMPORAL_UPDATE: u8 = 0x4;
pub const SEG_FLAG_UPDATE_DATA: u8 = 0x8;
pub const LF_FLAG_DELTA_ENABLED: u8 = 0x1;
pub const LF_FLAG_DELTA_UPDATE: u8 = 0x2;
pub const LF_FLAG_DELTA_LF_PRESENT: u8 = 0x4;
pub const LF_FLAG_DELTA_LF_MULTI: u8 = 0x8;
pub const GRAIN_FLAG_APPLY_GRAIN: u8 = 0x1;
pub const GRAIN_FLAG_UPDATE_GRAIN: u8 = 0x2;
pub const GRAIN_FLAG_CHROMA_SCALING_FROM_LUMA: u8 = 0x4;
pub const GRAIN_FLAG_OVERLAP: u8 = 0x8;
pub const GRAIN_FLAG_CLIP_TO_RESTRICTED_RANGE: u8 = 0x10;

pub const KEY_FRAME: u32 = 0;
pub const INTER_FRAME: u32 = 1;
pub const INTRA_ONLY_FRAME: u32 = 2;
pub const SWITCH_FRAME: u32 = 3;
pub const PRIMARY_REF_NONE: u8 = 7;

/// `struct v4l2_ctrl_av1_sequence`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sequence {
    pub flags: u32,
    pub seq_profile: u8,
    pub order_hint_bits: u8,
    pub bit_depth: u8,
    pub max_frame_width_minus_1: u16,
    pub max_frame_height_minus_1: u16,
}

impl Sequence {
    pub fn parse(data: &[u8]) -> Result<Sequence, Av1Error> {
        let b = sized(CID_SEQUENCE, data, SEQUENCE_SIZE)?;
        Ok(Sequence {
            flags: u32_at(b, 0),
            seq_profile: b[4],
            order_hint_bits: b[5],
            bit_depth: b[6],
            max_frame_width_minus_1: u16_at(b, 8),
            max_frame_height_minus_1: u16_at(b, 10),
        })
    }

    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// Refuse what this decoder does not do, before it decodes garbage.
    pub fn check_supported(&self) -> Result<(), Av1Error> {
        let unsupported = |what: String| Err(Av1Error::Unsupported(what));
        if self.seq_profile != 0 {
            return unsupported(format!("profile {} (only main: 4:2:0)", self.seq_profile));
        }
        if self.has(SEQ_FLAG_MONO_CHROME)
            || !self.has(SEQ_FLAG_SUBSAMPLING_X)
            || !self.has(SEQ_FLAG_SUBSAMPLING_Y)
        {
            return unsupported("not 4:2:0".into());
        }
        if self.bit_depth != 8 && self.bit_depth != 10 {
            return unsupported(format!("{}-bit (only 8 or 10)", self.bit_depth));
        }
        if self.has(SEQ_FLAG_ENABLE_ORDER_HINT) && !(1..=8).contains(&self.order_hint_bits) {
            return invalid(format!("order_hint_bits {}", self.order_hint_bits));
        }
        Ok(())
    }

    /// OrderHintBits.
    pub fn order_hint_bits(&self) -> u32 {
        if self.has(SEQ_FLAG_ENABLE_ORDER_HINT) {
            u32::from(self.order_hint_bits)
        } else {
            0
        }
    }
}

/// One entry of `struct v4l2_ctrl_av1_tile_group_entry[]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TileEntry {
    pub offset: u32,
    pub size: u32,
    pub row: u32,
    pub col: u32,
}

impl TileEntry {
    pub fn parse_all(data: &[u8]) -> Result<Vec<TileEntry>, Av1Error> {
        if data.is_empty() || data.len() % TILE_GROUP_ENTRY_SIZE != 0 {
            return Err(CtrlError::Size {
                id: CID_TILE_GROUP_ENTRY,
                got: data.len(),
                want: TILE_GROUP_ENTRY_SIZE,
            }
            .into());
        }
        Ok(data
            .chunks_exact(TILE_GROUP_ENTRY_SIZE)
            .map(|b| TileEntry {
                offset: u32_at(b, 0),
                size: u32_at(b, 4),
                row: u32_at(b, 8),
                col: u32_at(b, 12),
            })
            .collect())
    }
}

/// `struct v4l2_av1_tile_info` (the mi_col/row_starts are not needed: the sizes say it all).
#[derive(Debug, Clone)]
pub struct TileInfo {
    pub flags: u8,
    pub context_update_tile_id: u8,
    pub tile_cols: u8,
    pub tile_rows: u8,
    pub width_in_sbs_minus_1: [u32; 64],
    pub height_in_sbs_minus_1: [u32; 64],
}

/// `struct v4l2_av1_quantization`.
#[derive(Debug, Clone)]
pub struct Quantization {
    pub flags: u8,
    pub base_q_idx: u8,
    pub delta_q_y_dc: i8,
    pub delta_q_u_dc: i8,
    pub delta_q_u_ac: i8,
    pub delta_q_v_dc: i8,
    pub delta_q_v_ac: i8,
    pub qm_y: u8,
    pub qm_u: u8,
    pub qm_v: u8,
    pub delta_q_res: u8,
}

/// `struct v4l2_av1_segmentation`.
#[derive(Debug, Clone)]
pub struct Segmentation {
    pub flags: u8,
    pub feature_enabled: [u8; 8],
    pub feature_data: [[i16; 8]; 8],
}

/// `struct v4l2_av1_loop_filter`.
#[derive(Debug, Clone)]
pub struct LoopFilter {
    pub flags: u8,
    pub level: [u8; 4],
    pub sharpness: u8,
    pub ref_deltas: [i8; 8],
    pub mode_deltas: [i8; 2],
    pub delta_lf_res: u8,
}

/// `struct v4l2_av1_cdef`.
#[derive(Debug, Clone)]
pub struct Cdef {
    pub damping_minus_3: u8,
    pub bits: u8,
    pub y_pri_strength: [u8; 8],
    pub y_sec_strength: [u8; 8],
    pub uv_pri_strength: [u8; 8],
    pub uv_sec_strength: [u8; 8],
}

/// `struct v4l2_av1_loop_restoration`.
#[derive(Debug, Clone)]
pub struct LoopRestoration {
    pub lr_unit_shift: u8,
    pub lr_uv_shift: u8,
    pub frame_restoration_type: [u32; 3],
    pub loop_restoration_size: [u32; 3],
}

/// `struct v4l2_av1_global_motion`.
#[derive(Debug, Clone)]
pub struct GlobalMotion {
    pub kind: [u32; 8],
    pub params: [[i32; 6]; 8],
}

/// `struct v4l2_ctrl_av1_frame`: what the frame header OBU is rebuilt from.
#[derive(Debug, Clone)]
pub struct FrameCtrl {
    pub tile_info: TileInfo,
    pub quantization: Quantization,
    pub superres_denom: u8,
    pub segmentation: Segmentation,
    pub loop_filter: LoopFilter,
    pub cdef: Cdef,
    pub primary_ref_frame: u8,
    pub loop_restoration: LoopRestoration,
    pub global_motion: GlobalMotion,
    pub flags: u32,
    pub frame_type: u32,
    pub order_hint: u32,
    pub upscaled_width: u32,
    pub interpolation_filter: u32,
    pub tx_mode: u32,
    pub frame_width_minus_1: u32,
    pub frame_height_minus_1: u32,
    pub render_width_minus_1: u16,
    pub render_height_minus_1: u16,
    /// The OUTPUT timestamp of the frame in each reference slot, as the client keeps them.
    pub reference_frame_ts: [u64; 8],
    pub ref_frame_idx: [u8; 7],
    pub refresh_frame_flags: u8,
}

fn u8s<const N: usize>(b: &[u8], off: usize) -> [u8; N] {
    b[off..off + N].try_into().expect("N bytes")
}

fn u32s<const N: usize>(b: &[u8], off: usize) -> [u32; N] {
    std::array::from_fn(|i| u32_at(b, off + 4 * i))
}

impl FrameCtrl {
    pub fn parse(data: &[u8]) -> Result<FrameCtrl, Av1Error> {
        let b = sized(CID_FRAME, data, FRAME_SIZE)?;
        let i8s = |off: usize| -> [i8; 8] { u8s::<8>(b, off).map(|v| v as i8) };
        Ok(FrameCtrl {
            tile_info: TileInfo {
                flags: b[0],
                context_update_tile_id: b[1],
                tile_cols: b[2],
                tile_rows: b[3],
                // mi_col_starts[65] at 4, mi_row_starts[65] at 264
                width_in_sbs_minus_1: u32s(b, 524),
                height_in_sbs_minus_1: u32s(b, 780),
            },
            quantization: Quantization {
                flags: b[1040],
                base_q_idx: b[1041],
                delta_q_y_dc: b[1042] as i8,
                delta_q_u_dc: b[1043] as i8,
                delta_q_u_ac: b[1044] as i8,
                delta_q_v_dc: b[1045] as i8,
                delta_q_v_ac: b[1046] as i8,
                qm_y: b[1047],
                qm_u: b[1048],
                qm_v: b[1049],
                delta_q_res: b[1050],
            },
            superres_denom: b[1051],
            segmentation: Segmentation {
                flags: b[1052],
                // last_active_seg_id at 1053
                feature_enabled: u8s(b, 1054),
                feature_data: std::array::from_fn(|seg| {
                    std::array::from_fn(|f| i16_at(b, 1062 + 2 * (8 * seg + f)))
                }),
            },
            loop_filter: LoopFilter {
                flags: b[1190],
                level: u8s(b, 1191),
                sharpness: b[1195],
                ref_deltas: i8s(1196),
                mode_deltas: [b[1204] as i8, b[1205] as i8],
                delta_lf_res: b[1206],
            },
            cdef: Cdef {
                damping_minus_3: b[1207],
                bits: b[1208],
                y_pri_strength: u8s(b, 1209),
                y_sec_strength: u8s(b, 1217),
                uv_pri_strength: u8s(b, 1225),
                uv_sec_strength: u8s(b, 1233),
            },
            // skip_mode_frame[2] at 1241
            primary_ref_frame: b[1243],
            loop_restoration: LoopRestoration {
                // flags at 1244
                lr_unit_shift: b[1245],
                lr_uv_shift: b[1246],
                frame_restoration_type: u32s(b, 1248),
                loop_restoration_size: u32s(b, 1260),
            },
            global_motion: GlobalMotion {
                // flags[8] at 1272
                kind: u32s(b, 1280),
                params: std::array::from_fn(|r| {
                    std::array::from_fn(|i| i32_at(b, 1312 + 4 * (6 * r + i)))
                }),
            },
            flags: u32_at(b, 1508),
            frame_type: u32_at(b, 1512),
            order_hint: u32_at(b, 1516),
            upscaled_width: u32_at(b, 1520),
            interpolation_filter: u32_at(b, 1524),
            tx_mode: u32_at(b, 1528),
            frame_width_minus_1: u32_at(b, 1532),
            frame_height_minus_1: u32_at(b, 1536),
            render_width_minus_1: u16_at(b, 1540),
            render_height_minus_1: u16_at(b, 1542),
            // current_frame_id at 1544, buffer_removal_time[32] at 1548, order_hints[8] at 1676
            reference_frame_ts: std::array::from_fn(|i| u64_at(b, 1712 + 8 * i)),
            ref_frame_idx: u8s(b, 1776),
            refresh_frame_flags: b[1783],
        })
    }

    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }
}

/// `struct v4l2_ctrl_av1_film_grain`.
#[derive(Debug, Clone)]
pub struct FilmGrain {
    pub flags: u8,
    pub cr_mult: u8,
    pub grain_seed: u16,
    pub film_grain_params_ref_idx: u8,
    pub num_y_points: u8,
    pub point_y_value: [u8; 16],
    pub point_y_scaling: [u8; 16],
    pub num_cb_points: u8,
    pub point_cb_value: [u8; 16],
    pub point_cb_scaling: [u8; 16],
    pub num_cr_points: u8,
    pub point_cr_value: [u8; 16],
    pub point_cr_scaling: [u8; 16],
    pub grain_scaling_minus_8: u8,
    pub ar_coeff_lag: u8,
    pub ar_coeffs_y_plus_128: [u8; 24],
    pub ar_coeffs_cb_plus_128: [u8; 25],
    pub ar_coeffs_cr_plus_128: [u8; 25],
    pub ar_coeff_shift_minus_6: u8,
    pub grain_scale_shift: u8,
    pub cb_mult: u8,
    pub cb_luma_mult: u8,
    pub cr_luma_mult: u8,
    pub cb_offset: u16,
    pub cr_offset: u16,
}

impl FilmGrain {
    pub fn parse(data: &[u8]) -> Result<FilmGrain, Av1Error> {
        let g = sized(CID_FILM_GRAIN, data, FILM_GRAIN_SIZE)?;
        Ok(FilmGrain {
            flags: g[0],
            cr_mult: g[1],
            grain_seed: u16_at(g, 2),
            film_grain_params_ref_idx: g[4],
            num_y_points: g[5],
            point_y_value: u8s(g, 6),
            point_y_scaling: u8s(g, 22),
            num_cb_points: g[38],
            point_cb_value: u8s(g, 39),
            point_cb_scaling: u8s(g, 55),
            num_cr_points: g[71],
            point_cr_value: u8s(g, 72),
            point_cr_scaling: u8s(g, 88),
            grain_scaling_minus_8: g[104],
            ar_coeff_lag: g[105],
            ar_coeffs_y_plus_128: u8s(g, 106),
            ar_coeffs_cb_plus_128: u8s(g, 131),
            ar_coeffs_cr_plus_128: u8s(g, 156),
            ar_coeff_shift_minus_6: g[181],
            grain_scale_shift: g[182],
            cb_mult: g[183],
            cb_luma_mult: g[184],
            cr_luma_mult: g[185],
            cb_offset: u16_at(g, 186),
            cr_offset: u16_at(g, 188),
        })
    }
}
