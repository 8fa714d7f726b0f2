//! Writing the OBUs libdav1d reads: a sequence header (5.5), a frame header (5.9) and one tile
//! group with every tile (5.11), from the typed controls (`uapi`) and the reference slots
//! (`refs`).

use crate::bits::BitWriter;

use super::{
    invalid,
    refs::{Refs, WARP_AFFINE, WARP_IDENTITY, WARP_ROTZOOM, WARP_TRANSLATION},
    uapi::*,
    Av1Error, Frame,
};

const OBU_SEQUENCE_HEADER: u8 = 1;
const OBU_FRAME_HEADER: u8 = 3;
const OBU_TILE_GROUP: u8 = 4;

const INTERP_SWITCHABLE: u32 = 4;
const TX_MODE_SELECT: u32 = 2;
/// lr_type as coded, by FrameRestorationType (5.9.20).
const LR_TYPE_CODE: [u32; 4] = [0, 2, 3, 1];

/// What the frame header's tile_info() decided, for the tile group.
pub(super) struct TileLayout {
    cols: u32,
    rows: u32,
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

impl Sequence {
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

/// The frame header OBU of `f`, appended to `out`.
pub(super) fn push_frame_header(
    f: &Frame,
    refs: &Refs,
    out: &mut Vec<u8>,
) -> Result<TileLayout, Av1Error> {
    let mut w = BitWriter::default();
    let layout = uncompressed_header(f, refs, &mut w)?;
    w.trailing_bits();
    push_obu(out, OBU_FRAME_HEADER, &w.into_bytes());
    Ok(layout)
}

/// A frame header OBU that shows the frame in `slot` (show_existing_frame; the sequence header
/// written here has no decoder model and no frame ids, so nothing else is coded), to `out`.
pub(super) fn push_show_existing(slot: usize, out: &mut Vec<u8>) {
    let mut w = BitWriter::default();
    w.flag(true); // show_existing_frame
    w.u(3, slot as u32 & 7); // frame_to_show_map_idx
    w.trailing_bits();
    push_obu(out, OBU_FRAME_HEADER, &w.into_bytes());
}

/// uncompressed_header() (5.9.2).
fn uncompressed_header(f: &Frame, refs: &Refs, w: &mut BitWriter) -> Result<TileLayout, Av1Error> {
    let (s, c) = (&f.seq, &f.ctrl);
    let frame_type = f.frame_type();
    if frame_type > SWITCH_FRAME {
        return invalid(format!("frame_type {frame_type}"));
    }
    let intra = f.intra();
    let show = f.shown();
    w.flag(false); // show_existing_frame
    w.u(2, frame_type);
    w.flag(show);
    if !show {
        w.flag(f.has(FRAME_FLAG_SHOWABLE_FRAME));
    }
    let error_resilient = if frame_type == SWITCH_FRAME || (frame_type == KEY_FRAME && show) {
        true
    } else {
        let e = f.has(FRAME_FLAG_ERROR_RESILIENT_MODE);
        w.flag(e);
        e
    };
    let disable_cdf_update = f.has(FRAME_FLAG_DISABLE_CDF_UPDATE);
    w.flag(disable_cdf_update);
    let screen_content = f.has(FRAME_FLAG_ALLOW_SCREEN_CONTENT_TOOLS);
    w.flag(screen_content);
    let mut force_integer_mv = false;
    if screen_content {
        force_integer_mv = f.has(FRAME_FLAG_FORCE_INTEGER_MV);
        w.flag(force_integer_mv);
    }
    let force_integer_mv = force_integer_mv || intra;
    let (upscaled_width, frame_width, frame_height) = f.size();
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
        let o = f.has(FRAME_FLAG_FRAME_SIZE_OVERRIDE)
            || upscaled_width != max_w
            || frame_height != max_h;
        w.flag(o);
        o
    };
    let hint_bits = s.order_hint_bits();
    w.u(hint_bits, f.order_hint());
    let primary_ref_frame = if intra || error_resilient {
        PRIMARY_REF_NONE
    } else {
        let p = c.primary_ref_frame;
        if p > PRIMARY_REF_NONE {
            return invalid(format!("primary_ref_frame {p}"));
        }
        w.u(3, u32::from(p));
        p
    };
    let refresh = f.refresh_frame_flags();
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
        frame_size(f, w, size_override);
        render_size(f, w);
        if screen_content && upscaled_width == frame_width {
            allow_intrabc = f.has(FRAME_FLAG_ALLOW_INTRABC);
            w.flag(allow_intrabc);
        }
    } else {
        if s.has(SEQ_FLAG_ENABLE_ORDER_HINT) {
            w.flag(false); // frame_refs_short_signaling: the indices, explicitly
        }
        for i in 0..7 {
            w.u(3, f.ref_frame_idx(i) as u32);
        }
        if size_override && !error_resilient {
            for _ in 0..7 {
                w.flag(false); // found_ref: the size, explicitly
            }
        }
        frame_size(f, w, size_override);
        render_size(f, w);
        if !force_integer_mv {
            allow_high_precision_mv = f.has(FRAME_FLAG_ALLOW_HIGH_PRECISION_MV);
            w.flag(allow_high_precision_mv);
        }
        let filter = c.interpolation_filter;
        w.flag(filter == INTERP_SWITCHABLE);
        if filter != INTERP_SWITCHABLE {
            w.u(2, filter);
        }
        w.flag(f.has(FRAME_FLAG_IS_MOTION_MODE_SWITCHABLE));
        if !error_resilient && s.has(SEQ_FLAG_ENABLE_REF_FRAME_MVS) {
            w.flag(f.has(FRAME_FLAG_USE_REF_FRAME_MVS));
        }
    }
    if !disable_cdf_update {
        w.flag(f.has(FRAME_FLAG_DISABLE_FRAME_END_UPDATE_CDF));
    }
    let layout = tile_info(f, w, frame_width, frame_height)?;

