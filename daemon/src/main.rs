//! daedalus-v4l2d: the decoding daemon behind the daedalus-v4l2 kernel module.
//!
//! It attaches to the module's generic netlink family, allocates the CAPTURE buffers the
//! module's clients ask for (as dmabufs, see `alloc`), and decodes each job's bitstream with
//! FFmpeg straight into the job's CAPTURE buffer. docs/architecture.md has the whole picture.

#![forbid(unsafe_code)]

use std::{
    collections::VecDeque,
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
    alloc::{self, Allocation},
    cgroup,
    config::{self, Config},
    decoder,
    jobs::{Event, Jobs, Outcome, Totals, Workers},
    proto::{self, Codec},
    status::{self, Status, StreamStatus},
    upcall::{self, Upcall, UpcallError},
    worker,
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
    /// Decode CLIP with the daemon's decode loop on this machine's CPU (no kernel, no jobs),
    /// print frames/s and CPU seconds, and exit.
    #[arg(long, value_name = "CLIP")]
    bench: Option<PathBuf>,
    /// Where streams decode: a confined process each, or threads of the daemon (to debug a
    /// decoder) [config: workers; default: processes].
    #[arg(long, value_enum)]
    workers: Option<config::WorkerKind>,
    /// Memory limit of each stream's process, MiB [config: worker-memory-mib; default: 2048].
    #[arg(long, value_name = "MIB")]
    worker_memory_mib: Option<u64>,
    /// Put each stream's worker in a cgroup of its own, with a task and a memory limit: the
    /// daemon's cgroup must be delegated to it (systemd: Delegate=pids memory,
    /// ProtectControlGroups=private, as the packaged unit has) [config: worker-cgroups;
    /// default: off].
    #[arg(long)]
    worker_cgroups: bool,
    /// Tasks (the process and its threads) each stream's worker may have, in its cgroup
    /// (0: twice the decoder threads, and 4) [config: worker-tasks; default: 0].
    #[arg(long, value_name = "N")]
    worker_tasks: Option<u32>,
    /// Internal: run as the daemon's worker zygote, which forks a worker per stream on
    /// request over stdin (the daemon starts it itself).
    #[arg(long, hide = true)]
    worker: bool,
}

/// The settings in force: command line over configuration file over defaults.
struct Settings {
    threads: usize,
    allocator: alloc::Kind,
    drm_device: Option<PathBuf>,
    control_socket: PathBuf,
    log: String,
    workers: config::WorkerKind,
    worker_memory_mib: u64,
    worker_cgroups: bool,
    worker_tasks: u32,
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
            workers: args
                .workers
                .or(config.workers)
                .unwrap_or(config::WorkerKind::Processes),
            worker_memory_mib: args
                .worker_memory_mib
                .or(config.worker_memory_mib)
                .unwrap_or(config::DEFAULT_WORKER_MEMORY_MIB),
            worker_cgroups: args.worker_cgroups || config.worker_cgroups.unwrap_or(false),
            worker_tasks: args.worker_tasks.or(config.worker_tasks).unwrap_or(0),
        })
    }
}

/// What the daemon keeps across attachments to the module (the netlink side, `Upcall`, is
/// per attachment and passed in).
struct Daemon {
    jobs: Jobs,
    started: Instant,
    /// What the control socket reports, refreshed after every job.
    status: status::Shared,
    /// The totals at each refresh of the last `status::RECENT` (and the one before), oldest
    /// first: the status's recent figures are the difference from the oldest.
    samples: VecDeque<(Instant, Totals)>,
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
    /// Take jobs until none waits, handing each to its stream's worker (allocations run here).
    /// A job that cannot be read fails, alone (and the next job-get says whether others wait).
    async fn drain(&mut self, upcall: &Upcall) -> Result<(), UpcallError> {
        loop {
            let (job, more) = match upcall.job_get().await {
                Ok(Some(taken)) => taken,
                Ok(None) => return Ok(()),
                Err(UpcallError::BadJob { id, error }) => {
                    error!(job = id, "a job the daemon cannot read: {error}");
                    if let Some(id) = id {
                        let status = libc::EINVAL as u32;
                        if let Err(e) = upcall.job_done(id, status, None, None, false).await {
                            warn!(job = id, "job-done: {e}");
                        }
                    }
                    continue;
                }
                Err(e) => return Err(e),
            };
            // (block_in_place hands the runtime's other tasks to another thread: worth it for
            // an allocation, not for the job of a running stream, which only changes queue)
            let outcome = if self.jobs.may_block(&job) {
                tokio::task::block_in_place(|| self.jobs.dispatch(job))
            } else {
                self.jobs.dispatch(job)
            };
            if let Some(outcome) = outcome {
                self.finish(upcall, outcome).await;
            }
            // (none waited when this one was taken: asking again would only be told EAGAIN)
            if !more {
                return Ok(());
            }
        }
    }

