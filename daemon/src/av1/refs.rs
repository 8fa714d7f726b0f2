//! The decoder's reference slots, followed frame by frame (7.20): what some frame header fields
//! are coded against and the controls do not carry.

use super::Frame;

/// gm_params of a reference without global motion (identity).
pub(super) const GM_DEFAULT: [i32; 6] = [0, 0, 1 << 16, 0, 0, 1 << 16];

pub(super) const WARP_IDENTITY: u32 = 0;
pub(super) const WARP_TRANSLATION: u32 = 1;
pub(super) const WARP_ROTZOOM: u32 = 2;
pub(super) const WARP_AFFINE: u32 = 3;

/// The reference slots as the decoder keeps them, for what frame headers code against them.
#[derive(Debug, Clone)]
pub struct Refs {
    pub(super) order_hint: [u32; 8],
    /// SavedGmParams per slot, per reference frame (index 0, INTRA_FRAME, unused).
    pub(super) gm: [[[i32; 6]; 8]; 8],
}

impl Default for Refs {
    fn default() -> Refs {
        Refs {
            order_hint: [0; 8],
            gm: [[GM_DEFAULT; 8]; 8],
        }
    }
}

impl Frame {
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

    /// This frame's gm_params as the decoder ends up with them (5.9.24).
    pub(super) fn gm_params(&self) -> [[i32; 6]; 8] {
        let mut out = [GM_DEFAULT; 8];
        if self.intra() {
            return out;
        }
        let gm = &self.ctrl.global_motion;
        for (r, p) in out.iter_mut().enumerate().skip(1) {
            let (t, params) = (gm.kind[r], gm.params[r]);
            if t >= WARP_ROTZOOM {
                p[2] = params[2];
                p[3] = params[3];
                if t == WARP_AFFINE {
                    p[4] = params[4];
                    p[5] = params[5];
                } else {
                    // (the client's i32::MIN must not overflow: only its low bits are coded)
                    p[4] = p[3].wrapping_neg();
                    p[5] = p[2];
                }
            }
            if t >= WARP_TRANSLATION {
                p[0] = params[0];
                p[1] = params[1];
            }
        }
        out
    }

    /// The gm_params of the primary reference frame's slot, the frame's are coded against.
    pub(super) fn prev_gm_params(&self, refs: &Refs, primary_ref_frame: u8) -> [[i32; 6]; 8] {
        if primary_ref_frame == super::uapi::PRIMARY_REF_NONE {
            [GM_DEFAULT; 8]
        } else {
            refs.gm[self.ref_frame_idx(usize::from(primary_ref_frame))]
        }
    }

    /// skipModeAllowed (5.9.22), from the order hints the decoder holds for the references.
    pub(super) fn skip_mode_allowed(&self, refs: &Refs) -> bool {
        let bits = self.seq.order_hint_bits();
        if bits == 0 {
            return false;
        }
        let dist = |a: u32, b: u32| {
            let m = 1i32 << (bits - 1);
            // (order hints are the client's u32s: only their low `bits` bits matter)
            let diff = (a as i32).wrapping_sub(b as i32);
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
}
