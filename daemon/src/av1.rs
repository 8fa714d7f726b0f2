//! AV1 through the stateless uAPI: the client parses the OBUs itself and passes the sequence
//! header, the frame header and the film grain parameters only as V4L2 controls
//! (`struct v4l2_ctrl_av1_sequence`, `_frame`, `_film_grain` from `<linux/v4l2-controls.h>`);
//! the OUTPUT buffer holds the frame's tile data, at the offsets of the
//! `v4l2_ctrl_av1_tile_group_entry` array. A software decoder wants OBUs, so this module
//! rebuilds a sequence header OBU, a frame header OBU and one tile group OBU with every tile
//! (AV1 specification sections 5.5, 5.9 and 5.11) for libdav1d.
//!
//! What the controls do not carry cannot be rebuilt, and need not be: timing and decoder model
//! info, operating points, colour description (nothing that changes a decoded pixel), frame ids
//! (error detection only). Where a field is coded relative to decoder state the controls do not
//! carry (reference order hints in error-resilient frames, global motion parameters coded
//! against the primary reference frame's), [`Refs`] follows the reference slots the way the
//! decoder does.

#![forbid(unsafe_code)]

use thiserror::Error;

use crate::bits::{i16_at, i32_at, sized, u16_at, u32_at, BitWriter, CtrlError};

/// `V4L2_CID_STATELESS_AV1_*` control ids (`V4L2_CID_CODEC_STATELESS_BASE` 0xa40900 + n).
pub const CID_SEQUENCE: u32 = 0x00a4_0900 + 500;
pub const CID_TILE_GROUP_ENTRY: u32 = 0x00a4_0900 + 501;
pub const CID_FRAME: u32 = 0x00a4_0900 + 502;
pub const CID_FILM_GRAIN: u32 = 0x00a4_0900 + 505;

/// Sizes of the uAPI structs (their layout is fixed ABI).
const SEQUENCE_SIZE: usize = 12;
const TILE_GROUP_ENTRY_SIZE: usize = 16;
const FRAME_SIZE: usize = 1784;
const FILM_GRAIN_SIZE: usize = 194;

const SEQ_FLAG_STILL_PICTURE: u32 = 0x1;
const SEQ_FLAG_USE_128X128_SUPERBLOCK: u32 = 0x2;
const SEQ_FLAG_ENABLE_FILTER_INTRA: u32 = 0x4;
const SEQ_FLAG_ENABLE_INTRA_EDGE_FILTER: u32 = 0x8;
const SEQ_FLAG_ENABLE_INTERINTRA_COMPOUND: u32 = 0x10;
const SEQ_FLAG_ENABLE_MASKED_COMPOUND: u32 = 0x20;
const SEQ_FLAG_ENABLE_WARPED_MOTION: u32 = 0x40;
const SEQ_FLAG_ENABLE_DUAL_FILTER: u32 = 0x80;
const SEQ_FLAG_ENABLE_ORDER_HINT: u32 = 0x100;
const SEQ_FLAG_ENABLE_JNT_COMP: u32 = 0x200;
const SEQ_FLAG_ENABLE_REF_FRAME_MVS: u32 = 0x400;
const SEQ_FLAG_ENABLE_SUPERRES: u32 = 0x800;
const SEQ_FLAG_ENABLE_CDEF: u32 = 0x1000;
const SEQ_FLAG_ENABLE_RESTORATION: u32 = 0x2000;
const SEQ_FLAG_MONO_CHROME: u32 = 0x4000;
const SEQ_FLAG_COLOR_RANGE: u32 = 0x8000;
const SEQ_FLAG_SUBSAMPLING_X: u32 = 0x10000;
const SEQ_FLAG_SUBSAMPLING_Y: u32 = 0x20000;
const SEQ_FLAG_FILM_GRAIN_PARAMS_PRESENT: u32 = 0x40000;
const SEQ_FLAG_SEPARATE_UV_DELTA_Q: u32 = 0x80000;

const FRAME_FLAG_SHOW_FRAME: u32 = 0x1;
const FRAME_FLAG_SHOWABLE_FRAME: u32 = 0x2;
const FRAME_FLAG_ERROR_RESILIENT_MODE: u32 = 0x4;
const FRAME_FLAG_DISABLE_CDF_UPDATE: u32 = 0x8;
const FRAME_FLAG_ALLOW_SCREEN_CONTENT_TOOLS: u32 = 0x10;
const FRAME_FLAG_FORCE_INTEGER_MV: u32 = 0x20;
const FRAME_FLAG_ALLOW_INTRABC: u32 = 0x40;
const FRAME_FLAG_USE_SUPERRES: u32 = 0x80;
const FRAME_FLAG_ALLOW_HIGH_PRECISION_MV: u32 = 0x100;
const FRAME_FLAG_IS_MOTION_MODE_SWITCHABLE: u32 = 0x200;
const FRAME_FLAG_USE_REF_FRAME_MVS: u32 = 0x400;
const FRAME_FLAG_DISABLE_FRAME_END_UPDATE_CDF: u32 = 0x800;
const FRAME_FLAG_ALLOW_WARPED_MOTION: u32 = 0x1000;
const FRAME_FLAG_REFERENCE_SELECT: u32 = 0x2000;
const FRAME_FLAG_REDUCED_TX_SET: u32 = 0x4000;
const FRAME_FLAG_SKIP_MODE_PRESENT: u32 = 0x10000;
const FRAME_FLAG_FRAME_SIZE_OVERRIDE: u32 = 0x20000;

const TILE_INFO_FLAG_UNIFORM_TILE_SPACING: u8 = 0x1;
const QUANT_FLAG_DIFF_UV_DELTA: u8 = 0x1;
const QUANT_FLAG_USING_QMATRIX: u8 = 0x2;
const QUANT_FLAG_DELTA_Q_PRESENT: u8 = 0x4;
const SEG_FLAG_ENABLED: u8 = 0x1;
const SEG_FLAG_UPDATE_MAP: u8 = 0x2;
const SEG_FLAG_TEMPORAL_UPDATE: u8 = 0x4;
const SEG_FLAG_UPDATE_DATA: u8 = 0x8;
const LF_FLAG_DELTA_ENABLED: u8 = 0x1;
const LF_FLAG_DELTA_UPDATE: u8 = 0x2;
const LF_FLAG_DELTA_LF_PRESENT: u8 = 0x4;
const LF_FLAG_DELTA_LF_MULTI: u8 = 0x8;
const GRAIN_FLAG_APPLY_GRAIN: u8 = 0x1;
const GRAIN_FLAG_UPDATE_GRAIN: u8 = 0x2;
const GRAIN_FLAG_CHROMA_SCALING_FROM_LUMA: u8 = 0x4;
const GRAIN_FLAG_OVERLAP: u8 = 0x8;
const GRAIN_FLAG_CLIP_TO_RESTRICTED_RANGE: u8 = 0x10;

