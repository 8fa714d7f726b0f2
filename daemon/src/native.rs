//! The daemon's decode loop on this machine's own CPU, with no kernel and no VM:
//! `daedalus-v4l2d --bench CLIP`. Each frame of the clip goes through what a stateless job
//! costs the daemon (FFmpeg with the same slice threads, or libdav1d with the same settings,
//! catching each frame's picture; the NV12/P010 write into a CAPTURE-sized buffer), without the
//! netlink round trip and dmabuf synchronisation. Its frames/s and CPU seconds, measured on a
//! fast build machine, scale to a slower CPU (a Raspberry Pi 5's Cortex-A76) where the VM's
//! emulated figures do not (docs/testing.md).

#![forbid(unsafe_code)]

use std::{
    path::Path,
    time::{Duration, Instant},
};

use ffmpeg_next as ffmpeg;
use thiserror::Error;

use crate::{
    decoder::{dav1d_decode, dav1d_decoder, DecodeError, Planes},
    dmabuf::{DmaBufError, Shared},
    ffmpeg::Ffmpeg,
    proto::Codec,
};

#[derive(Debug, Error)]
pub enum BenchError {
    #[error("{0}: {1}")]
    Open(String, ffmpeg::Error),
    #[error("no video stream")]
    NoVideo,
    #[error("codec {0:?} is not one the daemon decodes")]
    Codec(ffmpeg::codec::Id),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("libdav1d: {0}")]
    Dav1d(#[from] dav1d::Error),
    #[error(transparent)]
    DmaBuf(#[from] DmaBufError),
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct Report {
    pub codec: Codec,
    pub width: usize,
    pub height: usize,
    pub bits: u32,
    pub frames: u64,
    pub wall: Duration,
    /// User and system CPU time of this process (every decoder thread).
    pub cpu: Duration,
}

impl Report {
    pub fn fps(&self) -> f64 {
        self.frames as f64 / self.wall.as_secs_f64()
    }
}

fn cpu_time() -> Duration {
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF);
    usage.map_or(Duration::ZERO, |u| {
        let t = |tv: nix::sys::time::TimeVal| {
            Duration::new(tv.tv_sec() as u64, tv.tv_usec() as u32 * 1000)
        };
        t(u.user_time()) + t(u.system_time())
    })
}

/// Writes pictures as the daemon writes them into a single-plane CAPTURE buffer.
#[derive(Default)]
struct Sink {
    buf: Vec<u8>,
    width: usize,
    height: usize,
    bits: u32,
}

impl Sink {
    fn put(&mut self, planes: &Planes) -> Result<(), BenchError> {
        let bytes = planes.depth_bytes();
        let pitch = planes.width().next_multiple_of(16) * bytes;
        let rows = planes.height().next_multiple_of(16);
        let luma = pitch * rows;
        if self.buf.len() < luma + luma / 2 {
            self.buf = vec![0; luma + luma / 2];
        }
        let mut mem = Shared::over(&mut self.buf);
        planes.write_nv12(&mut mem, luma, pitch)?;
        (self.width, self.height) = (planes.width(), planes.height());
        self.bits = if bytes == 2 { 10 } else { 8 };
        Ok(())
    }
}

/// Decode `clip` (IVF, Annex B H.264, Matroska...) with `threads` decoder threads.
pub fn bench(clip: &Path, threads: usize) -> Result<Report, BenchError> {
    let mut input =
        ffmpeg::format::input(clip).map_err(|e| BenchError::Open(clip.display().to_string(), e))?;
    let stream = input
        .streams()
        .best(ffmpeg::media::Type::Video)
        .ok_or(BenchError::NoVideo)?;
    let index = stream.index();
    let id = stream.parameters().id();
    let codec = match id {
        ffmpeg::codec::Id::VP9 => Codec::Vp9,
        ffmpeg::codec::Id::H264 => Codec::H264,
        ffmpeg::codec::Id::AV1 => Codec::Av1,
        other => return Err(BenchError::Codec(other)),
    };
    let packets: Vec<ffmpeg::Packet> = input
        .packets()
        .filter(|(s, _)| s.index() == index)
        .map(|(_, p)| p)
        .collect();
    let mut sink = Sink::default();
    let mut frames = 0;
    let (t0, c0) = (Instant::now(), cpu_time());
    if codec == Codec::Av1 {
        use dav1d::PlanarImageComponent::{U, V, Y};
        let mut decoder = dav1d_decoder(threads)?;
        for packet in &packets {
            let data = packet.data().unwrap_or_default().to_vec();
            for p in dav1d_decode(&mut decoder, data, None)? {
                let planes = [Y, U, V].map(|c| p.plane(c));
                sink.put(&Planes::of_dav1d(&p, &planes)?)?;
                frames += 1;
            }
        }
    } else {
        let mut decoder = Ffmpeg::new(id, threads)?;
        for packet in &packets {
            match decoder.decode(codec, packet, false) {
                Ok(pic) => {
                    sink.put(&Planes::of_frame(pic)?)?;
                    frames += 1;
                }
                // a packet with no picture of its own (parameter sets only)
                Err(DecodeError::NoPicture) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(Report {
        codec,
        width: sink.width,
        height: sink.height,
        bits: sink.bits,
        frames,
        wall: t0.elapsed(),
        cpu: cpu_time() - c0,
    })
}
