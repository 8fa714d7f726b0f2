//! A stream of the stateful decoder node: the client's byte stream goes in as it comes (H.264
//! Annex B in any chunks, split into frames by FFmpeg's parser; VP9 one frame, AV1 one temporal
//! unit per buffer), FFmpeg decodes it (libdav1d for AV1), and the pictures come out in display
//! order, one per CAPTURE buffer, each with the timestamp of the OUTPUT buffer it came from.
//!
//! OUTPUT buffers go back at once: their frames wait here as bitstream, and are decoded a
//! little ahead of the CAPTURE buffers that come for their pictures (so a client that waits for
//! its OUTPUT buffers before it gives CAPTURE buffers back keeps going). The kernel stops
//! feeding while too many frames wait. The stream's format is told once the first
//! picture is decoded, and again, with the last buffer of the old format, when the next picture
//! to go out has another (a resolution change).

#![forbid(unsafe_code)]

use std::collections::VecDeque;

use ffmpeg::{codec, color, decoder, format::Pixel, frame, Packet};
use ffmpeg_next as ffmpeg;

use crate::{
    decoder::{write_picture, Capture, DecodeError, Planes, ToNv12},
    dmabuf::MappedDmaBuf,
    ffmpeg::{limit_picture_size, LogOwner, Parser, PADDING},
    proto::{
        Codec, FeedDone, FeedJob, Meta, StreamFormat, DONE_FLAG_FILLED, DONE_FLAG_FORMAT,
        DONE_FLAG_FULL, DONE_FLAG_LAST, PIX_FMT_NV12, PIX_FMT_P010,
    },
    session::{Ran, Session},
};

/// CAPTURE buffers a stream needs: the decoder keeps its references in its own frames, so
/// one for the client to hold and one to fill.
const MIN_BUFFERS: u32 = 2;

/// OUTPUT buffers whose timestamps are kept for the frames that start in them (the parser
/// itself keeps four).
const CHUNKS: usize = 8;

/// Frames sent to the decoder whose OUTPUT meta is kept until their pictures come out: more
/// than any decoder holds (H.264's 16 reference pictures, frame threads); the meta of a frame
/// that never comes out goes when this many came after it.
const IN_DECODER: usize = 64;

/// Bitstream a stream may hold, undecoded: beyond it, the kernel feeds no more until a
/// picture is taken (a client that never takes its pictures costs the daemon no more).
const MAX_INPUT_BYTES: usize = 64 << 20;

/// Pictures decoded ahead of the CAPTURE buffers that will take them.
const LOOKAHEAD: usize = 2;

/// The stateful node's session: the stream's bitstream in, its pictures out in display order.
pub struct StatefulSession {
    codec: Codec,
    decoder: decoder::Video,
    /// The decoder's log lines are this stream's (dropped after the decoder).
    _log: LogOwner,
    /// H.264: splits the byte stream into frames.
    parser: Option<Parser>,
    /// Coded frames fed and not decoded yet, with their timestamps: the client's OUTPUT
    /// buffers go back at once, and pictures are decoded as CAPTURE buffers come for them.
    input: VecDeque<(Packet, Meta)>,
    /// The timestamps and OUTPUT meta of the frames in the decoder, oldest first: a picture
    /// takes the meta of the frame with its timestamp.
    in_decoder: VecDeque<(i64, Meta)>,
    /// H.264: the last OUTPUT buffers parsed, as (position in the stream, timestamp, meta): a
    /// frame takes the timestamp and meta of the buffer where it starts (every frame of a
    /// buffer the same).
    chunks: VecDeque<(i64, i64, Meta)>,
    /// H.264: the position in the stream of the next OUTPUT buffer's bytes.
    stream_pos: i64,
    /// Decoded pictures, in display order, waiting for CAPTURE buffers.
    pending: VecDeque<(frame::Video, Meta)>,
    /// The format last told to the kernel.
    announced: Option<StreamFormat>,
    /// Converts 10-bit pictures for NV12 CAPTURE buffers.
    to_nv12: ToNv12,
    /// A drain was asked: once `input` is decoded, the decoder is drained.
    draining: bool,
    /// Drained: once `pending` is empty, the next CAPTURE buffer is the last.
    eos: bool,
}