    // quantization_params() (5.9.12)
    let q = &c.quantization;
    let base_q_idx = u32::from(q.base_q_idx);
    let separate_uv = s.has(SEQ_FLAG_SEPARATE_UV_DELTA_Q);
    let delta_q = |w: &mut BitWriter, v: i8| {
        w.flag(v != 0);
        if v != 0 {
            w.su(7, i32::from(v));
        }
    };
    w.u(8, base_q_idx);
    delta_q(w, q.delta_q_y_dc);
    let diff_uv = separate_uv && q.flags & QUANT_FLAG_DIFF_UV_DELTA != 0;
    if separate_uv {
        w.flag(diff_uv);
    }
    delta_q(w, q.delta_q_u_dc);
    delta_q(w, q.delta_q_u_ac);
    let (v_dc, v_ac) = if diff_uv {
        delta_q(w, q.delta_q_v_dc);
        delta_q(w, q.delta_q_v_ac);
        (q.delta_q_v_dc, q.delta_q_v_ac)
    } else {
        (q.delta_q_u_dc, q.delta_q_u_ac)
    };
    let qmatrix = q.flags & QUANT_FLAG_USING_QMATRIX != 0;
    w.flag(qmatrix);
    if qmatrix {
        w.u(4, u32::from(q.qm_y));
        w.u(4, u32::from(q.qm_u));
        if separate_uv {
            w.u(4, u32::from(q.qm_v));
        }
    }

    // segmentation_params() (5.9.14)
    let seg = &c.segmentation;
    let seg_enabled = seg.flags & SEG_FLAG_ENABLED != 0;
    w.flag(seg_enabled);
    if seg_enabled {
        let update_data = if primary_ref_frame == PRIMARY_REF_NONE {
            true
        } else {
            let update_map = seg.flags & SEG_FLAG_UPDATE_MAP != 0;
            w.flag(update_map);
            if update_map {
                w.flag(seg.flags & SEG_FLAG_TEMPORAL_UPDATE != 0);
            }
            let u = seg.flags & SEG_FLAG_UPDATE_DATA != 0;
            w.flag(u);
            u
        };
        if update_data {
            const BITS: [u32; 8] = [8, 6, 6, 6, 6, 3, 0, 0];
            const MAX: [i32; 8] = [255, 63, 63, 63, 63, 7, 0, 0];
            for (enabled, data) in seg.feature_enabled.iter().zip(&seg.feature_data) {
                for f in 0..8 {
                    let on = enabled & (1 << f) != 0;
                    w.flag(on);
                    if on && BITS[f] > 0 {
                        let v = i32::from(data[f]);
                        if f < 5 {
                            w.su(1 + BITS[f], v.clamp(-MAX[f], MAX[f]));
                        } else {
                            w.u(BITS[f], v.clamp(0, MAX[f]) as u32);
                        }
                    }
                }
            }
        }
    }

