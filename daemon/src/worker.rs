//! Stream workers in processes of their own.
//!
//! Every stream's jobs run in a process of its own, which confines itself before it reads a
//! job (`confine`): no capabilities, no new privileges, limits on memory and files, and a
//! seccomp filter that lets it decode and nothing else. Worker processes are forked by a
//! *zygote* (`zygote`), a process the daemon starts once from its own binary
//! (`/proc/self/exe --worker`: the very binary that runs, even after an upgrade replaced the
//! file), with no capabilities and FFmpeg loaded: a stream's first job waits for a `fork`, not
//! for a process to start and load a hundred libraries (about a second in the test VM). The
//! zygote reaps the workers and tells the daemon how each ended. The bitstreams that web pages
//! choose are parsed there, never in the process that holds the netlink endpoint
//! (`CAP_NET_ADMIN`) and allocates buffers.
//!
//! The daemon's side of a worker (`proxy`, on a thread of its own per stream) sends it the
//! stream's jobs, each with its buffers' fds (`SCM_RIGHTS`), and the CAPTURE buffers the daemon
//! allocated for the stream (once each), over a `SOCK_SEQPACKET` socket pair, and turns what the
//! worker answers back into `jobs::Outcome`s, checked against the job it sent. A worker that
//! dies (a crash, a seccomp violation, SIGKILL), hangs past `HUNG`, or answers nonsense is
//! killed; the job it had fails with `EIO`, and so does every later job of its stream (its
//! decoder state is gone), until the stream closes. Other streams never notice.

use std::{
    io::{IoSlice, IoSliceMut},
    os::{
        fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd},
        unix::process::CommandExt,
    },
    path::Path,
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use nix::{
    poll::{poll, PollFd, PollFlags, PollTimeout},
    sys::socket::{
        recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
        SockFlag, SockType,
    },
};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use thiserror::Error;
use tokio::sync::mpsc;

use crate::{
    cgroup,
    decoder::{DecodeError, StatelessSession},
    ffmpeg,
    jobs::{Event, Outcome, Stats, StreamJobs},
    proto::{self, FdLayout, Job, JobBody},
    session::Session,
    stateful::StatefulSession,
};

/// The largest message either way: a job with its controls (a few KiB), an outcome, a log line.
const MAX_MESSAGE: usize = 256 << 10;
/// The most fds a message carries: a job's OUTPUT buffer and CAPTURE planes.
const MAX_FDS: usize = proto::MAX_PLANES + 1;
/// A worker that answers no job for this long is killed (the kernel failed the job long
/// before: `timeout_ms`; this ends a decoder spinning on a hostile stream).
const HUNG: Duration = Duration::from_secs(60);
/// Once its stream closes (the kernel ended every job of it first), a worker still busy with
/// a job is given this long before it is killed.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// Log lines a worker may send a second; more are dropped (and counted).
const LOG_LINES_PER_SECOND: u32 = 50;
/// The longest log line relayed from a worker (bytes; the rest is cut).
const LOG_LINE_MAX: usize = 1024;

/// How a worker process is set up.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Decoder threads (already resolved: not 0).
    pub threads: usize,
    /// The daemon's log filter; the worker sends on what it lets through.
    pub log: String,
    /// Its data segment limit (`RLIMIT_DATA`: heap, anonymous maps, thread stacks), MiB; also
    /// its cgroup's `memory.max` when it has one.
    pub memory_mib: u64,
    /// Each worker in a cgroup of its own (`cgroup`), the daemon's cgroup divided already.
    pub cgroups: bool,
    /// Its cgroup's task limit (the process and its threads).
    pub tasks: u32,
}