fn ffmpeg_decoder(codec: Codec, threads: usize) -> Result<(decoder::Video, LogOwner), DecodeError> {
    let found = match codec {
        Codec::H264 => decoder::find(codec::Id::H264),
        Codec::Vp9 => decoder::find(codec::Id::VP9),
        // FFmpeg's own AV1 decoder needs a hardware accelerator; libdav1d is its software one
        Codec::Av1 => decoder::find_by_name("libdav1d"),
    }
    .ok_or(DecodeError::NoDecoder(codec.name()))?;
    let mut ctx = codec::context::Context::new_with_codec(found);
    limit_picture_size(&mut ctx);
    // The exact crop window, left and top offsets included, as `ffmpeg` crops: by default
    // FFmpeg keeps the planes aligned and crops less on the left (a 2-pixel left crop became
    // none). The pictures are copied row by row, from any address.
    ctx.set_flags(codec::Flags::UNALIGNED);
    // pictures come out in display order, after however many frames: frame threads are fine
    ctx.set_threading(codec::threading::Config {
        kind: codec::threading::Type::Frame,
        count: threads,
    });
    let log = LogOwner::tag(&mut ctx);
    Ok((ctx.decoder().video()?, log))
}

/// A picture's timestamp: that of the frame it came from (FFmpeg's best guess if it lost it).
fn pts_of(pic: &frame::Video) -> i64 {
    pic.pts().or(pic.timestamp()).unwrap_or(0)
}

/// The CAPTURE format a picture needs.
fn format_of(pic: &frame::Video) -> Option<StreamFormat> {
    let pixfmt = match pic.format() {
        // (FFmpeg's H.264 decoder calls full-range 4:2:0 "yuvj420p")
        Pixel::YUV420P | Pixel::YUVJ420P => PIX_FMT_NV12,
        Pixel::YUV420P10LE => PIX_FMT_P010,
        _ => return None,
    };
    Some(StreamFormat {
        width: pic.width(),
        height: pic.height(),
        pixfmt,
        min_buffers: MIN_BUFFERS,
        full_range: pic.format() == Pixel::YUVJ420P || pic.color_range() == color::Range::JPEG,
    })
}

impl Session for StatefulSession {
    type Job = FeedJob;
    const NODE: &'static str = "stateful";

    fn new(codec: Codec, threads: usize) -> Result<StatefulSession, DecodeError> {
        let (decoder, log) = ffmpeg_decoder(codec, threads)?;
        Ok(StatefulSession {
            codec,
            decoder,
            _log: log,
            parser: Self::parser(codec),
            input: VecDeque::new(),
            in_decoder: VecDeque::new(),
            chunks: VecDeque::new(),
            stream_pos: 0,
            pending: VecDeque::new(),
            announced: None,
            to_nv12: ToNv12::default(),
            draining: false,
            eos: false,
        })
    }

    fn codec(&self) -> Codec {
        self.codec
    }

    /// A feed job: see `feed`; a job with `announce` first forgets the format told.
    fn run(
        &mut self,
        job: &FeedJob,
        bitstream: Option<&[u8]>,
        dst: Option<&mut [MappedDmaBuf]>,
    ) -> Ran {
        if job.announce {
            self.forget_format();
        }
        let src = job
            .src
            .as_ref()
            .zip(bitstream)
            .map(|(s, bytes)| (bytes, s.timestamp, s.meta));
        let dst = match (dst, &job.dst) {
            (Some([mem]), Some(capture)) => Some((mem, Capture::of(capture))),
            (None, _) => None,
            // proto::Job::parse lets only one memory plane through
            (Some(_), capture) => {
                let pixfmt = capture.as_ref().map_or(0, |c| c.pixfmt);
                return Ran::failed(DecodeError::BadPixfmt(pixfmt));
            }
        };
        let (done, result) = self.feed(src, job.drain, dst);
        Ran {
            filled: done.flags & DONE_FLAG_FILLED != 0,
            feed: Some(done),
            result,
        }
    }

