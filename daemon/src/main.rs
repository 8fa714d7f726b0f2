//! daedalus-v4l2d: the decoding daemon behind the daedalus-v4l2 kernel module.
//!
//! It attaches to the module's generic netlink family, allocates the CAPTURE buffers the
//! module's clients ask for (as dmabufs, see `alloc`), and decodes each job's bitstream with
//! FFmpeg straight into the job's CAPTURE buffer. docs/architecture.md has the whole picture.

use std::{
    collections::HashMap,
    os::fd::AsFd,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};
use clap::Parser;
use tokio::signal::unix::{signal, SignalKind};
use tracing::{debug, error, info, warn};

use daedalus_v4l2d::{
    alloc::{self, Allocator},
    decoder::{self, Session},
    dmabuf::{self, MappedDmaBuf},
    proto::{self, Codec, DecodeJob, Job, JobBody},
    status::{self, Status, StreamStatus},
    upcall::{self, Upcall},
};

#[derive(Parser, Debug)]
#[command(version, about = "Decoding daemon for the daedalus-v4l2 V4L2 decoders")]
struct Args {
    /// Decoder threads per stream (0: one per CPU).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Where CAPTURE buffers come from.
    #[arg(long, value_enum, default_value = "auto")]
    allocator: alloc::Kind,
    /// DRM device for GBM allocation (default: the first that works, render nodes first).
    #[arg(long)]
    drm_device: Option<PathBuf>,
    /// Control socket for `daedalus-v4l2ctl` (ignored when systemd passes one).
    #[arg(long, default_value = status::DEFAULT_SOCKET)]
    control_socket: PathBuf,
    /// Log filter (tracing's EnvFilter syntax), e.g. "info" or "daedalus_v4l2d=debug".
    #[arg(long, default_value = "info", env = "DAEDALUS_LOG")]
    log: String,
}

