// SPDX-License-Identifier: GPL-2.0
//! The kernel side of the FFI boundary: the V4L2 and media-controller ioctls the driver makes on
//! our stateless node, the request API, and the mappings of its buffers. Everything here takes
//! and returns plain Rust values; the ioctl structs (bindgen's, from the build environment's
//! `<linux/videodev2.h>` and `<linux/media.h>`) do not leave this file.

use std::{
    ffi::CStr,
    fs::OpenOptions,
    io,
    marker::PhantomData,
    os::{
        fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd},
        unix::fs::OpenOptionsExt,
    },
    path::Path,
    ptr::NonNull,
    time::Duration,
};

use nix::{
    poll::{poll, PollFd, PollFlags, PollTimeout},
    sys::mman::{mmap, munmap, MapFlags, ProtFlags},
};

use super::sys::*;

mod ioc {
    use super::*;
    nix::ioctl_read!(querycap, b'V', 0, v4l2_capability);
    nix::ioctl_readwrite!(g_fmt, b'V', 4, v4l2_format);
    nix::ioctl_readwrite!(s_fmt, b'V', 5, v4l2_format);
    nix::ioctl_readwrite!(reqbufs, b'V', 8, v4l2_requestbuffers);
    nix::ioctl_readwrite!(querybuf, b'V', 9, v4l2_buffer);
    nix::ioctl_readwrite!(qbuf, b'V', 15, v4l2_buffer);
    nix::ioctl_readwrite!(expbuf, b'V', 16, v4l2_exportbuffer);
    nix::ioctl_readwrite!(dqbuf, b'V', 17, v4l2_buffer);
    nix::ioctl_write_ptr!(streamon, b'V', 18, libc::c_int);
    nix::ioctl_write_ptr!(streamoff, b'V', 19, libc::c_int);
    nix::ioctl_readwrite!(s_ext_ctrls, b'V', 72, v4l2_ext_controls);
    nix::ioctl_readwrite!(create_bufs, b'V', 92, v4l2_create_buffers);
    nix::ioctl_readwrite!(remove_bufs, b'V', 104, v4l2_remove_buffers);
    nix::ioctl_readwrite!(device_info, b'|', 0x00, media_device_info);
    nix::ioctl_read!(request_alloc, b'|', 0x05, libc::c_int);
    nix::ioctl_none!(request_queue, b'|', 0x80);
    nix::ioctl_none!(request_reinit, b'|', 0x81);
}

/// Buffer queues of a memory-to-memory decoder (multi-planar API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    /// Coded frames in.
    Output,
    /// Decoded pictures out.
    Capture,
}

impl Queue {
    fn raw(self) -> u32 {
        match self {
            Queue::Output => V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE,
            Queue::Capture => V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE,
        }
    }
}

/// A single-plane format of one queue (the node's formats all have one memory plane).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Format {
    pub fourcc: u32,
    pub width: u32,
    pub height: u32,
    pub bytesperline: u32,
    pub sizeimage: u32,
}

impl Format {
    fn to_raw(self, queue: Queue) -> v4l2_format {
        let mut pix = v4l2_pix_format_mplane {
            width: self.width,
            height: self.height,
            pixelformat: self.fourcc,
            field: V4L2_FIELD_NONE,
            num_planes: 1,
            ..Default::default()
        };
        pix.plane_fmt[0].bytesperline = self.bytesperline;
        pix.plane_fmt[0].sizeimage = self.sizeimage;
        v4l2_format {
            type_: queue.raw(),
            fmt: v4l2_format__bindgen_ty_1 { pix_mp: pix },
        }
    }

    fn from_raw(raw: &v4l2_format) -> Format {
        // SAFETY: the format was filled by VIDIOC_G/S_FMT for a multi-planar queue, whose
        // member of the union is pix_mp (and every bit pattern is a valid pix_mp).
        let pix = unsafe { raw.fmt.pix_mp };
        Format {
            fourcc: pix.pixelformat,
            width: pix.width,
            height: pix.height,
            bytesperline: pix.plane_fmt[0].bytesperline,
            sizeimage: pix.plane_fmt[0].sizeimage,
        }
    }
}