    /// A seek: drop the waiting frames and pictures and the decoder's references (it keeps the
    /// parameter sets it has seen), and any half-parsed frame.
    fn flush(&mut self) {
        self.input.clear();
        self.in_decoder.clear();
        self.chunks.clear();
        self.pending.clear();
        self.decoder.flush();
        self.parser = Self::parser(self.codec);
        self.draining = false;
        self.eos = false;
    }
}

impl StatefulSession {
    fn parser(codec: Codec) -> Option<Parser> {
        match codec {
            Codec::H264 => Parser::new(codec::Id::H264),
            _ => None,
        }
    }

    /// The node knows no format for the stream (a new stream, or the client stopped both
    /// queues and starts over): the next picture's format is told again, changed or not.
    pub fn forget_format(&mut self) {
        self.announced = None;
    }

    /// Take every picture the decoder has ready.
    fn receive(&mut self) -> Result<(), DecodeError> {
        loop {
            let mut pic = frame::Video::empty();
            match self.decoder.receive_frame(&mut pic) {
                Ok(()) => {
                    if format_of(&pic).is_none() {
                        return Err(DecodeError::Unsupported {
                            got: format!("{:?}", pic.format()),
                        });
                    }
                    let pts = pts_of(&pic);
                    let meta = match self.in_decoder.iter().position(|&(t, _)| t == pts) {
                        Some(i) => self
                            .in_decoder
                            .remove(i)
                            .map_or_else(Meta::default, |e| e.1),
                        None => Meta::default(),
                    };
                    self.pending.push_back((pic, meta));
                }
                Err(ffmpeg::Error::Eof) => return Ok(()),
                Err(ffmpeg::Error::Other { errno }) if errno == libc::EAGAIN => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The timestamp and meta of the OUTPUT buffer at `pos` (the latest one's if the parser
    /// lost it).
    fn chunk_of(&self, pos: i64) -> (i64, Meta) {
        self.chunks
            .iter()
            .rev()
            .find(|&&(p, _, _)| p == pos)
            .or(self.chunks.back())
            .map_or((0, Meta::default()), |&(_, pts, meta)| (pts, meta))
    }

    fn queue(&mut self, data: &[u8], (pts, meta): (i64, Meta)) {
        let mut packet = Packet::copy(data);
        packet.set_pts(Some(pts));
        self.input.push_back((packet, meta));
    }

    /// Feed one OUTPUT buffer's bytes: its frames join the input.
    fn push(&mut self, data: &[u8], pts: i64, meta: Meta) -> Result<(), DecodeError> {
        if data.is_empty() {
            return Ok(());
        }
        match self.parser.take() {
            Some(mut parser) => {
                // FFmpeg's parsers read a little past the end of their input, which must be
                // padded (the OUTPUT buffer's mapping ends where the bitstream may end)
                let mut padded = Vec::with_capacity(data.len() + PADDING);
                padded.extend_from_slice(data);
                padded.resize(data.len() + PADDING, 0);
                let data = &padded[..data.len()];
                let pos = self.stream_pos;
                self.stream_pos += data.len() as i64;
                self.chunks.push_back((pos, pts, meta));
                if self.chunks.len() > CHUNKS {
                    self.chunks.pop_front();
                }
                let result = parser.parse(data, pos, |frame, pos| {
                    self.queue(frame, self.chunk_of(pos));
                    Ok(())
                });
                self.parser = Some(parser);
                result
            }
            None => {
                self.queue(data, (pts, meta));
                Ok(())
            }
        }
    }

    /// The end of the stream: the parser's last frame joins the input, which is drained once
    /// decoded.
    fn drain(&mut self) -> Result<(), DecodeError> {
        let mut result = Ok(());
        if let Some(mut parser) = self.parser.take() {
            result = parser.parse(&[], -1, |frame, pos| {
                self.queue(frame, self.chunk_of(pos));
                Ok(())
            });
            self.parser = Some(parser);
        }
        self.draining = true;
        result
    }

    /// Decode until `want` pictures wait (or the input runs out; a drained decoder gives all
    /// it held).
    fn decode(&mut self, want: usize) -> Result<(), DecodeError> {
        while self.pending.len() < want {
            if let Some((packet, meta)) = self.input.pop_front() {
                self.in_decoder.push_back((packet.pts().unwrap_or(0), meta));
                if self.in_decoder.len() > IN_DECODER {
                    self.in_decoder.pop_front();
                }
                let sent = self.decoder.send_packet(&packet);
                // what was decoded before an error is good
                let received = self.receive();
                sent?;
                received?;
            } else if self.draining {
                self.draining = false;
                self.eos = true;
                self.decoder.send_eof()?;
                self.receive()?;
            } else {
                break;
            }
        }
        Ok(())
    }

    /// The drain ended (its last buffer went out): the decoder takes a new stream.
    fn end_drain(&mut self) {
        self.eos = false;
        self.in_decoder.clear();
        self.decoder.flush();
        self.parser = Self::parser(self.codec);
    }

    /// One feed job: feed `src` (bitstream, timestamp and meta), drain if `drain`, and fill `dst`
    /// (memory, and the buffer's layout) with the next picture. The result is the job's status:
    /// an error is the bitstream's (the OUTPUT buffer, if any, is returned with an error; no
    /// CAPTURE buffer is filled); `FeedDone` says what happened.
    ///
    /// Pictures are decoded a little ahead (`LOOKAHEAD`), so that a bad frame most often fails
    /// the job that fed it, and otherwise when a CAPTURE buffer comes for them: what waits is
    /// mostly bitstream, not pictures.
    pub fn feed(
        &mut self,
        src: Option<(&[u8], u64, Meta)>,
        drain: bool,
        dst: Option<(&mut MappedDmaBuf, Capture)>,
    ) -> (FeedDone, Result<(), DecodeError>) {
        let mut result = match src {
            Some((data, ts, meta)) => self.push(data, ts as i64, meta),
            None => Ok(()),
        };
        if drain {
            result = result.and(self.drain());
        }
        let want = if dst.is_some() {
            LOOKAHEAD + 1
        } else {
            LOOKAHEAD
        };
        result = result.and(self.decode(want));
        let (mut done, written) = self.answer(dst, result.is_ok());
        // what a CAPTURE buffer could be given: pictures, and frames to decode
        done.pending = (self.pending.len() + self.input.len()) as u32
            + u32::from(self.draining || (self.eos && self.pending.is_empty()));
        if self.input.iter().map(|(p, _)| p.size()).sum::<usize>() > MAX_INPUT_BYTES {
            done.flags |= DONE_FLAG_FULL;
        }
        (done, result.and(written))
    }

    fn answer(
        &mut self,
        dst: Option<(&mut MappedDmaBuf, Capture)>,
        fill: bool,
    ) -> (FeedDone, Result<(), DecodeError>) {
        let mut done = FeedDone::default();
        let head = self.pending.front().and_then(|(pic, _)| format_of(pic));
        match (self.announced, head) {
            // the first picture: its format, before any picture goes out
            (None, Some(format)) => {
                self.announced = Some(format);
                done.flags = DONE_FLAG_FORMAT;
                done.format = Some(format);
                return (done, Ok(()));
            }
            // the next picture has a new format: this buffer is the old format's last
            (Some(old), Some(format)) if old != format && dst.is_some() => {
                self.announced = Some(format);
                done.flags = DONE_FLAG_FORMAT | DONE_FLAG_LAST;
                done.format = Some(format);
                return (done, Ok(()));
            }
            (Some(old), Some(format)) if old != format => return (done, Ok(())),
            _ => {}
        }
        let Some((mem, layout)) = dst else {
            return (done, Ok(()));
        };
        if !fill {
            return (done, Ok(()));
        }
        if let Some((pic, meta)) = self.pending.pop_front() {
            // a 10-bit picture for a client that chose NV12 (the node offers both)
            let written = if layout.pixfmt == PIX_FMT_NV12 && pic.format() == Pixel::YUV420P10LE {
                self.to_nv12.write(&pic, &layout, mem)
            } else {
                Planes::of_frame(&pic)
                    .and_then(|planes| write_picture(&planes, &layout, std::slice::from_mut(mem)))
            };
            if let Err(e) = written {
                return (done, Err(e));
            }
            done.flags |= DONE_FLAG_FILLED;
            done.timestamp = pts_of(&pic) as u64;
            done.meta = meta;
        }
        if self.eos && self.pending.is_empty() {
            done.flags |= DONE_FLAG_LAST;
            self.end_drain();
        }
        (done, Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clip of the build environment (tools/make-clips.sh), or `None` outside it, where the
    /// test then skips with a line saying so. tools/build-daemon.sh --check sets
    /// DAEDALUS_REQUIRE_CLIPS: there a missing clip fails the test.
    fn clip(name: &str) -> Option<Vec<u8>> {
        let path = std::path::Path::new("/build/clips").join(name);
        match std::fs::read(&path) {
            Ok(data) => Some(data),
            Err(e) if std::env::var_os("DAEDALUS_REQUIRE_CLIPS").is_some() => {
                panic!("{}: {e} (run tools/make-clips.sh)", path.display())
            }
            Err(e) => {
                eprintln!(
                    "skipped: {}: {e} (not in the build environment)",
                    path.display()
                );
                None
            }
        }
    }

    /// The project's H.264 clip, cut into pieces that split NAL units: every frame comes out, with
    /// the timestamp and meta of the buffer where it starts.
    #[test]
    fn h264_in_any_chunks() {
        let Some(data) = clip("h264-320x240.h264") else {
            return;
        };
        ffmpeg::init().unwrap();
        let mut s = StatefulSession::new(Codec::H264, 2).unwrap();
        // small chunks: frames across chunks, and several frames in one
        let chunks: Vec<_> = data.chunks(3000).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let meta = Meta::new(&(i as u32).to_le_bytes()).unwrap();
            s.feed(Some((chunk, 1000 * (i as u64 + 1), meta)), false, None)
                .1
                .unwrap();
        }
        s.feed(None, true, None).1.unwrap();
        // every frame, decoded as CAPTURE buffers would ask, and the drain
        s.decode(usize::MAX).unwrap();
        assert!(s.eos && s.input.is_empty());
        assert_eq!(s.pending.len(), 60);
        // each picture has the timestamp of a buffer fed, and that buffer's meta
        for (pic, meta) in &s.pending {
            let ts = pic.pts().unwrap();
            assert!(ts % 1000 == 0 && ts >= 1000 && ts <= 1000 * chunks.len() as i64);
            assert_eq!(meta.as_bytes(), (ts as u32 / 1000 - 1).to_le_bytes());
        }
    }

    /// The format is told with the first picture, not again while it holds, and again,
    /// unchanged, once the node has forgotten it (the client stopped both queues).
    #[test]
    fn format_told_again_when_forgotten() {
        let Some(data) = clip("h264-320x240.h264") else {
            return;
        };
        ffmpeg::init().unwrap();
        let mut s = StatefulSession::new(Codec::H264, 2).unwrap();
        let mut told = None;
        for (i, chunk) in data.chunks(3000).enumerate() {
            let (done, result) = s.feed(
                Some((chunk, 1000 * (i as u64 + 1), Meta::default())),
                false,
                None,
            );
            result.unwrap();
            if done.flags & DONE_FLAG_FORMAT != 0 {
                told = done.format;
                break;
            }
        }
        let told = told.expect("no format told");
        let (done, result) = s.feed(None, false, None);
        result.unwrap();
        assert_eq!(done.flags & DONE_FLAG_FORMAT, 0, "told twice");
        s.forget_format();
        let (done, result) = s.feed(None, false, None);
        result.unwrap();
        assert_eq!(done.flags, DONE_FLAG_FORMAT);
        assert_eq!(done.format, Some(told));
    }
}
