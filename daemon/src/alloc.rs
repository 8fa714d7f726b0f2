//! Where CAPTURE buffers come from. In order of preference:
//!
//! 1. GBM on a DRM device: a linear buffer the GPU can import as it is (on a Pi 5, vc4/v3d);
//!    render nodes first, then primary nodes (Mesa falls back to dumb buffers there, as it does
//!    on vgem/vkms).
//! 2. A dma-heap (`/dev/dma_heap/system`, or CMA on a Pi).
//! 3. udmabuf: a sealed memfd turned into a dmabuf (`/dev/udmabuf`; Debian's arm64 kernels have
//!    no dma-heaps but have this).
//!
//! The choice is made once, at start, by allocating a test buffer from each candidate.

use std::{
    fs::{File, OpenOptions},
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    path::{Path, PathBuf},
};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum AllocError {
    #[error("{backend}: {source}")]
    Io {
        backend: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{backend}: {detail}")]
    Other {
        backend: &'static str,
        detail: String,
    },
    #[error("no allocator works here: {0}")]
    NoneWorks(String),
}

fn io(backend: &'static str) -> impl FnOnce(std::io::Error) -> AllocError {
    move |source| AllocError::Io { backend, source }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Auto,
    Gbm,
    DmaHeap,
    Udmabuf,
}

/// A DRM device file, as the drm and gbm crates want it.
pub struct Card(File);

impl std::os::fd::AsFd for Card {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.0.as_fd()
    }
}
impl drm::Device for Card {}
impl drm::control::Device for Card {}

pub enum Allocator {
    Gbm {
        device: gbm::Device<Card>,
        path: PathBuf,
    },
    DmaHeap {
        heap: File,
        path: PathBuf,
    },
    Udmabuf {
        dev: File,
    },
}

/// `struct dma_heap_allocation_data` (linux/dma-heap.h)
#[repr(C)]
struct DmaHeapAllocationData {
    len: u64,
    fd: u32,
    fd_flags: u32,
    heap_flags: u64,
}
nix::ioctl_readwrite!(dma_heap_ioctl_alloc, b'H', 0, DmaHeapAllocationData);

/// `struct udmabuf_create` (linux/udmabuf.h)
#[repr(C)]
struct UdmabufCreate {
    memfd: u32,
    flags: u32,
    offset: u64,
    size: u64,
}
const UDMABUF: &str = "/dev/udmabuf";
const UDMABUF_FLAGS_CLOEXEC: u32 = 1;
nix::ioctl_write_ptr!(udmabuf_ioctl_create, b'u', 0x42, UdmabufCreate);

/// The running system's page size (16 KiB on a Raspberry Pi 5): udmabuf sizes and memfd
/// offsets are whole pages. POSIX requires sysconf to know it.
fn page_size() -> u64 {
    let size = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .expect("sysconf(_SC_PAGESIZE) always answers on Linux");
    size as u64
}

fn round_up(n: u64, to: u64) -> u64 {
    n.div_ceil(to) * to
}

fn drm_nodes() -> Vec<PathBuf> {
    let mut render = Vec::new();
    let mut card = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/dev/dri") {
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("renderD") {
                render.push(entry.path());
            } else if name.starts_with("card") {
                card.push(entry.path());
            }
        }
    }
    render.sort();
    card.sort();
    render.extend(card);
    render
}

/// The CAPTURE allocator in use: chosen at start or, when nothing worked then, at a later
/// allocation (a GPU driver may load after the daemon starts).
pub struct Allocation {
    kind: Kind,
    drm_device: Option<PathBuf>,
    found: Option<Allocator>,
    /// Why nothing was found, last time it was tried.
    failed: Option<String>,
}

impl Allocation {
    /// Nothing is probed until the first `get`.
    pub fn new(kind: Kind, drm_device: Option<PathBuf>) -> Allocation {
        Allocation {
            kind,
            drm_device,
            found: None,
            failed: None,
        }
    }

