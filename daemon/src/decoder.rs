//! One decoder session per stream: a software decoder (FFmpeg's for VP9 and H.264, libdav1d for
//! AV1) fed one coded frame per job, whose picture is written straight into the job's CAPTURE
//! dmabuf as NV12 (8-bit) or P010 (10-bit).
//!
//! The stateless contract: when a job ends, its CAPTURE buffer holds the picture decoded in that
//! job. FFmpeg hands pictures out in display order, after a reorder delay (H.264 with B-frames),
//! or not at all (VP9 hidden frames). So the session catches each picture as FFmpeg allocates
//! it (`get_buffer2`): once `send_packet` has returned, the packet's picture is complete there,
//! in decode order, shown or not; FFmpeg's display-order output is drained and dropped.
//! libdav1d is asked for exactly that: no frame delay, and invisible frames output too.

#![forbid(unsafe_code)]

use ffmpeg::{codec, format::Pixel, frame, Packet};
use ffmpeg_next as ffmpeg;
use thiserror::Error;

use crate::{
    av1,
    dmabuf::{DmaBufError, MappedDmaBuf, Shared},
    ffmpeg::Ffmpeg,
    h264,
    proto::{
        self, Codec, DecodeJob, MAX_HEIGHT, MAX_WIDTH, PIX_FMT_NV12, PIX_FMT_NV12M, PIX_FMT_P010,
    },
    session::{Ran, Session},
};