const KEY_FRAME: u32 = 0;
const INTER_FRAME: u32 = 1;
const INTRA_ONLY_FRAME: u32 = 2;
const SWITCH_FRAME: u32 = 3;
const PRIMARY_REF_NONE: u8 = 7;
const INTERP_SWITCHABLE: u32 = 4;
const TX_MODE_SELECT: u32 = 2;
const WARP_IDENTITY: u32 = 0;
const WARP_TRANSLATION: u32 = 1;
const WARP_ROTZOOM: u32 = 2;
const WARP_AFFINE: u32 = 3;
/// uAPI frame_restoration_type -> lr_type code (inverse of Remap_Lr_Type, 5.9.20).
const LR_TYPE_CODE: [u32; 4] = [0, 2, 3, 1];

const OBU_SEQUENCE_HEADER: u8 = 1;
const OBU_FRAME_HEADER: u8 = 3;
const OBU_TILE_GROUP: u8 = 4;

/// Default (identity) global motion parameters (5.9.24).
const GM_DEFAULT: [i32; 6] = [0, 0, 1 << 16, 0, 0, 1 << 16];

#[derive(Debug, Error, PartialEq)]
pub enum Av1Error {
    #[error(transparent)]
    Ctrl(#[from] CtrlError),
    #[error("unsupported stream: {0}")]
    Unsupported(String),
    #[error("invalid frame: {0}")]
    Invalid(String),
}

fn invalid<T>(what: String) -> Result<T, Av1Error> {
    Err(Av1Error::Invalid(what))
}

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

