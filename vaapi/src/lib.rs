// SPDX-License-Identifier: GPL-2.0
//! daedalus_drv_video: a VA-API driver (libva 1.x backend) over the daedalus-v4l2 stateless
//! decoder node. VA-API clients (FFmpeg's `vaapi` hwaccel and so Firefox and mpv, GStreamer's
//! `va` plugin) decode through the same kernel node and daemon as V4L2 clients do; surfaces are
//! the node's CAPTURE buffers and are exported as those very dmabufs.

// libva's names (VAProfileH264Main, ...) are kept as C has them
#![allow(non_upper_case_globals)]

mod av1;
pub mod codec;
pub mod driver;
pub mod ffi;
mod h264;
mod vp9;