#[derive(Debug, Error)]
pub enum WorkerError {
    #[error("socket: {0}")]
    Socket(#[from] nix::Error),
    #[error("message: {0}")]
    Message(#[from] postcard::Error),
    #[error("a message of {0} bytes or more, over the limit")]
    TooLarge(usize),
    #[error("a message with fds where none may come")]
    UnexpectedFds,
    #[error("{0}")]
    Job(#[from] proto::ParseError),
    #[error("confining: {0}")]
    Confine(String),
}

/// What the daemon sends a worker (`J`: a borrowed job to send, an owned one received).
#[derive(Debug, Serialize, Deserialize)]
enum ToWorker<J> {
    /// A job, its fds beside it as the layout says.
    Job(J, FdLayout),
    /// A CAPTURE buffer the daemon allocated for the stream: its fd beside it, to be mapped and
    /// kept until a release job names it. Sent before any job that names it.
    Adopt { buf: u64, size: u64 },
    /// An allocated buffer the kernel did not take.
    Forget { buf: u64 },
}

/// What a worker sends back.
#[derive(Debug, Serialize, Deserialize)]
enum ToDaemon {
    /// The outcome of the job sent last.
    Outcome(Box<Outcome>),
    /// A log line (1 error … 5 trace); `ffmpeg`: FFmpeg's own (target `ffmpeg`).
    Log {
        level: u8,
        ffmpeg: bool,
        text: String,
    },
}

/// One end of a worker's socket pair.
struct Channel(OwnedFd);

/// A `SOCK_SEQPACKET` pair (close-on-exec): the daemon's end, the other process's.
fn seq_pair() -> nix::Result<(OwnedFd, OwnedFd)> {
    socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
}

impl Channel {
    fn send<T: Serialize>(&self, msg: &T, fds: &[OwnedFd]) -> Result<(), WorkerError> {
        let bytes = postcard::to_stdvec(msg)?;
        if bytes.len() > MAX_MESSAGE {
            return Err(WorkerError::TooLarge(bytes.len()));
        }
        let raw: Vec<RawFd> = fds.iter().map(AsRawFd::as_raw_fd).collect();
        let rights = [ControlMessage::ScmRights(&raw)];
        let cmsgs: &[ControlMessage] = if raw.is_empty() { &[] } else { &rights };
        sendmsg::<()>(
            self.0.as_raw_fd(),
            &[IoSlice::new(&bytes)],
            cmsgs,
            MsgFlags::MSG_NOSIGNAL,
            None,
        )?;
        Ok(())
    }

    /// The next message, `None` at the end (the other side closed), with the fds that came
    /// with it; `with_fds: false` takes none (the kernel drops any sent: a worker cannot put
    /// fds into the daemon).
    fn recv<T: DeserializeOwned>(
        &self,
        buf: &mut [u8],
        with_fds: bool,
    ) -> Result<Option<(T, Vec<OwnedFd>)>, WorkerError> {
        let mut space = nix::cmsg_space!([RawFd; MAX_FDS]);
        let mut iov = [IoSliceMut::new(buf)];
        let msg = recvmsg::<()>(
            self.0.as_raw_fd(),
            &mut iov,
            with_fds.then_some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )?;
        let mut fds = Vec::new();
        if with_fds {
            for cmsg in msg.cmsgs()? {
                if let ControlMessageOwned::ScmRights(raw) = cmsg {
                    for fd in raw {
                        // SAFETY: the kernel installed this fd in this process for this message
                        // (SCM_RIGHTS); nothing else knows its number: it is ours to own.
                        fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
                    }
                }
            }
        }
        let (len, flags) = (msg.bytes, msg.flags);
        if len == 0 {
            return Ok(None);
        }
        if flags.contains(MsgFlags::MSG_TRUNC) {
            return Err(WorkerError::TooLarge(MAX_MESSAGE));
        }
        if !with_fds && flags.contains(MsgFlags::MSG_CTRUNC) {
            return Err(WorkerError::UnexpectedFds);
        }
        Ok(Some((postcard::from_bytes(&buf[..len])?, fds)))
    }
}

// ------------------------------------------------------------------------------------------
// The worker's side.

/// What the daemon asks the zygote.
#[derive(Debug, Serialize, Deserialize)]
enum ToZygote {
    /// Fork a worker for `stream`, on the socket that comes beside.
    Spawn { stream: u32 },
}

/// What the zygote tells the daemon.
#[derive(Debug, Serialize, Deserialize)]
enum FromZygote {
    /// It is set up (FFmpeg loaded, confined): it forks workers as soon as asked.
    Ready,
    /// The worker asked for last runs as `pid`.
    Spawned { pid: i32 },
    /// It could not be forked (errno).
    Failed { errno: i32 },
    /// A worker ended: how.
    Ended {
        pid: i32,
        stream: u32,
        /// It ended by itself (status 0).
        clean: bool,
        how: String,
    },
}

/// The zygote's life (`daedalus-v4l2d --worker`): drop every capability, load FFmpeg, then fork
/// a worker for each stream the daemon asks for (on the socket on stdin), and reap them. Called
/// from `main` before anything else (no runtime, no other thread: it forks).
pub fn zygote(settings: &Settings) -> Result<(), WorkerError> {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    use nix::unistd::{fork, ForkResult};

    let control = Channel(
        std::io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| WorkerError::Confine(format!("stdin: {e}")))?,
    );
    // stdin is its socket no more: the workers it forks must not reach it
    let null = std::fs::File::open("/dev/null")
        .map_err(|e| WorkerError::Confine(format!("/dev/null: {e}")))?;
    nix::unistd::dup2(null.as_raw_fd(), 0)?;
    let _ = nix::sys::prctl::set_name(c"daedalus-zygote");
    drop_capabilities()?;
    ffmpeg_next::init().map_err(|e| WorkerError::Confine(format!("FFmpeg: {e}")))?;
    ffmpeg::route_logs();
    // Every decoder opened once, and closed: the tables FFmpeg and dav1d build once per
    // process, at its first decoder of a kind, are then the zygote's, and each worker forked
    // from it starts with them (and with their code paged in).
    for codec in [proto::Codec::Vp9, proto::Codec::H264, proto::Codec::Av1] {
        let _ = StatelessSession::new(codec, 1);
        let _ = StatefulSession::new(codec, 1);
    }
    let cgroups = match settings.cgroups {
        true => Some(
            cgroup::workers_dir(Path::new(cgroup::ROOT))
                .map_err(|e| WorkerError::Confine(e.to_string()))?,
        ),
        false => None,
    };
    let limits = cgroup::Limits {
        tasks: settings.tasks,
        memory: settings.memory_mib.saturating_mul(1 << 20),
    };
    control.send(&FromZygote::Ready, &[])?;

    let mut streams = std::collections::HashMap::new();
    let mut buf = vec![0; 4096];
    loop {
        let mut pfd = [PollFd::new(control.0.as_fd(), PollFlags::POLLIN)];
        // a second at most between reaps
        let ready = match poll(&mut pfd, PollTimeout::from(1000u16)) {
            Ok(n) => n > 0,
            Err(nix::Error::EINTR) => false,
            Err(e) => return Err(e.into()),
        };
        if ready {
            // the daemon is gone: so are its streams (each worker ends at its socket's close)
            let Some((ToZygote::Spawn { stream }, fds)) = control.recv(&mut buf, true)? else {
                return Ok(());
            };
            let Ok([sock]) = <[OwnedFd; 1]>::try_from(fds) else {
                return Err(WorkerError::Job(proto::ParseError::Malformed(
                    "spawn".into(),
                )));
            };
            // SAFETY: this process runs one thread (nothing here starts one: FFmpeg's threads
            // are started by decoders, which only workers open), so the child may run anything.
            match unsafe { fork() } {
                Ok(ForkResult::Child) => {
                    drop(control);
                    let code = match serve(Channel(sock), settings) {
                        Ok(()) => 0,
                        Err(e) => {
                            eprintln!("daedalus-v4l2d: stream {stream}'s worker: {e}");
                            1
                        }
                    };
                    std::process::exit(code);
                }
                Ok(ForkResult::Parent { child }) => {
                    drop(sock);
                    streams.insert(child, stream);
                    // in its cgroup before the daemon sends it a job (so before its decoder
                    // starts a thread); a worker that cannot have its limits does not run
                    let placed = cgroups
                        .as_deref()
                        .map_or(Ok(()), |dir| cgroup::enter(dir, child.as_raw(), limits));
                    let answer = match placed {
                        Ok(()) => FromZygote::Spawned {
                            pid: child.as_raw(),
                        },
                        Err(e) => {
                            eprintln!("daedalus-v4l2d: stream {stream}'s worker: {e}");
                            let _ = nix::sys::signal::kill(child, nix::sys::signal::SIGKILL);
                            FromZygote::Failed { errno: e.errno() }
                        }
                    };
                    control.send(&answer, &[])?;
                }
                Err(e) => control.send(&FromZygote::Failed { errno: e as i32 }, &[])?,
            }
        }
        loop {
            let (pid, clean, how) = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => {
                    (pid, code == 0, format!("exit status {code}"))
                }
                Ok(WaitStatus::Signaled(pid, sig, _)) => (pid, false, describe(sig)),
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => continue,
            };
            let stream = streams.remove(&pid).unwrap_or_default();
            if let Some(dir) = &cgroups {
                cgroup::leave(dir, pid.as_raw());
            }
            let ended = FromZygote::Ended {
                pid: pid.as_raw(),
                stream,
                clean,
                how,
            };
            control.send(&ended, &[])?;
        }
    }
}

/// A worker's life, in the process the zygote forked for it: confine itself, then run the jobs
/// of its stream from `chan` until the stream closes or the daemon goes away.
fn serve(chan: Channel, settings: &Settings) -> Result<(), WorkerError> {
    let chan = Arc::new(chan);
    let _ = nix::sys::prctl::set_name(c"daedalus-worker");
    init_logging(&chan, &settings.log);
    confine(settings)?;

    let mut jobs = StreamJobs::new(settings.threads);
    let mut buf = vec![0; MAX_MESSAGE];
    while let Some((msg, fds)) = chan.recv::<ToWorker<Job>>(&mut buf, true)? {
        let work = match msg {
            ToWorker::Job(mut job, layout) => {
                job.put_fds(layout, fds)?;
                Work::Job(job)
            }
            ToWorker::Adopt { buf, size } => match <[OwnedFd; 1]>::try_from(fds) {
                Ok([fd]) => Work::Adopt(buf, fd, size),
                Err(_) => return Err(WorkerError::Job(proto::ParseError::Missing("fd".into()))),
            },
            ToWorker::Forget { buf } => Work::Forget(buf),
        };
        let close = work.closes();
        if let Some(outcome) = jobs.take(work) {
            chan.send(&ToDaemon::Outcome(Box::new(outcome)), &[])?;
        }
        if close {
            break;
        }
    }
    Ok(())
}

/// The worker's log events go to the daemon, which logs them with the stream's id.
fn init_logging(chan: &Arc<Channel>, filter: &str) {
    use tracing_subscriber::{layer::SubscriberExt, util::SubscriberInitExt, EnvFilter};
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::registry()
        .with(filter)
        .with(Forward(chan.clone()))
        .init();
}

struct Forward(Arc<Channel>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Forward {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut text = Text::default();
        event.record(&mut text);
        let meta = event.metadata();
        let level = match *meta.level() {
            tracing::Level::ERROR => 1,
            tracing::Level::WARN => 2,
            tracing::Level::INFO => 3,
            tracing::Level::DEBUG => 4,
            tracing::Level::TRACE => 5,
        };
        let msg = ToDaemon::Log {
            level,
            ffmpeg: meta.target() == "ffmpeg",
            text: text.message + &text.fields,
        };
        // nowhere else to say it
        let _ = self.0.send(&msg, &[]);
    }
}

/// An event as one line: its message, then its other fields (the daemon adds the stream's).
#[derive(Default)]
struct Text {
    message: String,
    fields: String,
}

impl tracing::field::Visit for Text {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "stream" => {}
            name => {
                let _ = write!(self.fields, " {name}={value:?}");
            }
        }
    }
}

