//! The dispatcher: what each job the kernel hands out does. `Jobs::dispatch` allocates CAPTURE
//! buffers itself and hands every other job to its stream's worker (`worker`: a process of its
//! own), where `StreamJobs::handle` runs it and says what came of it as an `Outcome`; the
//! daemon's loop (main.rs) turns every outcome, of every job kind, into its job-done, its
//! journal lines and the status in one place.
//!
//! `Jobs` owns what lives across jobs: the allocator, the stream workers and the counters; a
//! worker's `StreamJobs` owns its stream's session (`session::Session`, one per node kind) and
//! the CAPTURE buffers the daemon allocated for it (by buffer id).

#![forbid(unsafe_code)]

use std::{
    collections::{hash_map::Entry, HashMap, HashSet},
    os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use crate::{
    alloc::{AllocError, Allocation},
    decoder::{DecodeError, StatelessSession},
    dmabuf::{DmaBufError, MappedDmaBuf, Shared},
    ffmpeg,
    proto::{self, AllocJob, Codec, FeedDone, Job, JobBody},
    session::{Ran, Session, StreamJob},
    stateful::StatefulSession,
    worker::{self, Work},
};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// A node's name, `Session::NODE` (through an alias, serde's derive does not take the field
/// for a string borrowed from the message: `node_name` makes the `'static` one).
pub type NodeName = &'static str;

/// What one stream did so far.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stats {
    /// "stateless" or "stateful".
    #[serde(with = "node_name")]
    pub node: NodeName,
    pub codec: Option<Codec>,
    /// The visible size: the OUTPUT format's (stateless), the pictures' (stateful).
    pub width: u32,
    pub height: u32,
    pub frames: u64,
    pub errors: u64,
    /// The process that decodes it: its worker (or the daemon, with `--workers threads`).
    pub pid: u32,
    #[serde(with = "age")]
    pub started: Instant,
    /// Time spent in its jobs.
    pub busy: Duration,
}

impl Stats {
    fn new(node: &'static str) -> Stats {
        Stats {
            node,
            codec: None,
            width: 0,
            height: 0,
            frames: 0,
            errors: 0,
            pid: std::process::id(),
            started: Instant::now(),
            busy: Duration::ZERO,
        }
    }

    /// Frames per second of wall time since the stream started.
    pub fn fps(&self) -> f64 {
        self.frames as f64 / self.started.elapsed().as_secs_f64().max(1e-9)
    }

    /// Frames per second of time spent decoding.
    pub fn decode_fps(&self) -> f64 {
        self.frames as f64 / self.busy.as_secs_f64().max(1e-9)
    }
}

/// Counters over every stream since the daemon started.
#[derive(Debug, Clone, Copy, Default)]
pub struct Totals {
    pub frames_decoded: u64,
    pub decode_errors: u64,
    pub streams_started: u64,
    pub io: Io,
}

/// What the daemon's side of jobs cost in file descriptors and mappings: the per-job work that
/// a buffer cache would save (`daedalus-v4l2ctl status` shows it per frame).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Io {
    /// Buffer fds the kernel installed in the daemon for jobs.
    pub fds: u64,
    /// Buffers mapped: for one job, or to be kept (an OUTPUT export's, a CAPTURE buffer's the
    /// daemon allocated) at the first job that names it.
    pub maps: u64,
    /// fds duplicated to map them.
    pub dups: u64,
}

impl std::ops::AddAssign for Io {
    fn add_assign(&mut self, o: Io) {
        self.fds += o.fds;
        self.maps += o.maps;
        self.dups += o.dups;
    }
}

impl Io {
    /// Fds installed, maps and dups per frame, over `frames` frames (none: per one).
    pub fn per_frame(self, frames: u64) -> (f64, f64, f64) {
        let per = |n: u64| n as f64 / frames.max(1) as f64;
        (per(self.fds), per(self.maps), per(self.dups))
    }

    /// What was counted since `then` (counters only grow).
    pub fn since(self, then: Io) -> Io {
        Io {
            fds: self.fds - then.fds,
            maps: self.maps - then.maps,
            dups: self.dups - then.dups,
        }
    }
}

struct Stream<S> {
    session: Option<S>,
    stats: Stats,
}

/// The job-done a job is answered with.
#[derive(Debug, Serialize, Deserialize)]
pub struct Reply {
    /// 0, or the positive errno the job failed with.
    pub status: u32,
    /// An alloc job's dmabuf (the kernel takes its own reference); never from a worker.
    #[serde(skip)]
    pub fd: Option<OwnedFd>,
    /// A feed job's report.
    pub feed: Option<FeedDone>,
    /// The job's OUTPUT export is mapped here, kept until its release job: the kernel need
    /// send its fd no more (`DONE_FLAG_OUTPUT_KEPT`).
    pub output_kept: bool,
}

impl Reply {
    /// A job-done with nothing but its status (0, or the positive errno it failed with).
    fn status(status: u32) -> Reply {
        Reply {
            status,
            fd: None,
            feed: None,
            output_kept: false,
        }
    }
}

/// A CAPTURE buffer the daemon allocated: its stream, and its id (that of the alloc job).
type BufKey = (u32, u64);