    // delta_q_params(), delta_lf_params() (5.9.17, 5.9.18)
    let lf = &c.loop_filter;
    let mut delta_q_present = false;
    if base_q_idx > 0 {
        delta_q_present = q.flags & QUANT_FLAG_DELTA_Q_PRESENT != 0;
        w.flag(delta_q_present);
        if delta_q_present {
            w.u(2, u32::from(q.delta_q_res));
        }
    }
    if delta_q_present && !allow_intrabc {
        let present = lf.flags & LF_FLAG_DELTA_LF_PRESENT != 0;
        w.flag(present);
        if present {
            w.u(2, u32::from(lf.delta_lf_res));
            w.flag(lf.flags & LF_FLAG_DELTA_LF_MULTI != 0);
        }
    }

    // CodedLossless, AllLossless (5.9.2)
    let coded_lossless = (0..8).all(|i| {
        let qindex = if seg_enabled && seg.feature_enabled[i] & 1 != 0 {
            (base_q_idx as i32 + i32::from(seg.feature_data[i][0])).clamp(0, 255)
        } else {
            base_q_idx as i32
        };
        qindex == 0
    }) && [q.delta_q_y_dc, q.delta_q_u_dc, q.delta_q_u_ac, v_dc, v_ac]
        .iter()
        .all(|&d| d == 0);
    let all_lossless = coded_lossless && frame_width == upscaled_width;

    // loop_filter_params() (5.9.11)
    if !(coded_lossless || allow_intrabc) {
        w.u(6, u32::from(lf.level[0]));
        w.u(6, u32::from(lf.level[1]));
        if lf.level[0] != 0 || lf.level[1] != 0 {
            w.u(6, u32::from(lf.level[2]));
            w.u(6, u32::from(lf.level[3]));
        }
        w.u(3, u32::from(lf.sharpness));
        let delta_enabled = lf.flags & LF_FLAG_DELTA_ENABLED != 0;
        w.flag(delta_enabled);
        if delta_enabled {
            // every delta, updated to the value the control gives
            let update = lf.flags & LF_FLAG_DELTA_UPDATE != 0;
            w.flag(update);
            if update {
                for &d in lf.ref_deltas.iter().chain(&lf.mode_deltas) {
                    w.flag(true);
                    w.su(7, i32::from(d));
                }
            }
        }
    }

    // cdef_params() (5.9.19)
    if !(coded_lossless || allow_intrabc || !s.has(SEQ_FLAG_ENABLE_CDEF)) {
        let cdef = &c.cdef;
        // the uAPI holds secondary strengths as used (3 coded means 4)
        let sec = |v: u8| if v == 4 { 3 } else { u32::from(v) };
        // cdef_bits is f(2): 8 strengths at most (a client's 255 indexed past them)
        if cdef.bits > 3 || cdef.damping_minus_3 > 3 {
            return invalid(format!(
                "cdef_bits {}, cdef_damping_minus_3 {}",
                cdef.bits, cdef.damping_minus_3
            ));
        }
        w.u(2, u32::from(cdef.damping_minus_3));
        w.u(2, u32::from(cdef.bits));
        for i in 0..(1usize << cdef.bits) {
            w.u(4, u32::from(cdef.y_pri_strength[i]));
            w.u(2, sec(cdef.y_sec_strength[i]));
            w.u(4, u32::from(cdef.uv_pri_strength[i]));
            w.u(2, sec(cdef.uv_sec_strength[i]));
        }
    }

    // lr_params() (5.9.20)
    if !(all_lossless || allow_intrabc || !s.has(SEQ_FLAG_ENABLE_RESTORATION)) {
        let lr = &c.loop_restoration;
        let (mut uses_lr, mut uses_chroma_lr) = (false, false);
        for (p, &t) in lr.frame_restoration_type.iter().enumerate() {
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
            let size = lr.loop_restoration_size;
            // LoopRestorationSize[0] = 64 << lr_unit_shift
            let shift = if size[0] >= 64 {
                log2(size[0]) - 6
            } else {
                u32::from(lr.lr_unit_shift)
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
                let uv_shift = if size[0] >= 64 && size[1] >= 32 {
                    log2(size[0]) - log2(size[1])
                } else {
                    u32::from(lr.lr_uv_shift)
                };
                w.u(1, uv_shift);
            }
        }
    }

