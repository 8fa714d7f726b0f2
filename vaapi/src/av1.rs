// SPDX-License-Identifier: GPL-2.0
//! AV1: libva's picture parameters as the stateless node's sequence, frame and film grain
//! controls, its tiles as the OUTPUT buffer with one tile group entry each.
//!
//! libva's parameters are made for a decoder whose reference slots the application keeps, so
//! they leave out what such a decoder does not need: the sequence header's size and a few of
//! its flags, and the frame's `refresh_frame_flags`. Our daemon rebuilds the OBUs for a decoder
//! that keeps the slots itself (libdav1d), so:
//! - the sequence: the largest frame is the context's size (each context is one sequence for
//!   the client); the sequence flags libva leaves out only say whether a frame header codes a
//!   tool's flag (warped motion, reference MVs, superres, loop restoration, separate U/V delta
//!   Q), and are set, so that every frame header codes what the client said of it;
//! - film grain: the parameters as applied (libva passes them loaded from the reference where
//!   the frame updates none), coded as updated;
//! - `refresh_frame_flags`: the client's slots are not the daemon's. [`Stream`] keeps the
//!   daemon's, numbers each picture's references by them, and puts the picture in a slot that
//!   no later picture can need (one whose picture is in none of the client's slots now), so the
//!   picture is decoded once, whichever slots the client refreshes. Only when the client's
//!   slots hold eight different pictures is there no such slot: the picture is then decoded
//!   refreshing none (its pixels do not depend on where it is kept), and, once the next
//!   picture's `ref_frame_map` shows that it is kept, decoded again into the slot of a picture
//!   that is not, into a buffer of its own, before that next picture.

use std::collections::HashMap;

use crate::{
    codec::{Built, Ctrls},
    driver::{err, RenderBuf, VaResult},
    ffi::{read, sys::*, Av1PicParams, Bits},
};

/// AV1's frame types (6.8.2).
const KEY_FRAME: u32 = 0;
const SWITCH_FRAME: u32 = 3;

#[derive(Default)]
pub struct Params {
    pic: Option<Av1PicParams>,
    /// The OUTPUT buffer's bytes: the tiles, one after another.
    data: Vec<u8>,
    tiles: Vec<v4l2_ctrl_av1_tile_group_entry>,
}

/// The controls of one AV1 request.
#[derive(Clone)]
pub struct Av1Ctrls {
    pub sequence: v4l2_ctrl_av1_sequence,
    pub frame: Box<v4l2_ctrl_av1_frame>,
    pub grain: v4l2_ctrl_av1_film_grain,
    pub tiles: Vec<v4l2_ctrl_av1_tile_group_entry>,
}

impl Params {
    pub fn add(&mut self, buf: &RenderBuf) -> VaResult<()> {
        match buf.kind {
            VAPictureParameterBufferType => {
                self.pic = read(buf.data, buf.elem_size, 0);
                if self.pic.is_none() {
                    return err(
                        VA_STATUS_ERROR_INVALID_BUFFER,
                        "short AV1 picture parameters",
                    );
                }
                Ok(())
            }
            k => err(
                VA_STATUS_ERROR_UNSUPPORTED_BUFFERTYPE,
                format!("buffer type {k} in an AV1 picture"),
            ),
        }
    }

    /// A slice data buffer (a tile group's tiles) and its parameters (one per tile).
    pub fn slices(&mut self, params: &RenderBuf, data: &[u8]) -> VaResult<()> {
        for i in 0..params.count {
            let Some(p) = read::<VASliceParameterBufferAV1>(params.data, params.elem_size, i)
            else {
                return err(VA_STATUS_ERROR_INVALID_BUFFER, "short AV1 slice parameters");
            };
            let start = p.slice_data_offset as usize;
            let Some(bytes) = start
                .checked_add(p.slice_data_size as usize)
                .and_then(|end| data.get(start..end))
            else {
                return err(
                    VA_STATUS_ERROR_INVALID_BUFFER,
                    "AV1 tile outside its data buffer",
                );
            };
            self.tiles.push(v4l2_ctrl_av1_tile_group_entry {
                tile_offset: self.data.len() as u32,
                tile_size: bytes.len() as u32,
                tile_row: u32::from(p.tile_row),
                tile_col: u32::from(p.tile_column),
            });
            self.data.extend_from_slice(bytes);
        }
        Ok(())
    }

    /// The surface that shows the picture, where it is not the one decoded into (with film
    /// grain, the client names the picture without grain as the reference, and shows another
    /// surface: the daemon's picture, grain applied, goes there).
    pub fn display(&self) -> Option<VASurfaceID> {
        let p = &self.pic.as_ref()?.0;
        (p.current_display_picture != p.current_frame
            && p.current_display_picture != VA_INVALID_SURFACE)
            .then_some(p.current_display_picture)
    }

    /// The surface decoded into, and the surfaces in the reference slots before this picture.
    pub fn refs(&self) -> Option<(VASurfaceID, [VASurfaceID; 8])> {
        self.pic
            .as_ref()
            .map(|p| (p.0.current_frame, p.0.ref_frame_map))
    }