/// What came of a job (a worker sends none of the allocation kinds).
#[derive(Debug, Serialize, Deserialize)]
pub enum Event {
    Released {
        buf: u64,
    },
    /// The stream's file was closed; `None` if it never had a job.
    Closed(Option<Stats>),
    /// A seek on the stateful node; `false` if the stream had no session yet.
    Flushed(bool),
    /// A decode (stateless) or feed (stateful) job ran.
    Ran {
        #[serde(with = "node_name")]
        node: NodeName,
        codec: Codec,
        sequence: u32,
        /// The OUTPUT buffer's timestamp, if the job had one.
        timestamp: Option<u64>,
        /// The stream started with this job (or changed codec or size).
        started: bool,
        /// The stream's visible size, as far as known (0x0: a stateful stream before its first
        /// picture).
        width: u32,
        height: u32,
        /// The stream's format, told to the kernel by this feed job.
        format: Option<proto::StreamFormat>,
        filled: bool,
        #[serde(with = "remote_result")]
        result: Result<(), DecodeError>,
        /// FFmpeg's last error line during a failed job: what explains it.
        decoder_said: Option<String>,
        took: Duration,
    },
    // (last: serde numbers the variants it skips differently on each side)
    /// A CAPTURE buffer was allocated, kept under the job's id.
    #[serde(skip)]
    Allocated(AllocJob),
    #[serde(skip)]
    NotAllocated(AllocJob, AllocError),
}

/// One job's outcome: what to answer, and what to tell.
#[derive(Debug, Serialize, Deserialize)]
pub struct Outcome {
    pub id: u64,
    pub stream: u32,
    pub event: Event,
    /// `None` for the job kinds the kernel wants no answer to (release, stream-close, flush).
    pub reply: Option<Reply>,
    /// A decode or feed job's stream's counters after it.
    pub stats: Option<Stats>,
    /// What the job cost in fds and mappings.
    pub io: Io,
}

/// The dispatcher, on the daemon's netlink thread: allocates CAPTURE buffers itself and routes
/// every other job to its stream's worker, a process (or thread) of its own per stream (so
/// streams decode at the same time, and a stream's jobs run in the order the kernel queued
/// them). Outcomes
/// come back through the channel `attach` returns, in the order each stream's jobs ran.
pub struct Jobs {
    allocation: Allocation,
    threads: usize,
    kind: Workers,
    workers: HashMap<u32, Worker>,
    /// Each stream's counters, as its last job left them.
    stats: HashMap<u32, Stats>,
    /// CAPTURE buffers allocated and not released.
    buffers: HashSet<BufKey>,
    totals: Totals,
    outcomes: mpsc::UnboundedSender<Outcome>,
}

/// Where streams' jobs run.
pub enum Workers {
    /// A process of its own per stream, confined (`worker`): how the daemon runs.
    Processes(worker::Pool),
    /// A thread of the daemon's per stream (unit tests; `--workers threads` to debug).
    Threads,
}

/// The daemon's side of a stream's worker (a thread: the worker itself, or the proxy of a
/// worker process); it ends after the stream's close job, or when this is dropped.
struct Worker {
    work: std::sync::mpsc::Sender<Work>,
    /// The stream's close job was sent: a worker process still busy is not waited for long.
    closing: Arc<AtomicBool>,
}

impl Worker {
    fn spawn(
        stream: u32,
        threads: usize,
        workers: &Workers,
        outcomes: mpsc::UnboundedSender<Outcome>,
    ) -> std::io::Result<Worker> {
        let (work, queue) = std::sync::mpsc::channel();
        let closing = Arc::new(AtomicBool::new(false));
        let builder = std::thread::Builder::new().name(format!("stream-{stream}"));
        match workers {
            Workers::Processes(pool) => {
                // the fork (a round trip to the zygote) happens on the stream's own thread: the
                // dispatcher goes on routing the other streams' jobs meanwhile, and this
                // stream's wait in its queue
                let (closing, pool) = (closing.clone(), pool.clone());
                builder.spawn(move || {
                    worker::proxy(stream, pool.take(stream), queue, outcomes, &closing)
                })?
            }
            Workers::Threads => builder.spawn(move || {
                let mut jobs = StreamJobs::new(threads);
                while let Ok(w) = queue.recv() {
                    let close = w.closes();
                    if let Some(outcome) = jobs.take(w) {
                        // a dropped receiver: the module went away, and the stream with it
                        if outcomes.send(outcome).is_err() {
                            break;
                        }
                    }
                    if close {
                        break;
                    }
                }
            })?,
        };
        Ok(Worker { work, closing })
    }
}

impl Jobs {
    /// `threads`: decoder threads per stream.
    pub fn new(allocation: Allocation, threads: usize, kind: Workers) -> Jobs {
        Jobs {
            allocation,
            threads,
            kind,
            workers: HashMap::new(),
            stats: HashMap::new(),
            buffers: HashSet::new(),
            totals: Totals::default(),
            outcomes: mpsc::unbounded_channel().0,
        }
    }

