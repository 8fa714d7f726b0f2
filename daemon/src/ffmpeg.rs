//! Every call into FFmpeg's C API that its Rust wrapper (`ffmpeg-next`) does not make safe, in
//! one place: the stateless decoder that catches each picture as FFmpeg allocates it (decode
//! order, shown or not: see `decoder.rs`), the bitstream parser that splits a stateful
//! stream into frames (`stateful.rs`), and FFmpeg's log lines routed into the daemon's logging. Each `unsafe` block says why it is sound; the modules
//! that use these types hold no `unsafe` code at all (`#![forbid(unsafe_code)]`).

use std::{
    cell::Cell,
    collections::BTreeMap,
    ffi::{c_char, c_int, c_void, CStr},
    sync::Mutex,
    time::{Duration, Instant},
};

use ffmpeg::{codec, decoder, ffi, frame, Packet};
use ffmpeg_next as ffmpeg;

use crate::{
    decoder::DecodeError,
    proto::{Codec, MAX_HEIGHT, MAX_WIDTH},
};

/// FFmpeg's log callback takes its `va_list` as the C ABI passes it, which differs by target.
#[cfg(target_arch = "x86_64")]
type VaList = *mut ffi::__va_list_tag;
#[cfg(not(target_arch = "x86_64"))]
type VaList = ffi::va_list;

thread_local! {
    /// The stream whose job runs on this thread (each stream's jobs run on one thread of its
    /// worker): FFmpeg's log lines from this thread are its.
    static CURRENT_STREAM: Cell<u32> = const { Cell::new(0) };
}

/// The stream of each open FFmpeg decoder, by its context's `opaque`, for the lines FFmpeg logs
/// from its own threads (slice and frame threads), which run no job of ours. (Frame threads
/// log through copies of the context, which keep its `opaque`.)
static CONTEXTS: Mutex<BTreeMap<usize, u32>> = Mutex::new(BTreeMap::new());

/// FFmpeg's log lines, per stream: at most this many a second reach the log.
const LINES_PER_SECOND: u32 = 10;

struct StreamLog {
    window: Instant,
    lines: u32,
    dropped: u32,
    /// The last error line since `take_error`: what explains a failed frame.
    last_error: Option<String>,
}

static LOGS: Mutex<BTreeMap<u32, StreamLog>> = Mutex::new(BTreeMap::new());

/// Route FFmpeg's log lines (warnings and errors) into the daemon's logging: at debug level,
/// target `ffmpeg`, with the stream they came from, at most `LINES_PER_SECOND` a second per
/// stream (a damaged stream can make thousands); the last error line of a failed job goes
/// with its warning (`take_error`). Without this they go to stderr, unattributed and unlimited.
pub fn route_logs() {
    // SAFETY: sets FFmpeg's global log level and callback; `log_line` has the callback's C
    // signature and may be called from any thread.
    unsafe {
        ffi::av_log_set_level(ffi::AV_LOG_WARNING);
        ffi::av_log_set_callback(Some(log_line));
    }
}

/// The jobs that run on this thread from now on are `stream`'s.
pub fn set_stream(stream: u32) {
    CURRENT_STREAM.with(|c| c.set(stream));
}

/// A decoder's log lines, whichever thread logs them, are the stream's that runs on the thread
/// that made it, for as long as this lives: registered under the decoder context's `opaque`.
pub(crate) struct LogOwner {
    key: usize,
    /// A unique address, when the context's `opaque` is ours to set.
    _tag: Option<Box<u8>>,
}

impl LogOwner {
    /// Register `ctx` (not opened yet), whose `opaque` is free, under an address of its own.
    pub(crate) fn tag(ctx: &mut codec::context::Context) -> LogOwner {
        let tag = Box::new(0u8);
        let key = &*tag as *const u8 as usize;
        // SAFETY: the context is valid and not opened; FFmpeg never reads `opaque` itself.
        unsafe { (*ctx.as_mut_ptr()).opaque = key as *mut c_void };
        LogOwner::register(key, Some(tag))
    }

    fn register(key: usize, tag: Option<Box<u8>>) -> LogOwner {
        if let Ok(mut contexts) = CONTEXTS.lock() {
            contexts.insert(key, CURRENT_STREAM.with(Cell::get));
        }
        LogOwner { key, _tag: tag }
    }
}

impl Drop for LogOwner {
    fn drop(&mut self) {
        if let Ok(mut contexts) = CONTEXTS.lock() {
            contexts.remove(&self.key);
        }
    }
}

