//! The seccomp filter a stream's worker process runs under (`worker::confine`).
//!
//! A worker decodes page-chosen bitstreams into buffers it was handed: it needs memory,
//! threads, clocks, its socket to the daemon and `DMA_BUF_IOCTL_SYNC`, and nothing else.
//! - Opening a path or a socket fails with `EACCES` (a library that probes a file copes).
//! - `clone3` fails with `ENOSYS`, so that the C library creates threads with `clone`, whose
//!   flags a filter can see: only threads (`CLONE_THREAD`), never a new process.
//! - Any other system call kills the worker (`SIGSYS`): `execve`, `ptrace`, `kill` of another
//!   process, any `ioctl` but the dmabuf sync, `mount`, `bpf`, …
//!
//! Three filters stacked: the kernel takes the most severe action any of them returns (kill,
//! then errno, then allow).

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen as Len, SeccompCmpOp as Op, SeccompCondition,
    SeccompFilter, SeccompRule,
};

/// `DMA_BUF_IOCTL_SYNC`: `_IOW('b', 0, struct dma_buf_sync)`.
const DMA_BUF_IOCTL_SYNC: u64 = 0x4008_6200;

/// System calls that fail with EACCES.
const REFUSED: &[i64] = &[
    libc::SYS_openat,
    libc::SYS_openat2,
    libc::SYS_faccessat,
    libc::SYS_faccessat2,
    libc::SYS_readlinkat,
    libc::SYS_socket,
    libc::SYS_socketpair,
    libc::SYS_sysinfo,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_open,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_creat,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_access,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_readlink,
];

/// System calls allowed whatever their arguments.
const ALLOWED: &[i64] = &[
    // its socket, stderr
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_readv,
    libc::SYS_writev,
    libc::SYS_recvmsg,
    libc::SYS_sendmsg,
    libc::SYS_close,
    // the fds it holds: a buffer's size, the same dmabuf, a mapping's own fd
    libc::SYS_lseek,
    libc::SYS_fstat,
    libc::SYS_newfstatat,
    libc::SYS_statx,
    libc::SYS_fcntl,
    libc::SYS_dup,
    // memory
    libc::SYS_mmap,
    libc::SYS_munmap,
    libc::SYS_mprotect,
    libc::SYS_mremap,
    libc::SYS_madvise,
    libc::SYS_brk,
    // threads
    libc::SYS_futex,
    libc::SYS_set_robust_list,
    libc::SYS_set_tid_address,
    libc::SYS_rseq,
    libc::SYS_sched_yield,
    libc::SYS_sched_getaffinity,
    libc::SYS_getpid,
    libc::SYS_gettid,
    libc::SYS_exit,
    libc::SYS_exit_group,
    libc::SYS_restart_syscall,
    // signals (its own: a panic's abort)
    libc::SYS_rt_sigaction,
    libc::SYS_rt_sigprocmask,
    libc::SYS_rt_sigreturn,
    libc::SYS_sigaltstack,
    // time
    libc::SYS_clock_gettime,
    libc::SYS_clock_getres,
    libc::SYS_gettimeofday,
    libc::SYS_clock_nanosleep,
    libc::SYS_nanosleep,
    libc::SYS_getrandom,
    libc::SYS_uname,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_arch_prctl,
];

fn cond(arg: u8, op: Op, value: u64) -> SeccompCondition {
    SeccompCondition::new(arg, Len::Qword, op, value).expect("a valid condition")
}

fn rule(conditions: Vec<SeccompCondition>) -> SeccompRule {
    SeccompRule::new(conditions).expect("a valid rule")
}

fn arch() -> Result<seccompiler::TargetArch, seccompiler::BackendError> {
    std::env::consts::ARCH.try_into()
}

/// Every call in `calls` gets `action`, everything else is allowed by this filter.
fn matching(calls: &[i64], action: SeccompAction) -> Result<BpfProgram, seccompiler::Error> {
    let rules: BTreeMap<i64, Vec<SeccompRule>> = calls.iter().map(|&c| (c, vec![])).collect();
    Ok(SeccompFilter::new(rules, SeccompAction::Allow, action, arch()?)?.try_into()?)
}