    // read_tx_mode(), frame_reference_mode(), skip_mode_params() (5.9.21-5.9.23)
    if !coded_lossless {
        w.flag(c.tx_mode == TX_MODE_SELECT);
    }
    let reference_select = !intra && f.has(FRAME_FLAG_REFERENCE_SELECT);
    if !intra {
        w.flag(reference_select);
    }
    if reference_select && f.skip_mode_allowed(refs) {
        w.flag(f.has(FRAME_FLAG_SKIP_MODE_PRESENT));
    }
    if !(intra || error_resilient || !s.has(SEQ_FLAG_ENABLE_WARPED_MOTION)) {
        w.flag(f.has(FRAME_FLAG_ALLOW_WARPED_MOTION));
    }
    w.flag(f.has(FRAME_FLAG_REDUCED_TX_SET));

    // global_motion_params() (5.9.24)
    if !intra {
        let prev = f.prev_gm_params(refs, primary_ref_frame);
        let cur = f.gm_params();
        for r in 1..8 {
            let t = c.global_motion.kind[r];
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
                param(w, 2);
                param(w, 3);
                if t == WARP_AFFINE {
                    param(w, 4);
                    param(w, 5);
                }
            }
            if t >= WARP_TRANSLATION {
                param(w, 0);
                param(w, 1);
            }
        }
    }

    film_grain_params(f, w);
    Ok(layout)
}

/// frame_size() and superres_params() (5.9.5, 5.9.8).
fn frame_size(f: &Frame, w: &mut BitWriter, size_override: bool) {
    let (upscaled_width, _, frame_height) = f.size();
    if size_override {
        w.u(f.seq.width_bits(), upscaled_width - 1);
        w.u(f.seq.height_bits(), frame_height - 1);
    }
    if f.seq.has(SEQ_FLAG_ENABLE_SUPERRES) {
        let superres = f.has(FRAME_FLAG_USE_SUPERRES);
        w.flag(superres);
        if superres {
            w.u(3, u32::from(f.ctrl.superres_denom).clamp(9, 16) - 9);
        }
    }
}