/// The stream a line logged through `avcl` (FFmpeg's context of the line, or NULL) is from:
/// its decoder's, else the job's that runs on this thread.
fn stream_of(avcl: *mut c_void) -> u32 {
    let mut key = 0;
    if !avcl.is_null() {
        // SAFETY: FFmpeg passes NULL or a struct whose first member is its AVClass pointer; a
        // codec context's class is avcodec_get_class(), and then the struct is an
        // AVCodecContext.
        unsafe {
            if *(avcl as *const *const ffi::AVClass) == ffi::avcodec_get_class() {
                key = (*(avcl as *const ffi::AVCodecContext)).opaque as usize;
            }
        }
    }
    let owner = (key != 0)
        .then(|| CONTEXTS.lock().ok()?.get(&key).copied())
        .flatten();
    owner.unwrap_or_else(|| CURRENT_STREAM.with(Cell::get))
}

/// The last error line FFmpeg logged for `stream` since the last call.
pub fn take_error(stream: u32) -> Option<String> {
    LOGS.lock()
        .ok()?
        .get_mut(&stream)
        .and_then(|l| l.last_error.take())
}

/// `stream` ended: forget its log state.
pub fn forget_stream(stream: u32) {
    if let Ok(mut logs) = LOGS.lock() {
        logs.remove(&stream);
    }
}

unsafe extern "C" fn log_line(avcl: *mut c_void, level: c_int, fmt: *const c_char, vl: VaList) {
    // SAFETY: reads FFmpeg's global log level.
    if level > unsafe { ffi::av_log_get_level() } {
        return;
    }
    let mut buf: [c_char; 1024] = [0; 1024];
    let mut print_prefix: c_int = 1;
    // SAFETY: `avcl`, `fmt` and `vl` are what FFmpeg passes to any log callback, passed on
    // unchanged; `buf` is as long as said, and av_log_format_line2 NUL-terminates within it.
    let line = unsafe {
        ffi::av_log_format_line2(
            avcl,
            level,
            fmt,
            vl,
            buf.as_mut_ptr(),
            buf.len() as c_int,
            &mut print_prefix,
        );
        CStr::from_ptr(buf.as_ptr())
    };
    let line = line.to_string_lossy();
    let line = line.trim_end();
    if !line.is_empty() {
        record(stream_of(avcl), level <= ffi::AV_LOG_ERROR, line);
    }
}

/// One FFmpeg log line of `stream`, rate-limited.
fn record(stream: u32, error: bool, line: &str) {
    let Ok(mut logs) = LOGS.lock() else {
        return;
    };
    let now = Instant::now();
    let log = logs.entry(stream).or_insert(StreamLog {
        window: now,
        lines: 0,
        dropped: 0,
        last_error: None,
    });
    if error {
        log.last_error = Some(line.to_string());
    }
    if now.duration_since(log.window) >= Duration::from_secs(1) {
        if log.dropped > 0 {
            tracing::debug!(target: "ffmpeg", stream, dropped = log.dropped, "FFmpeg lines dropped");
        }
        (log.window, log.lines, log.dropped) = (now, 0, 0);
    }
    if log.lines < LINES_PER_SECOND {
        log.lines += 1;
        tracing::debug!(target: "ffmpeg", stream, "{line}");
    } else {
        log.dropped += 1;
    }
}

/// Zeroed bytes FFmpeg may read past the end of a parser's input.
pub(crate) const PADDING: usize = ffi::AV_INPUT_BUFFER_PADDING_SIZE as usize;

pub(crate) struct Ffmpeg {
    // Declared (so dropped) before `caught`, which the decoder's get_buffer2 writes to.
    decoder: decoder::Video,
    _log: LogOwner,
    /// FFmpeg's display-order output, drained after each packet.
    picture: frame::Video,
    /// A reference to the last picture FFmpeg allocated (see `catch_get_buffer2`).
    caught: frame::Video,
    /// The picture the last field picture was decoded into: the frame its second field, which
    /// allocates none, completes.
    first_field: frame::Video,
}