/// Drop every capability (the zygote, whose workers inherit that).
fn drop_capabilities() -> Result<(), WorkerError> {
    use caps::CapSet;
    // The bounding set needs CAP_SETPCAP to shrink, and the inheritable set capset(2), which
    // systemd's filter for the service refuses (@privileged): a leftover inheritable set gives
    // nothing without an exec, which the workers' filter forbids (and no_new_privs voids).
    let _ = caps::clear(None, CapSet::Bounding);
    let _ = caps::clear(None, CapSet::Inheritable);
    for set in [CapSet::Ambient, CapSet::Effective, CapSet::Permitted] {
        // under systemd capset fails: then these must be empty already (the daemon clears its
        // ambient set at start, so the zygote of a non-root daemon starts with none)
        if caps::clear(None, set).is_err()
            && !caps::read(None, set)
                .map_err(|e| WorkerError::Confine(format!("capabilities: {e}")))?
                .is_empty()
        {
            return Err(WorkerError::Confine(format!(
                "cannot clear the {set:?} capabilities"
            )));
        }
    }
    Ok(())
}

/// Limit memory and files, and install the seccomp filter (a worker, after its fork).
fn confine(settings: &Settings) -> Result<(), WorkerError> {
    use nix::sys::resource::{setrlimit, Resource};
    let fail = |what: &str, e: &dyn std::fmt::Display| WorkerError::Confine(format!("{what}: {e}"));
    let data = settings.memory_mib.saturating_mul(1 << 20);
    setrlimit(Resource::RLIMIT_DATA, data, data).map_err(|e| fail("RLIMIT_DATA", &e))?;
    // a stream's buffers: up to 64 OUTPUT and 64 CAPTURE (the kernel's cap), kept mapped
    setrlimit(Resource::RLIMIT_NOFILE, 256, 256).map_err(|e| fail("RLIMIT_NOFILE", &e))?;
    crate::seccomp::install().map_err(|e| fail("seccomp", &e))
}