    /// Start serving a (newly attached) module: the outcomes of its jobs come from the
    /// receiver returned.
    pub fn attach(&mut self) -> mpsc::UnboundedReceiver<Outcome> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.outcomes = tx;
        rx
    }

    /// Whether `dispatch` may block on `job`: an allocation (GBM, dma-heap, udmabuf); a
    /// stream's first job starts its worker's thread (brief, but a system call that may wait
    /// for memory). Any other job only goes into its running worker's queue.
    pub fn may_block(&self, job: &Job) -> bool {
        matches!(job.body, JobBody::Alloc(_)) || !self.workers.contains_key(&job.stream)
    }

    /// Take a job: an allocation runs here and now (its outcome is returned); any other job
    /// goes to its stream's worker, and its outcome comes later through `attach`'s receiver.
    pub fn dispatch(&mut self, job: Job) -> Option<Outcome> {
        let stream = job.stream;
        match job.body {
            JobBody::Alloc(a) => {
                let (event, reply, fd) = self.alloc(a);
                let mut outcome = Outcome {
                    id: job.id,
                    stream,
                    event,
                    reply: Some(reply),
                    stats: None,
                    io: Io::default(),
                };
                if let Some(fd) = fd {
                    let adopt = Work::Adopt(job.id, fd, u64::from(a.size));
                    match self.worker(stream) {
                        Ok(w) if w.work.send(adopt).is_ok() => {
                            self.buffers.insert((stream, job.id));
                        }
                        _ => outcome = not_allocated(outcome, "no worker for the stream"),
                    }
                }
                Some(outcome)
            }
            // a stream that never had a worker has nothing to release, flush or close
            JobBody::Release { .. } | JobBody::Flush | JobBody::StreamClose
                if !self.workers.contains_key(&stream) =>
            {
                Some(StreamJobs::new(self.threads).handle(job))
            }
            _ => {
                let id = job.id;
                // the buffers the daemon holds for the stream after this job; whether it is the
                // stream's last
                let close = match &job.body {
                    JobBody::Release { buf } => {
                        self.buffers.remove(&(stream, *buf));
                        false
                    }
                    JobBody::StreamClose => {
                        self.buffers.retain(|&(s, _)| s != stream);
                        true
                    }
                    _ => false,
                };
                let sent = match self.worker(stream) {
                    Ok(w) => w.work.send(Work::Job(job)).map_err(|e| match e.0 {
                        Work::Job(job) => job,
                        _ => unreachable!("sent a job"),
                    }),
                    Err(_) => Err(job),
                };
                if close {
                    if let Some(w) = self.workers.remove(&stream) {
                        w.closing.store(true, Ordering::Relaxed);
                    }
                }
                match sent {
                    Ok(()) => None,
                    // a worker that could not start, or died (a panic): the job fails alone
                    Err(job) => {
                        self.workers.remove(&stream);
                        tracing::error!(stream, job = id, "the stream's worker is gone");
                        Some(StreamJobs::failed(job, DecodeError::WorkerGone))
                    }
                }
            }
        }
    }

    /// Count what a job did (call once per outcome, before it is answered).
    pub fn account(&mut self, outcome: &Outcome) {
        match &outcome.event {
            Event::Ran {
                started,
                filled,
                result,
                ..
            } => {
                self.totals.streams_started += u64::from(*started);
                self.totals.frames_decoded += u64::from(*filled);
                self.totals.decode_errors += u64::from(result.is_err());
                self.totals.io += outcome.io;
                if let Some(stats) = &outcome.stats {
                    self.stats.insert(outcome.stream, stats.clone());
                }
            }
            Event::Closed(_) => {
                self.stats.remove(&outcome.stream);
            }
            _ => {}
        }
    }

    /// The kernel took no job-done for this outcome (it gave up on the job): drop what the
    /// job left here for it.
    pub fn not_taken(&mut self, outcome: &Outcome) {
        if let Event::Allocated(_) = outcome.event {
            self.buffers.remove(&(outcome.stream, outcome.id));
            if let Some(w) = self.workers.get(&outcome.stream) {
                let _ = w.work.send(Work::Forget(outcome.id));
            }
        }
    }

    /// The module went away: its buffers and streams with it (each worker ends after the
    /// job it runs; its outcome goes nowhere).
    pub fn detach(&mut self) {
        self.workers.clear();
        self.stats.clear();
        self.buffers.clear();
        self.outcomes = mpsc::unbounded_channel().0;
    }

    pub fn totals(&self) -> Totals {
        self.totals
    }

    /// CAPTURE buffers allocated and not released.
    pub fn buffers(&self) -> usize {
        self.buffers.len()
    }

    /// Every stream that ran a job, by id.
    pub fn streams(&self) -> impl Iterator<Item = (u32, &Stats)> {
        self.stats.iter().map(|(&id, s)| (id, s))
    }

    /// The allocator in use, as `daedalus-v4l2ctl status` shows it.
    pub fn allocator(&self) -> String {
        self.allocation.describe()
    }

    fn worker(&mut self, stream: u32) -> std::io::Result<&Worker> {
        Ok(match self.workers.entry(stream) {
            Entry::Occupied(w) => w.into_mut(),
            Entry::Vacant(v) => v.insert(Worker::spawn(
                stream,
                self.threads,
                &self.kind,
                self.outcomes.clone(),
            )?),
        })
    }

    /// Allocate a CAPTURE buffer: what to tell, the job-done (with the kernel's fd), and an fd
    /// of it for the stream's worker.
    fn alloc(&mut self, a: AllocJob) -> (Event, Reply, Option<OwnedFd>) {
        let allocated = self
            .allocation
            .get()
            .and_then(|allocator| allocator.alloc(u64::from(a.size), a.bytesperline))
            .and_then(|fd| {
                let theirs = fd.try_clone().map_err(|e| AllocError::Other {
                    backend: "dup",
                    detail: e.to_string(),
                })?;
                Ok((fd, theirs))
            });
        match allocated {
            Ok((fd, theirs)) => {
                let reply = Reply {
                    fd: Some(theirs),
                    ..Reply::status(0)
                };
                (Event::Allocated(a), reply, Some(fd))
            }
            Err(e) => {
                let reply = Reply::status(libc::ENOMEM as u32);
                (Event::NotAllocated(a, e), reply, None)
            }
        }
    }
}

