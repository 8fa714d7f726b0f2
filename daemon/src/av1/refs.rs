//! The decoder's reference slots, followed frame by frame (7.20): what some frame header fields
//! are coded against and the controls do not carry, and the frames a stateless client shows
//! without a job.

use super::{uapi::FRAME_FLAG_SHOWABLE_FRAME, Frame, KEY_FRAME};

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
    /// The OUTPUT timestamp of the job whose frame each slot holds.
    ts: [u64; 8],
    /// Slots holding a key frame decoded hidden and showable, not shown yet.
    hidden_key: [bool; 8],
}

impl Default for Refs {
    fn default() -> Refs {
        Refs {
            order_hint: [0; 8],
            gm: [[GM_DEFAULT; 8]; 8],
            ts: [0; 8],
            hidden_key: [false; 8],
        }
    }
}

impl Refs {
    /// A hidden key frame shown (show_existing_frame): every slot becomes the key frame's
    /// (7.21, then the reference frame update process with allFrames), which is shown.
    pub(super) fn show_key(&mut self, slot: usize) {
        self.order_hint = [self.order_hint[slot]; 8];
        self.gm = [self.gm[slot]; 8];
        self.ts = [self.ts[slot]; 8];
        self.hidden_key = [false; 8];
    }
}

impl Frame {
    /// The decoder's reference slots after this frame (7.20), the job's OUTPUT timestamp `ts`.
    pub(super) fn update_refs(&self, refs: &mut Refs, ts: u64) {
        let gm = self.gm_params();
        let refresh = self.refresh_frame_flags();
        let hidden_key =
            self.frame_type() == KEY_FRAME && !self.shown() && self.has(FRAME_FLAG_SHOWABLE_FRAME);
        for slot in 0..8 {
            if refresh & (1 << slot) != 0 {
                refs.order_hint[slot] = self.order_hint();
                refs.gm[slot] = gm;
                refs.ts[slot] = ts;
                refs.hidden_key[slot] = hidden_key;
            }
        }
    }

    /// The slot of a hidden key frame that the client showed since the previous frame, if any.
    /// A stateless client sends no job for a show_existing_frame header (it outputs the
    /// reference's buffer again), but showing a key frame refreshes every slot with it, so the
    /// slots the client names for this frame say it happened: every slot where they differ
    /// from the decoder's holds, for the client, the timestamp of a hidden key frame.
    pub(super) fn key_shown_before(&self, refs: &Refs) -> Option<usize> {
        let client = &self.ctrl.reference_frame_ts;
        let mut differ = (0..8).filter(|&i| client[i] != refs.ts[i]);
        let ts = client[differ.next()?];
        if !differ.all(|i| client[i] == ts) {
            return None;
        }
        (0..8).find(|&s| refs.hidden_key[s] && refs.ts[s] == ts)
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

#[cfg(test)]
mod tests {
    use super::super::uapi::{
        CID_FRAME, CID_SEQUENCE, CID_TILE_GROUP_ENTRY, FRAME_FLAG_SHOW_FRAME,
        SEQ_FLAG_SUBSAMPLING_X, SEQ_FLAG_SUBSAMPLING_Y,
    };
    use super::*;

    const INTER_FRAME: u32 = 1;

    /// A 64x64 frame's controls: its type, flags, refresh_frame_flags and the client's slots.
    fn frame(kind: u32, flags: u32, refresh: u8, slots: [u64; 8]) -> Frame {
        let mut seq = vec![0u8; 12];
        seq[..4].copy_from_slice(&(SEQ_FLAG_SUBSAMPLING_X | SEQ_FLAG_SUBSAMPLING_Y).to_ne_bytes());
        seq[5] = 7; // order_hint_bits
        seq[6] = 8; // bit_depth
        seq[8..10].copy_from_slice(&63u16.to_ne_bytes());
        seq[10..12].copy_from_slice(&63u16.to_ne_bytes());
        let mut f = vec![0u8; 1784];
        f[1508..1512].copy_from_slice(&flags.to_ne_bytes());
        f[1512..1516].copy_from_slice(&kind.to_ne_bytes());
        f[1532..1536].copy_from_slice(&63u32.to_ne_bytes());
        f[1536..1540].copy_from_slice(&63u32.to_ne_bytes());
        for (i, ts) in slots.iter().enumerate() {
            f[1712 + 8 * i..1720 + 8 * i].copy_from_slice(&ts.to_ne_bytes());
        }
        f[1783] = refresh;
        let tiles = vec![0u8; 16];
        let ctrls = [
            (CID_SEQUENCE, seq),
            (CID_FRAME, f),
            (CID_TILE_GROUP_ENTRY, tiles),
        ];
        Frame::from_ctrls(|id| ctrls.iter().find(|(c, _)| *c == id).map(|(_, d)| &d[..]))
            .expect("valid controls")
    }

    const SHOWN: u32 = FRAME_FLAG_SHOW_FRAME;
    const HIDDEN: u32 = FRAME_FLAG_SHOWABLE_FRAME;

    #[test]
    fn a_hidden_key_frame_is_found_shown_by_the_slots_the_client_names() {
        let mut refs = Refs::default();
        frame(KEY_FRAME, SHOWN, 0, [0; 8]).update_refs(&mut refs, 1);
        frame(INTER_FRAME, SHOWN, 0x0f, [1; 8]).update_refs(&mut refs, 2);
        // a key frame decoded hidden into slot 6 only
        let mut slots = [2, 2, 2, 2, 1, 1, 1, 1];
        frame(KEY_FRAME, HIDDEN, 0x40, slots).update_refs(&mut refs, 3);
        slots[6] = 3;
        // a frame before the client shows it: nothing to show
        let before = frame(INTER_FRAME, SHOWN, 0x01, slots);
        assert_eq!(before.key_shown_before(&refs), None);
        before.update_refs(&mut refs, 4);
        // the client showed it: all its slots hold the key frame
        let after = frame(INTER_FRAME, SHOWN, 0x01, [3; 8]);
        assert_eq!(after.key_shown_before(&refs), Some(6));
        refs.show_key(6);
        assert_eq!(refs.ts, [3; 8]);
        assert_eq!(after.key_shown_before(&refs), None);
        after.update_refs(&mut refs, 5);
        // shown once only (7.21): the key frame's slots no longer count as hidden
        assert_eq!(
            frame(INTER_FRAME, SHOWN, 0, [3; 8]).key_shown_before(&refs),
            None
        );
    }

    #[test]
    fn slots_that_differ_otherwise_show_nothing() {
        let mut refs = Refs::default();
        frame(KEY_FRAME, SHOWN, 0, [0; 8]).update_refs(&mut refs, 1);
        frame(KEY_FRAME, HIDDEN, 0x80, [1; 8]).update_refs(&mut refs, 2);
        // some slots name the hidden key frame, others something else
        let mixed = [2, 2, 2, 2, 9, 9, 9, 2];
        assert_eq!(
            frame(INTER_FRAME, SHOWN, 0, mixed).key_shown_before(&refs),
            None
        );
        // a slot names a frame that is not a hidden key frame
        assert_eq!(
            frame(INTER_FRAME, SHOWN, 0, [1; 8]).key_shown_before(&refs),
            None
        );
        // a hidden key frame that is not showable cannot be shown
        let mut refs = Refs::default();
        frame(KEY_FRAME, 0, 0x80, [0; 8]).update_refs(&mut refs, 2);
        assert_eq!(
            frame(INTER_FRAME, SHOWN, 0, [2; 8]).key_shown_before(&refs),
            None
        );
    }
}