    /// The request's controls. `size`: the context's (the sequence's largest frame).
    pub fn build(self, size: (u32, u32)) -> VaResult<Built> {
        let Some(Av1PicParams(p)) = self.pic else {
            return err(
                VA_STATUS_ERROR_INVALID_PARAMETER,
                "AV1 picture without picture parameters",
            );
        };
        if self.tiles.is_empty() {
            return err(
                VA_STATUS_ERROR_INVALID_PARAMETER,
                "AV1 picture without tiles",
            );
        }
        let s = p.seq_info_fields.bits();
        let f = p.pic_info_fields.bits();
        if s.mono_chrome() != 0 || s.subsampling_x() == 0 || s.subsampling_y() == 0 {
            return err(
                VA_STATUS_ERROR_UNSUPPORTED_PROFILE,
                "AV1: only 4:2:0 colour is decoded",
            );
        }
        if f.large_scale_tile() != 0 || p.anchor_frames_num != 0 {
            return err(
                VA_STATUS_ERROR_UNSUPPORTED_PROFILE,
                "AV1 large-scale tiles are not decoded",
            );
        }
        let bit_depth = match p.bit_depth_idx {
            0 => 8,
            1 => 10,
            d => {
                return err(
                    VA_STATUS_ERROR_UNSUPPORTED_RT_FORMAT,
                    format!("AV1 bit_depth_idx {d}: 8 and 10 bits are decoded"),
                )
            }
        };
        let mut seq_flags = V4L2_AV1_SEQUENCE_FLAG_ENABLE_WARPED_MOTION
            | V4L2_AV1_SEQUENCE_FLAG_ENABLE_SUPERRES
            | V4L2_AV1_SEQUENCE_FLAG_ENABLE_RESTORATION
            | V4L2_AV1_SEQUENCE_FLAG_SEPARATE_UV_DELTA_Q;
        for (on, flag) in [
            (s.still_picture(), V4L2_AV1_SEQUENCE_FLAG_STILL_PICTURE),
            (
                s.use_128x128_superblock(),
                V4L2_AV1_SEQUENCE_FLAG_USE_128X128_SUPERBLOCK,
            ),
            (
                s.enable_filter_intra(),
                V4L2_AV1_SEQUENCE_FLAG_ENABLE_FILTER_INTRA,
            ),
            (
                s.enable_intra_edge_filter(),
                V4L2_AV1_SEQUENCE_FLAG_ENABLE_INTRA_EDGE_FILTER,
            ),
            (
                s.enable_interintra_compound(),
                V4L2_AV1_SEQUENCE_FLAG_ENABLE_INTERINTRA_COMPOUND,
            ),
            (
                s.enable_masked_compound(),
                V4L2_AV1_SEQUENCE_FLAG_ENABLE_MASKED_COMPOUND,
            ),
            (
                s.enable_dual_filter(),
                V4L2_AV1_SEQUENCE_FLAG_ENABLE_DUAL_FILTER,
            ),
            (
                s.enable_order_hint(),
                V4L2_AV1_SEQUENCE_FLAG_ENABLE_ORDER_HINT
                    | V4L2_AV1_SEQUENCE_FLAG_ENABLE_REF_FRAME_MVS,
            ),
            (s.enable_jnt_comp(), V4L2_AV1_SEQUENCE_FLAG_ENABLE_JNT_COMP),
            (s.enable_cdef(), V4L2_AV1_SEQUENCE_FLAG_ENABLE_CDEF),
            (s.color_range(), V4L2_AV1_SEQUENCE_FLAG_COLOR_RANGE),
            (s.subsampling_x(), V4L2_AV1_SEQUENCE_FLAG_SUBSAMPLING_X),
            (s.subsampling_y(), V4L2_AV1_SEQUENCE_FLAG_SUBSAMPLING_Y),
            (
                s.film_grain_params_present(),
                V4L2_AV1_SEQUENCE_FLAG_FILM_GRAIN_PARAMS_PRESENT,
            ),
        ] {
            if on != 0 {
                seq_flags |= flag;
            }
        }
        let sequence = v4l2_ctrl_av1_sequence {
            flags: seq_flags,
            seq_profile: p.profile,
            order_hint_bits: if s.enable_order_hint() != 0 {
                p.order_hint_bits_minus_1 + 1
            } else {
                0
            },
            bit_depth,
            max_frame_width_minus_1: (size.0.clamp(1, 1 << 16) - 1) as u16,
            max_frame_height_minus_1: (size.1.clamp(1, 1 << 16) - 1) as u16,
            ..Default::default()
        };

        let mut frame = Box::new(v4l2_ctrl_av1_frame::default());
        let frame_type = f.frame_type();
        frame.frame_type = frame_type;
        let m = p.mode_control_fields.bits();
        let mut flags = 0;
        for (on, flag) in [
            (f.show_frame(), V4L2_AV1_FRAME_FLAG_SHOW_FRAME),
            (f.showable_frame(), V4L2_AV1_FRAME_FLAG_SHOWABLE_FRAME),
            (
                f.error_resilient_mode(),
                V4L2_AV1_FRAME_FLAG_ERROR_RESILIENT_MODE,
            ),
            (
                f.disable_cdf_update(),
                V4L2_AV1_FRAME_FLAG_DISABLE_CDF_UPDATE,
            ),
            (
                f.allow_screen_content_tools(),
                V4L2_AV1_FRAME_FLAG_ALLOW_SCREEN_CONTENT_TOOLS,
            ),
            (f.force_integer_mv(), V4L2_AV1_FRAME_FLAG_FORCE_INTEGER_MV),
            (f.allow_intrabc(), V4L2_AV1_FRAME_FLAG_ALLOW_INTRABC),
            (f.use_superres(), V4L2_AV1_FRAME_FLAG_USE_SUPERRES),
            (
                f.allow_high_precision_mv(),
                V4L2_AV1_FRAME_FLAG_ALLOW_HIGH_PRECISION_MV,
            ),
            (
                f.is_motion_mode_switchable(),
                V4L2_AV1_FRAME_FLAG_IS_MOTION_MODE_SWITCHABLE,
            ),
            (f.use_ref_frame_mvs(), V4L2_AV1_FRAME_FLAG_USE_REF_FRAME_MVS),
            (
                f.disable_frame_end_update_cdf(),
                V4L2_AV1_FRAME_FLAG_DISABLE_FRAME_END_UPDATE_CDF,
            ),
            (
                f.allow_warped_motion(),
                V4L2_AV1_FRAME_FLAG_ALLOW_WARPED_MOTION,
            ),
            (m.reference_select(), V4L2_AV1_FRAME_FLAG_REFERENCE_SELECT),
            (m.reduced_tx_set_used(), V4L2_AV1_FRAME_FLAG_REDUCED_TX_SET),
            (m.skip_mode_present(), V4L2_AV1_FRAME_FLAG_SKIP_MODE_PRESENT),
        ] {
            if on != 0 {
                flags |= flag;
            }
        }
        frame.flags = flags;
        frame.order_hint = u32::from(p.order_hint);
        // libva's frame width is the upscaled one (before superres scales it down)
        let upscaled = u32::from(p.frame_width_minus1) + 1;
        let height = u32::from(p.frame_height_minus1) + 1;
        let width = if f.use_superres() != 0 {
            let denom = u32::from(p.superres_scale_denominator).clamp(9, 16);
            frame.superres_denom = denom as u8;
            (upscaled * 8 + denom / 2) / denom
        } else {
            frame.superres_denom = 8;
            upscaled
        };
        frame.upscaled_width = upscaled;
        frame.frame_width_minus_1 = width - 1;
        frame.frame_height_minus_1 = height - 1;
        frame.render_width_minus_1 = (upscaled - 1) as u16;
        frame.render_height_minus_1 = (height - 1) as u16;
        frame.interpolation_filter = u32::from(p.interp_filter);
        frame.tx_mode = m.tx_mode();
        frame.primary_ref_frame = p.primary_ref_frame;
        for (dst, &src) in frame.ref_frame_idx.iter_mut().zip(&p.ref_frame_idx) {
            *dst = (src & 7) as i8;
        }
        // (in the client's numbering of the slots: Stream::place renumbers them, and gives the
        // references' timestamps and the slot the picture goes to)
        // a shown key frame and a switch frame refresh every slot
        frame.refresh_frame_flags =
            if frame_type == SWITCH_FRAME || (frame_type == KEY_FRAME && f.show_frame() != 0) {
                0xff
            } else {
                0
            };

        let t = &mut frame.tile_info;
        if f.uniform_tile_spacing_flag() != 0 {
            t.flags |= V4L2_AV1_TILE_INFO_FLAG_UNIFORM_TILE_SPACING as u8;
        }
        t.context_update_tile_id = p.context_update_tile_id as u8;
        t.tile_cols = p.tile_cols;
        t.tile_rows = p.tile_rows;
        for (dst, &src) in t
            .width_in_sbs_minus_1
            .iter_mut()
            .zip(&p.width_in_sbs_minus_1)
        {
            *dst = u32::from(src);
        }
        for (dst, &src) in t
            .height_in_sbs_minus_1
            .iter_mut()
            .zip(&p.height_in_sbs_minus_1)
        {
            *dst = u32::from(src);
        }
        t.tile_size_bytes = 4;

        let qm = p.qmatrix_fields.bits();
        let q = &mut frame.quantization;
        q.base_q_idx = p.base_qindex;
        q.delta_q_y_dc = p.y_dc_delta_q;
        q.delta_q_u_dc = p.u_dc_delta_q;
        q.delta_q_u_ac = p.u_ac_delta_q;
        q.delta_q_v_dc = p.v_dc_delta_q;
        q.delta_q_v_ac = p.v_ac_delta_q;
        q.qm_y = qm.qm_y() as u8;
        q.qm_u = qm.qm_u() as u8;
        q.qm_v = qm.qm_v() as u8;
        q.delta_q_res = m.log2_delta_q_res() as u8;
        for (on, flag) in [
            (
                p.v_dc_delta_q != p.u_dc_delta_q || p.v_ac_delta_q != p.u_ac_delta_q,
                V4L2_AV1_QUANTIZATION_FLAG_DIFF_UV_DELTA,
            ),
            (
                qm.using_qmatrix() != 0,
                V4L2_AV1_QUANTIZATION_FLAG_USING_QMATRIX,
            ),
            (
                m.delta_q_present_flag() != 0,
                V4L2_AV1_QUANTIZATION_FLAG_DELTA_Q_PRESENT,
            ),
        ] {
            if on {
                q.flags |= flag as u8;
            }
        }

        let si = p.seg_info.segment_info_fields.bits();
        let seg = &mut frame.segmentation;
        for (on, flag) in [
            (si.enabled(), V4L2_AV1_SEGMENTATION_FLAG_ENABLED),
            (si.update_map(), V4L2_AV1_SEGMENTATION_FLAG_UPDATE_MAP),
            (
                si.temporal_update(),
                V4L2_AV1_SEGMENTATION_FLAG_TEMPORAL_UPDATE,
            ),
            (si.update_data(), V4L2_AV1_SEGMENTATION_FLAG_UPDATE_DATA),
        ] {
            if on != 0 {
                seg.flags |= flag as u8;
            }
        }
        seg.feature_enabled = p.seg_info.feature_mask;
        seg.feature_data = p.seg_info.feature_data;
        // (what the decoder derives from the features: 5.9.14)
        if p.seg_info.feature_mask.iter().any(|m| m & 0xe0 != 0) {
            seg.flags |= V4L2_AV1_SEGMENTATION_FLAG_SEG_ID_PRE_SKIP as u8;
        }
        seg.last_active_seg_id = p
            .seg_info
            .feature_mask
            .iter()
            .rposition(|&m| m != 0)
            .unwrap_or(0) as u8;

        let lfi = p.loop_filter_info_fields.bits();
        let lf = &mut frame.loop_filter;
        lf.level = [
            p.filter_level[0],
            p.filter_level[1],
            p.filter_level_u,
            p.filter_level_v,
        ];
        lf.sharpness = lfi.sharpness_level();
        lf.ref_deltas = p.ref_deltas;
        lf.mode_deltas = p.mode_deltas;
        lf.delta_lf_res = m.log2_delta_lf_res() as u8;
        for (on, flag) in [
            (
                u32::from(lfi.mode_ref_delta_enabled()),
                V4L2_AV1_LOOP_FILTER_FLAG_DELTA_ENABLED,
            ),
            (
                u32::from(lfi.mode_ref_delta_update()),
                V4L2_AV1_LOOP_FILTER_FLAG_DELTA_UPDATE,
            ),
            (
                m.delta_lf_present_flag(),
                V4L2_AV1_LOOP_FILTER_FLAG_DELTA_LF_PRESENT,
            ),
            (m.delta_lf_multi(), V4L2_AV1_LOOP_FILTER_FLAG_DELTA_LF_MULTI),
        ] {
            if on != 0 {
                lf.flags |= flag as u8;
            }
        }

        // libva's strengths are primary << 2 | secondary as coded (3 meaning 4)
        let cdef = &mut frame.cdef;
        cdef.damping_minus_3 = p.cdef_damping_minus_3;
        cdef.bits = p.cdef_bits;
        let sec = |v: u8| if v & 3 == 3 { 4 } else { v & 3 };
        for i in 0..8 {
            cdef.y_pri_strength[i] = p.cdef_y_strengths[i] >> 2;
            cdef.y_sec_strength[i] = sec(p.cdef_y_strengths[i]);
            cdef.uv_pri_strength[i] = p.cdef_uv_strengths[i] >> 2;
            cdef.uv_sec_strength[i] = sec(p.cdef_uv_strengths[i]);
        }

        // libva's restoration types are FrameRestorationType, as V4L2's
        let lr_f = p.loop_restoration_fields.bits();
        let lr = &mut frame.loop_restoration;
        lr.frame_restoration_type = [
            u32::from(lr_f.yframe_restoration_type()),
            u32::from(lr_f.cbframe_restoration_type()),
            u32::from(lr_f.crframe_restoration_type()),
        ];
        lr.lr_unit_shift = lr_f.lr_unit_shift() as u8;
        lr.lr_uv_shift = lr_f.lr_uv_shift() as u8;
        if lr.frame_restoration_type.iter().any(|&t| t != 0) {
            lr.flags |= V4L2_AV1_LOOP_RESTORATION_FLAG_USES_LR as u8;
            let luma = 64u32 << lr.lr_unit_shift;
            lr.loop_restoration_size = [luma, luma >> lr.lr_uv_shift, luma >> lr.lr_uv_shift];
        }
        if lr.frame_restoration_type[1..].iter().any(|&t| t != 0) {
            lr.flags |= V4L2_AV1_LOOP_RESTORATION_FLAG_USES_CHROMA_LR as u8;
        }

        let gm = &mut frame.global_motion;
        for (r, wm) in p.wm.iter().enumerate() {
            let r = r + 1;
            gm.type_[r] = wm.wmtype;
            gm.params[r].copy_from_slice(&wm.wmmat[..6]);
            if wm.wmtype != VAAV1TransformationIdentity {
                gm.flags[r] |= V4L2_AV1_GLOBAL_MOTION_FLAG_IS_GLOBAL as u8;
            }
            if wm.wmtype == VAAV1TransformationRotzoom {
                gm.flags[r] |= V4L2_AV1_GLOBAL_MOTION_FLAG_IS_ROT_ZOOM as u8;
            }
            if wm.wmtype == VAAV1TransformationTranslation {
                gm.flags[r] |= V4L2_AV1_GLOBAL_MOTION_FLAG_IS_TRANSLATION as u8;
            }
            if wm.invalid != 0 {
                gm.invalid |= 1 << r;
            }
        }

        let g = &p.film_grain_info;
        let gf = g.film_grain_info_fields.bits();
        let mut grain = v4l2_ctrl_av1_film_grain::default();
        if gf.apply_grain() != 0 {
            grain.flags = V4L2_AV1_FILM_GRAIN_FLAG_APPLY_GRAIN as u8
                | V4L2_AV1_FILM_GRAIN_FLAG_UPDATE_GRAIN as u8;
            for (on, flag) in [
                (
                    gf.chroma_scaling_from_luma(),
                    V4L2_AV1_FILM_GRAIN_FLAG_CHROMA_SCALING_FROM_LUMA,
                ),
                (gf.overlap_flag(), V4L2_AV1_FILM_GRAIN_FLAG_OVERLAP),
                (
                    gf.clip_to_restricted_range(),
                    V4L2_AV1_FILM_GRAIN_FLAG_CLIP_TO_RESTRICTED_RANGE,
                ),
            ] {
                if on != 0 {
                    grain.flags |= flag as u8;
                }
            }
            grain.grain_seed = g.grain_seed;
            grain.num_y_points = g.num_y_points.min(14);
            grain.point_y_value[..14].copy_from_slice(&g.point_y_value);
            grain.point_y_scaling[..14].copy_from_slice(&g.point_y_scaling);
            grain.num_cb_points = g.num_cb_points.min(10);
            grain.point_cb_value[..10].copy_from_slice(&g.point_cb_value);
            grain.point_cb_scaling[..10].copy_from_slice(&g.point_cb_scaling);
            grain.num_cr_points = g.num_cr_points.min(10);
            grain.point_cr_value[..10].copy_from_slice(&g.point_cr_value);
            grain.point_cr_scaling[..10].copy_from_slice(&g.point_cr_scaling);
            grain.grain_scaling_minus_8 = gf.grain_scaling_minus_8() as u8;
            grain.ar_coeff_lag = gf.ar_coeff_lag() as u8;
            let plus_128 = |v: i8| (i16::from(v) + 128) as u8;
            for (dst, &v) in grain.ar_coeffs_y_plus_128.iter_mut().zip(&g.ar_coeffs_y) {
                *dst = plus_128(v);
            }
            for (dst, &v) in grain.ar_coeffs_cb_plus_128.iter_mut().zip(&g.ar_coeffs_cb) {
                *dst = plus_128(v);
            }
            for (dst, &v) in grain.ar_coeffs_cr_plus_128.iter_mut().zip(&g.ar_coeffs_cr) {
                *dst = plus_128(v);
            }
            grain.ar_coeff_shift_minus_6 = gf.ar_coeff_shift_minus_6() as u8;
            grain.grain_scale_shift = gf.grain_scale_shift() as u8;
            grain.cb_mult = g.cb_mult;
            grain.cb_luma_mult = g.cb_luma_mult;
            grain.cb_offset = g.cb_offset;
            grain.cr_mult = g.cr_mult;
            grain.cr_luma_mult = g.cr_luma_mult;
            grain.cr_offset = g.cr_offset;
        }

        Ok(Built {
            bitstream: self.data,
            ctrls: Ctrls::Av1(Box::new(Av1Ctrls {
                sequence,
                frame,
                grain,
                tiles: self.tiles,
            })),
        })
    }
}