/// What the daemon keeps of one stream (one open file of a decoder node).
struct Stream {
    session: Option<Session>,
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

struct Daemon {
    upcall: Upcall,
    allocator: Allocator,
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
    async fn drain(&mut self) -> Result<()> {
        while let Some(job) = self.upcall.job_get().await.context("job-get")? {
            self.handle(job).await?;
            self.refresh_status();
        }
        Ok(())
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

    async fn handle(&mut self, job: Job) -> Result<()> {
        match job.body {
            JobBody::Alloc(a) => {
                let result = self
                    .allocator
                    .alloc(u64::from(a.size), a.bytesperline)
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
                        if let Err(e) = self.upcall.job_done(job.id, 0, Some(buf.as_fd())).await {
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
                        if let Err(e) = self.upcall.job_done(job.id, status, None).await {
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
                            fps = format!("{:.1}", s.frames as f64 / secs.max(1e-9)),
                            decode_fps =
                                format!("{:.1}", s.frames as f64 / s.busy.as_secs_f64().max(1e-9)),
                            "stream ended"
                        );
                    }
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
                        debug!(stream = job.stream, frame = d.sequence, timestamp = d.timestamp,
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
                if let Err(e) = self.upcall.job_done(job.id, status, None).await {
                    // ENOENT: the job already timed out in the kernel; nothing to undo.
                    warn!(stream = job.stream, frame = d.sequence, "job-done: {e}");
                }
            }
        }
        Ok(())
    }

    fn decode(&mut self, stream_id: u32, job: &DecodeJob) -> Result<(), decoder::DecodeError> {
        let stream = self.streams.entry(stream_id).or_insert_with(Stream::new);
        if stream.codec != Some(job.codec)
            || (stream.width, stream.height) != (job.width, job.height)
        {
            info!(
                stream = stream_id,
                codec = job.codec.name(),
                width = job.width,
                height = job.height,
                "stream started"
            );
            stream.codec = Some(job.codec);
            stream.width = job.width;
            stream.height = job.height;
            self.streams_started += 1;
        }
        if stream.session.as_ref().map(Session::codec) != Some(job.codec) {
            stream.session = Some(Session::new(job.codec, self.threads)?);
        }
        let session = stream.session.as_mut().expect("session just made");

        let src_len = (job.src_offset as usize).saturating_add(job.src_bytes as usize);
        let src = MappedDmaBuf::map(
            job.src.try_clone().map_err(dmabuf::DmaBufError::Map)?,
            src_len,
            false,
        )?;
        let cached = (job.dst.len() == 1 && job.buf != 0).then_some(job.buf);
        match cached.and_then(|id| self.buffers.get_mut(&id)) {
            Some(buf) => {
                tokio::task::block_in_place(|| session.decode(job, &src, std::slice::from_mut(buf)))
            }
            None => {
                let mut dst = job
                    .dst
                    .iter()
                    .zip(&job.plane_size)
                    .map(|(fd, &size)| {
                        MappedDmaBuf::map(
                            fd.try_clone().map_err(dmabuf::DmaBufError::Map)?,
                            size as usize,
                            true,
                        )
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                tokio::task::block_in_place(|| session.decode(job, &src, &mut dst))
            }
        }
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    init_logging(&args.log)?;
    ffmpeg_next::init().context("FFmpeg init")?;
    ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Error);

    let allocator = Allocator::probe(args.allocator, args.drm_device.as_deref())
        .context("no way to allocate CAPTURE buffers")?;
    info!(
        allocator = allocator.name(),
        "CAPTURE buffers from {}",
        allocator.describe()
    );

    let (upcall, mut notifications) = match Upcall::attach().await {
        Ok(v) => v,
        Err(e @ upcall::UpcallError::NoFamily) => {
            error!("{e}");
            std::process::exit(69); // EX_UNAVAILABLE: the service is not available
        }
        Err(e) => return Err(e).context("attach"),
    };
    let threads = if args.threads == 0 {
        num_threads()
    } else {
        args.threads
    };
    info!(threads, "attached to the daedalus-v4l2 module");
    let _ = sd_notify::notify(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status("attached"),
    ]);

    let shared: status::Shared = Arc::new(Mutex::new(Status {
        version: env!("CARGO_PKG_VERSION").to_string(),
        allocator: allocator.describe(),
        threads,
        ..Status::default()
    }));
    match status::listener(&args.control_socket) {
        Ok(listener) => {
            tokio::spawn(status::serve(listener, shared.clone()));
        }
        Err(e) => warn!(
            "no control socket at {}: {e}; daedalus-v4l2ctl will not reach this daemon",
            args.control_socket.display()
        ),
    }
    let mut daemon = Daemon {
        upcall,
        allocator,
        threads,
        buffers: HashMap::new(),
        streams: HashMap::new(),
        started: Instant::now(),
        frames_decoded: 0,
        decode_errors: 0,
        streams_started: 0,
        status: shared,
    };
    daemon.refresh_status();
    let watchdog = sd_notify::watchdog_enabled();
    let mut tick = tokio::time::interval(
        watchdog
            .map_or(Duration::from_secs(1), |w| w / 2)
            .min(Duration::from_secs(1)),
    );
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;

    daemon.drain().await?;
    loop {
        tokio::select! {
            msg = notifications.next::<u16, neli::genl::Genlmsghdr<proto::Cmd, proto::JobAttr>>() => {
                match msg {
                    Some(Ok(_)) => daemon.drain().await?,
                    Some(Err(e)) => warn!("notification: {e:?}"),
                    None => anyhow::bail!("netlink socket closed"),
                }
            }
            _ = tick.tick() => {
                // A lost notification costs at most a tick; the watchdog is fed only from here,
                // so a daemon stuck in a job stops feeding it.
                daemon.drain().await?;
                daemon.refresh_status();
                if watchdog.is_some() {
                    let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
                }
            }
            _ = sigterm.recv() => break,
            _ = sigint.recv() => break,
        }
    }
    info!("stopping");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    Ok(())
}

fn num_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