/// An allocation that cannot be handed to its stream: answered ENOMEM (the fd is dropped).
fn not_allocated(outcome: Outcome, why: &str) -> Outcome {
    let Event::Allocated(a) = outcome.event else {
        return outcome;
    };
    Outcome {
        event: Event::NotAllocated(
            a,
            AllocError::Other {
                backend: "worker",
                detail: why.to_string(),
            },
        ),
        reply: Some(Reply::status(libc::ENOMEM as u32)),
        ..outcome
    }
}

/// A CAPTURE buffer the daemon allocated for a stream, in the stream's worker: its dmabuf, and
/// once a job has named it, its mapping. Mapped at its first job rather than when allocated: a
/// stream's buffers are allocated together before its first picture, and in the emulated test
/// VM a 1080p buffer's mapping took ~45 ms, so mapping all of them first held a stream's first
/// picture past GStreamer's one-second wait for a request.
pub(crate) enum Adopted {
    Unmapped { fd: OwnedFd, size: usize },
    Mapped(MappedDmaBuf),
}

impl Adopted {
    fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Adopted::Unmapped { fd, .. } => fd.as_fd(),
            Adopted::Mapped(m) => m.as_fd(),
        }
    }
}

/// One stream's jobs, in its worker: its session (a stream is on one node: one of the
/// two is used), its CAPTURE buffers the daemon allocated, by id, and its counters.
pub struct StreamJobs {
    threads: usize,
    /// The CAPTURE buffers the daemon allocated for this stream, by id.
    buffers: HashMap<u64, Adopted>,
    /// The kernel's kept exports of this stream's OUTPUT buffers, mapped whole, by export id.
    outputs: HashMap<u64, MappedDmaBuf>,
    stateless: Option<Stream<StatelessSession>>,
    stateful: Option<Stream<StatefulSession>>,
}

impl StreamJobs {
    pub fn new(threads: usize) -> StreamJobs {
        StreamJobs {
            threads,
            buffers: HashMap::new(),
            outputs: HashMap::new(),
            stateless: None,
            stateful: None,
        }
    }

    /// A CAPTURE buffer the dispatcher allocated for this stream (`fd`, `size` bytes), kept
    /// under its id and mapped at the first job that names it (`capture_memory`).
    pub(crate) fn adopt(&mut self, buf: u64, fd: OwnedFd, size: u64) {
        match usize::try_from(size) {
            Ok(size) => {
                self.buffers.insert(buf, Adopted::Unmapped { fd, size });
            }
            Err(_) => tracing::warn!(buf, size, "an allocated buffer too large to map"),
        }
    }

    pub(crate) fn forget(&mut self, buf: u64) {
        self.buffers.remove(&buf);
    }

    /// Do one thing the dispatcher sent the stream's worker, in order (on the worker's one
    /// thread): a job's outcome to answer, or `None`.
    pub(crate) fn take(&mut self, work: Work) -> Option<Outcome> {
        match work {
            Work::Job(job) => {
                ffmpeg::set_stream(job.stream);
                Some(self.handle(job))
            }
            Work::Adopt(buf, fd, size) => {
                self.adopt(buf, fd, size);
                None
            }
            Work::Forget(buf) => {
                self.forget(buf);
                None
            }
        }
    }

    /// A job that cannot run: its failure, as its stream's worker would have told it.
    pub(crate) fn failed(job: Job, error: DecodeError) -> Outcome {
        let (node, codec, sequence, timestamp) = match &job.body {
            JobBody::Decode(d) => (
                StatelessSession::NODE,
                d.codec,
                d.sequence,
                Some(d.src.timestamp),
            ),
            JobBody::Feed(f) => (
                StatefulSession::NODE,
                f.codec,
                f.sequence,
                f.src.as_ref().map(|s| s.timestamp),
            ),
            _ => return StreamJobs::new(1).handle(job),
        };
        Outcome {
            id: job.id,
            stream: job.stream,
            reply: Some(Reply::status(error.errno())),
            event: Event::Ran {
                node,
                codec,
                sequence,
                timestamp,
                started: false,
                width: 0,
                height: 0,
                format: None,
                filled: false,
                result: Err(error),
                decoder_said: None,
                took: Duration::ZERO,
            },
            stats: None,
            io: Io::default(),
        }
    }