// ------------------------------------------------------------------------------------------
// The daemon's side.

/// What the daemon's side of a worker is told, in order (from `jobs::Jobs`).
pub(crate) enum Work {
    Job(Job),
    /// A CAPTURE buffer allocated for the stream (its id, a dmabuf fd of it, its size), sent
    /// before any job that names it.
    Adopt(u64, OwnedFd, u64),
    /// An allocated buffer the kernel did not take.
    Forget(u64),
}

impl Work {
    /// The stream's close job: the last work of the stream.
    pub(crate) fn closes(&self) -> bool {
        matches!(self, Work::Job(job) if matches!(job.body, JobBody::StreamClose))
    }
}

/// The daemon's side of the zygote: it asks it for a worker per stream, and logs how each
/// ended (a reader thread). A zygote that died is started again at the next stream. Clones
/// share the zygote (one fork at a time).
#[derive(Clone)]
pub struct Pool {
    settings: Settings,
    zygote: Arc<Mutex<Option<Zygote>>>,
}

struct Zygote {
    chan: Channel,
    /// The zygote process (it ends when its socket closes: with the daemon).
    child: Child,
    /// Its answers to spawn requests, from the reader thread.
    spawned: std::sync::mpsc::Receiver<Result<i32, i32>>,
}

/// How long a fork may take before the zygote is taken for dead.
const SPAWN_TIMEOUT: Duration = Duration::from_secs(10);