/// FFmpeg's own `get_buffer2`, plus a reference to the new picture's buffers in the frame that
/// `opaque` points to. The last picture allocated while a packet is decoded is that packet's
/// picture (gap frames FFmpeg invents for missing H.264 references come before it).
unsafe extern "C" fn catch_get_buffer2(
    ctx: *mut ffi::AVCodecContext,
    frame: *mut ffi::AVFrame,
    flags: c_int,
) -> c_int {
    // SAFETY: FFmpeg calls this with a valid context and a frame to allocate, as it would call
    // its default.
    let ret = unsafe { ffi::avcodec_default_get_buffer2(ctx, frame, flags) };
    if ret >= 0 {
        // SAFETY: `opaque` is the AVFrame of the session's `caught`, which outlives the decoder
        // (Session field order); FFmpeg calls get_buffer2 from one thread at a time (no frame
        // threading), and `frame` now holds refcounted buffers.
        unsafe {
            let caught = (*ctx).opaque as *mut ffi::AVFrame;
            ffi::av_frame_unref(caught);
            ffi::av_frame_ref(caught, frame);
        }
    }
    ret
}

/// Bound what a stream can make FFmpeg allocate: no picture larger than the nodes take
/// (`max_pixels`, which FFmpeg also hands to libdav1d as its `frame_size_limit`). A header that
/// claims more fails its frame instead of allocating gigabytes.
pub(crate) fn limit_picture_size(ctx: &mut codec::context::Context) {
    // SAFETY: a plain field of a context that is not opened yet, which we own.
    unsafe { (*ctx.as_mut_ptr()).max_pixels = i64::from(MAX_WIDTH) * i64::from(MAX_HEIGHT) };
}

impl Ffmpeg {
    pub(crate) fn new(id: codec::Id, threads: usize) -> Result<Ffmpeg, DecodeError> {
        let found = decoder::find(id).ok_or(DecodeError::NoDecoder(id.name()))?;
        let mut ctx = codec::context::Context::new_with_codec(found);
        limit_picture_size(&mut ctx);
        // One job is one frame and its picture is due when the job ends: frame threading
        // would hold pictures back, slice/tile threads do not.
        ctx.set_threading(codec::threading::Config {
            kind: codec::threading::Type::Slice,
            count: threads,
        });
        let mut caught = frame::Video::empty();
        // SAFETY: the context is not opened yet; the frame's AVFrame is heap-allocated, stays
        // where it is when the Session moves, and outlives the decoder.
        unsafe {
            let raw = ctx.as_mut_ptr();
            (*raw).opaque = caught.as_mut_ptr() as *mut c_void;
            (*raw).get_buffer2 = Some(catch_get_buffer2);
        }
        // SAFETY: only the address of the session's AVFrame, the decoder's `opaque`, is read.
        let log = LogOwner::register(unsafe { caught.as_ptr() } as usize, None);
        let decoder = ctx.decoder().video()?;
        Ok(Ffmpeg {
            _log: log,
            decoder,
            picture: frame::Video::empty(),
            caught,
            first_field: frame::Video::empty(),
        })
    }

    /// Decode one packet; the picture it produced, in decode order. `field`: the packet is one
    /// field picture (H.264), whose picture is the whole frame its field pair decodes into.
    pub(crate) fn decode(
        &mut self,
        codec: Codec,
        packet: &Packet,
        field: bool,
    ) -> Result<&frame::Video, DecodeError> {
        // SAFETY: valid AVFrames owned by the session.
        unsafe {
            ffi::av_frame_unref(self.caught.as_mut_ptr());
            if !field {
                ffi::av_frame_unref(self.first_field.as_mut_ptr());
            }
        }
        let sent = self.decoder.send_packet(packet);
        // Display-order output is not what the job wants; take it so FFmpeg keeps accepting
        // input. A VP9 packet that only shows an existing picture allocates none: its output is
        // its picture (VP9 has no reorder delay; H.264 output may be an older picture).
        let mut shown = false;
        while self.decoder.receive_frame(&mut self.picture).is_ok() {
            shown = true;
        }
        sent?;
        // SAFETY: valid AVFrames owned by the session; buf[0] is set iff one holds a picture.
        let (caught, paired) = unsafe {
            (
                !(*self.caught.as_ptr()).buf[0].is_null(),
                !(*self.first_field.as_ptr()).buf[0].is_null(),
            )
        };
        match (caught, shown) {
            (true, _) => {
                if field {
                    // A first field (or one without its pair): its frame is kept for the
                    // second, which FFmpeg decodes into it.
                    // SAFETY: valid AVFrames owned by the session; `caught` holds a picture.
                    let ret = unsafe {
                        ffi::av_frame_unref(self.first_field.as_mut_ptr());
                        ffi::av_frame_ref(self.first_field.as_mut_ptr(), self.caught.as_ptr())
                    };
                    if ret < 0 {
                        return Err(DecodeError::NoPicture);
                    }
                }
                Ok(&self.caught)
            }
            (false, _) if field && paired => Ok(&self.first_field),
            (false, true) if codec == Codec::Vp9 => Ok(&self.picture),
            _ => Err(DecodeError::NoPicture),
        }
    }
}