    fn has(&self, flag: u32) -> bool {
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

    fn order_hint_bits(&self) -> u32 {
        if self.has(SEQ_FLAG_ENABLE_ORDER_HINT) {
            u32::from(self.order_hint_bits)
        } else {
            0
        }
    }

    fn width_bits(&self) -> u32 {
        bits_for(u32::from(self.max_frame_width_minus_1))
    }

    fn height_bits(&self) -> u32 {
        bits_for(u32::from(self.max_frame_height_minus_1))
    }

    /// sequence_header_obu() (5.5): one operating point, no timing or decoder model info, no
    /// frame ids; screen content tools and integer MVs chosen per frame (each frame header
    /// then says what the client's said).
    pub fn push_obu(&self, out: &mut Vec<u8>) {
        let mut w = BitWriter::default();
        w.u(3, u32::from(self.seq_profile));
        w.flag(self.has(SEQ_FLAG_STILL_PICTURE));
        w.flag(false); // reduced_still_picture_header
        w.flag(false); // timing_info_present_flag
        w.flag(false); // initial_display_delay_present_flag
        w.u(5, 0); // operating_points_cnt_minus_1
        w.u(12, 0); // operating_point_idc[0]
        w.u(5, 31); // seq_level_idx[0]: no level constraints
        w.flag(false); // seq_tier[0]
        let (wb, hb) = (self.width_bits(), self.height_bits());
        w.u(4, wb - 1);
        w.u(4, hb - 1);
        w.u(wb, u32::from(self.max_frame_width_minus_1));
        w.u(hb, u32::from(self.max_frame_height_minus_1));
        w.flag(false); // frame_id_numbers_present_flag
        for flag in [
            SEQ_FLAG_USE_128X128_SUPERBLOCK,
            SEQ_FLAG_ENABLE_FILTER_INTRA,
            SEQ_FLAG_ENABLE_INTRA_EDGE_FILTER,
            SEQ_FLAG_ENABLE_INTERINTRA_COMPOUND,
            SEQ_FLAG_ENABLE_MASKED_COMPOUND,
            SEQ_FLAG_ENABLE_WARPED_MOTION,
            SEQ_FLAG_ENABLE_DUAL_FILTER,
            SEQ_FLAG_ENABLE_ORDER_HINT,
        ] {
            w.flag(self.has(flag));
        }
        if self.has(SEQ_FLAG_ENABLE_ORDER_HINT) {
            w.flag(self.has(SEQ_FLAG_ENABLE_JNT_COMP));
            w.flag(self.has(SEQ_FLAG_ENABLE_REF_FRAME_MVS));
        }
        w.flag(true); // seq_choose_screen_content_tools: SELECT_SCREEN_CONTENT_TOOLS
        w.flag(true); // seq_choose_integer_mv: SELECT_INTEGER_MV
        if self.has(SEQ_FLAG_ENABLE_ORDER_HINT) {
            w.u(3, self.order_hint_bits() - 1);
        }
        w.flag(self.has(SEQ_FLAG_ENABLE_SUPERRES));
        w.flag(self.has(SEQ_FLAG_ENABLE_CDEF));
        w.flag(self.has(SEQ_FLAG_ENABLE_RESTORATION));
        // color_config() (5.5.2), main profile
        w.flag(self.bit_depth > 8); // high_bitdepth
        w.flag(false); // mono_chrome
        w.flag(false); // color_description_present_flag
        w.flag(self.has(SEQ_FLAG_COLOR_RANGE));
        w.u(2, 0); // chroma_sample_position: CSP_UNKNOWN
        w.flag(self.has(SEQ_FLAG_SEPARATE_UV_DELTA_Q));
        w.flag(self.has(SEQ_FLAG_FILM_GRAIN_PARAMS_PRESENT));
        w.trailing_bits();
        push_obu(out, OBU_SEQUENCE_HEADER, &w.into_bytes());
    }
}

/// Bits needed to code `v` (at least 1).
fn bits_for(v: u32) -> u32 {
    (32 - v.leading_zeros()).max(1)
}

/// Append an OBU header with obu_has_size_field and the payload size (5.3) to `out`.
fn obu_header(out: &mut Vec<u8>, obu_type: u8, payload_len: usize) {
    out.push((obu_type << 3) | 0x02);
    let mut n = payload_len;
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Append an OBU (header and payload) to `out`.
fn push_obu(out: &mut Vec<u8>, obu_type: u8, payload: &[u8]) {
    obu_header(out, obu_type, payload.len());
    out.extend_from_slice(payload);
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

/// The reference slots as the decoder keeps them, for what frame headers code against them.
#[derive(Debug, Clone)]
pub struct Refs {
    order_hint: [u32; 8],
    /// SavedGmParams per slot, per reference frame (index 0, INTRA_FRAME, unused).
    gm: [[[i32; 6]; 8]; 8],
}

impl Default for Refs {
    fn default() -> Refs {
        Refs {
            order_hint: [0; 8],
            gm: [[GM_DEFAULT; 8]; 8],
        }
    }
}

/// The controls of one AV1 decode job.
pub struct Frame<'a> {
    pub seq: Sequence,
    b: &'a [u8],
    grain: Option<&'a [u8]>,
    pub tiles: Vec<TileEntry>,
}

/// What the frame header's tile_info() decided, for the tile group.
struct TileLayout {
    cols: u32,
    rows: u32,
}

impl<'a> Frame<'a> {
    /// The job's controls, by id.
    pub fn from_ctrls(find: impl Fn(u32) -> Option<&'a [u8]>) -> Result<Frame<'a>, Av1Error> {
        let need = |id| find(id).ok_or(CtrlError::Missing(id));
        let seq = Sequence::parse(need(CID_SEQUENCE)?)?;
        seq.check_supported()?;
        let b = sized(CID_FRAME, need(CID_FRAME)?, FRAME_SIZE)?;
        let grain = find(CID_FILM_GRAIN)
            .map(|g| sized(CID_FILM_GRAIN, g, FILM_GRAIN_SIZE))
            .transpose()?;
        let tiles = TileEntry::parse_all(need(CID_TILE_GROUP_ENTRY)?)?;
        Ok(Frame {
            seq,
            b,
            grain,
            tiles,
        })
    }

    fn flags(&self) -> u32 {
        u32_at(self.b, 1508)
    }
    fn has(&self, flag: u32) -> bool {
        self.flags() & flag != 0
    }
    fn frame_type(&self) -> u32 {
        u32_at(self.b, 1512)
    }
    fn order_hint(&self) -> u32 {
        u32_at(self.b, 1516)
    }
    fn intra(&self) -> bool {
        matches!(self.frame_type(), KEY_FRAME | INTRA_ONLY_FRAME)
    }
    pub fn shown(&self) -> bool {
        self.has(FRAME_FLAG_SHOW_FRAME)
    }
    fn ref_frame_idx(&self, i: usize) -> usize {
        (self.b[1776 + i] as usize) & 7
    }
    /// UpscaledWidth, FrameWidth, FrameHeight.
    fn size(&self) -> (u32, u32, u32) {
        let width = u32_at(self.b, 1532) + 1;
        let upscaled = if self.has(FRAME_FLAG_USE_SUPERRES) {
            u32_at(self.b, 1520)
        } else {
            width
        };
        (upscaled, width, u32_at(self.b, 1536) + 1)
    }
    fn superres_denom(&self) -> u32 {
        u32::from(self.b[1051])
    }
    fn refresh_frame_flags(&self) -> u8 {
        if self.frame_type() == SWITCH_FRAME || (self.frame_type() == KEY_FRAME && self.shown()) {
            0xff
        } else {
            self.b[1783]
        }
    }
    fn gm_type(&self, r: usize) -> u32 {
        u32_at(self.b, 1280 + 4 * r)
    }
    fn gm_param(&self, r: usize, i: usize) -> i32 {
        i32_at(self.b, 1312 + 4 * (6 * r + i))
    }
    /// This frame's gm_params as the decoder ends up with them (5.9.24).
    fn gm_params(&self) -> [[i32; 6]; 8] {
        let mut out = [GM_DEFAULT; 8];
        if self.intra() {
            return out;
        }
        for (r, p) in out.iter_mut().enumerate().skip(1) {
            let t = self.gm_type(r);
            if t >= WARP_ROTZOOM {
                p[2] = self.gm_param(r, 2);
                p[3] = self.gm_param(r, 3);
                if t == WARP_AFFINE {
                    p[4] = self.gm_param(r, 4);
                    p[5] = self.gm_param(r, 5);
                } else {
                    p[4] = -p[3];
                    p[5] = p[2];
                }
            }
            if t >= WARP_TRANSLATION {
                p[0] = self.gm_param(r, 0);
                p[1] = self.gm_param(r, 1);
            }
        }
        out
    }

    /// The decoder's reference slots after this frame (7.20).
    pub fn update_refs(&self, refs: &mut Refs) {
        let gm = self.gm_params();
        let refresh = self.refresh_frame_flags();
        for slot in 0..8 {
            if refresh & (1 << slot) != 0 {
                refs.order_hint[slot] = self.order_hint();
                refs.gm[slot] = gm;
            }
        }
    }

    /// Append the frame header OBU and the tile group OBU of this frame, its tiles taken from
    /// `data`, to `out`.
    pub fn push_obus(&self, refs: &Refs, data: &[u8], out: &mut Vec<u8>) -> Result<(), Av1Error> {
        let (header, layout) = self.frame_header(refs)?;
        push_obu(out, OBU_FRAME_HEADER, &header);
        self.push_tile_group(&layout, data, out)
    }

    /// uncompressed_header() (5.9.2) with trailing bits.
    fn frame_header(&self, refs: &Refs) -> Result<(Vec<u8>, TileLayout), Av1Error> {
        let (s, b) = (&self.seq, self.b);
        let mut w = BitWriter::default();
        let frame_type = self.frame_type();
        if frame_type > SWITCH_FRAME {
            return invalid(format!("frame_type {frame_type}"));
        }
        let intra = self.intra();
        let show = self.shown();
        w.flag(false); // show_existing_frame
        w.u(2, frame_type);
        w.flag(show);
        if !show {
            w.flag(self.has(FRAME_FLAG_SHOWABLE_FRAME));
        }
        let error_resilient = if frame_type == SWITCH_FRAME || (frame_type == KEY_FRAME && show) {
            true
        } else {
            let e = self.has(FRAME_FLAG_ERROR_RESILIENT_MODE);
            w.flag(e);
            e
        };
        let disable_cdf_update = self.has(FRAME_FLAG_DISABLE_CDF_UPDATE);
        w.flag(disable_cdf_update);
        let screen_content = self.has(FRAME_FLAG_ALLOW_SCREEN_CONTENT_TOOLS);
        w.flag(screen_content);
        let mut force_integer_mv = false;
        if screen_content {
            force_integer_mv = self.has(FRAME_FLAG_FORCE_INTEGER_MV);
            w.flag(force_integer_mv);
        }
        let force_integer_mv = force_integer_mv || intra;
        let (upscaled_width, frame_width, frame_height) = self.size();
        let max_w = u32::from(s.max_frame_width_minus_1) + 1;
        let max_h = u32::from(s.max_frame_height_minus_1) + 1;
        if upscaled_width > max_w || frame_height > max_h {
            return invalid(format!(
                "{upscaled_width}x{frame_height} exceeds the sequence's {max_w}x{max_h}"
            ));
        }
        let size_override = if frame_type == SWITCH_FRAME {
            true
        } else {
            let o = self.has(FRAME_FLAG_FRAME_SIZE_OVERRIDE)
                || upscaled_width != max_w
                || frame_height != max_h;
            w.flag(o);
            o
        };
        let hint_bits = s.order_hint_bits();
        w.u(hint_bits, self.order_hint());
        let primary_ref_frame = if intra || error_resilient {
            PRIMARY_REF_NONE
        } else {
            let p = b[1243];
            if p > PRIMARY_REF_NONE {
                return invalid(format!("primary_ref_frame {p}"));
            }
            w.u(3, u32::from(p));
            p
        };
        let refresh = self.refresh_frame_flags();
        if !(frame_type == SWITCH_FRAME || (frame_type == KEY_FRAME && show)) {
            w.u(8, u32::from(refresh));
        }
        if (!intra || refresh != 0xff) && error_resilient && hint_bits > 0 {
            for hint in refs.order_hint {
                w.u(hint_bits, hint); // ref_order_hint[i]: what the decoder has
            }
        }
        let mut allow_intrabc = false;
        let mut allow_high_precision_mv = false;
        if intra {
            self.frame_size(&mut w, size_override);
            self.render_size(&mut w);
            if screen_content && upscaled_width == frame_width {
                allow_intrabc = self.has(FRAME_FLAG_ALLOW_INTRABC);
                w.flag(allow_intrabc);
            }
        } else {
            if s.has(SEQ_FLAG_ENABLE_ORDER_HINT) {
                w.flag(false); // frame_refs_short_signaling: the indices, explicitly
            }
            for i in 0..7 {
                w.u(3, self.ref_frame_idx(i) as u32);
            }
            if size_override && !error_resilient {
                for _ in 0..7 {
                    w.flag(false); // found_ref: the size, explicitly
                }
            }
            self.frame_size(&mut w, size_override);
            self.render_size(&mut w);
            if !force_integer_mv {
                allow_high_precision_mv = self.has(FRAME_FLAG_ALLOW_HIGH_PRECISION_MV);
                w.flag(allow_high_precision_mv);
            }
            let filter = u32_at(b, 1524);
            w.flag(filter == INTERP_SWITCHABLE);
            if filter != INTERP_SWITCHABLE {
                w.u(2, filter);
            }
            w.flag(self.has(FRAME_FLAG_IS_MOTION_MODE_SWITCHABLE));
            if !error_resilient && s.has(SEQ_FLAG_ENABLE_REF_FRAME_MVS) {
                w.flag(self.has(FRAME_FLAG_USE_REF_FRAME_MVS));
            }
        }
        if !disable_cdf_update {
            w.flag(self.has(FRAME_FLAG_DISABLE_FRAME_END_UPDATE_CDF));
        }
        let layout = self.tile_info(&mut w, frame_width, frame_height)?;

        // quantization_params() (5.9.12)
        let q = |i: usize| b[1040 + i];
        let qs = |i: usize| b[1040 + i] as i8 as i32;
        let base_q_idx = u32::from(q(1));
        let separate_uv = s.has(SEQ_FLAG_SEPARATE_UV_DELTA_Q);
        let delta_q = |w: &mut BitWriter, v: i32| {
            w.flag(v != 0);
            if v != 0 {
                w.su(7, v);
            }
        };
        w.u(8, base_q_idx);
        let (y_dc, u_dc, u_ac) = (qs(2), qs(3), qs(4));
        delta_q(&mut w, y_dc);
        let diff_uv = separate_uv && q(0) & QUANT_FLAG_DIFF_UV_DELTA != 0;
        if separate_uv {
            w.flag(diff_uv);
        }
        delta_q(&mut w, u_dc);
        delta_q(&mut w, u_ac);
        let (v_dc, v_ac) = if diff_uv {
            delta_q(&mut w, qs(5));
            delta_q(&mut w, qs(6));
            (qs(5), qs(6))
        } else {
            (u_dc, u_ac)
        };
        let qmatrix = q(0) & QUANT_FLAG_USING_QMATRIX != 0;
        w.flag(qmatrix);
        if qmatrix {
            w.u(4, u32::from(q(7)));
            w.u(4, u32::from(q(8)));
            if separate_uv {
                w.u(4, u32::from(q(9)));
            }
        }

        // segmentation_params() (5.9.14)
        let seg_flags = b[1052];
        let seg_enabled = seg_flags & SEG_FLAG_ENABLED != 0;
        let feature_enabled = |seg: usize| b[1054 + seg];
        let feature_data = |seg: usize, f: usize| i32::from(i16_at(b, 1062 + 2 * (8 * seg + f)));
        w.flag(seg_enabled);
        if seg_enabled {
            let update_data = if primary_ref_frame == PRIMARY_REF_NONE {
                true
            } else {
                let update_map = seg_flags & SEG_FLAG_UPDATE_MAP != 0;
                w.flag(update_map);
                if update_map {
                    w.flag(seg_flags & SEG_FLAG_TEMPORAL_UPDATE != 0);
                }
                let u = seg_flags & SEG_FLAG_UPDATE_DATA != 0;
                w.flag(u);
                u
            };
            if update_data {
                const BITS: [u32; 8] = [8, 6, 6, 6, 6, 3, 0, 0];
                const MAX: [i32; 8] = [255, 63, 63, 63, 63, 7, 0, 0];
                for seg in 0..8 {
                    for f in 0..8 {
                        let on = feature_enabled(seg) & (1 << f) != 0;
                        w.flag(on);
                        if on && BITS[f] > 0 {
                            if f < 5 {
                                let v = feature_data(seg, f).clamp(-MAX[f], MAX[f]);
                                w.su(1 + BITS[f], v);
                            } else {
                                w.u(BITS[f], feature_data(seg, f).clamp(0, MAX[f]) as u32);
                            }
                        }
                    }
                }
            }
        }

        // delta_q_params(), delta_lf_params() (5.9.17, 5.9.18)
        let lf = |i: usize| b[1190 + i];
        let mut delta_q_present = false;
        if base_q_idx > 0 {
            delta_q_present = q(0) & QUANT_FLAG_DELTA_Q_PRESENT != 0;
            w.flag(delta_q_present);
            if delta_q_present {
                w.u(2, u32::from(q(10)));
            }
        }
        if delta_q_present && !allow_intrabc {
            let present = lf(0) & LF_FLAG_DELTA_LF_PRESENT != 0;
            w.flag(present);
            if present {
                w.u(2, u32::from(lf(16)));
                w.flag(lf(0) & LF_FLAG_DELTA_LF_MULTI != 0);
            }
        }

        // CodedLossless, AllLossless (5.9.2)
        let coded_lossless = (0..8).all(|seg| {
            let qindex = if seg_enabled && feature_enabled(seg) & 1 != 0 {
                (base_q_idx as i32 + feature_data(seg, 0)).clamp(0, 255)
            } else {
                base_q_idx as i32
            };
            qindex == 0
        }) && [y_dc, u_dc, u_ac, v_dc, v_ac].iter().all(|&d| d == 0);
        let all_lossless = coded_lossless && frame_width == upscaled_width;

        // loop_filter_params() (5.9.11)
        if !(coded_lossless || allow_intrabc) {
            w.u(6, u32::from(lf(1)));
            w.u(6, u32::from(lf(2)));
            if lf(1) != 0 || lf(2) != 0 {
                w.u(6, u32::from(lf(3)));
                w.u(6, u32::from(lf(4)));
            }
            w.u(3, u32::from(lf(5)));
            let delta_enabled = lf(0) & LF_FLAG_DELTA_ENABLED != 0;
            w.flag(delta_enabled);
            if delta_enabled {
                // every delta, updated to the value the control gives
                let update = lf(0) & LF_FLAG_DELTA_UPDATE != 0;
                w.flag(update);
                if update {
                    for i in 6..16 {
                        w.flag(true);
                        w.su(7, i32::from(lf(i) as i8));
                    }
                }
            }
        }

        // cdef_params() (5.9.19)
        if !(coded_lossless || allow_intrabc || !s.has(SEQ_FLAG_ENABLE_CDEF)) {
            let c = |i: usize| u32::from(b[1207 + i]);
            // the uAPI holds secondary strengths as used (3 coded means 4)
            let sec = |v: u32| if v == 4 { 3 } else { v };
            w.u(2, c(0));
            w.u(2, c(1));
            for i in 0..(1usize << c(1)) {
                w.u(4, c(2 + i));
                w.u(2, sec(c(10 + i)));
                w.u(4, c(18 + i));
                w.u(2, sec(c(26 + i)));
            }
        }

        // lr_params() (5.9.20)
        if !(all_lossless || allow_intrabc || !s.has(SEQ_FLAG_ENABLE_RESTORATION)) {
            let lr_type = |p: usize| u32_at(b, 1248 + 4 * p);
            let lr_size = |p: usize| u32_at(b, 1260 + 4 * p);
            let (mut uses_lr, mut uses_chroma_lr) = (false, false);
            for p in 0..3 {
                let t = lr_type(p);
                if t > 3 {
                    return invalid(format!("frame_restoration_type {t}"));
                }
                w.u(2, LR_TYPE_CODE[t as usize]);
                if t != 0 {
                    uses_lr = true;
                    uses_chroma_lr |= p > 0;
                }
            }
            if uses_lr {
                let log2 = |v: u32| 31 - v.leading_zeros();
                // LoopRestorationSize[0] = 64 << lr_unit_shift
                let shift = if lr_size(0) >= 64 {
                    log2(lr_size(0)) - 6
                } else {
                    u32::from(b[1245])
                };
                if s.has(SEQ_FLAG_USE_128X128_SUPERBLOCK) {
                    w.u(1, shift.saturating_sub(1));
                } else {
                    w.flag(shift > 0);
                    if shift > 0 {
                        w.u(1, shift - 1);
                    }
                }
                if uses_chroma_lr {
                    let uv_shift = if lr_size(0) >= 64 && lr_size(1) >= 32 {
                        log2(lr_size(0)) - log2(lr_size(1))
                    } else {
                        u32::from(b[1246])
                    };
                    w.u(1, uv_shift);
                }
            }
        }

        // read_tx_mode(), frame_reference_mode(), skip_mode_params() (5.9.21-5.9.23)
        if !coded_lossless {
            w.flag(u32_at(b, 1528) == TX_MODE_SELECT);
        }
        let reference_select = !intra && self.has(FRAME_FLAG_REFERENCE_SELECT);
        if !intra {
            w.flag(reference_select);
        }
        if reference_select && self.skip_mode_allowed(refs) {
            w.flag(self.has(FRAME_FLAG_SKIP_MODE_PRESENT));
        }
        if !(intra || error_resilient || !s.has(SEQ_FLAG_ENABLE_WARPED_MOTION)) {
            w.flag(self.has(FRAME_FLAG_ALLOW_WARPED_MOTION));
        }
        w.flag(self.has(FRAME_FLAG_REDUCED_TX_SET));

        // global_motion_params() (5.9.24)
        if !intra {
            let prev = if primary_ref_frame == PRIMARY_REF_NONE {
                [GM_DEFAULT; 8]
            } else {
                refs.gm[self.ref_frame_idx(usize::from(primary_ref_frame))]
            };
            let cur = self.gm_params();
            for r in 1..8 {
                let t = self.gm_type(r);
                if t > WARP_AFFINE {
                    return invalid(format!("global motion type {t}"));
                }
                w.flag(t != WARP_IDENTITY);
                if t != WARP_IDENTITY {
                    w.flag(t == WARP_ROTZOOM);
                    if t != WARP_ROTZOOM {
                        w.flag(t == WARP_TRANSLATION);
                    }
                }
                let param = |w: &mut BitWriter, i: usize| {
                    global_param(w, t, i, allow_high_precision_mv, prev[r][i], cur[r][i])
                };
                if t >= WARP_ROTZOOM {
                    param(&mut w, 2);
                    param(&mut w, 3);
                    if t == WARP_AFFINE {
                        param(&mut w, 4);
                        param(&mut w, 5);
                    }
                }
                if t >= WARP_TRANSLATION {
                    param(&mut w, 0);
                    param(&mut w, 1);
                }
            }
        }

        self.film_grain_params(&mut w);
        w.trailing_bits();
        Ok((w.into_bytes(), layout))
    }

    /// frame_size() and superres_params() (5.9.5, 5.9.8).
    fn frame_size(&self, w: &mut BitWriter, size_override: bool) {
        let (upscaled_width, _, frame_height) = self.size();
        if size_override {
            w.u(self.seq.width_bits(), upscaled_width - 1);
            w.u(self.seq.height_bits(), frame_height - 1);
        }
        if self.seq.has(SEQ_FLAG_ENABLE_SUPERRES) {
            let superres = self.has(FRAME_FLAG_USE_SUPERRES);
            w.flag(superres);
            if superres {
                w.u(3, self.superres_denom().clamp(9, 16) - 9);
            }
        }
    }

    /// render_size() (5.9.6).
    fn render_size(&self, w: &mut BitWriter) {
        let (upscaled_width, _, frame_height) = self.size();
        let rw = u32::from(u16_at(self.b, 1540)) + 1;
        let rh = u32::from(u16_at(self.b, 1542)) + 1;
        let different = rw != upscaled_width || rh != frame_height;
        w.flag(different);
        if different {
            w.u(16, rw - 1);
            w.u(16, rh - 1);
        }
    }

    /// tile_info() (5.9.15): the client's tile layout, uniformly spaced where it was and that
    /// spacing reproduces it, else tile by tile. Tile sizes in the tile group take 4 bytes.
    fn tile_info(
        &self,
        w: &mut BitWriter,
        frame_width: u32,
        frame_height: u32,
    ) -> Result<TileLayout, Av1Error> {
        let b = self.b;
        let mi_cols = 2 * ((frame_width + 7) >> 3);
        let mi_rows = 2 * ((frame_height + 7) >> 3);
        let sb_shift = if self.seq.has(SEQ_FLAG_USE_128X128_SUPERBLOCK) {
            5
        } else {
            4
        };
        let sb_cols = (mi_cols + (1 << sb_shift) - 1) >> sb_shift;
        let sb_rows = (mi_rows + (1 << sb_shift) - 1) >> sb_shift;
        let sb_size = sb_shift + 2;
        let max_tile_width_sb = 4096 >> sb_size;
        let max_tile_area_sb = (4096 * 2304) >> (2 * sb_size);
        let min_log2_tile_cols = tile_log2(max_tile_width_sb, sb_cols);
        let max_log2_tile_cols = tile_log2(1, sb_cols.min(64));
        let max_log2_tile_rows = tile_log2(1, sb_rows.min(64));
        let min_log2_tiles = min_log2_tile_cols.max(tile_log2(max_tile_area_sb, sb_rows * sb_cols));
        let (cols, rows) = (u32::from(b[2]), u32::from(b[3]));
        if cols == 0 || rows == 0 || cols > 64 || rows > 64 {
            return invalid(format!("{cols}x{rows} tiles"));
        }
        // tiles of 2^log2 superblock columns (or rows) each, as uniform spacing makes them
        let uniform_count = |sbs: u32, log2: u32| {
            let size = (sbs + (1 << log2) - 1) >> log2;
            sbs.div_ceil(size)
        };
        let uniform_cols =
            (min_log2_tile_cols..=max_log2_tile_cols).find(|&l| uniform_count(sb_cols, l) == cols);
        let uniform = uniform_cols.and_then(|cl| {
            let min_log2_tile_rows = min_log2_tiles.saturating_sub(cl);
            (min_log2_tile_rows..=max_log2_tile_rows)
                .find(|&l| uniform_count(sb_rows, l) == rows)
                .map(|rl| (cl, rl, min_log2_tile_rows))
        });
        let (cols_log2, rows_log2) = match uniform {
            Some((cl, rl, min_rl)) if b[0] & TILE_INFO_FLAG_UNIFORM_TILE_SPACING != 0 => {
                w.flag(true);
                for _ in min_log2_tile_cols..cl {
                    w.flag(true); // increment_tile_cols_log2
                }
                if cl < max_log2_tile_cols {
                    w.flag(false);
                }
                for _ in min_rl..rl {
                    w.flag(true); // increment_tile_rows_log2
                }
                if rl < max_log2_tile_rows {
                    w.flag(false);
                }
                (cl, rl)
            }
            _ => {
                w.flag(false);
                let width = |i: usize| u32_at(b, 524 + 4 * i) + 1;
                let height = |i: usize| u32_at(b, 780 + 4 * i) + 1;
                let (mut start, mut widest) = (0, 0);
                for i in 0..cols as usize {
                    let max = (sb_cols.saturating_sub(start)).min(max_tile_width_sb);
                    if width(i) > max {
                        return invalid(format!("tile column {i} is {} superblocks", width(i)));
                    }
                    w.ns(max, width(i) - 1);
                    widest = widest.max(width(i));
                    start += width(i);
                }
                if start != sb_cols {
                    return invalid(format!(
                        "tile columns cover {start} of {sb_cols} superblocks"
                    ));
                }
                let area = if min_log2_tiles > 0 {
                    (sb_rows * sb_cols) >> (min_log2_tiles + 1)
                } else {
                    sb_rows * sb_cols
                };
                let max_tile_height_sb = (area / widest).max(1);
                start = 0;
                for i in 0..rows as usize {
                    let max = (sb_rows.saturating_sub(start)).min(max_tile_height_sb);
                    if height(i) > max {
                        return invalid(format!("tile row {i} is {} superblocks", height(i)));
                    }
                    w.ns(max, height(i) - 1);
                    start += height(i);
                }
                if start != sb_rows {
                    return invalid(format!("tile rows cover {start} of {sb_rows} superblocks"));
                }
                (tile_log2(1, cols), tile_log2(1, rows))
            }
        };
        if cols_log2 > 0 || rows_log2 > 0 {
            w.u(cols_log2 + rows_log2, u32::from(b[1])); // context_update_tile_id
            w.u(2, 3); // tile_size_bytes_minus_1: 4-byte tile sizes
        }
        Ok(TileLayout { cols, rows })
    }

    /// skipModeAllowed (5.9.22), from the order hints the decoder holds for the references.
    fn skip_mode_allowed(&self, refs: &Refs) -> bool {
        let bits = self.seq.order_hint_bits();
        if bits == 0 {
            return false;
        }
        let dist = |a: u32, b: u32| {
            let m = 1i32 << (bits - 1);
            let diff = a as i32 - b as i32;
            (diff & (m - 1)) - (diff & m)
        };
        let cur = self.order_hint();
        let hints: Vec<u32> = (0..7)
            .map(|i| refs.order_hint[self.ref_frame_idx(i)])
            .collect();
        let mut forward: Option<u32> = None;
        let mut backward: Option<u32> = None;
        for &h in &hints {
            if dist(h, cur) < 0 {
                if forward.is_none_or(|f| dist(h, f) > 0) {
                    forward = Some(h);
                }
            } else if dist(h, cur) > 0 && backward.is_none_or(|bw| dist(h, bw) < 0) {
                backward = Some(h);
            }
        }
        match (forward, backward) {
            (None, _) => false,
            (Some(_), Some(_)) => true,
            (Some(f), None) => hints.iter().any(|&h| dist(h, f) < 0),
        }
    }

    /// film_grain_params() (5.9.30). Without the control, no grain.
    fn film_grain_params(&self, w: &mut BitWriter) {
        let s = &self.seq;
        if !s.has(SEQ_FLAG_FILM_GRAIN_PARAMS_PRESENT)
            || (!self.shown() && !self.has(FRAME_FLAG_SHOWABLE_FRAME))
        {
            return;
        }
        let Some(g) = self.grain else {
            w.flag(false); // apply_grain
            return;
        };
        let apply = g[0] & GRAIN_FLAG_APPLY_GRAIN != 0;
        w.flag(apply);
        if !apply {
            return;
        }
        w.u(16, u32::from(u16_at(g, 2))); // grain_seed
        let update = if self.frame_type() == INTER_FRAME {
            let u = g[0] & GRAIN_FLAG_UPDATE_GRAIN != 0;
            w.flag(u);
            u
        } else {
            true
        };
        if !update {
            w.u(3, u32::from(g[4]) & 7); // film_grain_params_ref_idx
            return;
        }
        let u8s = |w: &mut BitWriter, off: usize, n: usize| {
            for &v in &g[off..off + n] {
                w.u(8, u32::from(v));
            }
        };
        let points = |w: &mut BitWriter, count: usize, value: usize, scaling: usize| {
            w.u(4, count as u32);
            for i in 0..count {
                w.u(8, u32::from(g[value + i]));
                w.u(8, u32::from(g[scaling + i]));
            }
        };
        let num_y = usize::from(g[5]).min(14);
        points(w, num_y, 6, 22);
        let from_luma = g[0] & GRAIN_FLAG_CHROMA_SCALING_FROM_LUMA != 0;
        w.flag(from_luma);
        let (num_cb, num_cr) = if from_luma || num_y == 0 {
            (0, 0)
        } else {
            let (cb, cr) = (usize::from(g[38]).min(10), usize::from(g[71]).min(10));
            points(w, cb, 39, 55);
            points(w, cr, 72, 88);
            (cb, cr)
        };
        w.u(2, u32::from(g[104]) & 3); // grain_scaling_minus_8
        let lag = usize::from(g[105]) & 3;
        w.u(2, lag as u32);
        let num_pos_luma = 2 * lag * (lag + 1);
        let num_pos_chroma = if num_y > 0 {
            u8s(w, 106, num_pos_luma);
            num_pos_luma + 1
        } else {
            num_pos_luma
        };
        if from_luma || num_cb > 0 {
            u8s(w, 131, num_pos_chroma);
        }
        if from_luma || num_cr > 0 {
            u8s(w, 156, num_pos_chroma);
        }
        w.u(2, u32::from(g[181]) & 3); // ar_coeff_shift_minus_6
        w.u(2, u32::from(g[182]) & 3); // grain_scale_shift
        if num_cb > 0 {
            w.u(8, u32::from(g[183])); // cb_mult
            w.u(8, u32::from(g[184])); // cb_luma_mult
            w.u(9, u32::from(u16_at(g, 186))); // cb_offset
        }
        if num_cr > 0 {
            w.u(8, u32::from(g[1])); // cr_mult
            w.u(8, u32::from(g[185])); // cr_luma_mult
            w.u(9, u32::from(u16_at(g, 188))); // cr_offset
        }
        w.flag(g[0] & GRAIN_FLAG_OVERLAP != 0);
        w.flag(g[0] & GRAIN_FLAG_CLIP_TO_RESTRICTED_RANGE != 0);
    }

    /// tile_group_obu() (5.11.1), appended to `out`: every tile of the frame, in tile order,
    /// each but the last behind its 4-byte size. The tile data is copied once, from `data`.
    fn push_tile_group(
        &self,
        layout: &TileLayout,
        data: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), Av1Error> {
        let n = (layout.cols * layout.rows) as usize;
        let mut tiles: Vec<Option<&[u8]>> = vec![None; n];
        for t in &self.tiles {
            if t.row >= layout.rows || t.col >= layout.cols {
                return invalid(format!("tile ({}, {}) outside the layout", t.row, t.col));
            }
            let end = t.offset as usize + t.size as usize;
            if t.size == 0 || end > data.len() {
                return invalid(format!(
                    "tile ({}, {}) at {}+{} outside the {}-byte buffer",
                    t.row,
                    t.col,
                    t.offset,
                    t.size,
                    data.len()
                ));
            }
            tiles[(t.row * layout.cols + t.col) as usize] = Some(&data[t.offset as usize..end]);
        }
        if let Some(i) = tiles.iter().position(Option::is_none) {
            return invalid(format!("tile {i} of {n} missing"));
        }
        let tiles = tiles.into_iter().flatten();
        // tile_start_and_end_present_flag (0) and byte alignment: one zero byte, with several
        // tiles; then each tile's size but the last's
        let head = usize::from(n > 1);
        let len = head + 4 * (n - 1) + tiles.clone().map(<[u8]>::len).sum::<usize>();
        obu_header(out, OBU_TILE_GROUP, len);
        out.resize(out.len() + head, 0);
        for (i, tile) in tiles.enumerate() {
            if i + 1 < n {
                out.extend_from_slice(&(tile.len() as u32 - 1).to_le_bytes());
            }
            out.extend_from_slice(tile);
        }
        Ok(())
    }
}

/// Smallest k with blk << k >= target (5.9.15).
fn tile_log2(blk: u32, target: u32) -> u32 {
    let mut k = 0;
    while (blk << k) < target {
        k += 1;
    }
    k
}

/// read_global_param() (5.9.25) in reverse: code `cur` against `prev`.
fn global_param(w: &mut BitWriter, t: u32, idx: usize, hp: bool, prev: i32, cur: i32) {
    let (abs_bits, prec_bits) = if idx < 2 {
        if t == WARP_TRANSLATION {
            (9 - u32::from(!hp), 3 - u32::from(!hp))
        } else {
            (12, 6)
        }
    } else {
        (12, 15)
    };
    let prec_diff = 16 - prec_bits;
    let round = if idx % 3 == 2 { 1 << 16 } else { 0 };
    let sub = if idx % 3 == 2 { 1 << prec_bits } else { 0 };
    let mx = 1i32 << abs_bits;
    let r = (prev >> prec_diff) - sub;
    let v = ((cur - round) >> prec_diff).clamp(-mx, mx);
    // decode_signed_subexp_with_ref(-mx, mx + 1, r)
    let (low, high) = (-mx, mx + 1);
    unsigned_subexp_with_ref(w, (high - low) as u32, (r - low) as u32, (v - low) as u32);
}

/// decode_unsigned_subexp_with_ref() (5.9.27) in reverse.
fn unsigned_subexp_with_ref(w: &mut BitWriter, mx: u32, r: u32, v: u32) {
    let x = if (r << 1) <= mx {
        recenter(r, v)
    } else {
        recenter(mx - 1 - r, mx - 1 - v)
    };
    subexp(w, mx, x);
}

/// The inverse of inverse_recenter() (5.9.28).
fn recenter(r: u32, v: u32) -> u32 {
    if v > 2 * r {
        v
    } else if v >= r {
        (v - r) << 1
    } else {
        ((r - v) << 1) - 1
    }
}

/// decode_subexp() (5.9.26) in reverse.
fn subexp(w: &mut BitWriter, num_syms: u32, x: u32) {
    let (mut i, mut mk, k) = (0, 0, 3);
    loop {
        let b2 = if i > 0 { k + i - 1 } else { k };
        let a = 1 << b2;
        if num_syms <= mk + 3 * a {
            w.ns(num_syms - mk, x - mk);
            return;
        }
        if x >= mk + a {
            w.flag(true);
            i += 1;
            mk += a;
        } else {
            w.flag(false);
            w.u(b2, x - mk);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bit reader with the specification's decoding of the codes above.
    struct Reader<'a> {
        bits: &'a [u8],
        pos: usize,
    }

    impl Reader<'_> {
        fn f(&mut self, n: u32) -> u32 {
            let mut v = 0;
            for _ in 0..n {
                let bit = (self.bits[self.pos / 8] >> (7 - self.pos % 8)) & 1;
                v = (v << 1) | u32::from(bit);
                self.pos += 1;
            }
            v
        }
        fn ns(&mut self, n: u32) -> u32 {
            let w = 32 - n.leading_zeros();
            let m = (1 << w) - n;
            let v = self.f(w - 1);
            if v < m {
                v
            } else {
                (v << 1) - m + self.f(1)
            }
        }
        fn subexp(&mut self, num_syms: u32) -> u32 {
            let (mut i, mut mk, k) = (0, 0, 3);
            loop {
                let b2 = if i > 0 { k + i - 1 } else { k };
                let a = 1 << b2;
                if num_syms <= mk + 3 * a {
                    return self.ns(num_syms - mk) + mk;
                }
                if self.f(1) == 1 {
                    i += 1;
                    mk += a;
                } else {
                    return self.f(b2) + mk;
                }
            }
        }
        fn unsigned_subexp_with_ref(&mut self, mx: u32, r: u32) -> u32 {
            let v = self.subexp(mx);
            let inverse_recenter = |r: u32, v: u32| {
                if v > 2 * r {
                    v
                } else if v & 1 == 1 {
                    r - ((v + 1) >> 1)
                } else {
                    r + (v >> 1)
                }
            };
            if (r << 1) <= mx {
                inverse_recenter(r, v)
            } else {
                mx - 1 - inverse_recenter(mx - 1 - r, v)
            }
        }
    }

    #[test]
    fn subexp_with_ref_round_trips() {
        for (mx, step) in [(8193u32, 7u32), (1025, 3), (20, 1), (3, 1)] {
            for r in (0..mx).step_by(step as usize * 13 + 1) {
                for v in (0..mx).step_by(step as usize) {
                    let mut w = BitWriter::default();
                    unsigned_subexp_with_ref(&mut w, mx, r, v);
                    let bytes = w.into_bytes();
                    let mut rd = Reader {
                        bits: &bytes,
                        pos: 0,
                    };
                    assert_eq!(rd.unsigned_subexp_with_ref(mx, r), v, "mx {mx} r {r}");
                }
            }
        }
    }

    #[test]
    fn obu_sizes_are_leb128() {
        let mut small = Vec::new();
        push_obu(&mut small, OBU_TILE_GROUP, &[7; 3]);
        assert_eq!(small[..2], [0x22, 3]);
        let mut big = Vec::new();
        push_obu(&mut big, OBU_FRAME_HEADER, &[0; 300]);
        assert_eq!(big[..3], [0x1a, 0xac, 0x02]);
        assert_eq!(big.len(), 303);
    }

    fn seq() -> Sequence {
        Sequence {
            flags: SEQ_FLAG_ENABLE_ORDER_HINT
                | SEQ_FLAG_ENABLE_CDEF
                | SEQ_FLAG_SUBSAMPLING_X
                | SEQ_FLAG_SUBSAMPLING_Y,
            seq_profile: 0,
            order_hint_bits: 7,
            bit_depth: 8,
            max_frame_width_minus_1: 319,
            max_frame_height_minus_1: 239,
        }
    }

    #[test]
    fn sequence_header() {
        let mut obu = Vec::new();
        seq().push_obu(&mut obu);
        assert_eq!(obu[0], 0x0a); // OBU_SEQUENCE_HEADER, has_size_field
        let mut rd = Reader {
            bits: &obu[2..],
            pos: 0,
        };
        assert_eq!(rd.f(3), 0); // seq_profile
        assert_eq!(rd.f(1), 0); // still_picture
        assert_eq!(rd.f(1), 0); // reduced_still_picture_header
        assert_eq!(rd.f(2), 0); // timing, initial display delay
        assert_eq!(rd.f(5), 0); // one operating point
        assert_eq!(rd.f(12), 0);
        assert_eq!(rd.f(5), 31);
        assert_eq!(rd.f(1), 0);
        assert_eq!((rd.f(4), rd.f(4)), (8, 7)); // 9 and 8 bits
        assert_eq!((rd.f(9), rd.f(8)), (319, 239));
        assert_eq!(rd.f(1), 0); // frame ids
        assert_eq!(rd.f(8), 0b0000_0001); // sb128 .. enable_order_hint
        assert_eq!(rd.f(2), 0); // jnt_comp, ref_frame_mvs
        assert_eq!(rd.f(2), 0b11); // choose screen content tools, integer mv
        assert_eq!(rd.f(3), 6); // order_hint_bits_minus_1
        assert_eq!(rd.f(3), 0b010); // superres, cdef, restoration
        assert_eq!(rd.f(4), 0); // 8-bit, not mono, no colour description, limited range
        assert_eq!(rd.f(2), 0); // chroma_sample_position
        assert_eq!(rd.f(2), 0); // separate_uv_delta_q, film grain
        assert_eq!(rd.f(1), 1); // trailing bit
        assert_eq!(obu.len(), 2 + rd.pos.div_ceil(8));
    }

    #[test]
    fn unsupported_sequences_are_refused() {
        assert!(seq().check_supported().is_ok());
        let mut s = seq();
        s.seq_profile = 1;
        assert!(s.check_supported().is_err());
        s = seq();
        s.bit_depth = 12;
        assert!(s.check_supported().is_err());
        s = seq();
        s.flags |= SEQ_FLAG_MONO_CHROME;
        assert!(s.check_supported().is_err());
    }

    #[test]
    fn uniform_tile_counts() {
        assert_eq!(tile_log2(1, 5), 3);
        assert_eq!(tile_log2(64, 30), 0);
        assert_eq!(recenter(5, 5), 0);
        assert_eq!(recenter(5, 4), 1);
        assert_eq!(recenter(5, 6), 2);
        assert_eq!(recenter(2, 9), 9);
    }
}