/// What one of the daemon's reference slots holds: a surface's picture, as of one decode.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Slot {
    surface: VASurfaceID,
    /// The decode that put it there (its OUTPUT timestamp: the controls name it by that).
    ts: u64,
    /// A key frame decoded hidden and not shown yet (showing it fills every slot).
    hidden_key: bool,
}

const EMPTY: Slot = Slot {
    surface: VA_INVALID_SURFACE,
    ts: 0,
    hidden_key: false,
};

/// What a context keeps of its AV1 stream between pictures: the reference slots of the decoder
/// behind the node, numbered as the controls number them, which need not be the client's.
/// A picture goes to a slot no surface of the client's slots is in, so it is decoded once;
/// only when the client keeps eight different pictures is there none, and then it is decoded
/// refreshing no slot, and again into the slot of a picture the next one no longer refers to.
pub struct Stream {
    slots: [Slot; 8],
    /// The timestamp of each surface's last decode: a slot holds a surface's picture only if
    /// it holds that decode (surfaces are reused).
    latest: HashMap<VASurfaceID, u64>,
    /// The last picture, decoded refreshing no slot, and its request.
    unsettled: Option<(VASurfaceID, Built)>,
    /// The last picture, for which no slot was free, not queued yet: its CAPTURE buffer,
    /// surface and request.
    held: Option<(u32, VASurfaceID, Built)>,
}

