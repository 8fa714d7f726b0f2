//! One decoder session per stream: FFmpeg's software decoder, fed one coded frame per job, whose
//! picture is written straight into the job's CAPTURE dmabuf as NV12.

use ffmpeg::{codec, decoder, format::Pixel, frame, Packet};
use ffmpeg_next as ffmpeg;
use thiserror::Error;

use crate::{
    dmabuf::{DmaBufError, MappedDmaBuf},
    proto::{Codec, DecodeJob, PIX_FMT_NV12, PIX_FMT_NV12M},
    vp9,
};

#[derive(Debug, Error)]
pub enum DecodeError {
    #[error("no FFmpeg decoder for {0}")]
    NoDecoder(&'static str),
    #[error("FFmpeg: {0}")]
    Ffmpeg(#[from] ffmpeg::Error),
    #[error("VP9: {0}")]
    Vp9(#[from] vp9::Vp9Error),
    #[error("bitstream range {offset}+{len} outside a {size}-byte buffer")]
    BadRange { offset: u32, len: u32, size: usize },
    #[error("the frame produced no picture")]
    NoPicture,
    #[error("a hidden frame that refreshes no reference slot")]
    HiddenNowhere,
    #[error("picture is {got}, unsupported (only 8-bit 4:2:0 so far)")]
    Unsupported { got: String },
    #[error("picture {w}x{h} does not fit the {bw}x{bh} CAPTURE buffer")]
    TooLarge { w: u32, h: u32, bw: u32, bh: u32 },
    #[error("CAPTURE format {0:#x} unsupported")]
    BadPixfmt(u32),
    #[error(transparent)]
    DmaBuf(#[from] DmaBufError),
}

impl DecodeError {
    /// The errno reported to the kernel: EINVAL for what the stream did, EIO for our failures.
    pub fn errno(&self) -> u32 {
        match self {
            DecodeError::DmaBuf(_) | DecodeError::NoDecoder(_) => libc::EIO as u32,
            _ => libc::EINVAL as u32,
        }
    }
}

pub struct Session {
    codec: Codec,
    decoder: decoder::Video,
    picture: frame::Video,
}

impl Session {
    pub fn new(codec: Codec, threads: usize) -> Result<Session, DecodeError> {
        let found = match codec {
            Codec::Vp9 => decoder::find(codec::Id::VP9),
            Codec::H264 => decoder::find(codec::Id::H264),
            Codec::Av1 => decoder::find_by_name("libdav1d"),
        }
        .ok_or(DecodeError::NoDecoder(codec.name()))?;
        let mut ctx = codec::context::Context::new_with_codec(found);
        // One job is one frame and its picture is due when the job ends: frame threading
        // would hold pictures back, slice/tile threads do not.
        ctx.set_threading(codec::threading::Config {
            kind: codec::threading::Type::Slice,
            count: threads,
        });
        let decoder = ctx.decoder().video()?;
        Ok(Session {
            codec,
            decoder,
            picture: frame::Video::empty(),
        })
    }

    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Decode the job's bitstream into its CAPTURE planes.
    pub fn decode(
        &mut self,
        job: &DecodeJob,
        src: &MappedDmaBuf,
        dst: &mut [MappedDmaBuf],
    ) -> Result<(), DecodeError> {
        let packet = src.read(|bytes| {
            let start = job.src_offset as usize;
            let end = start.checked_add(job.src_bytes as usize);
            match end {
                Some(end) if end <= bytes.len() => Ok(Packet::copy(&bytes[start..end])),
                _ => Err(DecodeError::BadRange {
                    offset: job.src_offset,
                    len: job.src_bytes,
                    size: bytes.len(),
                }),
            }
        })??;
        let header = match self.codec {
            Codec::Vp9 => Some(vp9::parse_header(packet.data().unwrap_or_default())?),
            _ => None,
        };
        self.decoder.send_packet(&packet)?;
        match self.decoder.receive_frame(&mut self.picture) {
            Ok(()) => {}
            Err(ffmpeg::Error::Other {
                errno: libc::EAGAIN,
            }) => {
                let Some(h) = header.filter(|h| !h.show_frame) else {
                    return Err(DecodeError::NoPicture);
                };
                // A hidden frame: show the slot it was stored into.
                if h.refresh_frame_flags == 0 {
                    return Err(DecodeError::HiddenNowhere);
                }
                let slot = h.refresh_frame_flags.trailing_zeros() as u8;
                let show = Packet::copy(&vp9::show_existing_frame(h.profile, slot));
                self.decoder.send_packet(&show)?;
                self.decoder.receive_frame(&mut self.picture)?;
            }
            Err(e) => return Err(e.into()),
        }
        write_picture(&self.picture, job, dst)
    }
}

fn write_picture(
    pic: &frame::Video,
    job: &DecodeJob,
    dst: &mut [MappedDmaBuf],
) -> Result<(), DecodeError> {
    if pic.format() != Pixel::YUV420P {
        return Err(DecodeError::Unsupported {
            got: format!("{:?}", pic.format()),
        });
    }
    let (w, h) = (pic.width(), pic.height());
    let bpl = job.bytesperline[0];
    if w > bpl || h > job.height {
        return Err(DecodeError::TooLarge {
            w,
            h,
            bw: bpl,
            bh: job.height,
        });
    }
    let src = Planes {
        y: (pic.data(0), pic.stride(0)),
        u: (pic.data(1), pic.stride(1)),
        v: (pic.data(2), pic.stride(2)),
        width: w as usize,
        height: h as usize,
    };
    let luma_len = bpl as usize * job.height as usize;
    match (job.pixfmt, dst) {
        (PIX_FMT_NV12, [plane]) => plane.write(|mem| {
            if mem.len() < luma_len + luma_len / 2 {
                return Err(DecodeError::TooLarge {
                    w,
                    h,
                    bw: bpl,
                    bh: job.height,
                });
            }
            let (y, uv) = mem.split_at_mut(luma_len);
            src.write_nv12(y, bpl as usize, uv, bpl as usize);
            Ok(())
        })?,
        (PIX_FMT_NV12M, [luma, chroma]) => {
            let uv_bpl = job.bytesperline[1] as usize;
            let need_uv = uv_bpl * (job.height as usize).div_ceil(2);
            if luma.len() < luma_len || chroma.len() < need_uv || uv_bpl < bpl as usize {
                return Err(DecodeError::TooLarge {
                    w,
                    h,
                    bw: bpl,
                    bh: job.height,
                });
            }
            luma.write(|y| chroma.write(|uv| src.write_nv12(y, bpl as usize, uv, uv_bpl)))??;
            Ok(())
        }
        (other, _) => Err(DecodeError::BadPixfmt(other)),
    }
}

/// A planar 4:2:0 picture: (data, stride) per plane.
struct Planes<'a> {
    y: (&'a [u8], usize),
    u: (&'a [u8], usize),
    v: (&'a [u8], usize),
    width: usize,
    height: usize,
}

impl Planes<'_> {
    /// Copy luma rows and interleave chroma into NV12 planes with the given pitches.
    fn write_nv12(&self, y: &mut [u8], y_pitch: usize, uv: &mut [u8], uv_pitch: usize) {
        let (w, h) = (self.width, self.height);
        for row in 0..h {
            y[row * y_pitch..row * y_pitch + w]
                .copy_from_slice(&self.y.0[row * self.y.1..row * self.y.1 + w]);
        }
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        for row in 0..ch {
            let u = &self.u.0[row * self.u.1..row * self.u.1 + cw];
            let v = &self.v.0[row * self.v.1..row * self.v.1 + cw];
            let out = &mut uv[row * uv_pitch..row * uv_pitch + 2 * cw];
            for ((pair, &cb), &cr) in out.chunks_exact_mut(2).zip(u).zip(v) {
                pair[0] = cb;
                pair[1] = cr;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nv12_interleaves_chroma_and_keeps_pitch_padding() {
        // 3x3 picture (odd sizes: chroma is 2x2), padded source strides
        let y: Vec<u8> = (0..4 * 3).map(|i| i as u8).collect();
        let u = [100, 101, 0, 102, 103, 0];
        let v = [200, 201, 0, 202, 203, 0];
        let p = Planes {
            y: (&y, 4),
            u: (&u, 3),
            v: (&v, 3),
            width: 3,
            height: 3,
        };
        let mut ly = vec![0xee; 8 * 4];
        let mut luv = vec![0xee; 8 * 2];
        p.write_nv12(&mut ly, 8, &mut luv, 8);
        assert_eq!(&ly[0..8], &[0, 1, 2, 0xee, 0xee, 0xee, 0xee, 0xee]);
        assert_eq!(&ly[8..11], &[4, 5, 6]);
        assert_eq!(&ly[16..19], &[8, 9, 10]);
        assert_eq!(&luv[0..5], &[100, 200, 101, 201, 0xee]);
        assert_eq!(&luv[8..12], &[102, 202, 103, 203]);
    }
}
