//! CPU access to a dmabuf: a shared mapping bracketed by `DMA_BUF_IOCTL_SYNC`, so the writes
//! are visible to whoever imports the buffer next (a GPU through EGL, a client's mmap).
//!
//! Clients map the same buffers and may write them while the daemon reads or writes (a hostile
//! one would): the mapping is never made into a Rust slice, whose rules (nobody else writes
//! while it lives) another process does not keep. It is reached only through [`Shared`]'s
//! copies, with raw pointers, bounds-checked.

use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::ptr;

use memmap2::{MmapOptions, MmapRaw};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum DmaBufError {
    #[error("dmabuf is {have} bytes, {need} needed")]
    TooSmall { have: u64, need: u64 },
    #[error("mapping a dmabuf: {0}")]
    Map(#[source] std::io::Error),
    #[error("DMA_BUF_IOCTL_SYNC: {0}")]
    Sync(#[source] nix::Error),
    #[error("dmabuf size: {0}")]
    Size(#[source] nix::Error),
    #[error("bytes {at}+{len} outside a {size}-byte mapping")]
    OutOfRange { at: usize, len: usize, size: usize },
    #[error("no buffer {0} here, and the job brings no fd of it")]
    Unknown(u64),
}

/// The bytes of a mapping shared with other processes, for the length of a sync bracket:
/// copied in ([`Shared::put`]) and out ([`Shared::get`]), never borrowed.
pub struct Shared<'a> {
    ptr: *mut u8,
    len: usize,
    _map: PhantomData<&'a mut [u8]>,
}

impl Shared<'_> {
    /// Daemon memory seen as a mapping (unit tests of the writers, `--bench`).
    pub fn over(buf: &mut [u8]) -> Shared<'_> {
        Shared {
            ptr: buf.as_mut_ptr(),
            len: buf.len(),
            _map: PhantomData,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn check(&self, at: usize, len: usize) -> Result<(), DmaBufError> {
        match at.checked_add(len) {
            Some(end) if end <= self.len => Ok(()),
            _ => Err(DmaBufError::OutOfRange {
                at,
                len,
                size: self.len,
            }),
        }
    }

    /// Copy `src` into the mapping at byte `at`.
    pub fn put(&mut self, at: usize, src: &[u8]) -> Result<(), DmaBufError> {
        self.check(at, src.len())?;
        // SAFETY: `at + src.len()` is within the mapping (checked), which is writable (only
        // `MappedDmaBuf::write` hands out a `&mut Shared`) and mapped while `self` lives; `src`
        // is daemon memory, so the two cannot overlap.
        unsafe { ptr::copy_nonoverlapping(src.as_ptr(), self.ptr.add(at), src.len()) };
        Ok(())
    }

    /// Copy the mapping's bytes from `at` into `dst`.
    pub fn get(&self, at: usize, dst: &mut [u8]) -> Result<(), DmaBufError> {
        self.check(at, dst.len())?;
        // SAFETY: `at + dst.len()` is within the mapping (checked), mapped while `self` lives;
        // `dst` is daemon memory. Another process writing meanwhile changes only the bytes.
        unsafe { ptr::copy_nonoverlapping(self.ptr.add(at), dst.as_mut_ptr(), dst.len()) };
        Ok(())
    }

    /// The bytes `at..at + len`, copied out.
    pub fn copy_out(&self, at: usize, len: usize) -> Result<Vec<u8>, DmaBufError> {
        let mut v = vec![0; len.min(self.len)];
        if v.len() < len {
            return Err(DmaBufError::OutOfRange {
                at,
                len,
                size: self.len,
            });
        }
        self.get(at, &mut v)?;
        Ok(v)
    }
}

/// `struct dma_buf_sync` (linux/dma-buf.h)
#[repr(C)]
struct DmaBufSync {
    flags: u64,
}
const DMA_BUF_SYNC_READ: u64 = 1;
const DMA_BUF_SYNC_WRITE: u64 = 2;
const DMA_BUF_SYNC_START: u64 = 0;
const DMA_BUF_SYNC_END: u64 = 4;
nix::ioctl_write_ptr!(dma_buf_ioctl_sync, b'b', 0, DmaBufSync);

/// A dmabuf mapped into the daemon.
pub struct MappedDmaBuf {
    fd: OwnedFd,
    map: MmapRaw,
    writable: bool,
}

/// Size of a dmabuf (its file size).
pub fn size(fd: impl AsFd) -> Result<u64, DmaBufError> {
    let off = nix::unistd::lseek(fd.as_fd().as_raw_fd(), 0, nix::unistd::Whence::SeekEnd)
        .map_err(DmaBufError::Size)?;
    Ok(off as u64)
}

impl AsFd for MappedDmaBuf {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl MappedDmaBuf {
    /// Map the first `len` bytes of `fd` (shared), read-only or read-write.
    pub fn map(fd: OwnedFd, len: usize, writable: bool) -> Result<Self, DmaBufError> {
        let have = size(&fd)?;
        if have < len as u64 {
            return Err(DmaBufError::TooSmall {
                have,
                need: len as u64,
            });
        }
        let mut opts = MmapOptions::new();
        opts.len(len);
        let map = if writable {
            opts.map_raw(&fd)
        } else {
            opts.map_raw_read_only(&fd)
        }
        .map_err(DmaBufError::Map)?;
        Ok(MappedDmaBuf { fd, map, writable })
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.len() == 0
    }

    fn sync(&self, flags: u64) -> Result<(), DmaBufError> {
        let rw = if self.writable {
            DMA_BUF_SYNC_WRITE
        } else {
            DMA_BUF_SYNC_READ
        };
        let arg = DmaBufSync { flags: flags | rw };
        // SAFETY: DMA_BUF_IOCTL_SYNC reads one struct dma_buf_sync from the pointer, which
        // points to a live, correctly laid out value for the duration of the call.
        unsafe { dma_buf_ioctl_sync(self.fd.as_raw_fd(), &arg) }.map_err(DmaBufError::Sync)?;
        Ok(())
    }

    /// Read the mapping inside a sync bracket.
    pub fn read<R>(&self, f: impl FnOnce(&Shared) -> R) -> Result<R, DmaBufError> {
        self.sync(DMA_BUF_SYNC_START)?;
        let shared = Shared {
            ptr: self.map.as_mut_ptr(),
            len: self.map.len(),
            _map: PhantomData,
        };
        let r = f(&shared);
        self.sync(DMA_BUF_SYNC_END)?;
        Ok(r)
    }

    /// Write the mapping inside a sync bracket.
    pub fn write<R>(&mut self, f: impl FnOnce(&mut Shared) -> R) -> Result<R, DmaBufError> {
        assert!(self.writable, "write to a read-only dmabuf mapping");
        self.sync(DMA_BUF_SYNC_START)?;
        let mut shared = Shared {
            ptr: self.map.as_mut_ptr(),
            len: self.map.len(),
            _map: PhantomData,
        };
        let r = f(&mut shared);
        self.sync(DMA_BUF_SYNC_END)?;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use std::{fs, path::Path};

    /// #20 defect 12: a Rust slice promises that its bytes do not change while it lives, and a
    /// mapped dmabuf is written by other processes (the client fills OUTPUT buffers, GPUs read
    /// and write CAPTURE ones) whenever they like. So no slice is ever made over a mapping:
    /// every access is a copy through a raw pointer ([`super::Shared`]). This fails on a
    /// slice made from raw parts anywhere in the daemon but over memory FFmpeg owns (a
    /// packet's side data, `ffmpeg.rs`).
    #[test]
    fn no_slice_is_made_over_shared_memory() {
        // (spelled in two pieces, so that this file does not count itself)
        let needle = concat!("from_raw", "_parts");
        let mut found = Vec::new();
        let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
        while let Some(dir) = dirs.pop() {
            for entry in fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let text = fs::read_to_string(&path).unwrap();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                found.extend(text.matches(needle).map(|_| name.clone()));
            }
        }
        found.sort();
        assert_eq!(found, ["ffmpeg.rs"], "slices made from raw parts, by file");
    }
}