    /// What every job ends with, whatever its kind: its journal lines, then its job-done.
    async fn finish(&mut self, upcall: &Upcall, outcome: Outcome) {
        log_outcome(&outcome);
        self.jobs.account(&outcome);
        let Some(reply) = &outcome.reply else {
            return;
        };
        let fd = reply.fd.as_ref().map(AsFd::as_fd);
        let done = upcall.job_done(
            outcome.id,
            reply.status,
            fd,
            reply.feed.as_ref(),
            reply.output_kept,
        );
        if let Err(e) = done.await {
            // ENOENT: the kernel gave up waiting for this job (it failed it); the job's buffer,
            // if it allocated one, is nobody's
            warn!(stream = outcome.stream, job = outcome.id, "job-done: {e}");
            self.jobs.not_taken(&outcome);
        }
    }

    /// One journal line per stream with its counters (SIGUSR1).
    fn log_counters(&self) {
        let totals = self.jobs.totals();
        info!(
            streams = self.jobs.streams().count(),
            frames = totals.frames_decoded,
            errors = totals.decode_errors,
            buffers = self.jobs.buffers(),
            "counters"
        );
        for (id, s) in self.jobs.streams() {
            info!(
                stream = id,
                node = s.node,
                codec = s.codec.map_or("none", Codec::name),
                width = s.width,
                height = s.height,
                frames = s.frames,
                errors = s.errors,
                fps = format!("{:.1}", s.fps()),
                "stream counters"
            );
        }
    }

    fn refresh_status(&mut self) {
        let mut streams: Vec<StreamStatus> = self
            .jobs
            .streams()
            .filter_map(|(id, s)| {
                Some(StreamStatus {
                    stream: id,
                    codec: s.codec?.name().to_string(),
                    width: s.width,
                    height: s.height,
                    frames: s.frames,
                    errors: s.errors,
                    seconds: s.started.elapsed().as_secs_f64(),
                    fps: s.fps(),
                    pid: s.pid,
                })
            })
            .collect();
        streams.sort_by_key(|s| s.stream);
        let totals = self.jobs.totals();
        let now = Instant::now();
        self.samples.push_back((now, totals));
        while self
            .samples
            .get(1)
            .is_some_and(|(at, _)| now.duration_since(*at) >= status::RECENT)
        {
            self.samples.pop_front();
        }
        let recent = self.samples.front().and_then(|(at, then)| {
            let frames = totals.frames_decoded - then.frames_decoded;
            let (fds, maps, dups) = totals.io.since(then.io).per_frame(frames);
            (frames > 0).then(|| status::Recent {
                seconds: now.duration_since(*at).as_secs_f64(),
                frames,
                fds_per_frame: fds,
                maps_per_frame: maps,
                dups_per_frame: dups,
            })
        });
        let allocator = self.jobs.allocator();
        if let Ok(mut st) = self.status.lock() {
            st.attached = true;
            st.uptime_seconds = self.started.elapsed().as_secs_f64();
            st.frames_decoded = totals.frames_decoded;
            st.decode_errors = totals.decode_errors;
            st.streams_started = totals.streams_started;
            st.buffers = self.jobs.buffers();
            (st.fds_per_frame, st.maps_per_frame, st.dups_per_frame) =
                totals.io.per_frame(totals.frames_decoded);
            st.recent = recent;
            st.allocator = allocator;
            st.streams = streams;
        }
    }
}