impl Pool {
    /// A pool whose zygote is started, and ready, when this returns: the daemon says it is
    /// ready after this, and the first stream then waits for no start-up (under emulation the
    /// zygote's took over a second, and GStreamer gives a request one). One that cannot start
    /// is started again at the next stream.
    pub fn new(settings: Settings) -> Pool {
        let zygote = Zygote::start(&settings)
            .map_err(|e| tracing::error!("cannot start the worker zygote: {e}"))
            .ok();
        Pool {
            settings,
            zygote: Arc::new(Mutex::new(zygote)),
        }
    }

    /// A worker for stream `stream`, forked by the zygote (started again if it is gone).
    pub(crate) fn take(&self, stream: u32) -> std::io::Result<Process> {
        let mut zygote = self
            .zygote
            .lock()
            .map_err(|_| std::io::Error::other("the zygote's lock is poisoned"))?;
        for attempt in 0..2 {
            if zygote.is_none() || attempt > 0 {
                if let Some(mut old) = zygote.take() {
                    let _ = old.child.kill();
                    let _ = old.child.wait();
                }
                *zygote = Some(Zygote::start(&self.settings)?);
            }
            let Some(z) = zygote.as_ref() else { continue };
            match z.spawn(stream) {
                Ok(process) => return Ok(process),
                // the zygote answered: another would answer the same
                Err(SpawnError::Refused(errno)) => {
                    return Err(std::io::Error::from_raw_os_error(errno))
                }
                Err(SpawnError::Zygote(e)) => {
                    tracing::warn!(stream, "the worker zygote failed ({e}); starting another")
                }
            }
        }
        Err(std::io::Error::other("the worker zygote cannot fork"))
    }
}

/// Why the zygote gave no worker.
enum SpawnError {
    /// It could not fork one or place it in its cgroup, or the daemon could not make the
    /// worker's socket (errno): a new zygote would fare no better.
    Refused(i32),
    /// It did not answer: it is gone or stuck.
    Zygote(String),
}

impl Zygote {
    fn start(settings: &Settings) -> std::io::Result<Zygote> {
        let (ours, theirs) = seq_pair()?;
        let child = Command::new("/proc/self/exe")
            .arg0("daedalus-v4l2d")
            .arg("--worker")
            .arg("--threads")
            .arg(settings.threads.to_string())
            .arg("--log")
            .arg(&settings.log)
            .arg("--worker-memory-mib")
            .arg(settings.memory_mib.to_string())
            .arg("--worker-tasks")
            .arg(settings.tasks.to_string())
            .args(settings.cgroups.then_some("--worker-cgroups"))
            .env_clear()
            .stdin(Stdio::from(theirs))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?;
        tracing::debug!(pid = child.id(), "worker zygote started");
        let reader = Channel(ours.try_clone()?);
        let (tx, spawned) = std::sync::mpsc::channel();
        let (ready_tx, ready) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("zygote".into())
            .spawn(move || {
                let mut buf = vec![0; 4096];
                while let Ok(Some((msg, _))) = reader.recv::<FromZygote>(&mut buf, false) {
                    let answer = match msg {
                        FromZygote::Ready => {
                            let _ = ready_tx.send(());
                            continue;
                        }
                        FromZygote::Spawned { pid } => Ok(pid),
                        FromZygote::Failed { errno } => Err(errno),
                        FromZygote::Ended {
                            pid,
                            stream,
                            clean: true,
                            how,
                        } => {
                            tracing::debug!(stream, pid, "worker ended: {how}");
                            continue;
                        }
                        FromZygote::Ended {
                            pid,
                            stream,
                            clean: false,
                            how,
                        } => {
                            tracing::warn!(stream, pid, "the stream's worker ended: {how}");
                            continue;
                        }
                    };
                    if tx.send(answer).is_err() {
                        break;
                    }
                }
            })?;
        let mut zygote = Zygote {
            chan: Channel(ours),
            child,
            spawned,
        };
        if ready.recv_timeout(SPAWN_TIMEOUT).is_err() {
            let _ = zygote.child.kill();
            let _ = zygote.child.wait();
            return Err(std::io::Error::other(format!(
                "the worker zygote was not ready within {SPAWN_TIMEOUT:?}"
            )));
        }
        tracing::debug!(pid = zygote.child.id(), "worker zygote ready");
        Ok(zygote)
    }