    /// Run one job of this stream. It blocks for as long as the job decodes.
    pub fn handle(&mut self, job: Job) -> Outcome {
        let (event, reply) = match job.body {
            JobBody::Alloc(a) => (
                Event::NotAllocated(
                    a,
                    AllocError::Other {
                        backend: "worker",
                        detail: "allocations are the dispatcher's".to_string(),
                    },
                ),
                Some(Reply::status(libc::ENOMEM as u32)),
            ),
            JobBody::Release { buf } => {
                self.buffers.remove(&buf);
                self.outputs.remove(&buf);
                (Event::Released { buf }, None)
            }
            JobBody::StreamClose => {
                ffmpeg::forget_stream(job.stream);
                self.outputs.clear();
                let stats = match self.stateless.take() {
                    Some(s) => Some(s.stats),
                    None => self.stateful.take().map(|s| s.stats),
                };
                self.buffers.clear();
                (Event::Closed(stats.filter(|s| s.codec.is_some())), None)
            }
            JobBody::Flush => {
                let session = self.stateful.as_mut().and_then(|s| s.session.as_mut());
                let had = session.is_some();
                if let Some(session) = session {
                    session.flush();
                }
                (Event::Flushed(had), None)
            }
            JobBody::Decode(d) => {
                return self.run(job.id, job.stream, &*d, |j| &mut j.stateless);
            }
            JobBody::Feed(f) => return self.run(job.id, job.stream, &*f, |j| &mut j.stateful),
        };
        Outcome {
            id: job.id,
            stream: job.stream,
            event,
            reply,
            stats: None,
            io: Io::default(),
        }
    }

    /// A stream's job, on the session of its node's kind (`slot` picks the node's).
    fn run<S: Session>(
        &mut self,
        id: u64,
        stream_id: u32,
        job: &S::Job,
        slot: fn(&mut StreamJobs) -> &mut Option<Stream<S>>,
    ) -> Outcome {
        let t0 = Instant::now();
        let threads = self.threads;
        let codec = job.codec();
        // taken out of its slot while it runs, so that the CAPTURE buffers can be lent
        let mut stream = slot(self).take().unwrap_or_else(|| Stream {
            session: None,
            stats: Stats::new(S::NODE),
        });
        // decode jobs carry the visible size; feed jobs learn it from the pictures
        let size = job
            .output()
            .map(|o| (o.width, o.height))
            .filter(|&(w, h)| w != 0 && h != 0);
        let stats = &mut stream.stats;
        let started = stats.codec != Some(codec)
            || size.is_some_and(|size| size != (stats.width, stats.height));
        if started {
            stats.codec = Some(codec);
            (stats.width, stats.height) = size.unwrap_or_default();
        }
        if stream.session.as_ref().map(S::codec) != Some(codec) {
            stream.session = None;
        }
        ffmpeg::take_error(stream_id);
        let mut io = Io {
            fds: u64::from(job.output().is_some_and(|o| o.fd.is_some()))
                + job.capture().map_or(0, |c| c.fds.len() as u64),
            ..Io::default()
        };
        let ran = match &mut stream.session {
            Some(session) => run_on(
                session,
                (&mut self.buffers, &mut self.outputs),
                job,
                &mut io,
            ),
            None => match S::new(codec, threads) {
                Ok(session) => run_on(
                    stream.session.insert(session),
                    (&mut self.buffers, &mut self.outputs),
                    job,
                    &mut io,
                ),
                Err(e) => Ran::failed(e),
            },
        };
        let stats = &mut stream.stats;
        let format = ran.feed.and_then(|f| f.format);
        if let Some(f) = format {
            (stats.width, stats.height) = (f.width, f.height);
        }
        if ran.filled {
            stats.frames += 1;
        }
        let (status, decoder_said) = match &ran.result {
            Ok(()) => (0, None),
            Err(e) => {
                stats.errors += 1;
                (e.errno(), ffmpeg::take_error(stream_id))
            }
        };
        let took = t0.elapsed();
        stats.busy += took;
        let event = Event::Ran {
            node: S::NODE,
            codec,
            sequence: job.sequence(),
            timestamp: job.output().map(|o| o.timestamp),
            started,
            width: stream.stats.width,
            height: stream.stats.height,
            format,
            filled: ran.filled,
            result: ran.result,
            decoder_said,
            took,
        };
        let stats = Some(stream.stats.clone());
        *slot(self) = Some(stream);
        let output_kept = job
            .output()
            .is_some_and(|o| o.buf != 0 && self.outputs.contains_key(&o.buf));
        Outcome {
            id,
            stream: stream_id,
            event,
            reply: Some(Reply {
                status,
                fd: None,
                feed: ran.feed,
                output_kept,
            }),
            stats,
            io,
        }
    }
}

