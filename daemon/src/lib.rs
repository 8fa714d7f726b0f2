//! daedalus-v4l2d as a library: everything the daemon and `daedalus-v4l2ctl` share.

pub mod alloc;
pub mod av1;
pub mod bits;
pub mod cgroup;
pub mod config;
pub mod decoder;
pub mod dmabuf;
pub mod ffmpeg;
pub mod h264;
mod hostile_ctrls;
pub mod jobs;
pub mod native;
pub mod proto;
mod seccomp;
pub mod session;
pub mod stateful;
pub mod status;
pub mod upcall;
pub mod worker;
