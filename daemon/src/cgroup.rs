//! A cgroup per stream worker, where the daemon's own cgroup was delegated to it.
//!
//! `RLIMIT_DATA` caps a worker's heap and maps, but nothing in a process caps the threads it
//! starts (`RLIMIT_NPROC` counts every process of the user), and a worker is a process of the
//! daemon's user like every other. Under systemd with `Delegate=pids memory` and
//! `ProtectControlGroups=private` (the packaged unit), the service's cgroup is the daemon's to
//! divide, and `--worker-cgroups` divides it (cgroup v2; the memory limit where the kernel has
//! the memory controller):
//!
//! ```text
//! <the service's cgroup>/          controllers pids (and memory) enabled for its children
//!     daemon/                      the daemon and its zygote
//!     worker-<pid>/                one per stream worker: pids.max, memory.max
//! ```
//!
//! The zygote moves each worker it forks into a cgroup of its own before the worker reads a
//! job (so before its decoder starts a thread), and removes it once the worker is reaped.

#![forbid(unsafe_code)]

use std::{
    fs,
    io::ErrorKind,
    path::{Path, PathBuf},
};

use thiserror::Error;

/// Where cgroup v2 is mounted.
pub const ROOT: &str = "/sys/fs/cgroup";
/// The controller of the task limit, which a worker's cgroup is for.
const PIDS: &str = "pids";
/// The controller of the memory limit: used where the kernel has it (`RLIMIT_DATA` holds the
/// worker's heap either way).
const MEMORY: &str = "memory";
const WORKER_PREFIX: &str = "worker-";

#[derive(Debug, Error)]
pub enum CgroupError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the daemon is not on the unified cgroup hierarchy (cgroup v2)")]
    NotUnified,
    #[error("{0}: not the daemon's cgroup of a divided one")]
    NotDivided(PathBuf),
    #[error("the {0} controller is not available in the daemon's cgroup (systemd: Delegate=)")]
    Controller(&'static str),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CgroupError + '_ {
    move |source| CgroupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    fs::write(path, value).map_err(io(path))
}

/// What each worker may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Tasks (the process and its threads): `pids.max`.
    pub tasks: u32,
    /// Bytes: `memory.max`.
    pub memory: u64,
}

impl CgroupError {
    /// The errno to report it by (`EIO` when it is no system call's).
    pub fn errno(&self) -> i32 {
        match self {
            CgroupError::Io { source, .. } => source.raw_os_error().unwrap_or(libc::EIO),
            _ => libc::EIO,
        }
    }
}

/// The cgroup of this process, as `/proc/self/cgroup` names it on the unified hierarchy
/// (relative to `root`'s mount; `/` inside a cgroup namespace).
fn own(proc_cgroup: &str) -> Result<&str, CgroupError> {
    proc_cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .ok_or(CgroupError::NotUnified)
}

/// This process's cgroup (`own`), read from `/proc/self/cgroup`.
fn own_cgroup() -> Result<PathBuf, CgroupError> {
    let path = Path::new("/proc/self/cgroup");
    let proc_cgroup = fs::read_to_string(path).map_err(io(path))?;
    own(&proc_cgroup).map(PathBuf::from)
}

/// Divide this process's cgroup (under `root`, normally `ROOT`): move the process into a
/// `daemon` child, enable the pids and memory controllers for the children, and remove the
/// empty worker cgroups an earlier daemon left. Returns the directory workers' cgroups go in.
/// Call before the process starts the zygote (which then starts in `daemon` with it).
pub fn divide(root: &Path) -> Result<PathBuf, CgroupError> {
    let own = own_cgroup()?;
    let dir = root.join(own.strip_prefix("/").unwrap_or(&own));
    let available = dir.join("cgroup.controllers");
    let available = fs::read_to_string(&available).map_err(io(&available))?;
    let has = |c: &str| available.split_whitespace().any(|a| a == c);
    if !has(PIDS) {
        return Err(CgroupError::Controller(PIDS));
    }
    let enable = if has(MEMORY) {
        "+pids +memory"
    } else {
        "+pids"
    };
    let leaf = dir.join("daemon");
    match fs::create_dir(&leaf) {
        Err(e) if e.kind() != ErrorKind::AlreadyExists => return Err(io(&leaf)(e)),
        _ => {}
    }
    // a cgroup whose children have controllers holds no process itself: move out first
    write(&leaf.join("cgroup.procs"), &std::process::id().to_string())?;
    write(&dir.join("cgroup.subtree_control"), enable)?;
    if let Ok(entries) = fs::read_dir(&dir) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(WORKER_PREFIX) {
                // one still in use (a worker that outlived its daemon) stays: EBUSY
                let _ = fs::remove_dir(e.path());
            }
        }
    }
    Ok(dir)
}

