//! The daemon's status, as `daedalus-v4l2ctl status` shows it, and the control socket that
//! serves it: one request line (`status`), one JSON reply line. Read-only: nothing on this
//! socket changes what the daemon does; but the status tells every user's streams, so the
//! socket is for group `video` (the users who may use the decoders) only. A few connections
//! at a time are served; more wait in the listen queue, and none costs the daemon a busy loop.

use std::{
    os::fd::FromRawFd,
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use serde::{Deserialize, Serialize};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::UnixListener,
};

/// Where the control socket lives (systemd's daedalus-v4l2d.socket listens there too).
pub const DEFAULT_SOCKET: &str = "/run/daedalus-v4l2/control.sock";

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StreamStatus {
    pub stream: u32,
    pub codec: String,
    pub width: u32,
    pub height: u32,
    pub frames: u64,
    pub errors: u64,
    pub seconds: f64,
    /// Frames per second of wall time since the stream started.
    pub fps: f64,
    /// The process that decodes it (its worker).
    #[serde(default)]
    pub pid: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Status {
    pub version: String,
    pub attached: bool,
    pub allocator: String,
    pub threads: usize,
    pub uptime_seconds: f64,
    pub frames_decoded: u64,
    pub decode_errors: u64,
    pub streams_started: u64,
    pub buffers: usize,
    /// Per decoded frame since the daemon started: buffer fds the kernel installed in the
    /// daemon, buffers it mapped (and fds it duplicated to map them) for a single job.
    #[serde(default)]
    pub fds_per_frame: f64,
    #[serde(default)]
    pub maps_per_frame: f64,
    #[serde(default)]
    pub dups_per_frame: f64,
    /// The same over the last few seconds (`RECENT`): what frames cost once streams are
    /// under way; `None` when no frame was decoded in them.
    #[serde(default)]
    pub recent: Option<Recent>,
    pub streams: Vec<StreamStatus>,
}

/// How far back `Status::recent` looks.
pub const RECENT: Duration = Duration::from_secs(5);

/// What the frames of the last `seconds` (about `RECENT`) cost, per frame.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Recent {
    pub seconds: f64,
    pub frames: u64,
    pub fds_per_frame: f64,
    pub maps_per_frame: f64,
    pub dups_per_frame: f64,
}

pub type Shared = Arc<Mutex<Status>>;

/// The control socket: the one systemd passed (socket activation), else a new one at `path`.
pub fn listener(path: &Path) -> std::io::Result<UnixListener> {
    if let Some(fd) = sd_notify::listen_fds()?.next() {
        // SAFETY: systemd passed this fd (LISTEN_FDS protocol, checked against LISTEN_PID by
        // sd_notify) for us to own; nothing else in the process takes it.
        let std = unsafe { std::os::unix::net::UnixListener::from_raw_fd(fd) };
        std.set_nonblocking(true)?;
        return UnixListener::from_std(std);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let listener = UnixListener::bind(path)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    if let Ok(Some(video)) = nix::unistd::Group::from_name(SOCKET_GROUP) {
        nix::unistd::chown(path, None, Some(video.gid)).map_err(std::io::Error::from)?;
    }
    Ok(listener)
}

/// The group whose members may read the status (systemd's daedalus-v4l2d.socket says the same).
pub const SOCKET_GROUP: &str = "video";

/// Connections answered at once; the others wait in the listen queue.
const MAX_CONNECTIONS: usize = 8;

/// Answer status requests until the listener fails.
pub async fn serve(listener: UnixListener, status: Shared) {
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let sock = match listener.accept().await {
            Ok((sock, _)) => sock,
            Err(e) => {
                // out of fds, most likely: give the ones in use time to close
                tracing::warn!("control socket: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let status = status.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let (read, mut write) = sock.into_split();
            let mut reader = BufReader::new(read.take(256));
            let mut line = String::new();
            let request = reader.read_line(&mut line);
            if tokio::time::timeout(Duration::from_secs(2), request)
                .await
                .is_err()
            {
                return;
            }
            let reply = match line.trim() {
                "status" => {
                    let s = status.lock().map(|s| s.clone()).unwrap_or_default();
                    serde_json::to_string(&s).unwrap_or_default()
                }
                other => {
                    serde_json::json!({ "error": format!("unknown request '{other}'") }).to_string()
                }
            };
            let _ = write.write_all(format!("{reply}\n").as_bytes()).await;
        });
    }
}

/// Human-readable form of a status, for `daedalus-v4l2ctl status`.
pub fn render(s: &Status) -> String {
    let mut out = format!(
        "daedalus-v4l2d {}: {}\n  allocator: {}\n  threads: {}\n  uptime: {:.0} s\n  \
         frames decoded: {}\n  decode errors: {}\n  streams started: {}\n  CAPTURE buffers: {}\n  \
         per frame: {:.2} fds installed, {:.2} maps, {:.2} dups\n",
        s.version,
        if s.attached {
            "attached to the kernel module"
        } else {
            "not attached"
        },
        s.allocator,
        s.threads,
        s.uptime_seconds,
        s.frames_decoded,
        s.decode_errors,
        s.streams_started,
        s.buffers,
        s.fds_per_frame,
        s.maps_per_frame,
        s.dups_per_frame,
    );
    match &s.recent {
        Some(r) => out.push_str(&format!(
            "  last {:.0} s: {} frames; per frame: {:.2} fds installed, {:.2} maps, {:.2} dups\n",
            r.seconds, r.frames, r.fds_per_frame, r.maps_per_frame, r.dups_per_frame
        )),
        None => out.push_str(&format!("  last {} s: no frames\n", RECENT.as_secs())),
    }
    if s.streams.is_empty() {
        out.push_str("  streams: none\n");
    }
    for st in &s.streams {
        out.push_str(&format!(
            "  stream {}: {} {}x{}, {} frames, {} errors, {:.1} frames/s, worker pid {}\n",
            st.stream, st.codec, st.width, st.height, st.frames, st.errors, st.fps, st.pid
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_as_json() {
        let s = Status {
            version: "0.1.0".into(),
            attached: true,
            streams: vec![StreamStatus {
                stream: 3,
                codec: "vp9".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let back: Status = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
        assert!(render(&s).contains("stream 3: vp9"));
        assert!(render(&s).contains("last 5 s: no frames"));
        let busy = Status {
            recent: Some(Recent {
                seconds: 5.0,
                frames: 40,
                ..Default::default()
            }),
            ..s
        };
        assert!(render(&busy).contains("last 5 s: 40 frames; per frame: 0.00 fds installed"));
        // a status from a daemon before the recent figures: none
        let old: Status = serde_json::from_str(
            r#"{"version":"0.1.0","attached":true,"allocator":"","threads":2,
                "uptime_seconds":1.0,"frames_decoded":0,"decode_errors":0,
                "streams_started":0,"buffers":0,"streams":[]}"#,
        )
        .unwrap();
        assert_eq!(old.recent, None);
    }
}