/// The journal lines of one job: failures at warning level or above, the life of streams at
/// info, and every job at debug.
fn log_outcome(outcome: &Outcome) {
    let (stream, id) = (outcome.stream, outcome.id);
    match &outcome.event {
        Event::Allocated(a) => debug!(
            stream,
            buf = id,
            size = a.size,
            width = a.width,
            height = a.height,
            pixfmt = decoder::fourcc_str(a.pixfmt),
            "buffer allocated"
        ),
        Event::NotAllocated(a, e) => error!(
            stream,
            size = a.size,
            "cannot allocate a CAPTURE buffer: {e}"
        ),
        Event::Released { buf } => debug!(stream, buf, "buffer released"),
        Event::Closed(None) => debug!(stream, "stream closed before any job"),
        Event::Closed(Some(s)) => info!(
            stream,
            node = s.node,
            codec = s.codec.map_or("none", Codec::name),
            width = s.width,
            height = s.height,
            frames = s.frames,
            errors = s.errors,
            result = if s.errors == 0 { "ok" } else { "errors" },
            fps = format!("{:.1}", s.fps()),
            decode_fps = format!("{:.1}", s.decode_fps()),
            "stream ended"
        ),
        Event::Flushed(had_session) => debug!(stream, had_session, "flushed (seek)"),
        Event::Ran {
            node,
            codec,
            sequence,
            timestamp,
            started,
            width,
            height,
            format,
            filled,
            result,
            decoder_said,
            took,
        } => {
            let codec = codec.name();
            if *started {
                info!(stream, node, codec, width, height, "stream started");
            }
            if let Some(f) = format {
                let last = outcome
                    .reply
                    .as_ref()
                    .and_then(|r| r.feed)
                    .is_some_and(|f| f.flags & proto::DONE_FLAG_LAST != 0);
                info!(
                    stream,
                    node,
                    codec,
                    width = f.width,
                    height = f.height,
                    pixfmt = decoder::fourcc_str(f.pixfmt),
                    last,
                    "stream format"
                );
            }
            if let Err(e) = result {
                warn!(
                    stream,
                    node,
                    codec,
                    job = sequence,
                    decoder_said = decoder_said.as_deref().unwrap_or(""),
                    "frame not decoded: {e}"
                );
            }
            let feed = outcome.reply.as_ref().and_then(|r| r.feed);
            debug!(
                stream,
                node,
                job = sequence,
                timestamp,
                filled,
                flags = feed.map(|f| f.flags),
                pending = feed.map(|f| f.pending),
                latency_us = took.as_micros() as u64,
                "frame decoded"
            );
        }
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
            // an older (or newer) module still loaded after an upgrade: wait for the one that
            // speaks this daemon's protocol rather than exit and be restarted in a loop
            Err(e) if e.errno() == Some(libc::EPROTO) => {
                if !said {
                    warn!(
                        "{e}: the loaded module speaks another protocol than this daemon; \
                         waiting for it to be reloaded (modprobe -r daedalus-v4l2 && \
                         modprobe daedalus-v4l2, or a reboot)"
                    );
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
    let mut job_ready = JobReady::spawn(notifications);
    let mut outcomes = daemon.jobs.attach();
    loop {
        let drained = tokio::select! {
            Some(outcome) = outcomes.recv() => {
                // the status follows streams starting and ending at once, and each frame's
                // counters at the next tick: no status rebuilt per frame
                let per_frame = matches!(outcome.event, Event::Ran { started: false, .. });
                daemon.finish(upcall, outcome).await;
                if !per_frame {
                    daemon.refresh_status();
                }
                Ok(())
            }
            _ = job_ready.ready.notified() => daemon.drain(upcall).await,
            _ = &mut job_ready.reader => anyhow::bail!("netlink socket closed"),
            _ = ctl.tick.tick() => {
                // A lost notification costs at most a tick; the watchdog is fed only from here,
                // so a daemon whose netlink loop is stuck stops feeding it. (A stream's worker
                // stuck in a job is that stream's alone: the kernel times its jobs out.)
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
            Err(e @ UpcallError::ModuleGone { .. }) => {
                warn!("{e}; attaching again when it is back");
                return Ok(Detach::ModuleGone);
            }
            // anything else (a refused or failed job-get) is tried again at the next tick,
            // rather than taking the daemon and every stream down
            Err(e) => warn!("taking jobs: {e}"),
        }
    }
}

/// `--bench CLIP`: one line of figures for the clip (docs/testing.md).
fn bench(clip: &std::path::Path, threads: usize) -> Result<()> {
    ffmpeg_next::init().context("FFmpeg init")?;
    ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Error);
    let threads = if threads == 0 { num_threads() } else { threads };
    let r = daedalus_v4l2d::native::bench(clip, threads)
        .with_context(|| format!("decoding {}", clip.display()))?;
    println!(
        "{} {:?} {}x{} {}-bit, {} threads: {} frames in {:.2} s: {:.1} frames/s, {:.2} CPU-s ({:.1} ms CPU per frame)",
        clip.display(),
        r.codec,
        r.width,
        r.height,
        r.bits,
        threads,
        r.frames,
        r.wall.as_secs_f64(),
        r.fps(),
        r.cpu.as_secs_f64(),
        1000.0 * r.cpu.as_secs_f64() / r.frames.max(1) as f64
    );
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.worker {
        // started by a daemon, with every setting on its command line: no configuration file
        let settings = worker::Settings {
            threads: args.threads.unwrap_or(1).max(1),
            log: args.log.unwrap_or_else(|| "info".into()),
            memory_mib: args
                .worker_memory_mib
                .unwrap_or(config::DEFAULT_WORKER_MEMORY_MIB),
            cgroups: args.worker_cgroups,
            tasks: args.worker_tasks.unwrap_or(0),
        };
        return worker::zygote(&settings).context("stream worker zygote");
    }
    if let Some(clip) = &args.bench {
        return bench(clip, args.threads.unwrap_or(0));
    }
    let settings = Settings::new(args)?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?
        .block_on(daemon(settings))
}

async fn daemon(settings: Settings) -> Result<()> {
    init_logging(&settings.log)?;
    ffmpeg_next::init().context("FFmpeg init")?;
    daedalus_v4l2d::ffmpeg::route_logs();

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
    let mut allocation = Allocation::new(settings.allocator, settings.drm_device.clone());
    let allocated = allocation.get().map(drop);
    if let Ok(mut st) = shared.lock() {
        st.allocator = allocation.describe();
    }
    if let Err(e) = allocated {
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
    let workers = match settings.workers {
        config::WorkerKind::Processes => {
            // a worker of a daemon that is not root starts with no capability: none passes
            // through its exec (it drops any it would have itself, as a root daemon's do)
            if let Err(e) = caps::clear(None, caps::CapSet::Ambient) {
                warn!("cannot clear the ambient capabilities: {e}");
            }
            // before the zygote starts: it starts in the daemon's cgroup
            let cgroups = settings.worker_cgroups
                && match cgroup::divide(Path::new(cgroup::ROOT)) {
                    Ok(dir) => {
                        info!(
                            "each stream's worker runs in a cgroup of its own in {}",
                            dir.display()
                        );
                        true
                    }
                    Err(e) => {
                        error!("no cgroup per stream worker: {e}; workers have no task limit");
                        false
                    }
                };
            // (waits for the zygote to be ready: off the runtime's async threads)
            Workers::Processes(tokio::task::block_in_place(|| {
                worker::Pool::new(worker::Settings {
                    threads,
                    log: settings.log.clone(),
                    memory_mib: settings.worker_memory_mib,
                    cgroups,
                    tasks: match settings.worker_tasks {
                        0 => {
                            u32::try_from(threads)
                                .unwrap_or(u32::MAX / 4)
                                .saturating_mul(2)
                                + 4
                        }
                        n => n,
                    },
                })
            }))
        }
        config::WorkerKind::Threads => {
            warn!("streams decode in threads of the daemon, unconfined (--workers threads)");
            Workers::Threads
        }
    };
    let mut daemon = Daemon {
        jobs: Jobs::new(allocation, threads, workers),
        started: Instant::now(),
        status: shared.clone(),
        samples: VecDeque::new(),
    };
    while let Some((upcall, notifications)) = attach(&mut ctl, &shared, first.take()).await? {
        info!(threads, "attached to the daedalus-v4l2 module");
        set_attached(&shared, true);
        daemon.refresh_status();
        let outcome = serve(&mut daemon, &upcall, notifications, &mut ctl).await?;
        // The module's buffers and streams died with it (or die with this socket).
        daemon.jobs.detach();
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
