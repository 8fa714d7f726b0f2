//! One shape for a stream's decoder, whichever node the stream is on.
//!
//! A stream (one open file of a decoder node) has one session, made by the dispatcher
//! (`jobs::Jobs`) at the stream's first job and again when its codec changes, and dropped when
//! the stream closes. Sessions are called from one thread at a time, one job at a time, in the
//! order the kernel queued the jobs; a job's buffers are the kernel's and are mapped by the
//! dispatcher for the length of one `run`: a session keeps no reference to them.
//!
//! - The stateless node's session (`decoder::StatelessSession`) runs decode jobs: each brings
//!   one frame's bitstream, the request's controls and a CAPTURE buffer, and its picture is in
//!   that buffer when `run` returns.
//! - The stateful node's session (`stateful::StatefulSession`) runs feed jobs: each may bring
//!   bitstream (any chunk of the stream), a CAPTURE buffer, or both; pictures come out in
//!   display order, one per CAPTURE buffer, later than the bitstream that made them.

#![forbid(unsafe_code)]

use crate::{
    decoder::DecodeError,
    dmabuf::MappedDmaBuf,
    proto::{Capture, Codec, DecodeJob, FeedDone, FeedJob, Output},
};

/// What the dispatcher reads of a stream's job, whatever its kind.
pub trait StreamJob {
    fn codec(&self) -> Codec;
    /// The job's number in its stream (the kernel's sequence).
    fn sequence(&self) -> u32;
    /// The OUTPUT buffer (bitstream) the job brings, if any.
    fn output(&self) -> Option<&Output>;
    /// The CAPTURE buffer the job brings, if any.
    fn capture(&self) -> Option<&Capture>;
}

impl StreamJob for DecodeJob {
    fn codec(&self) -> Codec {
        self.codec
    }
    fn sequence(&self) -> u32 {
        self.sequence
    }
    fn output(&self) -> Option<&Output> {
        Some(&self.src)
    }
    fn capture(&self) -> Option<&Capture> {
        Some(&self.dst)
    }
}

impl StreamJob for FeedJob {
    fn codec(&self) -> Codec {
        self.codec
    }
    fn sequence(&self) -> u32 {
        self.sequence
    }
    fn output(&self) -> Option<&Output> {
        self.src.as_ref()
    }
    fn capture(&self) -> Option<&Capture> {
        self.dst.as_ref()
    }
}

/// What one job of a stream did.
#[derive(Debug)]
pub struct Ran {
    /// A picture went into the job's CAPTURE buffer.
    pub filled: bool,
    /// What job-done tells of a feed job (flags, timestamp, format, pending pictures); decode
    /// jobs tell nothing but their status.
    pub feed: Option<FeedDone>,
    /// The job's status: an error fails the job (its buffers go back to the client with
    /// `V4L2_BUF_FLAG_ERROR`) and the session goes on with the next one.
    pub result: Result<(), DecodeError>,
}

impl Ran {
    /// A job that failed before its session saw it (a mapping, a bad range).
    pub fn failed(error: DecodeError) -> Ran {
        Ran {
            filled: false,
            feed: None,
            result: Err(error),
        }
    }
}

/// A stream's decoder (see the module's documentation for who calls what, and when).
pub trait Session: Sized {
    /// The job kind this session runs.
    type Job: StreamJob;
    /// The node's kind, for the journal: "stateless" or "stateful".
    const NODE: &'static str;

    /// A session decoding `codec` with `threads` threads.
    fn new(codec: Codec, threads: usize) -> Result<Self, DecodeError>;

    /// The codec it decodes: a job of another codec gets a new session.
    fn codec(&self) -> Codec;

    /// Run one job. `bitstream` is the job's OUTPUT bytes (the range the job names, checked
    /// against the buffer), `dst` its CAPTURE buffer's memory planes, mapped writable; either
    /// is `None` when the job brings no such buffer. An error leaves the session usable.
    fn run(
        &mut self,
        job: &Self::Job,
        bitstream: Option<&[u8]>,
        dst: Option<&mut [MappedDmaBuf]>,
    ) -> Ran;

    /// A seek (the stateful node's flush job): drop the bitstream and pictures that wait and
    /// the decoder's references. The stateless node has no such job: its client sends the
    /// references with each frame.
    fn flush(&mut self) {}
}
