//! AV1 through the stateless uAPI: the client parses the OBUs itself and passes the sequence
//! header, the frame header and the film grain parameters only as V4L2 controls
//! (`struct v4l2_ctrl_av1_sequence`, `_frame`, `_film_grain` from `<linux/v4l2-controls.h>`);
//! the OUTPUT buffer holds the frame's tile data, at the offsets of the
//! `v4l2_ctrl_av1_tile_group_entry` array. A software decoder wants OBUs, so this module
//! rebuilds a sequence header OBU, a frame header OBU and one tile group OBU with every tile
//! (AV1 specification sections 5.5, 5.9 and 5.11) for libdav1d.
//!
//! - `uapi`: the controls, read into typed values (every byte offset is there);
//! - `obu`: the OBUs written from them;
//! - `refs`: the decoder's reference slots, followed frame by frame.
//!
//! What the controls do not carry cannot be rebuilt, and need not be: timing and decoder model
//! info, operating points, colour description (nothing that changes a decoded pixel), frame ids
//! (error detection only). Where a field is coded relative to decoder state the controls do not
//! carry (reference order hints in error-resilient frames, global motion parameters coded
//! against the primary reference frame's), [`Refs`] follows the reference slots the way the
//! decoder does.

#![forbid(unsafe_code)]

mod obu;
mod refs;
pub(crate) mod uapi;

use thiserror::Error;

use crate::bits::CtrlError;

pub use refs::Refs;
pub use uapi::{
    FilmGrain, FrameCtrl, Sequence, TileEntry, CID_FILM_GRAIN, CID_FRAME, CID_SEQUENCE,
    CID_TILE_GROUP_ENTRY,
};
use uapi::{
    FRAME_FLAG_SHOW_FRAME, FRAME_FLAG_USE_SUPERRES, INTRA_ONLY_FRAME, KEY_FRAME, SWITCH_FRAME,
};

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

/// The controls of one AV1 decode job.
pub struct Frame {
    pub seq: Sequence,
    pub ctrl: FrameCtrl,
    pub grain: Option<FilmGrain>,
    pub tiles: Vec<TileEntry>,
}

impl Frame {
    /// The job's controls, by id.
    pub fn from_ctrls<'a>(find: impl Fn(u32) -> Option<&'a [u8]>) -> Result<Frame, Av1Error> {
        let need = |id| find(id).ok_or(CtrlError::Missing(id));
        let seq = Sequence::parse(need(CID_SEQUENCE)?)?;
        seq.check_supported()?;
        let ctrl = FrameCtrl::parse(need(CID_FRAME)?)?;
        // sizes are f(16) minus 1 in the bitstream; the client's u32s may be anything
        let upscaled_ok = ctrl.flags & FRAME_FLAG_USE_SUPERRES == 0
            || (1..=1 << 16).contains(&ctrl.upscaled_width);
        if ctrl.frame_width_minus_1 > 0xffff || ctrl.frame_height_minus_1 > 0xffff || !upscaled_ok {
            return invalid(format!(
                "frame size {}x{} (upscaled width {})",
                u64::from(ctrl.frame_width_minus_1) + 1,
                u64::from(ctrl.frame_height_minus_1) + 1,
                ctrl.upscaled_width
            ));
        }
        Ok(Frame {
            seq,
            ctrl,
            grain: find(CID_FILM_GRAIN).map(FilmGrain::parse).transpose()?,
            tiles: TileEntry::parse_all(need(CID_TILE_GROUP_ENTRY)?)?,
        })
    }

    /// Append the frame header OBU and the tile group OBU of this frame, its tiles taken from
    /// `data`, to `out`, behind a frame header that shows a hidden key frame if the client
    /// showed one since the previous frame. `refs`: the reference slots before this frame,
    /// moved on past it (whether or not it could be written, as the client's are); `ts`: its
    /// job's OUTPUT timestamp, which the client names it by as a reference.
    pub fn push_obus(
        &self,
        refs: &mut Refs,
        ts: u64,
        data: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), Av1Error> {
        if let Some(slot) = self.key_shown_before(refs) {
            obu::push_show_existing(slot, out);
            refs.show_key(slot);
        }
        let built = obu::push_frame_header(self, refs, out)
            .and_then(|layout| obu::push_tile_group(&self.tiles, &layout, data, out));
        self.update_refs(refs, ts);
        built
    }

    fn has(&self, flag: u32) -> bool {
        self.ctrl.has(flag)
    }
    fn frame_type(&self) -> u32 {
        self.ctrl.frame_type
    }
    fn order_hint(&self) -> u32 {
        self.ctrl.order_hint
    }
    fn intra(&self) -> bool {
        matches!(self.frame_type(), KEY_FRAME | INTRA_ONLY_FRAME)
    }
    pub fn shown(&self) -> bool {
        self.has(FRAME_FLAG_SHOW_FRAME)
    }
    fn ref_frame_idx(&self, i: usize) -> usize {
        usize::from(self.ctrl.ref_frame_idx[i]) & 7
    }
    /// UpscaledWidth, FrameWidth, FrameHeight.
    fn size(&self) -> (u32, u32, u32) {
        let width = self.ctrl.frame_width_minus_1 + 1;
        let upscaled = if self.has(FRAME_FLAG_USE_SUPERRES) {
            self.ctrl.upscaled_width
        } else {
            width
        };
        (upscaled, width, self.ctrl.frame_height_minus_1 + 1)
    }
    /// refresh_frame_flags, as the frame type implies it or the frame header codes it.
    fn refresh_frame_flags(&self) -> u8 {
        if self.frame_type() == SWITCH_FRAME || (self.frame_type() == KEY_FRAME && self.shown()) {
            0xff
        } else {
            self.ctrl.refresh_frame_flags
        }
    }
}
