//! daedalus-v4l2d: the decoding daemon behind the daedalus-v4l2 kernel module.
//!
//! It attaches to the module's generic netlink family, allocates the CAPTURE buffers the
//! module's clients ask for (as dmabufs, see `alloc`), and decodes each job's bitstream with
//! FFmpeg straight into the job's CAPTURE buffer. docs/architecture.md has the whole picture.

#![forbid(unsafe_code)]

use std::{
    collections::HashMap,
    os::fd::AsFd,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};
use clap::Parser;
use tokio::signal::unix::{signal, SignalKind};
use tracing::{debug, error, info, warn};

use daedalus_v4l2d::{
    alloc::{self, Allocator},
    config::{self, Config},
    decoder::{self, Session},
    dmabuf::{self, MappedDmaBuf},
    proto::{self, Codec, DecodeJob, FeedDone, FeedJob, Job, JobBody},
    stateful::StatefulSession,
    status::{self, Status, StreamStatus},
    upcall::{self, Upcall},
};

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Decoding daemon for the daedalus-v4l2 V4L2 decoders",
    after_help = "Options given here override the configuration file. See daedalus-v4l2d(8)."
)]
struct Args {
    /// Configuration file (TOML); a missing file is fine unless given explicitly.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Decoder threads per stream (0: one per CPU) [config: threads; default: 0].
    #[arg(long)]
    threads: Option<usize>,
    /// Where CAPTURE buffers come from [config: allocator; default: auto].
    #[arg(long, value_enum)]
    allocator: Option<alloc::Kind>,
    /// DRM device for GBM allocation [config: drm-device; default: the first that works,
    /// render nodes first].
    #[arg(long, value_name = "PATH")]
    drm_device: Option<PathBuf>,
    /// Control socket for `daedalus-v4l2ctl` (ignored when systemd passes one).
    #[arg(long, value_name = "PATH", default_value = status::DEFAULT_SOCKET)]
    control_socket: PathBuf,
    /// Log filter (tracing's EnvFilter syntax), e.g. "info" or "daedalus_v4l2d=debug"
    /// [config: log; default: info].
    #[arg(long, env = "DAEDALUS_LOG")]
    log: Option<String>,
}

/// The settings in force: command line over configuration file over defaults.
struct Settings {
    threads: usize,
    allocator: alloc::Kind,
    drm_device: Option<PathBuf>,
    control_socket: PathBuf,
    log: String,
}

impl Settings {
    fn new(args: Args) -> Result<Settings> {
        let config = match &args.config {
            Some(path) => Config::load(path, true)?,
            None => Config::load(Path::new(config::DEFAULT_PATH), false)?,
        };
        Ok(Settings {
            threads: args.threads.or(config.threads).unwrap_or(0),
            allocator: args
                .allocator
                .or(config.allocator)
                .unwrap_or(alloc::Kind::Auto),
            drm_device: args.drm_device.or(config.drm_device),
            control_socket: args.control_socket,
            log: args.log.or(config.log).unwrap_or_else(|| "info".into()),
        })
    }
}

/// What the daemon keeps of one stream (one open file of a decoder node).
struct Stream {
    session: Option<Session>,
    /// A stream of the stateful node.
    stateful: Option<StatefulSession>,
    codec: Option<Codec>,
    width: u32,
    height: u32,
    frames: u64,
    errors: u64,
    started: Instant,
    busy: Duration,
}

impl Stream {
    fn new() -> Stream {
        Stream {
            session: None,
            stateful: None,
            codec: None,
            width: 0,
            height: 0,
            frames: 0,
            errors: 0,
            started: Instant::now(),
            busy: Duration::ZERO,
        }
    }
}

/// What the daemon keeps across attachments to the module (the netlink side, `Upcall`, is
/// per attachment and passed in).
struct Daemon {
    allocation: Allocation,
    threads: usize,
    /// CAPTURE buffers this daemon allocated, mapped, by buffer id.
    buffers: HashMap<u32, MappedDmaBuf>,
    streams: HashMap<u32, Stream>,
    started: Instant,
    frames_decoded: u64,
    decode_errors: u64,
    streams_started: u64,
    /// What the control socket reports, refreshed after every job.
    status: status::Shared,
}

