//! What the daemon must know of a VP9 frame that the stateless uAPI does not tell it.
//!
//! A hidden frame (`show_frame = 0`, e.g. libvpx's alt-ref) produces no picture from FFmpeg, yet
//! its CAPTURE buffer must hold its pixels: a client may later show it with
//! `show_existing_frame` without decoding anything. The frame control has no
//! `refresh_frame_flags`, so we read the uncompressed header (VP9 spec, section 6.2) up to that
//! field, learn which reference slot the frame went into, and ask FFmpeg to show that slot with a
//! synthesized one-frame `show_existing_frame` header, which changes no decoder state.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum Vp9Error {
    #[error("VP9 frame header truncated")]
    Truncated,
    #[error("not a VP9 frame (frame marker {0})")]
    BadMarker(u32),
    #[error("VP9 frame sync code missing")]
    BadSync,
}

/// What the start of a frame says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub profile: u8,
    /// `Some(slot)` for a `show_existing_frame` frame.
    pub show_existing: Option<u8>,
    pub show_frame: bool,
    /// Reference slots this frame is stored into (all for a key frame).
    pub refresh_frame_flags: u8,
}

struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl BitReader<'_> {
    fn f(&mut self, n: u32) -> Result<u32, Vp9Error> {
        let mut v = 0;
        for _ in 0..n {
            let byte = *self.data.get(self.pos / 8).ok_or(Vp9Error::Truncated)?;
            v = (v << 1) | u32::from((byte >> (7 - self.pos % 8)) & 1);
            self.pos += 1;
        }
        Ok(v)
    }
}

const SYNC_CODE: u32 = 0x49_83_42;
const CS_RGB: u32 = 7;

fn color_config(r: &mut BitReader<'_>, profile: u8) -> Result<(), Vp9Error> {
    if profile >= 2 {
        r.f(1)?; // ten_or_twelve_bit
    }
    let color_space = r.f(3)?;
    if color_space != CS_RGB {
        r.f(1)?; // color_range
        if profile == 1 || profile == 3 {
            r.f(3)?; // subsampling_x, subsampling_y, reserved_zero
        }
    } else if profile == 1 || profile == 3 {
        r.f(1)?; // reserved_zero
    }
    Ok(())
}

/// Parse the uncompressed header of one frame (not a superframe) up to refresh_frame_flags.
pub fn parse_header(frame: &[u8]) -> Result<FrameHeader, Vp9Error> {
    let mut r = BitReader {
        data: frame,
        pos: 0,
    };
    let marker = r.f(2)?;
    if marker != 2 {
        return Err(Vp9Error::BadMarker(marker));
    }
    let low = r.f(1)?;
    let high = r.f(1)?;
    let profile = ((high << 1) | low) as u8;
    if profile == 3 {
        r.f(1)?; // reserved_zero
    }
    if r.f(1)? == 1 {
        let slot = r.f(3)? as u8;
        return Ok(FrameHeader {
            profile,
            show_existing: Some(slot),
            show_frame: true,
            refresh_frame_flags: 0,
        });
    }
    let key_frame = r.f(1)? == 0;
    let show_frame = r.f(1)? == 1;
    let error_resilient = r.f(1)? == 1;
    let refresh_frame_flags = if key_frame {
        0xff
    } else {
        let intra_only = if show_frame { false } else { r.f(1)? == 1 };
        if !error_resilient {
            r.f(2)?; // reset_frame_context
        }
        if intra_only {
            if r.f(24)? != SYNC_CODE {
                return Err(Vp9Error::BadSync);
            }
            if profile > 0 {
                color_config(&mut r, profile)?;
            }
        }
        r.f(8)? as u8
    };
    Ok(FrameHeader {
        profile,
        show_existing: None,
        show_frame,
        refresh_frame_flags,
    })
}

/// A frame that only shows reference slot `slot` (`show_existing_frame = 1`).
pub fn show_existing_frame(profile: u8, slot: u8) -> Vec<u8> {
    let mut bits: Vec<u8> = vec![1, 0, profile & 1, (profile >> 1) & 1];
    if profile == 3 {
        bits.push(0);
    }
    bits.push(1);
    bits.extend([(slot >> 2) & 1, (slot >> 1) & 1, slot & 1]);
    bits.chunks(8)
        .map(|c| {
            c.iter()
                .enumerate()
                .fold(0u8, |acc, (i, b)| acc | (b << (7 - i)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_frame_refreshes_every_slot() {
        // marker 10, profile 0 (00), show_existing 0, frame_type 0 (key), show 1, err_res 0
        let h = parse_header(&[0b1000_0010, 0x49, 0x83, 0x42, 0]).unwrap();
        assert_eq!(
            h,
            FrameHeader {
                profile: 0,
                show_existing: None,
                show_frame: true,
                refresh_frame_flags: 0xff
            }
        );
    }

    #[test]
    fn hidden_inter_frame() {
        // marker 10, profile 00, show_existing 0, frame_type 1, show 0, err_res 0,
        // intra_only 0, reset_frame_context 00, refresh_frame_flags 0001 0000
        let bits = "10000100".to_string() + "0" + "00" + "00010000";
        let bytes: Vec<u8> = bits
            .as_bytes()
            .chunks(8)
            .map(|c| {
                let s: String = c.iter().map(|&b| b as char).collect();
                u8::from_str_radix(&format!("{s:0<8}"), 2).unwrap()
            })
            .collect();
        let h = parse_header(&bytes).unwrap();
        assert!(!h.show_frame);
        assert_eq!(h.refresh_frame_flags, 0x10);
    }

    #[test]
    fn show_existing_round_trips() {
        for profile in 0..4 {
            for slot in 0..8 {
                let frame = show_existing_frame(profile, slot);
                let h = parse_header(&frame).unwrap();
                assert_eq!(h.profile, profile);
                assert_eq!(h.show_existing, Some(slot));
            }
        }
        assert_eq!(show_existing_frame(0, 3), vec![0x8b]);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert_eq!(parse_header(&[]), Err(Vp9Error::Truncated));
        assert_eq!(parse_header(&[0x00]), Err(Vp9Error::BadMarker(0)));
        // a hidden inter frame cut off before intra_only
        assert_eq!(parse_header(&[0x84]), Err(Vp9Error::Truncated));
    }
}