    /// The allocator, probed now if none was found yet.
    pub fn get(&mut self) -> Result<&Allocator, AllocError> {
        if self.found.is_none() {
            match Allocator::probe(self.kind, self.drm_device.as_deref()) {
                Ok((a, skipped)) => {
                    tracing::info!(
                        allocator = a.name(),
                        skipped = skipped.join("; "),
                        "CAPTURE buffers from {}",
                        a.describe()
                    );
                    self.found = Some(a);
                    self.failed = None;
                }
                Err(e) => {
                    self.failed = Some(e.to_string());
                    return Err(e);
                }
            }
        }
        Ok(self.found.as_ref().expect("found above"))
    }

    /// What `daedalus-v4l2ctl status` shows.
    pub fn describe(&self) -> String {
        match (&self.found, &self.failed) {
            (Some(a), _) => a.describe(),
            (None, Some(e)) => format!("none ({e})"),
            (None, None) => "not chosen yet".into(),
        }
    }
}

impl Allocator {
    /// Pick the first allocator that can actually allocate and export a buffer. Returns it with
    /// why each one before it was passed over.
    pub fn probe(
        kind: Kind,
        drm_device: Option<&Path>,
    ) -> Result<(Allocator, Vec<String>), AllocError> {
        // Each candidate: the device it would use, and how to open it there.
        type Open = fn(&Path) -> Result<Allocator, AllocError>;
        let mut candidates: Vec<(PathBuf, Open)> = Vec::new();
        if matches!(kind, Kind::Auto | Kind::Gbm) {
            let nodes = match drm_device {
                Some(p) => vec![p.to_path_buf()],
                None => drm_nodes(),
            };
            candidates.extend(nodes.into_iter().map(|node| (node, Allocator::gbm as Open)));
        }
        if matches!(kind, Kind::Auto | Kind::DmaHeap) {
            for heap in ["/dev/dma_heap/system", "/dev/dma_heap/linux,cma"] {
                candidates.push((heap.into(), Allocator::dma_heap));
            }
        }
        if matches!(kind, Kind::Auto | Kind::Udmabuf) {
            candidates.push((UDMABUF.into(), Allocator::udmabuf));
        }
        let mut tried = Vec::new();
        for (path, open) in candidates {
            match open(&path).and_then(|a| a.check().map(|_| a)) {
                Ok(a) => return Ok((a, tried)),
                Err(e) => tried.push(format!("{}: {e}", path.display())),
            }
        }
        Err(AllocError::NoneWorks(tried.join("; ")))
    }