    fn spawn(&self, stream: u32) -> Result<Process, SpawnError> {
        let (ours, theirs) = seq_pair().map_err(|e| SpawnError::Refused(e as i32))?;
        self.chan
            .send(&ToZygote::Spawn { stream }, &[theirs])
            .map_err(|e| SpawnError::Zygote(e.to_string()))?;
        match self.spawned.recv_timeout(SPAWN_TIMEOUT) {
            Ok(Ok(pid)) => Ok(Process {
                chan: Channel(ours),
                pid: nix::unistd::Pid::from_raw(pid),
                stream,
                buf: vec![0; MAX_MESSAGE],
                logged: (0, Instant::now()),
                dropped: 0,
            }),
            Ok(Err(errno)) => Err(SpawnError::Refused(errno)),
            Err(e) => Err(SpawnError::Zygote(e.to_string())),
        }
    }
}

/// A running worker process and the daemon's end of its socket.
pub(crate) struct Process {
    chan: Channel,
    /// The zygote's child, not ours: the zygote reaps it. Its pid is not reused while its
    /// socket is open (the process holds it until it has exited), which is when it is killed.
    pid: nix::unistd::Pid,
    stream: u32,
    /// What it sends is read into this.
    buf: Vec<u8>,
    /// Log lines relayed in the current second, and when it started.
    logged: (u32, Instant),
    dropped: u64,
}

/// Why a worker was given up.
#[derive(Debug)]
enum Gone {
    Exited,
    Died(WorkerError),
    Hung(Duration),
    Lied(&'static str),
}

impl std::fmt::Display for Gone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Gone::Exited => write!(f, "it went away"),
            Gone::Died(e) => write!(f, "its socket failed ({e})"),
            Gone::Hung(t) => write!(f, "it answered nothing for {:.1} s", t.as_secs_f64()),
            Gone::Lied(what) => write!(f, "it answered {what}"),
        }
    }
}

impl Process {
    /// Send `job` and wait for its outcome, relaying the log lines that come first.
    fn run(&mut self, job: &mut Job, closing: &AtomicBool) -> Result<Outcome, Gone> {
        let (fds, layout) = job.take_fds();
        self.chan
            .send(&ToWorker::Job(&*job, layout), &fds)
            .map_err(Gone::Died)?;
        drop(fds);
        let started = Instant::now();
        let mut closed_at = None;
        loop {
            // (checked at every turn: log lines alone do not keep a worker from being hung)
            let waited = started.elapsed();
            if waited > HUNG {
                return Err(Gone::Hung(waited));
            }
            if closing.load(Ordering::Relaxed)
                && closed_at.get_or_insert_with(Instant::now).elapsed() > CLOSE_GRACE
            {
                return Err(Gone::Hung(waited));
            }
            let mut pfd = [PollFd::new(self.chan.0.as_fd(), PollFlags::POLLIN)];
            match poll(&mut pfd, PollTimeout::from(100u16)) {
                Ok(0) | Err(nix::Error::EINTR) => continue,
                Ok(_) => {}
                Err(e) => return Err(Gone::Died(e.into())),
            }
            match self.chan.recv::<ToDaemon>(&mut self.buf, false) {
                Ok(Some((ToDaemon::Outcome(outcome), _))) => {
                    return if (outcome.id, outcome.stream) != (job.id, job.stream) {
                        Err(Gone::Lied("another job's outcome"))
                    } else if outcome.reply.is_some() == no_reply(job) {
                        Err(Gone::Lied("an outcome of another kind of job"))
                    } else {
                        Ok(*outcome)
                    };
                }
                Ok(Some((
                    ToDaemon::Log {
                        level,
                        ffmpeg,
                        text,
                    },
                    _,
                ))) => self.relay(level, ffmpeg, &text),
                Ok(None) => return Err(Gone::Exited),
                Err(e) => return Err(Gone::Died(e)),
            }
        }
    }

    fn send(&mut self, msg: &ToWorker<&Job>, fds: &[OwnedFd]) -> Result<(), Gone> {
        self.chan.send(msg, fds).map_err(Gone::Died)
    }