/// FFmpeg's bitstream parser (`av_parser_parse2`), which splits a byte stream into frames.
pub(crate) struct Parser {
    ctx: *mut ffi::AVCodecParserContext,
    /// The codec context the parser reads and writes (not the decoder's).
    avctx: codec::context::Context,
}

impl Parser {
    pub(crate) fn new(id: codec::Id) -> Option<Parser> {
        // SAFETY: av_parser_init takes any codec id and returns NULL when it has no parser.
        let ctx = unsafe { ffi::av_parser_init(ffi::AVCodecID::from(id) as c_int) };
        (!ctx.is_null()).then(|| Parser {
            ctx,
            avctx: codec::context::Context::new(),
        })
    }

    /// Parse `data` (empty: the end of the stream), calling `out` with each complete frame and
    /// the position in the stream of the buffer where it starts. `pos` is `data`'s position.
    pub(crate) fn parse(
        &mut self,
        mut data: &[u8],
        pos: i64,
        mut out: impl FnMut(&[u8], i64) -> Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        let flushing = data.is_empty();
        let mut pos = pos;
        loop {
            let mut frame: *mut u8 = std::ptr::null_mut();
            let mut size: c_int = 0;
            let len = c_int::try_from(data.len()).map_err(|_| DecodeError::NoPicture)?;
            // SAFETY: ctx and avctx are valid and ours; data is valid for len bytes (NULL with
            // 0 flushes); FFmpeg sets frame/size to a buffer it owns until the next call.
            let used = unsafe {
                ffi::av_parser_parse2(
                    self.ctx,
                    self.avctx.as_mut_ptr(),
                    &mut frame,
                    &mut size,
                    if flushing {
                        std::ptr::null()
                    } else {
                        data.as_ptr()
                    },
                    len,
                    // the parser keeps each buffer's (pts, pos) by byte offset and gives a frame
                    // those of the buffer where it starts; the pts only to its first frame, the
                    // pos to every one
                    0,
                    ffi::AV_NOPTS_VALUE,
                    pos,
                )
            };
            if used < 0 {
                return Err(ffmpeg::Error::from(used).into());
            }
            data = &data[(used as usize).min(data.len())..];
            // the buffer's first call describes it whole
            pos = -1;
            if size > 0 {
                // SAFETY: FFmpeg returned `size` valid bytes at `frame`, which stay valid
                // until the next av_parser_parse2 call (`out` copies them).
                let bytes = unsafe { std::slice::from_raw_parts(frame, size as usize) };
                // SAFETY: ctx is valid; pos is the returned frame's start buffer's position.
                out(bytes, unsafe { (*self.ctx).pos })?;
            }
            if flushing {
                if size == 0 {
                    return Ok(());
                }
            } else if data.is_empty() || (used == 0 && size == 0) {
                return Ok(());
            }
        }
    }
}

impl Drop for Parser {
    fn drop(&mut self) {
        // SAFETY: ctx came from av_parser_init and is closed once.
        unsafe { ffi::av_parser_close(self.ctx) };
    }
}

// SAFETY: the parser context is only used through &mut self; FFmpeg parsers have no thread
// affinity.
unsafe impl Send for Parser {}

#[cfg(test)]
mod tests {
    use super::*;

    /// The last error line of a stream is kept for its failed job (and taken once), however
    /// many lines the rate limit drops.
    #[test]
    fn last_error_survives_the_rate_limit() {
        for i in 0..100 {
            record(4242, true, &format!("error {i}"));
        }
        record(4242, false, "a warning");
        assert_eq!(take_error(4242).as_deref(), Some("error 99"));
        assert_eq!(take_error(4242), None);
        let dropped = LOGS.lock().unwrap().get(&4242).map(|l| l.dropped);
        assert_eq!(dropped, Some(100 + 1 - LINES_PER_SECOND));
        forget_stream(4242);
        assert!(LOGS.lock().unwrap().get(&4242).is_none());
    }
}