#[derive(Debug, Error)]
pub enum DecodeError {
    #[error("no FFmpeg decoder for {0}")]
    NoDecoder(&'static str),
    #[error("FFmpeg: {0}")]
    Ffmpeg(#[from] ffmpeg::Error),
    #[error("H.264: {0}")]
    H264(#[from] h264::H264Error),
    #[error("AV1: {0}")]
    Av1(#[from] av1::Av1Error),
    #[error("libdav1d: {0}")]
    Dav1d(#[from] dav1d::Error),
    #[error("bitstream range {offset}+{len} outside a {size}-byte buffer")]
    BadRange { offset: u32, len: u32, size: usize },
    #[error("the frame produced no picture")]
    NoPicture,
    #[error("picture is {got}, unsupported (only 4:2:0 in 8 or 10 bits)")]
    Unsupported { got: String },
    #[error("a {got} picture does not go into a {pixfmt} CAPTURE buffer (the bit depth changed without a new CAPTURE format)")]
    WrongCapture { got: String, pixfmt: String },
    #[error("picture {w}x{h} does not fit the {bw}x{bh} CAPTURE buffer")]
    TooLarge { w: u32, h: u32, bw: u32, bh: u32 },
    #[error("CAPTURE format {0:#x} unsupported")]
    BadPixfmt(u32),
    #[error(transparent)]
    DmaBuf(#[from] DmaBufError),
    #[error("the stream's worker is gone (it could not start, died, hung or answered nonsense)")]
    WorkerGone,
    /// A job that failed in a worker process: its errno and what it said.
    #[error("{message}")]
    Worker { errno: u32, message: String },
}

impl DecodeError {
    /// The errno reported to the kernel: EINVAL for what the stream did, EOPNOTSUPP for a
    /// stream of a kind not decoded at all, EIO for our failures.
    pub fn errno(&self) -> u32 {
        match self {
            DecodeError::DmaBuf(_) | DecodeError::NoDecoder(_) | DecodeError::WorkerGone => {
                libc::EIO as u32
            }
            DecodeError::Unsupported { .. } => libc::EOPNOTSUPP as u32,
            DecodeError::Worker { errno, .. } => *errno,
            _ => libc::EINVAL as u32,
        }
    }
}

/// The stateless node's session: one frame per decode job, its picture in the job's CAPTURE
/// buffer when the job ends.
pub struct StatelessSession {
    codec: Codec,
    backend: Backend,
    /// H.264: the SPS, PPS and scaling-matrix controls last sent to FFmpeg as NAL units;
    /// AV1: the sequence control last sent as a sequence header OBU (they are sent again only
    /// when they change).
    headers_sent: Option<Vec<u8>>,
}

enum Backend {
    Ffmpeg(Ffmpeg),
    Dav1d {
        decoder: dav1d::Decoder,
        /// The reference slots as libdav1d holds them.
        refs: Box<av1::Refs>,
    },
}

impl Session for StatelessSession {
    type Job = DecodeJob;
    const NODE: &'static str = "stateless";

    fn new(codec: Codec, threads: usize) -> Result<StatelessSession, DecodeError> {
        let backend = match codec {
            Codec::Vp9 => Backend::Ffmpeg(Ffmpeg::new(codec::Id::VP9, threads)?),
            Codec::H264 => Backend::Ffmpeg(Ffmpeg::new(codec::Id::H264, threads)?),
            Codec::Av1 => Backend::Dav1d {
                decoder: dav1d_decoder(threads)?,
                refs: Box::default(),
            },
        };
        Ok(StatelessSession {
            codec,
            backend,
            headers_sent: None,
        })
    }

    fn codec(&self) -> Codec {
        self.codec
    }

    fn run(
        &mut self,
        job: &DecodeJob,
        bitstream: Option<&[u8]>,
        dst: Option<&mut [MappedDmaBuf]>,
    ) -> Ran {
        let result = self.decode(job, bitstream.unwrap_or_default(), dst.unwrap_or_default());
        Ran {
            filled: result.is_ok(),
            feed: None,
            result,
        }
    }
}

impl StatelessSession {
    /// The job's controls, by id.
    fn ctrl<'a>(job: &'a DecodeJob) -> impl Fn(u32) -> Option<&'a [u8]> {
        |id| {
            job.ctrls
                .iter()
                .find(|c| c.id == id)
                .map(|c| c.data.as_slice())
        }
    }

    /// Whether the raw header controls `raw` differ from those last sent, which they then
    /// become (checked on every job).
    fn changed(&mut self, raw: Vec<u8>) -> bool {
        if self.headers_sent.as_ref() == Some(&raw) {
            return false;
        }
        self.headers_sent = Some(raw);
        true
    }

    /// H.264: SPS and PPS NAL units rebuilt from the job's controls, when they differ from
    /// what FFmpeg was last given; and whether the job's picture is a field.
    fn h264_prefix(&mut self, job: &DecodeJob) -> Result<(Vec<u8>, bool), DecodeError> {
        let find = Self::ctrl(job);
        let headers = h264::Headers::from_ctrls(&find)?;
        let raw: Vec<u8> = [h264::CID_SPS, h264::CID_PPS, h264::CID_SCALING_MATRIX]
            .into_iter()
            .flat_map(|id| find(id).unwrap_or_default().iter().copied())
            .collect();
        let nals = if self.changed(raw) {
            headers.nals()
        } else {
            Vec::new()
        };
        Ok((nals, headers.field_pic))
    }

    /// Decode the job's bitstream into its CAPTURE planes.
    fn decode(
        &mut self,
        job: &DecodeJob,
        coded: &[u8],
        dst: &mut [MappedDmaBuf],
    ) -> Result<(), DecodeError> {
        let result = match self.codec {
            Codec::Av1 => self.decode_av1(job, coded, dst),
            _ => self.decode_ffmpeg(job, coded, dst),
        };
        if result.is_err() {
            // The decoder may not have taken the headers in: send them again next time.
            self.headers_sent = None;
        }
        result
    }

    fn decode_ffmpeg(
        &mut self,
        job: &DecodeJob,
        coded: &[u8],
        dst: &mut [MappedDmaBuf],
    ) -> Result<(), DecodeError> {
        let (prefix, field) = match self.codec {
            Codec::H264 => self.h264_prefix(job)?,
            _ => (Vec::new(), false),
        };
        // One copy of the bitstream, into FFmpeg's padded packet, behind any prefix.
        let mut packet = Packet::new(prefix.len() + coded.len());
        let data = packet.data_mut().expect("a packet of that size");
        data[..prefix.len()].copy_from_slice(&prefix);
        data[prefix.len()..].copy_from_slice(coded);
        let Backend::Ffmpeg(ffmpeg) = &mut self.backend else {
            unreachable!("FFmpeg codecs have an FFmpeg backend")
        };
        let pic = ffmpeg.decode(self.codec, &packet, field)?;
        write_picture(&Planes::of_frame(pic)?, &Capture::of(&job.dst), dst)
    }

    /// AV1: sequence header (when it changed), frame header and tile group OBUs rebuilt from
    /// the controls and the tiles; the picture libdav1d outputs for them is this frame's.
    fn decode_av1(
        &mut self,
        job: &DecodeJob,
        coded: &[u8],
        dst: &mut [MappedDmaBuf],
    ) -> Result<(), DecodeError> {
        let find = Self::ctrl(job);
        let frame = av1::Frame::from_ctrls(&find)?;
        let mut obus = Vec::new();
        if self.changed(find(av1::CID_SEQUENCE).unwrap_or_default().to_vec()) {
            frame.seq.push_obu(&mut obus);
        }
        let Backend::Dav1d { decoder, refs } = &mut self.backend else {
            unreachable!("AV1 has the libdav1d backend")
        };
        // The one copy of the tiles, into the OBUs libdav1d reads; a hidden key frame the client
        // showed first (libdav1d then outputs it too: this frame's picture is the last).
        frame.push_obus(refs, job.src.timestamp, coded, &mut obus)?;
        let picture = dav1d_decode(decoder, obus, Some(i64::from(job.sequence)))?
            .pop()
            .ok_or(DecodeError::NoPicture)?;
        use dav1d::PlanarImageComponent::{U, V, Y};
        let planes = [Y, U, V].map(|c| picture.plane(c));
        write_picture(
            &Planes::of_dav1d(&picture, &planes)?,
            &Capture::of(&job.dst),
            dst,
        )
    }
}

/// libdav1d as a stateless stream runs it: the picture of each frame as soon as it is decoded,
/// hidden frames too, with film grain applied (as FFmpeg's libdav1d decoder does by default).
pub(crate) fn dav1d_decoder(threads: usize) -> Result<dav1d::Decoder, dav1d::Error> {
    let mut settings = dav1d::Settings::new();
    settings.set_n_threads(threads as u32);
    settings.set_max_frame_delay(1);
    settings.set_output_invisible_frames(true);
    settings.set_apply_grain(true);
    // no picture larger than the nodes take, whatever the sequence header says
    settings.set_frame_size_limit(MAX_WIDTH * MAX_HEIGHT);
    dav1d::Decoder::with_settings(&settings)
}

/// Give libdav1d one unit of OBUs; the pictures it produced, in decode order.
pub(crate) fn dav1d_decode(
    decoder: &mut dav1d::Decoder,
    obus: Vec<u8>,
    offset: Option<i64>,
) -> Result<Vec<dav1d::Picture>, dav1d::Error> {
    let mut pictures = Vec::new();
    let mut sent = decoder.send_data(obus, None, offset, None);
    loop {
        match decoder.get_picture() {
            Ok(p) => pictures.push(p),
            Err(e) if e.is_again() => {}
            Err(e) => return Err(e),
        }
        match sent {
            Err(e) if e.is_again() => sent = decoder.send_pending_data(),
            Err(e) => return Err(e),
            Ok(()) => break,
        }
    }
    while let Ok(p) = decoder.get_picture() {
        pictures.push(p);
    }
    Ok(pictures)
}

/// The layout of a CAPTURE buffer.
pub struct Capture<'a> {
    pub pixfmt: u32,
    /// Luma rows.
    pub height: u32,
    /// Pitch of each memory plane.
    pub bytesperline: &'a [u32],
}

impl Capture<'_> {
    /// The layout of a job's CAPTURE buffer.
    pub fn of(capture: &proto::Capture) -> Capture<'_> {
        Capture {
            pixfmt: capture.pixfmt,
            height: capture.height,
            bytesperline: &capture.bytesperline,
        }
    }
}

/// Write a picture into a CAPTURE buffer's memory planes.
pub(crate) fn write_picture(
    src: &Planes,
    job: &Capture,
    dst: &mut [MappedDmaBuf],
) -> Result<(), DecodeError> {
    let depth = src.depth;
    match (depth, job.pixfmt) {
        (Depth::Eight, PIX_FMT_NV12 | PIX_FMT_NV12M) | (Depth::Ten, PIX_FMT_P010) => {}
        (_, other) => {
            return Err(DecodeError::WrongCapture {
                got: format!("{:?}-bit", depth.bits()),
                pixfmt: fourcc_str(other),
            })
        }
    }
    let (w, h) = (src.width as u32, src.height as u32);
    let bpl = job.bytesperline[0];
    let too_large = || DecodeError::TooLarge {
        w,
        h,
        bw: bpl / depth.bytes() as u32,
        bh: job.height,
    };
    if w as usize * depth.bytes() > bpl as usize || h > job.height {
        return Err(too_large());
    }
    let luma_len = bpl as usize * job.height as usize;
    match dst {
        // NV12, P010: the chroma plane follows the luma rows, with the same pitch
        [plane] => plane.write(|mem| {
            if mem.len() < luma_len + luma_len / 2 {
                return Err(too_large());
            }
            src.write_luma(mem, 0, bpl as usize)?;
            src.write_chroma(mem, luma_len, bpl as usize)?;
            Ok(())
        })?,
        // NV12M
        [luma, chroma] => {
            let uv_bpl = job.bytesperline[1] as usize;
            let need_uv = uv_bpl * (job.height as usize).div_ceil(2);
            if luma.len() < luma_len || chroma.len() < need_uv || uv_bpl < bpl as usize {
                return Err(too_large());
            }
            luma.write(|y| src.write_luma(y, 0, bpl as usize))??;
            chroma.write(|uv| src.write_chroma(uv, 0, uv_bpl))??;
            Ok(())
        }
        _ => Err(DecodeError::BadPixfmt(job.pixfmt)),
    }
}

/// 10-bit pictures for a CAPTURE queue in NV12 (clients that know no P010, such as FFmpeg's
/// v4l2m2m wrappers): converted by FFmpeg's swscale with its default flags, as
/// `ffmpeg -pix_fmt nv12` converts them.
#[derive(Default)]
pub(crate) struct ToNv12 {
    scaler: Option<(ffmpeg::software::scaling::Context, (Pixel, u32, u32))>,
    out: Option<frame::Video>,
}

impl ToNv12 {
    /// Write `pic` (any format swscale reads) into the one-plane NV12 buffer `dst`.
    pub(crate) fn write(
        &mut self,
        pic: &frame::Video,
        job: &Capture,
        dst: &mut MappedDmaBuf,
    ) -> Result<(), DecodeError> {
        use ffmpeg::software::scaling::{Context, Flags};
        let key = (pic.format(), pic.width(), pic.height());
        if self.scaler.as_ref().map(|(_, k)| *k) != Some(key) {
            let (w, h) = (pic.width(), pic.height());
            let ctx = Context::get(pic.format(), w, h, Pixel::NV12, w, h, Flags::BICUBIC)?;
            self.scaler = Some((ctx, key));
        }
        let (scaler, _) = self.scaler.as_mut().expect("made above");
        let out = self.out.get_or_insert_with(frame::Video::empty);
        scaler.run(pic, out)?;

        let (w, h) = (out.width() as usize, out.height() as usize);
        let bpl = job.bytesperline[0] as usize;
        let too_large = || DecodeError::TooLarge {
            w: w as u32,
            h: h as u32,
            bw: bpl as u32,
            bh: job.height,
        };
        if job.pixfmt != PIX_FMT_NV12 {
            return Err(DecodeError::BadPixfmt(job.pixfmt));
        }
        if w > bpl || h > job.height as usize {
            return Err(too_large());
        }
        let luma_len = bpl * job.height as usize;
        // NV12's chroma rows hold the pairs of the rounded-up half width
        let (cw, ch) = (w.div_ceil(2) * 2, h.div_ceil(2));
        dst.write(|mem| {
            if mem.len() < luma_len + luma_len / 2 {
                return Err(too_large());
            }
            for row in 0..h {
                mem.put(row * bpl, &out.data(0)[row * out.stride(0)..][..w])?;
            }
            for row in 0..ch {
                mem.put(
                    luma_len + row * bpl,
                    &out.data(1)[row * out.stride(1)..][..cw],
                )?;
            }
            Ok(())
        })?
    }
}

pub fn fourcc_str(code: u32) -> String {
    code.to_le_bytes().iter().map(|&b| b as char).collect()
}

/// Sample storage: 8-bit (NV12), or 10-bit in 16-bit little-endian words with the value in
/// the top bits (P010).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Depth {
    Eight,
    Ten,
}