    /// A worker's log line, logged here with its stream (at most `LOG_LINES_PER_SECOND`).
    fn relay(&mut self, level: u8, ffmpeg: bool, text: &str) {
        let (lines, since) = &mut self.logged;
        if since.elapsed() >= Duration::from_secs(1) {
            if self.dropped > 0 {
                tracing::debug!(
                    stream = self.stream,
                    dropped = self.dropped,
                    "worker log lines dropped"
                );
            }
            (*lines, *since, self.dropped) = (0, Instant::now(), 0);
        }
        if *lines >= LOG_LINES_PER_SECOND {
            self.dropped += 1;
            return;
        }
        *lines += 1;
        let stream = self.stream;
        // (a worker may say anything: at most LOG_LINE_MAX bytes of it, cut at a character)
        let text = match text.char_indices().find(|&(i, _)| i >= LOG_LINE_MAX) {
            Some((cut, _)) => &text[..cut],
            None => text,
        };
        macro_rules! log_at {
            ($level:expr) => {
                if ffmpeg {
                    tracing::event!(target: "ffmpeg", $level, stream, "{text}")
                } else {
                    tracing::event!($level, stream, "{text}")
                }
            };
        }
        match level {
            1 => log_at!(tracing::Level::ERROR),
            2 => log_at!(tracing::Level::WARN),
            3 => log_at!(tracing::Level::INFO),
            4 => log_at!(tracing::Level::DEBUG),
            _ => log_at!(tracing::Level::TRACE),
        }
    }

    /// Let the worker go: `kill` it, or give it `CLOSE_GRACE` to close its socket (it ends
    /// after its stream's close job, or at the socket's end) and kill it if it does not. The
    /// zygote reaps it and says how it ended.
    fn end(self, kill: bool) {
        if !kill {
            let mut pfd = [PollFd::new(self.chan.0.as_fd(), PollFlags::POLLIN)];
            let timeout = PollTimeout::try_from(CLOSE_GRACE).unwrap_or(PollTimeout::MAX);
            let mut buf = [0u8; 64];
            // whatever it still sends is dropped; a read of 0 bytes is its end
            while matches!(poll(&mut pfd, timeout), Ok(1)) {
                match self.chan.recv::<ToDaemon>(&mut buf, false) {
                    Ok(None) | Err(WorkerError::Socket(_)) => return,
                    _ => {}
                }
            }
        }
        let _ = nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGKILL);
    }
}

/// Jobs the kernel wants no answer to.
fn no_reply(job: &Job) -> bool {
    matches!(
        job.body,
        JobBody::Release { .. } | JobBody::StreamClose | JobBody::Flush
    )
}

fn describe(sig: nix::sys::signal::Signal) -> String {
    match sig {
        nix::sys::signal::Signal::SIGSYS => {
            "killed by SIGSYS (a system call its seccomp filter forbids)".into()
        }
        sig => format!("killed by {sig}"),
    }
}