fn init_logging(filter: &str) -> Result<()> {
    use tracing_subscriber::{layer::SubscriberExt, util::SubscriberInitExt, EnvFilter};
    let filter = EnvFilter::try_new(filter).context("--log")?;
    // Under systemd, log to the journal with structured fields; elsewhere to stderr.
    let journal = std::env::var_os("JOURNAL_STREAM")
        .is_some()
        .then(tracing_journald::layer)
        .and_then(|l| l.ok())
        // fields as journalctl shows them: STREAM=, CODEC=, FRAME=, LATENCY_US=
        .map(|l| l.with_field_prefix(None));
    let registry = tracing_subscriber::registry().with(filter);
    match journal {
        Some(layer) => registry.with(layer).init(),
        None => {
            use std::io::IsTerminal;
            let fmt = tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal());
            registry.with(fmt).init()
        }
    }
    Ok(())
}

impl Daemon {
    /// Take and handle jobs until none waits.
    async fn drain(&mut self, upcall: &Upcall) -> Result<()> {
        while let Some(job) = upcall.job_get().await? {
            self.handle(upcall, job).await?;
            self.refresh_status();
        }
        Ok(())
    }

    /// One journal line per stream with its counters (SIGUSR1).
    fn log_counters(&self) {
        info!(
            streams = self.streams.len(),
            frames = self.frames_decoded,
            errors = self.decode_errors,
            buffers = self.buffers.len(),
            "counters"
        );
        for (&id, s) in &self.streams {
            let secs = s.started.elapsed().as_secs_f64();
            info!(
                stream = id,
                codec = s.codec.map_or("none", Codec::name),
                width = s.width,
                height = s.height,
                frames = s.frames,
                errors = s.errors,
                fps = format!("{:.1}", s.frames as f64 / secs.max(1e-9)),
                "stream counters"
            );
        }
    }

    fn refresh_status(&self) {
        let mut streams: Vec<StreamStatus> = self
            .streams
            .iter()
            .filter_map(|(&id, s)| {
                let seconds = s.started.elapsed().as_secs_f64();
                Some(StreamStatus {
                    stream: id,
                    codec: s.codec?.name().to_string(),
                    width: s.width,
                    height: s.height,
                    frames: s.frames,
                    errors: s.errors,
                    seconds,
                    fps: s.frames as f64 / seconds.max(1e-9),
                })
            })
            .collect();
        streams.sort_by_key(|s| s.stream);
        if let Ok(mut st) = self.status.lock() {
            st.attached = true;
            st.uptime_seconds = self.started.elapsed().as_secs_f64();
            st.frames_decoded = self.frames_decoded;
            st.decode_errors = self.decode_errors;
            st.streams_started = self.streams_started;
            st.buffers = self.buffers.len();
            st.streams = streams;
        }
    }