impl Default for Stream {
    fn default() -> Stream {
        Stream {
            slots: [EMPTY; 8],
            latest: HashMap::new(),
            unsettled: None,
            held: None,
        }
    }
}

impl Stream {
    /// Whether slot `d` holds surface `s`'s picture.
    fn holds(&self, d: usize, s: VASurfaceID) -> bool {
        let slot = self.slots[d];
        s != VA_INVALID_SURFACE && slot.surface == s && self.latest.get(&s) == Some(&slot.ts)
    }

    /// The first slot holding surface `s`'s picture: the one references name.
    fn find(&self, s: VASurfaceID) -> Option<usize> {
        (0..8).find(|&d| self.holds(d, s))
    }

    /// A slot that no later picture needs: none of the client's slots (`map`) holds its
    /// picture, or another slot holds it too (a key frame fills all eight).
    fn free(&self, map: &[VASurfaceID; 8]) -> Option<usize> {
        (0..8).find(|&d| {
            let s = self.slots[d].surface;
            !(map.contains(&s) && self.find(s) == Some(d))
        })
    }

    /// Before a picture whose client slots are `map`: the last picture's request again,
    /// refreshing a slot, if it was decoded refreshing none and this picture's slots hold it.
    /// Its surface and request; `refreshed` once it is queued.
    pub fn settle(&mut self, map: &[VASurfaceID; 8]) -> Option<(VASurfaceID, Built)> {
        let (target, mut built) = self.unsettled.take()?;
        let refresh = self.kept_slot(map, target);
        if refresh == 0 {
            return None;
        }
        if let Ctrls::Av1(c) = &mut built.ctrls {
            c.frame.refresh_frame_flags = refresh;
        }
        Some((target, built))
    }

