//! CPU access to a dmabuf: a shared mapping bracketed by `DMA_BUF_IOCTL_SYNC`, so the writes
//! are visible to whoever imports the buffer next (a GPU through EGL, a client's mmap).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

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
    pub fn read<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Result<R, DmaBufError> {
        self.sync(DMA_BUF_SYNC_START)?;
        // SAFETY: the mapping is `len()` bytes long and lives as long as `self`; the slice
        // does not outlive this call. Other processes may write the buffer concurrently, which
        // can only change the bytes we read, never make the access itself invalid.
        let r = f(unsafe { std::slice::from_raw_parts(self.map.as_ptr(), self.map.len()) });
        self.sync(DMA_BUF_SYNC_END)?;
        Ok(r)
    }

    /// Write the mapping inside a sync bracket.
    pub fn write<R>(&mut self, f: impl FnOnce(&mut [u8]) -> R) -> Result<R, DmaBufError> {
        assert!(self.writable, "write to a read-only dmabuf mapping");
        self.sync(DMA_BUF_SYNC_START)?;
        // SAFETY: the mapping is writable, `len()` bytes long and lives as long as `self`, and
        // `&mut self` makes this the only slice of it in the daemon while `f` runs.
        let r = f(unsafe { std::slice::from_raw_parts_mut(self.map.as_mut_ptr(), self.map.len()) });
        self.sync(DMA_BUF_SYNC_END)?;
        Ok(r)
    }
}