    async fn handle(&mut self, upcall: &Upcall, job: Job) -> Result<()> {
        match job.body {
            JobBody::Alloc(a) => {
                let result = self
                    .allocation
                    .get(&self.status)
                    .and_then(|allocator| allocator.alloc(u64::from(a.size), a.bytesperline))
                    .and_then(|fd| {
                        MappedDmaBuf::map(fd, a.size as usize, true).map_err(|e| {
                            alloc::AllocError::Other {
                                backend: "map",
                                detail: e.to_string(),
                            }
                        })
                    });
                match result {
                    Ok(buf) => {
                        if let Err(e) = upcall.job_done(job.id, 0, Some(buf.as_fd()), None).await {
                            // ENOENT: the kernel gave up waiting; the buffer is nobody's.
                            warn!(stream = job.stream, buf = job.id, "alloc job-done: {e}");
                            return Ok(());
                        }
                        debug!(
                            stream = job.stream,
                            buf = job.id,
                            size = a.size,
                            width = a.width,
                            height = a.height,
                            pixfmt = format!("{:#x}", a.pixfmt),
                            "buffer allocated"
                        );
                        self.buffers.insert(job.id, buf);
                    }
                    Err(e) => {
                        error!(
                            stream = job.stream,
                            size = a.size,
                            "cannot allocate a CAPTURE buffer: {e}"
                        );
                        let status = libc::ENOMEM as u32;
                        if let Err(e) = upcall.job_done(job.id, status, None, None).await {
                            warn!(stream = job.stream, "alloc job-done: {e}");
                        }
                    }
                }
            }
            JobBody::Release { buf } => {
                self.buffers.remove(&buf);
                debug!(stream = job.stream, buf, "buffer released");
            }
            JobBody::StreamClose => {
                if let Some(s) = self.streams.remove(&job.stream) {
                    if let Some(codec) = s.codec {
                        let secs = s.started.elapsed().as_secs_f64();
                        info!(
                            stream = job.stream,
                            codec = codec.name(),
                            width = s.width,
                            height = s.height,
                            frames = s.frames,
                            errors = s.errors,
                            result = if s.errors == 0 { "ok" } else { "errors" },
                            fps = format!("{:.1}", s.frames as f64 / secs.max(1e-9)),
                            decode_fps =
                                format!("{:.1}", s.frames as f64 / s.busy.as_secs_f64().max(1e-9)),
                            "stream ended"
                        );
                    }
                }
            }
            JobBody::Flush => {
                if let Some(session) = self
                    .streams
                    .get_mut(&job.stream)
                    .and_then(|s| s.stateful.as_mut())
                {
                    session.flush();
                    debug!(stream = job.stream, "flushed (seek)");
                }
            }
            JobBody::Feed(f) => {
                let t0 = Instant::now();
                let (done, result) = self.feed(job.stream, &f);
                let stream = self
                    .streams
                    .get_mut(&job.stream)
                    .expect("stream created by feed");
                stream.busy += t0.elapsed();
                if let Some(format) = done.format {
                    info!(
                        stream = job.stream,
                        codec = f.codec.name(),
                        width = format.width,
                        height = format.height,
                        pixfmt = decoder::fourcc_str(format.pixfmt),
                        last = done.flags & proto::DONE_FLAG_LAST != 0,
                        "stream format"
                    );
                    (stream.width, stream.height) = (format.width, format.height);
                }
                if done.flags & proto::DONE_FLAG_FILLED != 0 {
                    stream.frames += 1;
                    self.frames_decoded += 1;
                }
                let status = match result {
                    Ok(()) => 0,
                    Err(e) => {
                        stream.errors += 1;
                        self.decode_errors += 1;
                        warn!(
                            stream = job.stream,
                            codec = f.codec.name(),
                            job = f.sequence,
                            "bitstream not decoded: {e}"
                        );
                        e.errno()
                    }
                };
                debug!(
                    stream = job.stream,
                    job = f.sequence,
                    src = f.src.is_some(),
                    dst = f.dst.is_some(),
                    drain = f.drain,
                    flags = done.flags,
                    pending = done.pending,
                    timestamp = done.timestamp,
                    latency_us = t0.elapsed().as_micros() as u64,
                    "fed"
                );
                if let Err(e) = upcall.job_done(job.id, status, None, Some(&done)).await {
                    warn!(stream = job.stream, job = f.sequence, "job-done: {e}");
                }
            }
            JobBody::Decode(d) => {
                let t0 = Instant::now();
                let result = self.decode(job.stream, &d);
                let stream = self
                    .streams
                    .get_mut(&job.stream)
                    .expect("stream created by decode");
                stream.busy += t0.elapsed();
                let status = match result {
                    Ok(()) => {
                        stream.frames += 1;
                        self.frames_decoded += 1;
                        debug!(stream = job.stream, frame = d.sequence, timestamp = d.src.timestamp,
                               ctrls = ?d.ctrls.iter().map(|c| (c.id, c.data.len())).collect::<Vec<_>>(),
                               latency_us = t0.elapsed().as_micros() as u64, "frame decoded");
                        0
                    }
                    Err(e) => {
                        stream.errors += 1;
                        self.decode_errors += 1;
                        warn!(
                            stream = job.stream,
                            codec = d.codec.name(),
                            frame = d.sequence,
                            "frame not decoded: {e}"
                        );
                        e.errno()
                    }
                };
                if let Err(e) = upcall.job_done(job.id, status, None, None).await {
                    // ENOENT: the job already timed out in the kernel; nothing to undo.
                    warn!(stream = job.stream, frame = d.sequence, "job-done: {e}");
                }
            }
        }
        Ok(())
    }