impl Depth {
    fn bits(self) -> u32 {
        match self {
            Depth::Eight => 8,
            Depth::Ten => 10,
        }
    }

    fn bytes(self) -> usize {
        match self {
            Depth::Eight => 1,
            Depth::Ten => 2,
        }
    }

    /// Copy samples, FFmpeg's (8-bit, or 10-bit in the low bits of LE words) to ours.
    fn copy(self, dst: &mut [u8], src: &[u8]) {
        match self {
            Depth::Eight => dst.copy_from_slice(src),
            Depth::Ten => {
                for (d, s) in dst.chunks_exact_mut(2).zip(src.chunks_exact(2)) {
                    d.copy_from_slice(&p010(s));
                }
            }
        }
    }
}

/// One 10-bit sample, FFmpeg's (low bits of an LE word), as P010 has it (top bits).
#[inline(always)]
fn p010(s: &[u8]) -> [u8; 2] {
    (u16::from_le_bytes([s[0], s[1]]) << 6).to_le_bytes()
}

/// A planar 4:2:0 picture: (data, stride) per plane.
pub(crate) struct Planes<'a> {
    y: (&'a [u8], usize),
    u: (&'a [u8], usize),
    v: (&'a [u8], usize),
    width: usize,
    height: usize,
    depth: Depth,
}

impl<'a> Planes<'a> {
    /// An FFmpeg picture: yuv420p (or yuvj420p, its full-range twin) or yuv420p10le.
    pub(crate) fn of_frame(pic: &'a frame::Video) -> Result<Planes<'a>, DecodeError> {
        let depth = match pic.format() {
            Pixel::YUV420P | Pixel::YUVJ420P => Depth::Eight,
            Pixel::YUV420P10LE => Depth::Ten,
            other => {
                return Err(DecodeError::Unsupported {
                    got: format!("{other:?}"),
                })
            }
        };
        Ok(Planes {
            y: (pic.data(0), pic.stride(0)),
            u: (pic.data(1), pic.stride(1)),
            v: (pic.data(2), pic.stride(2)),
            width: pic.width() as usize,
            height: pic.height() as usize,
            depth,
        })
    }

    pub(crate) fn width(&self) -> usize {
        self.width
    }

    pub(crate) fn height(&self) -> usize {
        self.height
    }

    /// Bytes per sample of the CAPTURE format it goes to (NV12: 1, P010: 2).
    pub(crate) fn depth_bytes(&self) -> usize {
        self.depth.bytes()
    }

    /// Write the picture into one NV12/P010 plane: luma at 0, chroma at `uv_at`.
    pub(crate) fn write_nv12(
        &self,
        dst: &mut Shared,
        uv_at: usize,
        pitch: usize,
    ) -> Result<(), DmaBufError> {
        self.write_luma(dst, 0, pitch)?;
        self.write_chroma(dst, uv_at, pitch)
    }

    /// A libdav1d picture (4:2:0 in 8 bits, or 10 bits in 16-bit words) and its Y, U, V planes.
    pub(crate) fn of_dav1d(
        pic: &dav1d::Picture,
        planes: &'a [dav1d::Plane; 3],
    ) -> Result<Planes<'a>, DecodeError> {
        use dav1d::PlanarImageComponent::{U, V, Y};
        // (bits_per_component is what the stream codes; bit_depth() says the same, whatever
        // its documentation says: 10-bit samples come in 16-bit words)
        let depth = match (pic.pixel_layout(), pic.bits_per_component().map(|b| b.0)) {
            (dav1d::PixelLayout::I420, Some(8)) => Depth::Eight,
            (dav1d::PixelLayout::I420, Some(10)) => Depth::Ten,
            (layout, bits) => {
                return Err(DecodeError::Unsupported {
                    got: format!("{layout:?} {bits:?}-bit"),
                })
            }
        };
        let plane = |i: usize, c| (&planes[i][..], pic.stride(c) as usize);
        Ok(Planes {
            y: plane(0, Y),
            u: plane(1, U),
            v: plane(2, V),
            width: pic.width() as usize,
            height: pic.height() as usize,
            depth,
        })
    }

    /// Copy the luma rows into an NV12 or P010 luma plane at byte `at` with pitch `pitch`.
    /// (Each row is made in daemon memory, then copied in: the mapping is shared.)
    fn write_luma(&self, dst: &mut Shared, at: usize, pitch: usize) -> Result<(), DmaBufError> {
        let w = self.width * self.depth.bytes();
        // 8-bit rows go in as FFmpeg has them; 10-bit ones are shifted into P010 first
        let mut line = match self.depth {
            Depth::Eight => Vec::new(),
            Depth::Ten => vec![0; w],
        };
        for row in 0..self.height {
            let src = &self.y.0[row * self.y.1..row * self.y.1 + w];
            if self.depth == Depth::Eight {
                dst.put(at + row * pitch, src)?;
            } else {
                self.depth.copy(&mut line, src);
                dst.put(at + row * pitch, &line)?;
            }
        }
        Ok(())
    }

    /// Interleave the chroma rows into an NV12 or P010 chroma plane at byte `at`.
    fn write_chroma(&self, dst: &mut Shared, at: usize, pitch: usize) -> Result<(), DmaBufError> {
        let b = self.depth.bytes();
        let (cw, ch) = (self.width.div_ceil(2) * b, self.height.div_ceil(2));
        let mut line = vec![0; 2 * cw];
        for row in 0..ch {
            let u = &self.u.0[row * self.u.1..row * self.u.1 + cw];
            let v = &self.v.0[row * self.v.1..row * self.v.1 + cw];
            // (one loop per depth, with fixed-size chunks: the compiler vectorizes each)
            match self.depth {
                Depth::Eight => {
                    for ((pair, &cb), &cr) in line.chunks_exact_mut(2).zip(u).zip(v) {
                        pair[0] = cb;
                        pair[1] = cr;
                    }
                }
                Depth::Ten => {
                    for ((pair, cb), cr) in line
                        .chunks_exact_mut(4)
                        .zip(u.chunks_exact(2))
                        .zip(v.chunks_exact(2))
                    {
                        pair[..2].copy_from_slice(&p010(cb));
                        pair[2..].copy_from_slice(&p010(cr));
                    }
                }
            }
            dst.put(at + row * pitch, &line)?;
        }
        Ok(())
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
            depth: Depth::Eight,
        };
        let mut ly = vec![0xee; 8 * 4];
        let mut luv = vec![0xee; 8 * 2];
        p.write_luma(&mut Shared::over(&mut ly), 0, 8).unwrap();
        p.write_chroma(&mut Shared::over(&mut luv), 0, 8).unwrap();
        assert_eq!(&ly[0..8], &[0, 1, 2, 0xee, 0xee, 0xee, 0xee, 0xee]);
        assert_eq!(&ly[8..11], &[4, 5, 6]);
        assert_eq!(&ly[16..19], &[8, 9, 10]);
        assert_eq!(&luv[0..5], &[100, 200, 101, 201, 0xee]);
        assert_eq!(&luv[8..12], &[102, 202, 103, 203]);
    }

    #[test]
    fn p010_puts_ten_bits_at_the_top_of_each_word() {
        // 2x2 picture, 10-bit samples in LE words: Y 0x3ff 0x001 / 0x200 0x000, U 0x155, V 0x2aa
        let le = |v: &[u16]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let y = le(&[0x3ff, 0x001, 0x200, 0x000]);
        let (u, v) = (le(&[0x155]), le(&[0x2aa]));
        let p = Planes {
            y: (&y, 4),
            u: (&u, 2),
            v: (&v, 2),
            width: 2,
            height: 2,
            depth: Depth::Ten,
        };
        let mut ly = vec![0xee; 6 * 2];
        let mut luv = vec![0xee; 6];
        p.write_luma(&mut Shared::over(&mut ly), 0, 6).unwrap();
        p.write_chroma(&mut Shared::over(&mut luv), 0, 6).unwrap();
        assert_eq!(&ly[..6], &le(&[0xffc0, 0x0040, 0xeeee])[..]);
        assert_eq!(&ly[6..10], &le(&[0x8000, 0x0000])[..]);
        assert_eq!(&luv[..6], &le(&[0x5540, 0xaa80, 0xeeee])[..]);
    }

    #[test]
    fn writes_outside_the_mapping_fail() {
        let y = [1u8; 4];
        let uv = [2u8; 2];
        let p = Planes {
            y: (&y, 2),
            u: (&uv[..1], 1),
            v: (&uv[1..], 1),
            width: 2,
            height: 2,
            depth: Depth::Eight,
        };
        let mut small = vec![0; 3];
        assert!(p.write_luma(&mut Shared::over(&mut small), 0, 2).is_err());
        let mut mem = vec![0; 4];
        assert!(p.write_luma(&mut Shared::over(&mut mem), 0, 2).is_ok());
        assert!(Shared::over(&mut mem).copy_out(usize::MAX, 2).is_err());
        assert_eq!(
            Shared::over(&mut mem).copy_out(1, 3).unwrap(),
            vec![1, 1, 1]
        );
    }

    #[test]
    fn fourcc_names() {
        assert_eq!(fourcc_str(PIX_FMT_P010), "P010");
    }
}