    fn gbm(path: &Path) -> Result<Allocator, AllocError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(io("gbm"))?;
        let card = Card(file);
        // Opening a primary node (/dev/dri/cardN) that nobody holds makes the opener DRM
        // master, which a compositor starting later could then not become: give it up at
        // once. (Not master, or a render node: an error, and nothing to give up.) Dumb
        // buffers and PRIME export need no master.
        let _ = drm::Device::release_master_lock(&card);
        let device = gbm::Device::new(card).map_err(io("gbm"))?;
        Ok(Allocator::Gbm {
            device,
            path: path.to_path_buf(),
        })
    }

    fn dma_heap(path: &Path) -> Result<Allocator, AllocError> {
        let heap = OpenOptions::new()
            .read(true)
            .open(path)
            .map_err(io("dma-heap"))?;
        Ok(Allocator::DmaHeap {
            heap,
            path: path.to_path_buf(),
        })
    }

    fn udmabuf(path: &Path) -> Result<Allocator, AllocError> {
        let dev = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(io("udmabuf"))?;
        Ok(Allocator::Udmabuf { dev })
    }

    /// Allocate a small buffer and map it for writing, as decode jobs will.
    fn check(&self) -> Result<(), AllocError> {
        let fd = self.alloc(64 * 1024, 256)?;
        crate::dmabuf::MappedDmaBuf::map(fd, 64 * 1024, true)
            .map(drop)
            .map_err(|e| AllocError::Other {
                backend: self.name(),
                detail: e.to_string(),
            })
    }

    /// A description for logs: which allocator, on which device.
    pub fn describe(&self) -> String {
        match self {
            Allocator::Gbm { device, path } => {
                format!(
                    "gbm on {} (backend {})",
                    path.display(),
                    device.backend_name()
                )
            }
            Allocator::DmaHeap { path, .. } => format!("dma-heap {}", path.display()),
            Allocator::Udmabuf { .. } => format!("udmabuf ({UDMABUF})"),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Allocator::Gbm { .. } => "gbm",
            Allocator::DmaHeap { .. } => "dma-heap",
            Allocator::Udmabuf { .. } => "udmabuf",
        }
    }

    /// A linear dmabuf of at least `size` bytes. `pitch` is the row pitch the buffer will be
    /// used with (a hint for GBM, which allocates rows of single bytes: format R8).
    pub fn alloc(&self, size: u64, pitch: u32) -> Result<OwnedFd, AllocError> {
        let size = round_up(size.max(1), page_size());
        match self {
            Allocator::Gbm { device, .. } => {
                let width = pitch.max(64);
                let height = u32::try_from(size.div_ceil(u64::from(width))).map_err(|_| {
                    AllocError::Other {
                        backend: "gbm",
                        detail: "too large".into(),
                    }
                })?;
                let bo = device
                    .create_buffer_object::<()>(
                        width,
                        height,
                        gbm::Format::R8,
                        gbm::BufferObjectFlags::LINEAR,
                    )
                    .map_err(io("gbm"))?;
                // Mesa's gbm_bo_get_fd() exports read-only; we write the frames, so export the
                // handle ourselves, read-write.
                use drm::control::Device as _;
                device
                    .buffer_to_prime_fd(drm::buffer::Buffer::handle(&bo), drm::CLOEXEC | drm::RDWR)
                    .map_err(io("gbm"))
            }
            Allocator::DmaHeap { heap, .. } => {
                let mut data = DmaHeapAllocationData {
                    len: size,
                    fd: 0,
                    fd_flags: (libc::O_RDWR | libc::O_CLOEXEC) as u32,
                    heap_flags: 0,
                };
                // SAFETY: DMA_HEAP_IOCTL_ALLOC reads and writes one struct
                // dma_heap_allocation_data through the pointer, which is valid for the call.
                unsafe { dma_heap_ioctl_alloc(heap.as_raw_fd(), &mut data) }
                    .map_err(|e| io("dma-heap")(e.into()))?;
                // SAFETY: the ioctl returned a new dmabuf fd that nothing else owns.
                Ok(unsafe { OwnedFd::from_raw_fd(data.fd as i32) })
            }
            Allocator::Udmabuf { dev } => {
                use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
                let memfd = memfd_create(
                    c"daedalus-frame",
                    MemFdCreateFlag::MFD_ALLOW_SEALING | MemFdCreateFlag::MFD_CLOEXEC,
                )
                .map_err(|e| io("udmabuf")(e.into()))?;
                nix::unistd::ftruncate(&memfd, size as i64).map_err(|e| io("udmabuf")(e.into()))?;
                nix::fcntl::fcntl(
                    memfd.as_raw_fd(),
                    nix::fcntl::FcntlArg::F_ADD_SEALS(nix::fcntl::SealFlag::F_SEAL_SHRINK),
                )
                .map_err(|e| io("udmabuf")(e.into()))?;
                let create = UdmabufCreate {
                    memfd: memfd.as_raw_fd() as u32,
                    flags: UDMABUF_FLAGS_CLOEXEC,
                    offset: 0,
                    size,
                };
                // SAFETY: UDMABUF_CREATE reads one struct udmabuf_create through the pointer,
                // valid for the call, and returns a new dmabuf fd.
                let fd = unsafe { udmabuf_ioctl_create(dev.as_raw_fd(), &create) }
                    .map_err(|e| io("udmabuf")(e.into()))?;
                // SAFETY: the ioctl returned a new dmabuf fd that nothing else owns.
                Ok(unsafe { OwnedFd::from_raw_fd(fd) })
            }
        }
    }
}