    /// A feed job of the stateful node.
    fn feed(
        &mut self,
        stream_id: u32,
        job: &FeedJob,
    ) -> (FeedDone, Result<(), decoder::DecodeError>) {
        let stream = self.streams.entry(stream_id).or_insert_with(Stream::new);
        if stream.codec != Some(job.codec) {
            info!(
                stream = stream_id,
                codec = job.codec.name(),
                "stateful stream started"
            );
            stream.codec = Some(job.codec);
            self.streams_started += 1;
        }
        if stream.stateful.as_ref().map(StatefulSession::codec) != Some(job.codec) {
            match StatefulSession::new(job.codec, self.threads) {
                Ok(s) => stream.stateful = Some(s),
                Err(e) => return (FeedDone::default(), Err(e)),
            }
        }
        let session = stream.stateful.as_mut().expect("session just made");
        let src = match &job.src {
            Some(s) if s.bytes > 0 => match map_output(s) {
                Ok(m) => Some((m, s)),
                Err(e) => return (FeedDone::default(), Err(e.into())),
            },
            _ => None,
        };
        let mut own = Vec::new();
        let layout = match &job.dst {
            None => None,
            Some(d) => match capture_memory(&mut self.buffers, &mut own, d) {
                // one memory plane (proto::Job::parse checked)
                Ok([mem]) => Some((mem, decoder::Capture::of(d))),
                Ok(_) => unreachable!("a feed job's CAPTURE buffer has one plane"),
                Err(e) => return (FeedDone::default(), Err(e.into())),
            },
        };
        if job.announce {
            session.forget_format();
        }
        tokio::task::block_in_place(|| {
            // an empty OUTPUT buffer feeds nothing, as no buffer does
            let run = |fed: Option<(&[u8], u64, proto::Meta)>| session.feed(fed, job.drain, layout);
            match &src {
                Some((m, s)) => match m.read(|bytes| {
                    run(Some((
                        &bytes[s.offset as usize..s.offset as usize + s.bytes as usize],
                        s.timestamp,
                        s.meta,
                    )))
                }) {
                    Ok(r) => r,
                    Err(e) => (FeedDone::default(), Err(e.into())),
                },
                None => run(None),
            }
        })
    }

    fn decode(&mut self, stream_id: u32, job: &DecodeJob) -> Result<(), decoder::DecodeError> {
        let stream = self.streams.entry(stream_id).or_insert_with(Stream::new);
        let (width, height) = (job.src.width, job.src.height);
        if stream.codec != Some(job.codec) || (stream.width, stream.height) != (width, height) {
            info!(
                stream = stream_id,
                codec = job.codec.name(),
                width,
                height,
                "stream started"
            );
            stream.codec = Some(job.codec);
            stream.width = width;
            stream.height = height;
            self.streams_started += 1;
        }
        if stream.session.as_ref().map(Session::codec) != Some(job.codec) {
            stream.session = Some(Session::new(job.codec, self.threads)?);
        }
        let session = stream.session.as_mut().expect("session just made");

        let src = map_output(&job.src)?;
        let mut own = Vec::new();
        let dst = capture_memory(&mut self.buffers, &mut own, &job.dst)?;
        tokio::task::block_in_place(|| session.decode(job, &src, dst))
    }
}

/// A job's OUTPUT buffer, mapped read-only up to the end of its bitstream.
fn map_output(src: &proto::Output) -> Result<MappedDmaBuf, dmabuf::DmaBufError> {
    MappedDmaBuf::map(
        src.fd.try_clone().map_err(dmabuf::DmaBufError::Map)?,
        (src.offset as usize).saturating_add(src.bytes as usize),
        false,
    )
}

/// The memory of a job's CAPTURE buffer: the daemon's own mapping of a buffer it allocated
/// (found by id), or else the buffer's planes mapped for this job, into `own`.
fn capture_memory<'a>(
    buffers: &'a mut HashMap<u32, MappedDmaBuf>,
    own: &'a mut Vec<MappedDmaBuf>,
    capture: &proto::Capture,
) -> Result<&'a mut [MappedDmaBuf], dmabuf::DmaBufError> {
    if capture.fds.len() == 1 && capture.buf != 0 {
        if let Some(buf) = buffers.get_mut(&capture.buf) {
            return Ok(std::slice::from_mut(buf));
        }
    }
    *own = capture
        .fds
        .iter()
        .zip(&capture.plane_size)
        .map(|(fd, &size)| {
            MappedDmaBuf::map(
                fd.try_clone().map_err(dmabuf::DmaBufError::Map)?,
                size as usize,
                true,
            )
        })
        .collect::<Result<_, _>>()?;
    Ok(own)
}

/// The CAPTURE allocator: chosen at start or, when nothing worked then, at a later allocation
/// (a GPU driver may load after the daemon starts).
struct Allocation {
    kind: alloc::Kind,
    drm_device: Option<PathBuf>,
    found: Option<Allocator>,
}