/// render_size() (5.9.6).
fn render_size(f: &Frame, w: &mut BitWriter) {
    let (upscaled_width, _, frame_height) = f.size();
    let rw = u32::from(f.ctrl.render_width_minus_1) + 1;
    let rh = u32::from(f.ctrl.render_height_minus_1) + 1;
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
    f: &Frame,
    w: &mut BitWriter,
    frame_width: u32,
    frame_height: u32,
) -> Result<TileLayout, Av1Error> {
    let t = &f.ctrl.tile_info;
    let mi_cols = 2 * ((frame_width + 7) >> 3);
    let mi_rows = 2 * ((frame_height + 7) >> 3);
    let sb_shift = if f.seq.has(SEQ_FLAG_USE_128X128_SUPERBLOCK) {
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
    let (cols, rows) = (u32::from(t.tile_cols), u32::from(t.tile_rows));
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
        Some((cl, rl, min_rl)) if t.flags & TILE_INFO_FLAG_UNIFORM_TILE_SPACING != 0 => {
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
            // (a client's u32::MAX must not wrap to 0)
            let width = |i: usize| t.width_in_sbs_minus_1[i].saturating_add(1);
            let height = |i: usize| t.height_in_sbs_minus_1[i].saturating_add(1);
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
        w.u(cols_log2 + rows_log2, u32::from(t.context_update_tile_id));
        w.u(2, 3); // tile_size_bytes_minus_1: 4-byte tile sizes
    }
    Ok(TileLayout { cols, rows })
}

/// film_grain_params() (5.9.30). Without the control, no grain.
fn film_grain_params(f: &Frame, w: &mut BitWriter) {
    if !f.seq.has(SEQ_FLAG_FILM_GRAIN_PARAMS_PRESENT)
        || (!f.shown() && !f.has(FRAME_FLAG_SHOWABLE_FRAME))
    {
        return;
    }
    let Some(g) = &f.grain else {
        w.flag(false); // apply_grain
        return;
    };
    let apply = g.flags & GRAIN_FLAG_APPLY_GRAIN != 0;
    w.flag(apply);
    if !apply {
        return;
    }
    w.u(16, u32::from(g.grain_seed));
    let update = if f.frame_type() == INTER_FRAME {
        let u = g.flags & GRAIN_FLAG_UPDATE_GRAIN != 0;
        w.flag(u);
        u
    } else {
        true
    };
    if !update {
        w.u(3, u32::from(g.film_grain_params_ref_idx) & 7);
        return;
    }
    let u8s = |w: &mut BitWriter, values: &[u8]| {
        for &v in values {
            w.u(8, u32::from(v));
        }
    };
    let points = |w: &mut BitWriter, count: usize, value: &[u8], scaling: &[u8]| {
        w.u(4, count as u32);
        for i in 0..count {
            w.u(8, u32::from(value[i]));
            w.u(8, u32::from(scaling[i]));
        }
    };
    let num_y = usize::from(g.num_y_points).min(14);
    points(w, num_y, &g.point_y_value, &g.point_y_scaling);
    let from_luma = g.flags & GRAIN_FLAG_CHROMA_SCALING_FROM_LUMA != 0;
    w.flag(from_luma);
    let (num_cb, num_cr) = if from_luma || num_y == 0 {
        (0, 0)
    } else {
        let cb = usize::from(g.num_cb_points).min(10);
        let cr = usize::from(g.num_cr_points).min(10);
        points(w, cb, &g.point_cb_value, &g.point_cb_scaling);
        points(w, cr, &g.point_cr_value, &g.point_cr_scaling);
        (cb, cr)
    };
    w.u(2, u32::from(g.grain_scaling_minus_8) & 3);
    let lag = usize::from(g.ar_coeff_lag) & 3;
    w.u(2, lag as u32);
    let num_pos_luma = 2 * lag * (lag + 1);
    let num_pos_chroma = if num_y > 0 {
        u8s(w, &g.ar_coeffs_y_plus_128[..num_pos_luma]);
        num_pos_luma + 1
    } else {
        num_pos_luma
    };
    if from_luma || num_cb > 0 {
        u8s(w, &g.ar_coeffs_cb_plus_128[..num_pos_chroma]);
    }
    if from_luma || num_cr > 0 {
        u8s(w, &g.ar_coeffs_cr_plus_128[..num_pos_chroma]);
    }
    w.u(2, u32::from(g.ar_coeff_shift_minus_6) & 3);
    w.u(2, u32::from(g.grain_scale_shift) & 3);
    if num_cb > 0 {
        w.u(8, u32::from(g.cb_mult));
        w.u(8, u32::from(g.cb_luma_mult));
        w.u(9, u32::from(g.cb_offset));
    }
    if num_cr > 0 {
        w.u(8, u32::from(g.cr_mult));
        w.u(8, u32::from(g.cr_luma_mult));
        w.u(9, u32::from(g.cr_offset));
    }
    w.flag(g.flags & GRAIN_FLAG_OVERLAP != 0);
    w.flag(g.flags & GRAIN_FLAG_CLIP_TO_RESTRICTED_RANGE != 0);
}

/// tile_group_obu() (5.11.1), appended to `out`: every tile of the frame, in tile order,
/// each but the last behind its 4-byte size. The tile data is copied once, from `data`.
pub(super) fn push_tile_group(
    entries: &[TileEntry],
    layout: &TileLayout,
    data: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), Av1Error> {
    let n = (layout.cols * layout.rows) as usize;
    let mut tiles: Vec<Option<&[u8]>> = vec![None; n];
    for t in entries {
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
    let mx = 1i64 << abs_bits;
    // decode_signed_subexp_with_ref(-mx, mx + 1, r); in i64 and clamped to that range, as the
    // parameters are the client's (any i32) and so are the previous frames' (the reference)
    let (low, high) = (-mx, mx + 1);
    let r = ((i64::from(prev) >> prec_diff) - sub).clamp(low, high - 1);
    let v = ((i64::from(cur) - round) >> prec_diff).clamp(-mx, mx);
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