/// Whether two fds are the same open file's (each dmabuf is one inode of the dmabuf file
/// system); `false` if either cannot be asked.
fn same_file(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> bool {
    match (
        nix::sys::stat::fstat(a.as_raw_fd()),
        nix::sys::stat::fstat(b.as_raw_fd()),
    ) {
        (Ok(a), Ok(b)) => (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino),
        _ => false,
    }
}

/// Map a job's buffers and run it on `session`; `io` counts the mappings made.
fn run_on<S: Session>(
    session: &mut S,
    (buffers, outputs): (&mut HashMap<u64, Adopted>, &mut HashMap<u64, MappedDmaBuf>),
    job: &S::Job,
    io: &mut Io,
) -> Ran {
    let mut own = Vec::new();
    let dst = match job
        .capture()
        .map(|c| capture_memory(buffers, &mut own, c, io))
    {
        None => None,
        Some(Ok(mem)) => Some(mem),
        Some(Err(e)) => return Ran::failed(e.into()),
    };
    match job.output() {
        Some(src) if src.bytes > 0 => {
            let mut own = None;
            let mapped = match output_memory(outputs, &mut own, src, io) {
                Ok(m) => m,
                Err(e) => return Ran::failed(e.into()),
            };
            // copied out of the client's buffer, which the client may write meanwhile
            match mapped.read(|mem| bitstream(src, mem)) {
                Ok(Ok(coded)) => session.run(job, Some(&coded), dst),
                Ok(Err(e)) => Ran::failed(e),
                Err(e) => Ran::failed(e.into()),
            }
        }
        // an empty OUTPUT buffer: nothing to map
        Some(_) => session.run(job, Some(&[]), dst),
        None => session.run(job, None, dst),
    }
}

/// A job's OUTPUT buffer, mapped read-only: the kept mapping of the kernel's export it names
/// (made whole at its first job, and used when the job carries no fd, as the kernel sends none
/// once told the mapping is kept, or that very dmabuf), or else a mapping up to the end of its
/// bitstream for this job alone, into `own` (counted in `io`).
fn output_memory<'a>(
    outputs: &'a mut HashMap<u64, MappedDmaBuf>,
    own: &'a mut Option<MappedDmaBuf>,
    src: &proto::Output,
    io: &mut Io,
) -> Result<&'a MappedDmaBuf, DmaBufError> {
    if src.buf != 0 {
        let kept = match (&src.fd, outputs.get(&src.buf)) {
            (None, Some(_)) => true,
            (Some(fd), Some(m)) => same_file(m.as_fd(), fd.as_fd()),
            (_, None) => false,
        };
        if !kept {
            let fd = src.fd.as_ref().ok_or(DmaBufError::Unknown(src.buf))?;
            io.maps += 1;
            io.dups += 1;
            let whole = crate::dmabuf::size(fd)?;
            let len = usize::try_from(whole).map_err(|_| DmaBufError::TooSmall {
                have: whole,
                need: whole,
            })?;
            let fd = fd.try_clone().map_err(DmaBufError::Map)?;
            outputs.insert(src.buf, MappedDmaBuf::map(fd, len, false)?);
        }
        return Ok(&outputs[&src.buf]);
    }
    let fd = src.fd.as_ref().ok_or(DmaBufError::Unknown(src.buf))?;
    io.maps += 1;
    io.dups += 1;
    let fd = fd.try_clone().map_err(DmaBufError::Map)?;
    let len = (src.offset as usize).saturating_add(src.bytes as usize);
    Ok(own.insert(MappedDmaBuf::map(fd, len, false)?))
}

/// The job's bitstream within its mapped OUTPUT buffer, copied out.
fn bitstream(src: &proto::Output, mem: &Shared) -> Result<Vec<u8>, DecodeError> {
    mem.copy_out(src.offset as usize, src.bytes as usize)
        .map_err(|_| DecodeError::BadRange {
            offset: src.offset,
            len: src.bytes,
            size: mem.len(),
        })
}

/// The memory of a job's CAPTURE buffer: the daemon's own mapping of a buffer it allocated
/// (found by the job's stream and the buffer's id; when the job carries an fd, only if it is
/// that very dmabuf; when it carries none, the kernel says this daemon allocated the buffer),
/// made at the buffer's first job and kept, or else the buffer's planes mapped for this job,
/// into `own`. The mappings made are counted in `io`.
fn capture_memory<'a>(
    buffers: &'a mut HashMap<u64, Adopted>,
    own: &'a mut Vec<MappedDmaBuf>,
    capture: &proto::Capture,
    io: &mut Io,
) -> Result<&'a mut [MappedDmaBuf], DmaBufError> {
    if capture.buf != 0 {
        // no fd: the kernel knows this daemon allocated it
        let ours = buffers
            .get(&capture.buf)
            .is_some_and(|buf| match capture.fds.as_slice() {
                [] => true,
                [fd] => same_file(buf.fd(), fd.as_fd()),
                _ => false,
            });
        if ours {
            // its first job: mapped, and kept (one that cannot be mapped is dropped, and this
            // job and the next that name it fail)
            if let Some(Adopted::Unmapped { .. }) = buffers.get(&capture.buf) {
                if let Some(Adopted::Unmapped { fd, size }) = buffers.remove(&capture.buf) {
                    io.maps += 1;
                    let mem = MappedDmaBuf::map(fd, size, true)?;
                    buffers.insert(capture.buf, Adopted::Mapped(mem));
                }
            }
            if let Some(Adopted::Mapped(mem)) = buffers.get_mut(&capture.buf) {
                return Ok(std::slice::from_mut(mem));
            }
        }
        if capture.fds.is_empty() {
            return Err(DmaBufError::Unknown(capture.buf));
        }
    }
    io.maps += capture.fds.len() as u64;
    io.dups += capture.fds.len() as u64;
    *own = capture
        .fds
        .iter()
        .zip(&capture.plane_size)
        .map(|(fd, &size)| {
            MappedDmaBuf::map(
                fd.try_clone().map_err(DmaBufError::Map)?,
                size as usize,
                true,
            )
        })
        .collect::<Result<_, _>>()?;
    Ok(own)
}

/// `Stats::node`, `Event::Ran::node` between processes: one of the two node names.
mod node_name {
    use super::{Session, StatefulSession, StatelessSession};
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(node: &&'static str, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(node)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
        match String::deserialize(d)?.as_str() {
            StatelessSession::NODE => Ok(StatelessSession::NODE),
            StatefulSession::NODE => Ok(StatefulSession::NODE),
            other => Err(D::Error::custom(format!("no node {other:?}"))),
        }
    }
}

/// `Stats::started` between processes: as the time since.
mod age {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::time::{Duration, Instant};