/// A buffer the driver handed back.
#[derive(Debug, Clone, Copy)]
pub struct Dequeued {
    pub index: u32,
    pub error: bool,
    pub timestamp_ns: u64,
}

/// What a video node says it is.
#[derive(Debug, Clone)]
pub struct Capability {
    pub driver: String,
    pub card: String,
    pub device_caps: u32,
}

/// Types that may be handed to the kernel as a compound control's payload: the uAPI's plain
/// structs, which hold no pointers and for which any bit pattern is valid.
///
/// # Safety
/// Implement only for `#[repr(C)]` uAPI structs without pointers or padding-sensitive invariants.
pub unsafe trait Payload: Copy {}

macro_rules! payloads {
    ($($t:ty),*) => { $(
        // SAFETY: a V4L2 control payload struct of the uAPI: plain integers and arrays of them
        unsafe impl Payload for $t {}
    )* };
}
payloads!(
    v4l2_ctrl_h264_sps,
    v4l2_ctrl_h264_pps,
    v4l2_ctrl_h264_scaling_matrix,
    v4l2_ctrl_h264_decode_params,
    v4l2_ctrl_vp9_frame,
    v4l2_ctrl_av1_sequence,
    v4l2_ctrl_av1_frame,
    v4l2_ctrl_av1_tile_group_entry,
    v4l2_ctrl_av1_film_grain
);

/// One control of a `VIDIOC_S_EXT_CTRLS` call: an id and its payload (one struct or an array).
pub struct Ctrl<'a> {
    raw: v4l2_ext_control,
    _payload: PhantomData<&'a mut ()>,
}