/// The allow-list: everything not on it kills the process.
fn allow_list() -> Result<BpfProgram, seccompiler::Error> {
    let pid = std::process::id() as u64;
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = ALLOWED
        .iter()
        .chain(REFUSED)
        .chain(&[libc::SYS_clone3])
        .map(|&c| (c, vec![]))
        .collect();
    let thread = libc::CLONE_THREAD as u64;
    rules.insert(
        libc::SYS_clone,
        vec![rule(vec![cond(0, Op::MaskedEq(thread), thread)])],
    );
    rules.insert(
        libc::SYS_ioctl,
        vec![rule(vec![cond(1, Op::Eq, DMA_BUF_IOCTL_SYNC)])],
    );
    // a thread's own name (FFmpeg's and libdav1d's threads name themselves)
    rules.insert(
        libc::SYS_prctl,
        [libc::PR_SET_NAME, libc::PR_GET_NAME]
            .into_iter()
            .map(|op| rule(vec![cond(0, Op::Eq, op as u64)]))
            .collect(),
    );
    // signals to itself only (abort)
    rules.insert(libc::SYS_tgkill, vec![rule(vec![cond(0, Op::Eq, pid)])]);
    // reading a limit, not setting one
    rules.insert(libc::SYS_prlimit64, vec![rule(vec![cond(2, Op::Eq, 0)])]);
    Ok(SeccompFilter::new(
        rules,
        SeccompAction::KillProcess,
        SeccompAction::Allow,
        arch()?,
    )?
    .try_into()?)
}

/// Install the worker's filters on every thread of the calling process (there should be one).
pub fn install() -> Result<(), seccompiler::Error> {
    // the allow-list last: it does not allow seccomp() itself
    let filters = [
        matching(REFUSED, SeccompAction::Errno(libc::EACCES as u32))?,
        matching(
            &[libc::SYS_clone3],
            SeccompAction::Errno(libc::ENOSYS as u32),
        )?,
        allow_list()?,
    ];
    for filter in &filters {
        seccompiler::apply_filter_all_threads(filter)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    /// What `child` does under the filter, in a process of its own (the test binary again).
    const CASE: &str = "DAEDALUS_SECCOMP_CASE";

    /// Not a test of its own: the body of the processes `run` starts.
    #[test]
    fn child() {
        let Ok(case) = std::env::var(CASE) else {
            return;
        };
        super::install().expect("the filter installs");
        let refused =
            |r: std::io::Result<()>| r.err().and_then(|e| e.raw_os_error()) == Some(libc::EACCES);
        let ok = match case.as_str() {
            "open" => refused(std::fs::File::open("/proc/self/status").map(drop)),
            "socket" => refused(std::os::unix::net::UnixDatagram::unbound().map(drop)),
            "thread" => std::thread::spawn(|| 7).join().ok() == Some(7),
            "memory" => {
                vec![1u8; 64 << 20]
                    .iter()
                    .map(|&b| u64::from(b))
                    .sum::<u64>()
                    == 64 << 20
            }
            // each of these must not return (it would exit 1)
            "spawn" => {
                let _ = std::process::Command::new("/bin/true").status();
                false
            }
            "ioctl" => {
                use std::io::IsTerminal;
                let _ = std::io::stdin().is_terminal();
                false
            }
            "kill" => {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(1), None);
                false
            }
            _ => false,
        };
        std::process::exit(if ok { 0 } else { 1 });
    }

    fn run(case: &str) -> std::process::ExitStatus {
        std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "seccomp::tests::child",
                "--test-threads=1",
                "--nocapture",
            ])
            .env(CASE, case)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap()
    }

    /// Files and sockets are refused, threads and memory work.
    #[test]
    fn a_worker_decodes_but_opens_nothing() {
        for case in ["open", "socket", "thread", "memory"] {
            assert_eq!(run(case).code(), Some(0), "{case}");
        }
    }

    /// A new process, an ioctl other than the dmabuf sync, a signal to another process: the
    /// worker is killed by the filter (SIGSYS).
    #[test]
    fn a_seccomp_violation_kills_the_worker() {
        for case in ["spawn", "ioctl", "kill"] {
            assert_eq!(run(case).signal(), Some(libc::SIGSYS), "{case}");
        }
    }
}