    /// The refresh of a picture that went to no slot, decoded into `target`, once the next
    /// picture's client slots are `map`: the slot of a picture no longer kept if it is kept
    /// (one is free then: it took a client slot of one of the eight pictures here), else none.
    fn kept_slot(&self, map: &[VASurfaceID; 8], target: VASurfaceID) -> u8 {
        if map.contains(&target) {
            self.free(map).map_or(0, |d| 1 << d)
        } else {
            0
        }
    }

    /// Hold a picture back (`place` found no free slot for it): `take_held` gives it back.
    pub fn hold(&mut self, index: u32, target: VASurfaceID, built: Built) {
        self.held = Some((index, target, built));
    }

    /// The picture held back (for CAPTURE buffer `index`, if given): its buffer, surface and
    /// request.
    pub fn take_held(&mut self, index: Option<u32>) -> Option<(u32, VASurfaceID, Built)> {
        if index.is_some_and(|i| self.held.as_ref().map(|h| h.0) != Some(i)) {
            return None;
        }
        self.held.take()
    }

    /// The picture held back, decoding into `target`, before the picture whose client slots
    /// are `map`: its slot (`kept_slot`).
    pub fn place_held(&self, map: &[VASurfaceID; 8], target: VASurfaceID, built: &mut Built) {
        if let Ctrls::Av1(c) = &mut built.ctrls {
            c.frame.refresh_frame_flags = self.kept_slot(map, target);
        }
    }