impl Allocation {
    fn get(&mut self, status: &status::Shared) -> Result<&Allocator, alloc::AllocError> {
        if self.found.is_none() {
            match Allocator::probe(self.kind, self.drm_device.as_deref()) {
                Ok((a, skipped)) => {
                    info!(
                        allocator = a.name(),
                        skipped = skipped.join("; "),
                        "CAPTURE buffers from {}",
                        a.describe()
                    );
                    if let Ok(mut st) = status.lock() {
                        st.allocator = a.describe();
                    }
                    self.found = Some(a);
                }
                Err(e) => {
                    if let Ok(mut st) = status.lock() {
                        st.allocator = format!("none ({e})");
                    }
                    return Err(e);
                }
            }
        }
        Ok(self.found.as_ref().expect("found above"))
    }
}

/// Why the attached loop ended.
enum Detach {
    /// SIGTERM or SIGINT.
    Stop,
    /// The module went away (unloaded, or reloaded with a new family): attach again.
    ModuleGone,
}

/// The daemon's own signals and the watchdog, shared by the waiting and the attached loops.
struct Control {
    watchdog: Option<Duration>,
    tick: tokio::time::Interval,
    sigterm: tokio::signal::unix::Signal,
    sigint: tokio::signal::unix::Signal,
    sigusr1: tokio::signal::unix::Signal,
}

impl Control {
    fn new() -> Result<Control> {
        let watchdog = sd_notify::watchdog_enabled();
        Ok(Control {
            watchdog,
            tick: tokio::time::interval(
                watchdog
                    .map_or(Duration::from_secs(1), |w| w / 2)
                    .min(Duration::from_secs(1)),
            ),
            sigterm: signal(SignalKind::terminate())?,
            sigint: signal(SignalKind::interrupt())?,
            sigusr1: signal(SignalKind::user_defined1())?,
        })
    }

    fn feed_watchdog(&self) {
        if self.watchdog.is_some() {
            let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
        }
    }
}

fn set_attached(shared: &status::Shared, attached: bool) {
    if let Ok(mut st) = shared.lock() {
        st.attached = attached;
        if !attached {
            st.streams.clear();
            st.buffers = 0;
        }
    }
    let state = if attached {
        "attached"
    } else {
        "waiting for the daedalus-v4l2 kernel module"
    };
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Status(state)]);
}

/// Attach to the module, waiting (and answering status requests) while it is not loaded.
/// `None`: told to stop while waiting.
/// `first` is an attempt already made (at start, before the control socket answered).
async fn attach(
    ctl: &mut Control,
    shared: &status::Shared,
    mut first: Option<Result<(Upcall, upcall::Notifications), upcall::UpcallError>>,
) -> Result<Option<(Upcall, upcall::Notifications)>> {
    let mut said = false;
    loop {
        let attempt = match first.take() {
            Some(attempt) => attempt,
            None => Upcall::attach().await,
        };
        match attempt {
            Ok(v) => return Ok(Some(v)),
            Err(e @ upcall::UpcallError::NoFamily) => {
                if !said {
                    info!("{e}; waiting for it");
                    set_attached(shared, false);
                    said = true;
                }
            }
            Err(e) => return Err(e).context("attach"),
        }
        tokio::select! {
            _ = ctl.tick.tick() => ctl.feed_watchdog(),
            _ = ctl.sigterm.recv() => return Ok(None),
            _ = ctl.sigint.recv() => return Ok(None),
            _ = ctl.sigusr1.recv() => info!("not attached: the kernel module is not loaded"),
        }
    }
}

/// Job-ready notifications, read as they come by a task of their own and coalesced: neli's
/// router hands notifications over through a channel of 1024 and, while that is full, stops
/// reading the socket, replies included; a daemon that read them only between its drains
/// would wait forever for a job-get reply when a client queues more than that many buffers
/// while it drains (v4l2-compliance's streaming does).
struct JobReady {
    ready: Arc<tokio::sync::Notify>,
    reader: tokio::task::JoinHandle<()>,
}

impl JobReady {
    fn spawn(mut notifications: upcall::Notifications) -> JobReady {
        let ready = Arc::new(tokio::sync::Notify::new());
        let notify = Arc::clone(&ready);
        let reader = tokio::spawn(async move {
            while let Some(msg) = notifications
                .next::<u16, neli::genl::Genlmsghdr<proto::Cmd, proto::JobAttr>>()
                .await
            {
                if let Err(e) = msg {
                    warn!("notification: {e:?}");
                }
                // a lost notification costs at most a tick: tell the loop to drain anyway
                notify.notify_one();
            }
        });
        JobReady { ready, reader }
    }
}