    pub fn serialize<S: Serializer>(t: &Instant, s: S) -> Result<S::Ok, S::Error> {
        t.elapsed().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Instant, D::Error> {
        let age = Duration::deserialize(d)?;
        Ok(Instant::now().checked_sub(age).unwrap_or_else(Instant::now))
    }
}

/// A job's result between processes: its errno and what it says (`DecodeError::Worker`).
mod remote_result {
    use crate::decoder::DecodeError;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(r: &Result<(), DecodeError>, s: S) -> Result<S::Ok, S::Error> {
        r.as_ref()
            .err()
            .map(|e| (e.errno(), e.to_string()))
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Result<(), DecodeError>, D::Error> {
        Ok(match Option::<(u32, String)>::deserialize(d)? {
            None => Ok(()),
            Some((errno, message)) => Err(DecodeError::Worker { errno, message }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{alloc::Kind, proto::Output};

    /// A file that maps like a dmabuf but refuses DMA_BUF_IOCTL_SYNC (a regular file).
    fn not_a_dmabuf(len: u64) -> OwnedFd {
        let file = tempfile_in_tmp();
        file.set_len(len).unwrap();
        file.into()
    }

    fn tempfile_in_tmp() -> std::fs::File {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "daedalus-jobs-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        file
    }

    fn jobs() -> Jobs {
        Jobs::new(Allocation::new(Kind::Auto, None), 1, Workers::Threads)
    }

    /// Dispatch `job` and wait for its outcome (from the stream's worker, or at once).
    fn run(jobs: &mut Jobs, rx: &mut mpsc::UnboundedReceiver<Outcome>, job: Job) -> Outcome {
        let out = jobs
            .dispatch(job)
            .unwrap_or_else(|| rx.blocking_recv().expect("the worker answers every job"));
        jobs.account(&out);
        out
    }

    fn feed(stream: u32, id: u64, codec: Codec, src: Option<Output>) -> Job {
        Job {
            id,
            stream,
            body: JobBody::Feed(Box::new(proto::FeedJob {
                codec,
                sequence: id as u32,
                drain: false,
                announce: false,
                src,
                dst: None,
            })),
        }
    }

    /// A job whose buffer cannot be read fails with EIO, is counted once, and its stream lives
    /// on; a stream-close then reports it and forgets it.
    #[test]
    fn a_failed_job_is_answered_counted_and_its_stream_closes() {
        ffmpeg_next::init().unwrap();
        let mut jobs = jobs();
        let mut rx = jobs.attach();
        let src = Output {
            fd: Some(not_a_dmabuf(4096)),
            offset: 16,
            bytes: 100,
            timestamp: 7,
            width: 0,
            height: 0,
            meta: proto::Meta::default(),
            buf: 0,
        };
        let out = run(&mut jobs, &mut rx, feed(3, 1, Codec::Vp9, Some(src)));
        let reply = out.reply.as_ref().expect("a feed job is answered");
        assert_eq!(reply.status, libc::EIO as u32);
        // its OUTPUT fd, mapped through a duplicate
        let one = Io {
            fds: 1,
            maps: 1,
            dups: 1,
        };
        assert_eq!(out.io, one);
        assert!(reply.fd.is_none());
        match &out.event {
            Event::Ran {
                node,
                started,
                filled,
                result,
                timestamp,
                ..
            } => {
                assert_eq!(*node, "stateful");
                assert!(*started && !*filled && result.is_err());
                assert_eq!(*timestamp, Some(7));
            }
            other => panic!("{other:?}"),
        }
        // a job with no buffers goes through the same session
        let out = run(&mut jobs, &mut rx, feed(3, 2, Codec::Vp9, None));
        assert_eq!(out.io, Io::default());
        assert_eq!(out.reply.unwrap().status, 0);
        assert!(matches!(out.event, Event::Ran { started: false, .. }));
        let totals = jobs.totals();
        assert_eq!((totals.decode_errors, totals.streams_started), (1, 1));
        assert_eq!(totals.io, one);
        assert_eq!(jobs.streams().count(), 1);

        let close = Job {
            id: 3,
            stream: 3,
            body: JobBody::StreamClose,
        };
        let out = run(&mut jobs, &mut rx, close);
        assert!(out.reply.is_none());
        match out.event {
            Event::Closed(Some(stats)) => assert_eq!((stats.errors, stats.frames), (1, 0)),
            other => panic!("{other:?}"),
        }
        assert_eq!(jobs.streams().count(), 0);
    }

    /// A bitstream range beyond the buffer is the job's error, not the daemon's panic.
    #[test]
    fn a_range_outside_the_buffer_is_refused() {
        let src = Output {
            fd: Some(not_a_dmabuf(64)),
            offset: 60,
            bytes: 8,
            timestamp: 0,
            width: 0,
            height: 0,
            meta: proto::Meta::default(),
            buf: 0,
        };
        let mut mem = [0; 64];
        let e = bitstream(&src, &Shared::over(&mut mem)).unwrap_err();
        assert!(matches!(e, DecodeError::BadRange { size: 64, .. }), "{e}");
        let src = Output {
            offset: u32::MAX,
            bytes: u32::MAX,
            ..src
        };
        assert!(bitstream(&src, &Shared::over(&mut mem)).is_err());
    }

    /// A cached CAPTURE buffer serves a job only if the job carries that very dmabuf: a job
    /// whose id names a cached buffer but whose fd is another file gets its own mapping.
    #[test]
    fn a_cached_buffer_serves_only_the_job_that_carries_it() {
        let mut buffers = HashMap::new();
        let cached = not_a_dmabuf(8192);
        let cached_fd = cached.try_clone().unwrap();
        buffers.insert(
            7,
            Adopted::Unmapped {
                fd: cached,
                size: 8192,
            },
        );
        // each stream's worker has its own buffers: another stream's has none of these
        let mut other_stream = HashMap::new();
        let capture = |fd: OwnedFd| proto::Capture {
            fds: vec![fd],
            width: 64,
            height: 64,
            pixfmt: proto::PIX_FMT_NV12,
            bytesperline: vec![64],
            plane_size: vec![8192],
            buf: 7,
        };
        let ino = |fd: BorrowedFd<'_>| nix::sys::stat::fstat(fd.as_raw_fd()).unwrap().st_ino;

        let other = capture(not_a_dmabuf(8192));
        let other_ino = ino(other.fds[0].as_fd());
        let mut own = Vec::new();
        let mem = capture_memory(&mut buffers, &mut own, &other, &mut Io::default()).unwrap();
        assert_eq!(
            ino(mem[0].as_fd()),
            other_ino,
            "another file's job used the cache"
        );

        let same = capture(cached_fd);
        let cached_ino = ino(same.fds[0].as_fd());
        // another stream's job naming the buffer's id: not the cache, even with the same file
        let mut own = Vec::new();
        capture_memory(&mut other_stream, &mut own, &same, &mut Io::default()).unwrap();
        assert_eq!(own.len(), 1, "another stream's job used the cache");
        // its first job maps it (once), and the mapping is kept
        let mut own = Vec::new();
        let mut io = Io::default();
        let mem = capture_memory(&mut buffers, &mut own, &same, &mut io).unwrap();
        assert_eq!(ino(mem[0].as_fd()), cached_ino);
        assert!(own.is_empty(), "the cached mapping was not used");
        assert_eq!((io.maps, io.dups), (1, 0));
        assert!(matches!(buffers.get(&7), Some(Adopted::Mapped(_))));

        // no fd (the kernel knows this daemon has the buffer): the cache, found by its key
        let mut io = Io::default();
        let no_fd = proto::Capture {
            fds: Vec::new(),
            ..capture(not_a_dmabuf(1))
        };
        let mem = capture_memory(&mut buffers, &mut own, &no_fd, &mut io).unwrap();
        assert_eq!(ino(mem[0].as_fd()), cached_ino);
        assert_eq!(io, Io::default());
        let e = capture_memory(&mut other_stream, &mut own, &no_fd, &mut io).err();
        assert!(matches!(e, Some(DmaBufError::Unknown(7))), "{e:?}");
    }

    /// An OUTPUT export is mapped whole once and its mapping kept under its id, as long as the
    /// jobs carry that very dmabuf or none (the kernel sends none once told it is kept);
    /// another file under the same id is mapped anew; no fd for an unknown id is an error.
    #[test]
    fn an_output_export_is_mapped_once() {
        let file = not_a_dmabuf(8192);
        let output = |fd: OwnedFd, buf| Output {
            fd: Some(fd),
            offset: 0,
            bytes: 100,
            timestamp: 0,
            width: 0,
            height: 0,
            meta: proto::Meta::default(),
            buf,
        };
        let mut outputs = HashMap::new();
        let mut io = Io::default();
        for _ in 0..3 {
            let src = output(file.try_clone().unwrap(), 5);
            let mut own = None;
            let mem = output_memory(&mut outputs, &mut own, &src, &mut io).unwrap();
            assert_eq!(mem.len(), 8192, "mapped whole");
        }
        assert_eq!((io.maps, io.dups), (1, 1));
        let other = output(not_a_dmabuf(4096), 5);
        let mut own = None;
        let mem = output_memory(&mut outputs, &mut own, &other, &mut io).unwrap();
        assert_eq!(mem.len(), 4096);
        assert_eq!(io.maps, 2);
        // a client's own dmabuf (no export id): mapped for the job, up to its bitstream
        let src = output(file.try_clone().unwrap(), 0);
        let mem = output_memory(&mut outputs, &mut own, &src, &mut io).unwrap();
        assert_eq!(mem.len(), 100);
        assert_eq!((io.maps, outputs.len()), (3, 1));
        // kept: the kernel sends no fd
        let kept = Output {
            fd: None,
            ..output(file.try_clone().unwrap(), 5)
        };
        let mem = output_memory(&mut outputs, &mut own, &kept, &mut io).unwrap();
        assert_eq!((mem.len(), io.maps), (4096, 3));
        let unknown = Output { buf: 6, ..kept };
        let e = output_memory(&mut outputs, &mut own, &unknown, &mut io).err();
        assert!(matches!(e, Some(DmaBufError::Unknown(6))), "{e:?}");
    }

    /// Release, flush and close of unknown streams and buffers: no answer, no panic.
    #[test]
    fn unknown_buffers_and_streams_are_no_error() {
        let mut jobs = jobs();
        let mut rx = jobs.attach();
        for body in [
            JobBody::Release { buf: 9 },
            JobBody::Flush,
            JobBody::StreamClose,
        ] {
            let out = run(
                &mut jobs,
                &mut rx,
                Job {
                    id: 1,
                    stream: 5,
                    body,
                },
            );
            assert!(out.reply.is_none(), "{:?}", out.event);
        }
    }
}