impl<'a> Ctrl<'a> {
    pub fn new<T: Payload>(id: u32, payload: &'a mut [T]) -> Ctrl<'a> {
        Ctrl {
            raw: v4l2_ext_control {
                id,
                size: std::mem::size_of_val(payload) as u32,
                reserved2: [0],
                __bindgen_anon_1: v4l2_ext_control__bindgen_ty_1 {
                    p_u8: payload.as_mut_ptr().cast(),
                },
            },
            _payload: PhantomData,
        }
    }
}

fn errno(e: nix::Error) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

fn cstr(bytes: &[u8]) -> String {
    CStr::from_bytes_until_nul(bytes)
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn open(path: &Path) -> io::Result<OwnedFd> {
    Ok(OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?
        .into())
}

/// An open video node.
#[derive(Debug)]
pub struct Video {
    fd: OwnedFd,
}

impl Video {
    pub fn open(path: &Path) -> io::Result<Video> {
        Ok(Video { fd: open(path)? })
    }

    fn raw(&self) -> libc::c_int {
        self.fd.as_raw_fd()
    }

    pub fn querycap(&self) -> io::Result<Capability> {
        let mut cap = v4l2_capability::default();
        // SAFETY: a VIDIOC_QUERYCAP on our fd, into a struct of the ioctl's type
        unsafe { ioc::querycap(self.raw(), &mut cap) }.map_err(errno)?;
        Ok(Capability {
            driver: cstr(&cap.driver),
            card: cstr(&cap.card),
            device_caps: cap.device_caps,
        })
    }

    pub fn g_fmt(&self, queue: Queue) -> io::Result<Format> {
        let mut raw = v4l2_format {
            type_: queue.raw(),
            ..Default::default()
        };
        // SAFETY: VIDIOC_G_FMT on our fd with a struct of its type
        unsafe { ioc::g_fmt(self.raw(), &mut raw) }.map_err(errno)?;
        Ok(Format::from_raw(&raw))
    }

    /// `VIDIOC_S_FMT`: the format the driver took.
    pub fn s_fmt(&self, queue: Queue, fmt: Format) -> io::Result<Format> {
        let mut raw = fmt.to_raw(queue);
        // SAFETY: VIDIOC_S_FMT on our fd with a struct of its type
        unsafe { ioc::s_fmt(self.raw(), &mut raw) }.map_err(errno)?;
        Ok(Format::from_raw(&raw))
    }

    /// `VIDIOC_REQBUFS` of mmap buffers: how many the driver allocated.
    pub fn reqbufs(&self, queue: Queue, count: u32) -> io::Result<u32> {
        let mut req = v4l2_requestbuffers {
            count,
            type_: queue.raw(),
            memory: V4L2_MEMORY_MMAP,
            ..Default::default()
        };
        // SAFETY: VIDIOC_REQBUFS on our fd with a struct of its type
        unsafe { ioc::reqbufs(self.raw(), &mut req) }.map_err(errno)?;
        Ok(req.count)
    }

    /// `VIDIOC_CREATE_BUFS` of one mmap buffer for `fmt`: its index.
    pub fn create_buf(&self, queue: Queue, fmt: Format) -> io::Result<u32> {
        let mut req = v4l2_create_buffers {
            count: 1,
            memory: V4L2_MEMORY_MMAP,
            format: fmt.to_raw(queue),
            ..Default::default()
        };
        // SAFETY: VIDIOC_CREATE_BUFS on our fd with a struct of its type
        unsafe { ioc::create_bufs(self.raw(), &mut req) }.map_err(errno)?;
        if req.count != 1 {
            return Err(io::Error::from_raw_os_error(libc::ENOMEM));
        }
        Ok(req.index)
    }

    /// `VIDIOC_REMOVE_BUFS` of one buffer.
    pub fn remove_buf(&self, queue: Queue, index: u32) -> io::Result<()> {
        let mut req = v4l2_remove_buffers {
            index,
            count: 1,
            type_: queue.raw(),
            ..Default::default()
        };
        // SAFETY: VIDIOC_REMOVE_BUFS on our fd with a struct of its type
        unsafe { ioc::remove_bufs(self.raw(), &mut req) }.map_err(errno)?;
        Ok(())
    }

    /// The mmap offset and length of a buffer's plane.
    pub fn querybuf(&self, queue: Queue, index: u32) -> io::Result<(u32, u32)> {
        let mut plane = v4l2_plane::default();
        let mut buf = v4l2_buffer {
            index,
            type_: queue.raw(),
            memory: V4L2_MEMORY_MMAP,
            length: 1,
            m: v4l2_buffer__bindgen_ty_1 { planes: &mut plane },
            ..Default::default()
        };
        // SAFETY: VIDIOC_QUERYBUF on our fd; buf.m.planes points at one plane, as length says
        unsafe { ioc::querybuf(self.raw(), &mut buf) }.map_err(errno)?;
        // SAFETY: for mmap memory the kernel filled mem_offset
        Ok((unsafe { plane.m.mem_offset }, plane.length))
    }

    /// Map one buffer's plane (read and write, shared).
    pub fn map(&self, queue: Queue, index: u32) -> io::Result<Mapping> {
        let (offset, len) = self.querybuf(queue, index)?;
        let size = std::num::NonZeroUsize::new(len as usize)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: a new shared mapping of the buffer at the offset the driver gave; nothing
        // else in this process refers to that range
        let ptr = unsafe {
            mmap(
                None,
                size,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
                self.fd.as_fd(),
                i64::from(offset),
            )
        }
        .map_err(errno)?;
        Ok(Mapping {
            ptr: ptr.cast(),
            len: len as usize,
        })
    }

    /// Queue a buffer; an OUTPUT buffer with `bytesused`, a timestamp and a request.
    pub fn qbuf(
        &self,
        queue: Queue,
        index: u32,
        bytesused: u32,
        timestamp_ns: u64,
        request: Option<BorrowedFd<'_>>,
    ) -> io::Result<()> {
        let mut plane = v4l2_plane {
            bytesused,
            ..Default::default()
        };
        let mut buf = v4l2_buffer {
            index,
            type_: queue.raw(),
            memory: V4L2_MEMORY_MMAP,
            length: 1,
            m: v4l2_buffer__bindgen_ty_1 { planes: &mut plane },
            timestamp: timeval {
                tv_sec: (timestamp_ns / 1_000_000_000) as _,
                tv_usec: (timestamp_ns % 1_000_000_000 / 1000) as _,
            },
            ..Default::default()
        };
        if let Some(req) = request {
            buf.flags |= V4L2_BUF_FLAG_REQUEST_FD;
            buf.__bindgen_anon_1 = v4l2_buffer__bindgen_ty_2 {
                request_fd: req.as_raw_fd(),
            };
        }
        // SAFETY: VIDIOC_QBUF on our fd; buf.m.planes points at one plane, as length says
        unsafe { ioc::qbuf(self.raw(), &mut buf) }.map_err(errno)?;
        Ok(())
    }

    /// Dequeue a finished buffer, if there is one (the node is opened non-blocking).
    pub fn dqbuf(&self, queue: Queue) -> io::Result<Option<Dequeued>> {
        let mut plane = v4l2_plane::default();
        let mut buf = v4l2_buffer {
            type_: queue.raw(),
            memory: V4L2_MEMORY_MMAP,
            length: 1,
            m: v4l2_buffer__bindgen_ty_1 { planes: &mut plane },
            ..Default::default()
        };
        // SAFETY: VIDIOC_DQBUF on our fd; buf.m.planes points at one plane, as length says
        match unsafe { ioc::dqbuf(self.raw(), &mut buf) } {
            Ok(_) => Ok(Some(Dequeued {
                index: buf.index,
                error: buf.flags & V4L2_BUF_FLAG_ERROR != 0,
                timestamp_ns: buf.timestamp.tv_sec as u64 * 1_000_000_000
                    + buf.timestamp.tv_usec as u64 * 1000,
            })),
            Err(nix::Error::EAGAIN) => Ok(None),
            Err(e) => Err(errno(e)),
        }
    }

    pub fn streamon(&self, queue: Queue) -> io::Result<()> {
        let t = queue.raw() as libc::c_int;
        // SAFETY: VIDIOC_STREAMON on our fd with the queue type
        unsafe { ioc::streamon(self.raw(), &t) }.map_err(errno)?;
        Ok(())
    }

    pub fn streamoff(&self, queue: Queue) -> io::Result<()> {
        let t = queue.raw() as libc::c_int;
        // SAFETY: VIDIOC_STREAMOFF on our fd with the queue type
        unsafe { ioc::streamoff(self.raw(), &t) }.map_err(errno)?;
        Ok(())
    }

    /// `VIDIOC_EXPBUF`: a dmabuf fd of a buffer (read-only or read-write).
    pub fn expbuf(&self, queue: Queue, index: u32, write: bool) -> io::Result<OwnedFd> {
        let mut exp = v4l2_exportbuffer {
            type_: queue.raw(),
            index,
            flags: (libc::O_CLOEXEC | if write { libc::O_RDWR } else { libc::O_RDONLY }) as u32,
            ..Default::default()
        };
        // SAFETY: VIDIOC_EXPBUF on our fd with a struct of its type
        unsafe { ioc::expbuf(self.raw(), &mut exp) }.map_err(errno)?;
        // SAFETY: the kernel installed a new fd for us
        Ok(unsafe { OwnedFd::from_raw_fd(exp.fd) })
    }

    /// `VIDIOC_S_EXT_CTRLS`, into a request or (without one) as the current values.
    pub fn set_ctrls(
        &self,
        request: Option<BorrowedFd<'_>>,
        ctrls: &mut [Ctrl<'_>],
    ) -> io::Result<()> {
        let mut raw: Vec<v4l2_ext_control> = ctrls.iter().map(|c| c.raw).collect();
        let mut ext = v4l2_ext_controls {
            __bindgen_anon_1: v4l2_ext_controls__bindgen_ty_1 {
                which: if request.is_some() {
                    V4L2_CTRL_WHICH_REQUEST_VAL
                } else {
                    V4L2_CTRL_WHICH_CUR_VAL
                },
            },
            count: raw.len() as u32,
            request_fd: request.map_or(0, |r| r.as_raw_fd()),
            controls: raw.as_mut_ptr(),
            ..Default::default()
        };
        // SAFETY: VIDIOC_S_EXT_CTRLS on our fd; `controls` holds `count` controls whose payload
        // pointers borrow live buffers of the sizes they state (Ctrl's lifetime)
        unsafe { ioc::s_ext_ctrls(self.raw(), &mut ext) }.map_err(errno)?;
        Ok(())
    }
}

/// Wait until `fd` is readable in the `events` sense, or `timeout` passes: whether it did.
fn wait(fd: BorrowedFd<'_>, events: PollFlags, timeout: Duration) -> io::Result<bool> {
    let mut fds = [PollFd::new(fd, events)];
    let ms = PollTimeout::try_from(timeout.as_millis().min(i32::MAX as u128) as i32)
        .unwrap_or(PollTimeout::MAX);
    loop {
        match poll(&mut fds, ms) {
            Ok(n) => return Ok(n > 0),
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(errno(e)),
        }
    }
}

impl Video {
    /// Wait for a finished buffer on either queue.
    pub fn wait(&self, timeout: Duration) -> io::Result<bool> {
        wait(
            self.fd.as_fd(),
            PollFlags::POLLIN | PollFlags::POLLOUT,
            timeout,
        )
    }
}

/// An open media device.
#[derive(Debug)]
pub struct Media {
    fd: OwnedFd,
}

impl Media {
    pub fn open(path: &Path) -> io::Result<Media> {
        Ok(Media { fd: open(path)? })
    }

    /// The driver that registered the media device.
    pub fn driver(&self) -> io::Result<String> {
        let mut info = media_device_info::default();
        // SAFETY: MEDIA_IOC_DEVICE_INFO on our fd with a struct of its type
        unsafe { ioc::device_info(self.fd.as_raw_fd(), &mut info) }.map_err(errno)?;
        let bytes: Vec<u8> = info.driver.iter().map(|&c| c as u8).collect();
        Ok(cstr(&bytes))
    }

    pub fn alloc_request(&self) -> io::Result<Request> {
        let mut fd: libc::c_int = -1;
        // SAFETY: MEDIA_IOC_REQUEST_ALLOC on our fd, into an int
        unsafe { ioc::request_alloc(self.fd.as_raw_fd(), &mut fd) }.map_err(errno)?;
        // SAFETY: the kernel installed a new fd for us
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Request { fd })
    }
}

/// A media request.
#[derive(Debug)]
pub struct Request {
    fd: OwnedFd,
}

impl Request {
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub fn queue(&self) -> io::Result<()> {
        // SAFETY: MEDIA_REQUEST_IOC_QUEUE on a request fd of ours
        unsafe { ioc::request_queue(self.fd.as_raw_fd()) }.map_err(errno)?;
        Ok(())
    }

    /// Make a completed request usable again.
    pub fn reinit(&self) -> io::Result<()> {
        // SAFETY: MEDIA_REQUEST_IOC_REINIT on a request fd of ours
        unsafe { ioc::request_reinit(self.fd.as_raw_fd()) }.map_err(errno)?;
        Ok(())
    }

    /// A duplicate of the request's fd (to wait on it elsewhere).
    pub fn try_clone(&self) -> io::Result<OwnedFd> {
        self.fd.try_clone()
    }

    /// Wait for the request of `fd` to complete: whether it did within `timeout`.
    pub fn wait_fd(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<bool> {
        wait(fd, PollFlags::POLLPRI, timeout)
    }
}

/// A shared mapping of one buffer plane, unmapped when dropped. Its memory is shared with the
/// kernel and the daemon: it is only ever copied through raw pointers, never seen as a slice.
#[derive(Debug)]
pub struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: a mapping is plain shared memory, usable from any thread
unsafe impl Send for Mapping {}
// SAFETY: &Mapping only copies through raw pointers; concurrent copies are the clients' race
unsafe impl Sync for Mapping {}

impl Mapping {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The address, for a client that maps the buffer (`vaMapBuffer` of a derived image).
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Copy `data` in at `offset` (false if it does not fit).
    pub fn write(&self, offset: usize, data: &[u8]) -> bool {
        if offset
            .checked_add(data.len())
            .is_none_or(|end| end > self.len)
        {
            return false;
        }
        // SAFETY: the range is inside the mapping, which cannot overlap `data` (a Rust slice)
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.as_ptr().add(offset), data.len())
        };
        true
    }

    /// Copy out into `out` from `offset` (false if the range is outside the mapping).
    pub fn read(&self, offset: usize, out: &mut [u8]) -> bool {
        if offset
            .checked_add(out.len())
            .is_none_or(|end| end > self.len)
        {
            return false;
        }
        // SAFETY: the range is inside the mapping, which cannot overlap `out` (a Rust slice)
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.ptr.as_ptr().add(offset),
                out.as_mut_ptr(),
                out.len(),
            )
        };
        true
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: our own mapping, of this length, unmapped once
        let _ = unsafe { munmap(self.ptr.cast(), self.len) };
    }
}