/// The daemon's side of stream `stream`'s worker (`process`, from `Pool::take`), on a thread
/// of its own: pass it the stream's work in order, send each job's outcome on. Ends when the
/// stream's close job is answered or the queue's sender goes (the module went away).
pub(crate) fn proxy(
    stream: u32,
    process: std::io::Result<Process>,
    queue: std::sync::mpsc::Receiver<Work>,
    outcomes: mpsc::UnboundedSender<Outcome>,
    closing: &AtomicBool,
) {
    let mut process = match process {
        Ok(p) => Some(p),
        Err(e) => {
            tracing::error!(stream, "cannot start the stream's worker: {e}");
            None
        }
    };
    let mut last_stats = None;
    let give_up = |process: &mut Option<Process>, why: Gone| {
        if let Some(p) = process.take() {
            // a worker whose socket ended has exited (or is exiting): the zygote may have
            // reaped it, so its pid is not signalled; every other one is killed
            let gone = matches!(why, Gone::Exited | Gone::Died(WorkerError::Socket(_)));
            if !gone {
                p.end(true);
            }
            tracing::error!(
                stream,
                "the stream's worker was given up: {why}; its jobs fail until the stream closes"
            );
        }
    };
    for work in queue {
        match work {
            Work::Adopt(buf, fd, size) => {
                if let Some(p) = &mut process {
                    if let Err(why) = p.send(&ToWorker::Adopt { buf, size }, &[fd]) {
                        give_up(&mut process, why);
                    }
                }
            }
            Work::Forget(buf) => {
                if let Some(p) = &mut process {
                    if let Err(why) = p.send(&ToWorker::Forget { buf }, &[]) {
                        give_up(&mut process, why);
                    }
                }
            }
            Work::Job(mut job) => {
                let close = matches!(job.body, JobBody::StreamClose);
                let ran = match &mut process {
                    Some(p) => p.run(&mut job, closing).map_err(Some),
                    None => Err(None),
                };
                let outcome = match ran {
                    Ok(outcome) => {
                        if outcome.stats.is_some() {
                            last_stats.clone_from(&outcome.stats);
                        }
                        outcome
                    }
                    Err(why) => {
                        if let Some(why) = why {
                            give_up(&mut process, why);
                        }
                        if close {
                            Outcome {
                                id: job.id,
                                stream,
                                event: Event::Closed(
                                    last_stats.take().filter(|s: &Stats| s.codec.is_some()),
                                ),
                                reply: None,
                                stats: None,
                                io: Default::default(),
                            }
                        } else {
                            StreamJobs::failed(job, DecodeError::WorkerGone)
                        }
                    }
                };
                if outcomes.send(outcome).is_err() || close {
                    break;
                }
            }
        }
    }
    if let Some(p) = process {
        p.end(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{jobs::Reply, proto::Codec};

    fn round_trip<T: Serialize, U: DeserializeOwned>(value: &T) -> U {
        postcard::from_bytes(&postcard::to_stdvec(value).unwrap()).unwrap()
    }

    /// Every outcome a worker sends comes back as it was sent (the errors as what they say).
    #[test]
    fn outcomes_cross_the_socket_unchanged() {
        let ran = |result| Event::Ran {
            node: "stateful",
            codec: Codec::Av1,
            sequence: 3,
            timestamp: Some(9),
            started: true,
            width: 64,
            height: 48,
            format: None,
            filled: false,
            result,
            decoder_said: Some("no".into()),
            took: Duration::from_millis(5),
        };
        let events = [
            ran(Ok(())),
            ran(Err(DecodeError::NoPicture)),
            Event::Released { buf: 4 },
            Event::Closed(None),
            Event::Flushed(true),
        ];
        for event in events {
            let outcome = Outcome {
                id: 1 << 40,
                stream: 7,
                event,
                reply: Some(Reply {
                    status: 22,
                    fd: None,
                    feed: None,
                    output_kept: true,
                }),
                stats: None,
                io: Default::default(),
            };
            let sent = format!("{outcome:?}");
            let ToDaemon::Outcome(back) =
                round_trip::<_, ToDaemon>(&ToDaemon::Outcome(Box::new(outcome)))
            else {
                panic!("not an outcome");
            };
            assert_eq!(
                format!("{back:?}").replace(
                    "Worker { errno: 22, message: \"the frame produced no picture\" }",
                    "NoPicture"
                ),
                sent
            );
        }
    }

    /// A job crosses without its fds, which go back where they were.
    #[test]
    fn a_job_keeps_its_fds_apart() {
        let fd = || OwnedFd::from(std::fs::File::open("/dev/null").unwrap());
        let mut job = Job {
            id: 5,
            stream: 2,
            body: JobBody::Feed(Box::new(proto::FeedJob {
                codec: Codec::Vp9,
                sequence: 1,
                drain: false,
                announce: false,
                src: Some(proto::Output {
                    fd: Some(fd()),
                    offset: 0,
                    bytes: 10,
                    timestamp: 3,
                    width: 0,
                    height: 0,
                    meta: proto::Meta::new(b"abc").unwrap(),
                    buf: 0,
                }),
                dst: Some(proto::Capture {
                    fds: vec![fd(), fd()],
                    width: 64,
                    height: 48,
                    pixfmt: proto::PIX_FMT_NV12M,
                    bytesperline: vec![64, 64],
                    plane_size: vec![3072, 1536],
                    buf: 0,
                }),
            })),
        };
        let (fds, layout) = job.take_fds();
        assert_eq!(fds.len(), 3);
        let ToWorker::Job(mut back, layout) =
            round_trip::<_, ToWorker<Job>>(&ToWorker::Job(&job, layout))
        else {
            panic!("not a job");
        };
        back.put_fds(layout, fds).unwrap();
        let JobBody::Feed(f) = &back.body else {
            panic!("not a feed job");
        };
        assert!(f.src.as_ref().unwrap().fd.is_some());
        assert_eq!(f.dst.as_ref().unwrap().fds.len(), 2);
        assert_eq!(f.src.as_ref().unwrap().meta.as_bytes(), b"abc");
        // fds that do not fit the layout are refused
        let (fds, layout) = back.take_fds();
        assert!(job
            .put_fds(
                layout,
                fds[1..].iter().map(|f| f.try_clone().unwrap()).collect()
            )
            .is_err());
    }
}