/// The directory workers' cgroups go in, from a process in the `daemon` cgroup that `divide`
/// made (the zygote).
pub fn workers_dir(root: &Path) -> Result<PathBuf, CgroupError> {
    let own = own_cgroup()?;
    match (own.file_name(), own.parent()) {
        (Some(name), Some(parent)) if name == "daemon" => {
            Ok(root.join(parent.strip_prefix("/").unwrap_or(parent)))
        }
        _ => Err(CgroupError::NotDivided(own.clone())),
    }
}

/// The cgroup of worker `pid` under `dir`.
fn worker_dir(dir: &Path, pid: i32) -> PathBuf {
    dir.join(format!("{WORKER_PREFIX}{pid}"))
}

/// Put worker `pid` (just forked) in a cgroup of its own under `dir`, with `limits`.
pub fn enter(dir: &Path, pid: i32, limits: Limits) -> Result<(), CgroupError> {
    let cg = worker_dir(dir, pid);
    fs::create_dir(&cg).map_err(io(&cg))?;
    let memory = cg.join("memory.max");
    let moved = write(&cg.join("pids.max"), &limits.tasks.to_string())
        .and_then(|()| match memory.exists() {
            true => write(&memory, &limits.memory.to_string()),
            false => Ok(()),
        })
        .and_then(|()| write(&cg.join("cgroup.procs"), &pid.to_string()));
    if moved.is_err() {
        let _ = fs::remove_dir(&cg);
    }
    moved
}

/// Remove worker `pid`'s cgroup (it was reaped: the cgroup is empty).
pub fn leave(dir: &Path, pid: i32) {
    let cg = worker_dir(dir, pid);
    if let Err(e) = fs::remove_dir(&cg) {
        if e.kind() != ErrorKind::NotFound {
            eprintln!("daedalus-v4l2d: cannot remove {}: {e}", cg.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_cgroup_is_the_unified_line() {
        let v2 = "0::/system.slice/daedalus-v4l2d.service\n";
        assert_eq!(own(v2).unwrap(), "/system.slice/daedalus-v4l2d.service");
        // in a cgroup namespace (ProtectControlGroups=private) the service's cgroup is "/"
        assert_eq!(own("0::/\n").unwrap(), "/");
        let hybrid = "12:pids:/system.slice\n1:name=systemd:/system.slice\n0::/x\n";
        assert_eq!(own(hybrid).unwrap(), "/x");
        assert!(matches!(
            own("12:pids:/system.slice\n"),
            Err(CgroupError::NotUnified)
        ));
    }

    /// What `enter` writes, in a directory standing in for cgroupfs (where the kernel makes a
    /// new cgroup's files; here none are made, as on a kernel without the memory controller,
    /// whose `memory.max` is left alone), and that `leave` removes it.
    #[test]
    fn a_worker_gets_its_limits() {
        let dir = std::env::temp_dir().join(format!("daedalus-cgroup-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir).unwrap();
        let limits = Limits {
            tasks: 12,
            memory: 2 << 30,
        };
        enter(&dir, 4242, limits).unwrap();
        let cg = dir.join("worker-4242");
        let read = |f: &str| fs::read_to_string(cg.join(f)).unwrap();
        assert_eq!(read("pids.max"), "12");
        assert_eq!(read("cgroup.procs"), "4242");
        assert!(!cg.join("memory.max").exists());
        // a second worker with the same pid (reused) while the first's cgroup is there fails
        assert!(enter(&dir, 4242, limits).is_err());
        for f in ["pids.max", "cgroup.procs"] {
            fs::remove_file(cg.join(f)).unwrap();
        }
        leave(&dir, 4242);
        assert!(!cg.exists());
        fs::remove_dir(&dir).unwrap();
    }
}