    /// Number a picture's references as the slots here do, and pick the slot it goes to.
    /// `map`: the client's slots before it. False if no slot is free: it refreshes none.
    pub fn place(&mut self, map: &[VASurfaceID; 8], built: &mut Built) -> bool {
        let Ctrls::Av1(c) = &mut built.ctrls else {
            return true;
        };
        // every client slot holding one hidden key frame: the client showed it
        // (show_existing_frame, which never reaches the driver), which fills every slot with
        // it; the daemon sees the timestamps change as for any client, and does the same
        let k = map[0];
        if map.iter().all(|&s| s == k) {
            if let Some(d) = (0..8).find(|&d| self.holds(d, k) && self.slots[d].hidden_key) {
                self.slots = [Slot {
                    hidden_key: false,
                    ..self.slots[d]
                }; 8];
            }
        }
        let f = &mut c.frame;
        for idx in f.ref_frame_idx.iter_mut() {
            *idx = self.find(map[(*idx as usize) & 7]).unwrap_or(0) as i8;
        }
        for (ts, slot) in f.reference_frame_ts.iter_mut().zip(&self.slots) {
            *ts = slot.ts;
        }
        if f.refresh_frame_flags != 0xff {
            match self.free(map) {
                Some(d) => f.refresh_frame_flags = 1 << d,
                None => {
                    f.refresh_frame_flags = 0;
                    return false;
                }
            }
        }
        true
    }

    /// A picture was queued (first, or again) decoding into `target` as request `ts`.
    pub fn refreshed(&mut self, target: VASurfaceID, ts: u64, built: &Built) {
        let Ctrls::Av1(c) = &built.ctrls else {
            return;
        };
        let f = &c.frame;
        self.latest.insert(target, ts);
        let flag = |bit: u32| f.flags & bit != 0;
        let slot = Slot {
            surface: target,
            ts,
            hidden_key: f.frame_type == KEY_FRAME
                && !flag(V4L2_AV1_FRAME_FLAG_SHOW_FRAME)
                && flag(V4L2_AV1_FRAME_FLAG_SHOWABLE_FRAME),
        };
        for (d, s) in self.slots.iter_mut().enumerate() {
            if f.refresh_frame_flags & (1 << d) != 0 {
                *s = slot;
            }
        }
    }