impl Drop for JobReady {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Serve jobs until told to stop or the module goes away.
async fn serve(
    daemon: &mut Daemon,
    upcall: &Upcall,
    notifications: upcall::Notifications,
    ctl: &mut Control,
) -> Result<Detach> {
    let gone = |e: &anyhow::Error| {
        // ENOENT: the family id is gone; EPERM: a reloaded module does not know this daemon.
        e.downcast_ref::<upcall::UpcallError>()
            .and_then(upcall::UpcallError::errno)
            .is_some_and(|errno| errno == libc::ENOENT || errno == libc::EPERM)
    };
    let mut job_ready = JobReady::spawn(notifications);
    loop {
        let drained = tokio::select! {
            _ = job_ready.ready.notified() => daemon.drain(upcall).await,
            _ = &mut job_ready.reader => anyhow::bail!("netlink socket closed"),
            _ = ctl.tick.tick() => {
                // A lost notification costs at most a tick; the watchdog is fed only from here,
                // so a daemon stuck in a job stops feeding it.
                let r = daemon.drain(upcall).await;
                daemon.refresh_status();
                ctl.feed_watchdog();
                r
            }
            _ = ctl.sigusr1.recv() => { daemon.log_counters(); Ok(()) }
            _ = ctl.sigterm.recv() => return Ok(Detach::Stop),
            _ = ctl.sigint.recv() => return Ok(Detach::Stop),
        };
        match drained {
            Ok(()) => {}
            Err(e) if gone(&e) => {
                warn!("the kernel module went away ({e:#}); attaching again when it is back");
                return Ok(Detach::ModuleGone);
            }
            Err(e) => return Err(e),
        }
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let settings = Settings::new(Args::parse())?;
    init_logging(&settings.log)?;
    ffmpeg_next::init().context("FFmpeg init")?;
    ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Error);

    let threads = if settings.threads == 0 {
        num_threads()
    } else {
        settings.threads
    };

    let shared: status::Shared = Arc::new(Mutex::new(Status {
        version: env!("CARGO_PKG_VERSION").to_string(),
        threads,
        ..Status::default()
    }));
    let mut allocation = Allocation {
        kind: settings.allocator,
        drm_device: settings.drm_device.clone(),
        found: None,
    };
    if let Err(e) = allocation.get(&shared) {
        // Not fatal: a GPU driver may come later (and a restart loop would help nobody).
        error!("no way to allocate CAPTURE buffers yet ({e}); trying again at each allocation");
    }
    // Attach before answering status requests, so that the first answer (the one a socket
    // activation waits for) says how things are.
    let mut first = Some(Upcall::attach().await);
    if let Some(Ok(_)) = &first {
        set_attached(&shared, true);
    }
    match status::listener(&settings.control_socket) {
        Ok(listener) => {
            tokio::spawn(status::serve(listener, shared.clone()));
        }
        Err(e) => warn!(
            "no control socket at {}: {e}; daedalus-v4l2ctl will not reach this daemon",
            settings.control_socket.display()
        ),
    }
    // Ready once the control socket answers: with the module loaded or not.
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);

    let mut ctl = Control::new()?;
    let mut daemon = Daemon {
        allocation,
        threads,
        buffers: HashMap::new(),
        streams: HashMap::new(),
        started: Instant::now(),
        frames_decoded: 0,
        decode_errors: 0,
        streams_started: 0,
        status: shared.clone(),
    };
    while let Some((upcall, notifications)) = attach(&mut ctl, &shared, first.take()).await? {
        info!(threads, "attached to the daedalus-v4l2 module");
        set_attached(&shared, true);
        daemon.refresh_status();
        let outcome = serve(&mut daemon, &upcall, notifications, &mut ctl).await?;
        // The module's buffers and streams died with it (or die with this socket).
        daemon.buffers.clear();
        daemon.streams.clear();
        set_attached(&shared, false);
        if let Detach::Stop = outcome {
            break;
        }
    }
    info!("stopping");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    Ok(())
}

fn num_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// The man page documents every option the daemon takes.
    #[test]
    fn man_page_has_every_option() {
        let man = include_str!("../man/daedalus-v4l2d.8");
        for arg in Args::command().get_arguments() {
            let long = arg.get_long().expect("every option has a long name");
            let roff = format!("\\-\\-{}", long.replace('-', "\\-"));
            assert!(man.contains(&roff), "daedalus-v4l2d.8 lacks --{long}");
        }
    }
}