    /// A picture was queued for the first time: `refreshed`, and kept to be decoded again if
    /// it went to no slot.
    pub fn decoded(&mut self, target: VASurfaceID, ts: u64, built: &Built) {
        self.refreshed(target, ts, built);
        self.unsettled = match &built.ctrls {
            Ctrls::Av1(c) if c.frame.refresh_frame_flags == 0 => Some((target, built.clone())),
            _ => None,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 352x288 inter frame, superres 9/8 off, in slots of surfaces 10..17, two tiles.
    fn params() -> Params {
        let mut p = VADecPictureParameterBufferAV1 {
            profile: 0,
            order_hint_bits_minus_1: 6,
            bit_depth_idx: 1,
            current_frame: 20,
            current_display_picture: 20,
            frame_width_minus1: 351,
            frame_height_minus1: 287,
            ref_frame_map: [10, 11, 12, 13, 14, 15, 16, 17],
            ref_frame_idx: [0, 1, 2, 3, 4, 5, 6],
            primary_ref_frame: 0,
            order_hint: 9,
            tile_cols: 2,
            tile_rows: 1,
            cdef_bits: 1,
            cdef_y_strengths: [(5 << 2) | 3, 2, 0, 0, 0, 0, 0, 0],
            ..Default::default()
        };
        // the unions' bit fields, written as their integers
        p.seq_info_fields.value = (1 << 7) | (1 << 12) | (1 << 13); // order hint, 4:2:0
        p.pic_info_fields.value = 1 | (1 << 2) | (1 << 14); // INTER_FRAME, shown, uniform tiles
        p.loop_restoration_fields.value = 1 | (2 << 2) | (1 << 6) | (1 << 8); // y wiener, cb sgr, shift 1, uv 1
        Params {
            pic: Some(Av1PicParams(p)),
            ..Default::default()
        }
    }

    fn slices(p: &mut Params) {
        let one = |size: u32, offset: u32, col: u16| VASliceParameterBufferAV1 {
            slice_data_size: size,
            slice_data_offset: offset,
            tile_column: col,
            ..Default::default()
        };
        let n = std::mem::size_of::<VASliceParameterBufferAV1>();
        let mut bytes = vec![0u8; 2 * n];
        for (i, s) in [one(10, 2, 0), one(5, 20, 1)].iter().enumerate() {
            // (slice_data_size, slice_data_offset, slice_data_flag, tile_row, tile_column)
            let at = i * n;
            bytes[at..at + 4].copy_from_slice(&s.slice_data_size.to_ne_bytes());
            bytes[at + 4..at + 8].copy_from_slice(&s.slice_data_offset.to_ne_bytes());
            bytes[at + 14..at + 16].copy_from_slice(&s.tile_column.to_ne_bytes());
        }
        let data: Vec<u8> = (0..30).collect();
        p.slices(
            &RenderBuf {
                kind: VASliceParameterBufferType,
                elem_size: n,
                count: 2,
                data: &bytes,
            },
            &data,
        )
        .unwrap();
    }

    #[test]
    fn a_picture_becomes_the_av1_controls_and_its_tiles() {
        let mut p = params();
        slices(&mut p);
        let built = p.build((352, 288)).unwrap();
        assert_eq!(
            built.bitstream,
            [&(2..12).collect::<Vec<u8>>()[..], &[20, 21, 22, 23, 24]].concat()
        );
        let Ctrls::Av1(c) = built.ctrls else {
            panic!("not AV1 controls")
        };
        assert_eq!(c.sequence.bit_depth, 10);
        assert_eq!(c.sequence.order_hint_bits, 7);
        assert_eq!(
            (
                c.sequence.max_frame_width_minus_1,
                c.sequence.max_frame_height_minus_1
            ),
            (351, 287)
        );
        let f = &c.frame;
        assert_eq!(f.frame_type, 1);
        assert_eq!(f.refresh_frame_flags, 0, "an inter frame's slot: Stream's");
        assert_eq!(
            f.ref_frame_idx,
            [0, 1, 2, 3, 4, 5, 6],
            "the client's numbering"
        );
        assert_eq!((f.cdef.y_pri_strength[0], f.cdef.y_sec_strength[0]), (5, 4));
        assert_eq!((f.cdef.y_pri_strength[1], f.cdef.y_sec_strength[1]), (0, 2));
        assert_eq!(f.loop_restoration.frame_restoration_type, [1, 2, 0]);
        assert_eq!(f.loop_restoration.loop_restoration_size, [128, 64, 64]);
        assert_eq!((f.tile_info.tile_cols, f.tile_info.tile_rows), (2, 1));
        assert_eq!(c.tiles.len(), 2);
        assert_eq!(
            (
                c.tiles[1].tile_offset,
                c.tiles[1].tile_size,
                c.tiles[1].tile_col
            ),
            (10, 5, 1)
        );
    }

    /// A picture of `params()` into `target`, in client slots `map`, referring to client slot
    /// i as its i-th reference; a shown key frame if `key`.
    fn picture(s: &mut Stream, target: VASurfaceID, map: [VASurfaceID; 8], key: bool) -> Built {
        let mut p = params();
        slices(&mut p);
        let pic = &mut p.pic.as_mut().unwrap().0;
        pic.current_frame = target;
        pic.ref_frame_map = map;
        if key {
            pic.pic_info_fields.value = 1 << 2; // KEY_FRAME, shown
        }
        let mut built = p.build((352, 288)).unwrap();
        s.place(&map, &mut built);
        built
    }

    fn frame(b: &Built) -> &v4l2_ctrl_av1_frame {
        let Ctrls::Av1(c) = &b.ctrls else {
            panic!("not AV1 controls")
        };
        &c.frame
    }

    #[test]
    fn a_picture_goes_to_a_slot_no_later_one_needs() {
        let mut s = Stream::default();
        let key = picture(&mut s, 10, [VA_INVALID_SURFACE; 8], true);
        assert_eq!(frame(&key).refresh_frame_flags, 0xff);
        s.decoded(10, 1000, &key);
        // the key frame is in every slot: one keeps it, the next picture takes another
        let b = picture(&mut s, 20, [10; 8], false);
        assert_eq!(frame(&b).ref_frame_idx, [0; 7]);
        assert_eq!(frame(&b).reference_frame_ts, [1000; 8]);
        assert_eq!(frame(&b).refresh_frame_flags, 1 << 1);
        s.decoded(20, 2000, &b);
        assert!(s.unsettled.is_none());
        // the client put it in its slots 3 and 5; the next picture refers to slot 5 first
        let mut map = [10; 8];
        map[3] = 20;
        map[5] = 20;
        let mut p = params();
        slices(&mut p);
        p.pic.as_mut().unwrap().0.ref_frame_idx = [5, 0, 1, 2, 3, 4, 6];
        p.pic.as_mut().unwrap().0.ref_frame_map = map;
        let mut b = p.build((352, 288)).unwrap();
        s.place(&map, &mut b);
        assert_eq!(frame(&b).ref_frame_idx, [1, 0, 0, 0, 1, 0, 0]);
        assert_eq!(frame(&b).reference_frame_ts[..3], [1000, 2000, 1000]);
        assert_eq!(frame(&b).refresh_frame_flags, 1 << 2);
    }

    #[test]
    fn with_eight_pictures_kept_a_picture_is_decoded_again_once_it_is_kept() {
        let mut s = Stream::default();
        for d in 0..8 {
            let ts = 1000 * (d as u64 + 1);
            s.slots[d] = Slot {
                surface: 10 + d as u32,
                ts,
                hidden_key: false,
            };
            s.latest.insert(10 + d as u32, ts);
        }
        let map = [10, 11, 12, 13, 14, 15, 16, 17];
        let b = picture(&mut s, 20, map, false);
        assert_eq!(frame(&b).ref_frame_idx, [0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(frame(&b).refresh_frame_flags, 0, "no slot is free");
        s.decoded(20, 9000, &b);
        // the next picture: the client put it in its slots 1 and 6
        let next = [10, 20, 12, 13, 14, 15, 20, 17];
        let Some((20, again)) = s.settle(&next) else {
            panic!("not decoded again")
        };
        assert_eq!(
            frame(&again).refresh_frame_flags,
            1 << 1,
            "surface 11's slot"
        );
        s.refreshed(20, 10000, &again);
        let b = picture(&mut s, 21, next, false);
        assert_eq!(
            frame(&b).ref_frame_idx[1],
            1,
            "client slot 1: surface 20, here in 1"
        );
        assert_eq!(frame(&b).reference_frame_ts[1], 10000);
        assert_eq!(frame(&b).refresh_frame_flags, 1 << 6, "surface 16's slot");
        s.decoded(21, 11000, &b);
        assert!(s.settle(&next).is_none(), "placed: not decoded again");
    }

    #[test]
    fn a_picture_held_back_goes_where_the_next_picture_shows_it() {
        let mut s = Stream::default();
        for d in 0..8 {
            s.slots[d] = Slot {
                surface: 10 + d as u32,
                ts: 1,
                hidden_key: false,
            };
            s.latest.insert(10 + d as u32, 1);
        }
        let map = [10, 11, 12, 13, 14, 15, 16, 17];
        let mut p = params();
        slices(&mut p);
        p.pic.as_mut().unwrap().0.ref_frame_map = map;
        let mut b = p.build((352, 288)).unwrap();
        assert!(!s.place(&map, &mut b), "no slot is free");
        s.hold(3, 20, b);
        assert!(s.take_held(Some(4)).is_none(), "another buffer's wait");
        let (index, target, mut b) = s.take_held(None).unwrap();
        assert_eq!(index, 3);
        // kept in client slot 2 (surface 12's): surface 12's slot
        s.place_held(&[10, 11, 20, 13, 14, 15, 16, 17], target, &mut b);
        assert_eq!(frame(&b).refresh_frame_flags, 1 << 2);
        // not kept: no slot
        s.place_held(&map, target, &mut b);
        assert_eq!(frame(&b).refresh_frame_flags, 0);
    }

    #[test]
    fn a_picture_no_later_one_refers_to_is_decoded_once() {
        let mut s = Stream::default();
        for d in 0..8 {
            s.slots[d] = Slot {
                surface: 10 + d as u32,
                ts: 1,
                hidden_key: false,
            };
            s.latest.insert(10 + d as u32, 1);
        }
        let map = [10, 11, 12, 13, 14, 15, 16, 17];
        let b = picture(&mut s, 20, map, false);
        s.decoded(20, 9000, &b);
        assert!(s.settle(&map).is_none());
    }

    #[test]
    fn a_hidden_key_frame_shown_fills_every_slot() {
        let mut s = Stream::default();
        let key = picture(&mut s, 10, [VA_INVALID_SURFACE; 8], true);
        s.decoded(10, 1000, &key);
        let mut p = params();
        slices(&mut p);
        let pic = &mut p.pic.as_mut().unwrap().0;
        pic.current_frame = 30;
        pic.ref_frame_map = [10; 8];
        pic.pic_info_fields.value = 1 << 3; // KEY_FRAME, hidden, showable
        let mut hidden = p.build((352, 288)).unwrap();
        s.place(&[10; 8], &mut hidden);
        assert_eq!(frame(&hidden).refresh_frame_flags, 1 << 1);
        s.decoded(30, 2000, &hidden);
        // the client showed it: all its slots are the key frame's
        let b = picture(&mut s, 40, [30; 8], false);
        assert_eq!(frame(&b).reference_frame_ts, [2000; 8]);
        assert_eq!(frame(&b).refresh_frame_flags, 1 << 1);
    }

    #[test]
    fn four_four_four_is_refused() {
        let mut p = params();
        slices(&mut p);
        p.pic.as_mut().unwrap().0.seq_info_fields.value = 1 << 7;
        let e = p.build((352, 288)).err().unwrap();
        assert_eq!(e.status, VA_STATUS_ERROR_UNSUPPORTED_PROFILE as VAStatus);
    }
}
