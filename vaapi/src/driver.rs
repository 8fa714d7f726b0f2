// SPDX-License-Identifier: GPL-2.0
//! The driver's objects (configs, surfaces, contexts, buffers, images) and what libva's entry
//! points do with them, in safe Rust; `ffi::va` turns libva's calls into calls of `Driver`.
//!
//! The model: a VA context is one open file of our stateless node (one stream for the kernel
//! and the daemon); a VA surface becomes one CAPTURE buffer of the context that first decodes
//! into it (`VIDIOC_CREATE_BUFS`, memory the daemon allocated), so exporting it hands out that
//! very buffer (`VIDIOC_EXPBUF`). A picture (`vaBeginPicture`..`vaEndPicture`) becomes one
//! media request: the codec's stateless controls, the slice data in an OUTPUT buffer, and the
//! target surface's CAPTURE buffer; `vaSyncSurface` waits for that request.
//!
//! Locking: `Driver::state` guards the object tables; each context has a lock of its own, taken
//! after (never while waiting for) the state lock, so that one context waiting for its
//! decode does not hold up the others.

use std::{
    collections::HashMap,
    fs,
    os::fd::{AsFd, OwnedFd},
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use thiserror::Error;

use crate::{
    av1,
    codec::{Built, Codec, Picture},
    ffi::{
        sys::*,
        v4l2::{Format, Mapping, Media, Queue, Request, Video},
        words_as_bytes, words_as_bytes_mut,
    },
};

/// `DAEDALUS_VA_DEBUG=1`: trace each picture's way through the node on stderr.
pub static DEBUG: std::sync::LazyLock<bool> =
    std::sync::LazyLock::new(|| std::env::var_os("DAEDALUS_VA_DEBUG").is_some_and(|v| v != "0"));

macro_rules! trace {
    ($($arg:tt)*) => {
        if *DEBUG {
            eprintln!("daedalus-va: {}", format_args!($($arg)*));
        }
    };
}

/// A failed call: the status libva returns, and what went wrong (logged through libva).
#[derive(Debug, Error)]
#[error("{msg}")]
pub struct VaError {
    pub status: VAStatus,
    pub msg: String,
    /// An answer clients expect and cope with (not logged as an error).
    pub quiet: bool,
}

pub type VaResult<T> = Result<T, VaError>;

pub fn err<T>(status: u32, msg: impl Into<String>) -> VaResult<T> {
    Err(VaError {
        status: status as VAStatus,
        msg: msg.into(),
        quiet: false,
    })
}

fn io_err(what: &str) -> impl FnOnce(std::io::Error) -> VaError + '_ {
    move |e| VaError {
        status: if e.raw_os_error() == Some(libc::ETIMEDOUT) {
            VA_STATUS_ERROR_TIMEDOUT
        } else {
            VA_STATUS_ERROR_OPERATION_FAILED
        } as VAStatus,
        msg: format!("{what}: {e}"),
        quiet: false,
    }
}

/// Name of our stateless node's video device (and of its driver).
const NODE_NAME: &str = "daedalus-v4l2";
/// How long a picture may take: the kernel fails a job its daemon does not answer within its
/// own timeout (seconds), so this is only a backstop.
const DECODE_TIMEOUT: Duration = Duration::from_secs(20);
/// OUTPUT buffers per context: pictures in flight at once.
const OUTPUT_BUFFERS: u32 = 4;
/// The node's size limits (`VIDIOC_ENUM_FRAMESIZES` of its coded formats).
pub const MAX_WIDTH: u32 = 4096;
pub const MAX_HEIGHT: u32 = 2304;
pub const MIN_SIZE: u32 = 16;

/// The profiles offered, in `vaQueryConfigProfiles` order.
pub const PROFILES: [VAProfile; 6] = [
    VAProfileH264ConstrainedBaseline,
    VAProfileH264Main,
    VAProfileH264High,
    VAProfileVP9Profile0,
    VAProfileVP9Profile2,
    VAProfileAV1Profile0,
];

/// The codec of a profile, and its RT formats (4:2:0 in 8 bits, 10 bits, or either: AV1's
/// main profile has both).
fn profile_codec(profile: VAProfile) -> Option<(Codec, u32)> {
    Some(match profile {
        VAProfileH264ConstrainedBaseline | VAProfileH264Main | VAProfileH264High => {
            (Codec::H264, VA_RT_FORMAT_YUV420)
        }
        VAProfileVP9Profile0 => (Codec::Vp9, VA_RT_FORMAT_YUV420),
        VAProfileVP9Profile2 => (Codec::Vp9, VA_RT_FORMAT_YUV420_10),
        VAProfileAV1Profile0 => (Codec::Av1, VA_RT_FORMAT_YUV420 | VA_RT_FORMAT_YUV420_10),
        _ => return None,
    })
}

/// The pixel formats of a set of RT formats.
fn rt_fourccs(rt_formats: u32) -> Vec<u32> {
    [VA_RT_FORMAT_YUV420, VA_RT_FORMAT_YUV420_10]
        .into_iter()
        .filter(|f| rt_formats & f != 0)
        .filter_map(rt_fourcc)
        .collect()
}

fn rt_fourcc(rt_format: u32) -> Option<u32> {
    match rt_format {
        VA_RT_FORMAT_YUV420 => Some(VA_FOURCC_NV12),
        VA_RT_FORMAT_YUV420_10 => Some(VA_FOURCC_P010),
        _ => None,
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub profile: VAProfile,
    pub entrypoint: VAEntrypoint,
    pub rt_format: u32,
}

/// Where a surface's picture lives once it has a home.
#[derive(Clone)]
struct Binding {
    ctx: Arc<Mutex<Context>>,
    index: u32,
}

struct Surface {
    width: u32,
    height: u32,
    fourcc: u32,
    binding: Option<Binding>,
}

enum BufData {
    /// Client data (8-byte aligned: parameter structs are read in place by the client).
    Owned(Vec<u64>, usize),
    /// A derived image's pixels: the surface's CAPTURE buffer.
    Derived(Binding),
}

struct Buffer {
    kind: VABufferType,
    elem_size: u32,
    count: u32,
    data: BufData,
}

impl Buffer {
    fn bytes(&self) -> &[u8] {
        match &self.data {
            BufData::Owned(words, len) => &words_as_bytes(words)[..*len],
            BufData::Derived(_) => &[],
        }
    }
}

/// A buffer's contents as `vaRenderPicture` hands them on.
#[derive(Debug, Clone, Copy)]
pub struct RenderBuf<'a> {
    pub kind: VABufferType,
    pub elem_size: usize,
    pub count: usize,
    pub data: &'a [u8],
}

/// An image's size and layout (two planes: Y, then interleaved UV at the same pitch).
struct Geometry {
    width: u32,
    height: u32,
    pitch: u32,
    uv_offset: u32,
    size: u32,
}

#[derive(Default)]
struct State {
    next_id: u32,
    configs: HashMap<VAConfigID, Config>,
    surfaces: HashMap<VASurfaceID, Surface>,
    contexts: HashMap<VAContextID, Arc<Mutex<Context>>>,
    /// Contexts in creation order, newest last (surfaces created without one go to the newest).
    context_order: Vec<VAContextID>,
    /// Contexts that only hold buffers of surfaces used before any context of their format
    /// and size existed, by (fourcc, width, height).
    standby: HashMap<(u32, u32, u32), Arc<Mutex<Context>>>,
    buffers: HashMap<VABufferID, Buffer>,
    images: HashMap<VAImageID, VAImage>,
}

impl State {
    fn id(&mut self) -> u32 {
        self.next_id = self.next_id.wrapping_add(1).max(1);
        if self.next_id == VA_INVALID_ID {
            self.next_id = 1;
        }
        self.next_id
    }
}

/// One VA display's driver.
pub struct Driver {
    video: PathBuf,
    media: PathBuf,
    state: Mutex<State>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Find our stateless node: `/dev/video-dec0` and `/dev/media-dec0`, or else (no udev rule)
/// the video device named `daedalus-v4l2` and the media device of the same parent device.
fn find_node() -> VaResult<(PathBuf, PathBuf)> {
    // the names our udev rule gives them (and nothing under /sys to read: sandboxes such as
    // Firefox's media process let device nodes through more readily than sysfs)
    let (video, media) = (Path::new("/dev/video-dec0"), Path::new("/dev/media-dec0"));
    if video.exists() && media.exists() {
        return Ok((video.to_path_buf(), media.to_path_buf()));
    }
    let class = Path::new("/sys/class/video4linux");
    let mut video = None;
    for entry in fs::read_dir(class).into_iter().flatten().flatten() {
        let name = fs::read_to_string(entry.path().join("name")).unwrap_or_default();
        if name.trim() == NODE_NAME {
            video = Some(entry);
            break;
        }
    }
    let Some(video) = video else {
        return err(
            VA_STATUS_ERROR_UNKNOWN,
            "no daedalus-v4l2 decoder: is the daedalus_v4l2 module loaded?",
        );
    };
    let parent = fs::canonicalize(video.path().join("device")).ok();
    let mut media = None;
    for entry in fs::read_dir("/sys/bus/media/devices")
        .into_iter()
        .flatten()
        .flatten()
    {
        // /sys/bus/media/devices/mediaN links into its device's directory
        let dir = fs::canonicalize(entry.path()).ok();
        if dir.as_deref().and_then(Path::parent) == parent.as_deref() {
            media = Some(Path::new("/dev").join(entry.file_name()));
            break;
        }
    }
    let Some(media) = media else {
        return err(VA_STATUS_ERROR_UNKNOWN, "the decoder has no media device");
    };
    Ok((Path::new("/dev").join(video.file_name()), media))
}

impl Driver {
    pub fn open() -> VaResult<Driver> {
        let (video, media) = find_node()?;
        // check now that this user may use the node, so vainfo says so at once
        let dev = Video::open(&video).map_err(io_err(&format!("{}", video.display())))?;
        let cap = dev.querycap().map_err(io_err("VIDIOC_QUERYCAP"))?;
        if cap.driver != NODE_NAME {
            return err(
                VA_STATUS_ERROR_UNKNOWN,
                format!("{} is not ours", video.display()),
            );
        }
        let m = Media::open(&media).map_err(io_err(&format!("{}", media.display())))?;
        m.driver().map_err(io_err("MEDIA_IOC_DEVICE_INFO"))?;
        Ok(Driver {
            video,
            media,
            state: Mutex::default(),
        })
    }

    pub fn vendor(&self) -> String {
        format!(
            "daedalus-v4l2 VA-API driver {} over {}",
            env!("CARGO_PKG_VERSION"),
            self.video.display()
        )
    }

    pub fn entrypoints(&self, profile: VAProfile) -> VaResult<Vec<VAEntrypoint>> {
        match profile_codec(profile) {
            Some(_) => Ok(vec![VAEntrypointVLD]),
            None => err(
                VA_STATUS_ERROR_UNSUPPORTED_PROFILE,
                format!("profile {profile}"),
            ),
        }
    }

    /// The profile's RT formats, if we decode it at that entrypoint.
    fn check(profile: VAProfile, entrypoint: VAEntrypoint) -> VaResult<u32> {
        let Some((_, format)) = profile_codec(profile) else {
            return err(
                VA_STATUS_ERROR_UNSUPPORTED_PROFILE,
                format!("profile {profile} is not decoded"),
            );
        };
        if entrypoint != VAEntrypointVLD {
            return err(
                VA_STATUS_ERROR_UNSUPPORTED_ENTRYPOINT,
                format!("entrypoint {entrypoint}: only decoding (VLD)"),
            );
        }
        Ok(format)
    }

    /// `vaGetConfigAttributes`: fill in what we know, mark the rest unsupported.
    pub fn config_attributes(
        &self,
        profile: VAProfile,
        entrypoint: VAEntrypoint,
        attribs: &mut [VAConfigAttrib],
    ) -> VaResult<()> {
        let format = Self::check(profile, entrypoint)?;
        for a in attribs {
            a.value = match a.type_ {
                VAConfigAttribRTFormat => format,
                VAConfigAttribDecSliceMode => VA_DEC_SLICE_MODE_NORMAL,
                VAConfigAttribMaxPictureWidth => MAX_WIDTH,
                VAConfigAttribMaxPictureHeight => MAX_HEIGHT,
                _ => VA_ATTRIB_NOT_SUPPORTED,
            };
        }
        Ok(())
    }

    pub fn create_config(
        &self,
        profile: VAProfile,
        entrypoint: VAEntrypoint,
        attribs: &[VAConfigAttrib],
    ) -> VaResult<VAConfigID> {
        let mut rt_format = Self::check(profile, entrypoint)?;
        for a in attribs {
            match a.type_ {
                VAConfigAttribRTFormat if a.value & rt_format == 0 => {
                    return err(
                        VA_STATUS_ERROR_UNSUPPORTED_RT_FORMAT,
                        format!("RT format {:#x} for profile {profile}", a.value),
                    );
                }
                // the client's choice among the profile's formats (8 bits if it names both)
                VAConfigAttribRTFormat => {
                    let both = a.value & rt_format;
                    rt_format = both & VA_RT_FORMAT_YUV420;
                    if rt_format == 0 {
                        rt_format = both;
                    }
                }
                VAConfigAttribDecSliceMode if a.value != VA_DEC_SLICE_MODE_NORMAL => {
                    return err(VA_STATUS_ERROR_INVALID_VALUE, "only normal slice mode");
                }
                _ => {}
            }
        }
        let mut st = lock(&self.state);
        let id = st.id();
        st.configs.insert(
            id,
            Config {
                profile,
                entrypoint,
                rt_format,
            },
        );
        Ok(id)
    }

    pub fn destroy_config(&self, id: VAConfigID) -> VaResult<()> {
        match lock(&self.state).configs.remove(&id) {
            Some(_) => Ok(()),
            None => err(VA_STATUS_ERROR_INVALID_CONFIG, format!("config {id}")),
        }
    }

    pub fn query_config(&self, id: VAConfigID) -> VaResult<(Config, Vec<VAConfigAttrib>)> {
        let st = lock(&self.state);
        let Some(c) = st.configs.get(&id) else {
            return err(VA_STATUS_ERROR_INVALID_CONFIG, format!("config {id}"));
        };
        Ok((
            c.clone(),
            vec![VAConfigAttrib {
                type_: VAConfigAttribRTFormat,
                value: c.rt_format,
            }],
        ))
    }

    /// `vaQuerySurfaceAttributes`: pixel formats, sizes, memory types.
    pub fn surface_attributes(
        &self,
        config: VAConfigID,
    ) -> VaResult<Vec<(VASurfaceAttribType, u32, i32)>> {
        let st = lock(&self.state);
        let Some(c) = st.configs.get(&config) else {
            return err(VA_STATUS_ERROR_INVALID_CONFIG, format!("config {config}"));
        };
        let get = VA_SURFACE_ATTRIB_GETTABLE;
        let both = VA_SURFACE_ATTRIB_GETTABLE | VA_SURFACE_ATTRIB_SETTABLE;
        let mut attribs: Vec<_> = rt_fourccs(c.rt_format)
            .into_iter()
            .map(|fourcc| (VASurfaceAttribPixelFormat, both, fourcc as i32))
            .collect();
        attribs.extend([
            (VASurfaceAttribMinWidth, get, MIN_SIZE as i32),
            (VASurfaceAttribMinHeight, get, MIN_SIZE as i32),
            (VASurfaceAttribMaxWidth, get, MAX_WIDTH as i32),
            (VASurfaceAttribMaxHeight, get, MAX_HEIGHT as i32),
            (
                VASurfaceAttribMemoryType,
                both,
                (VA_SURFACE_ATTRIB_MEM_TYPE_VA | VA_SURFACE_ATTRIB_MEM_TYPE_DRM_PRIME_2) as i32,
            ),
        ]);
        Ok(attribs)
    }

    /// `vaCreateSurfaces2`: `fourcc` is the client's pixel format attribute, if any.
    pub fn create_surfaces(
        &self,
        rt_format: u32,
        width: u32,
        height: u32,
        count: usize,
        fourcc: Option<u32>,
        memory_type: Option<u32>,
    ) -> VaResult<Vec<VASurfaceID>> {
        let Some(natural) = rt_fourcc(rt_format) else {
            return err(
                VA_STATUS_ERROR_UNSUPPORTED_RT_FORMAT,
                format!("RT format {rt_format:#x}: only 4:2:0 in 8 or 10 bits"),
            );
        };
        let fourcc = fourcc.unwrap_or(natural);
        if fourcc != natural {
            return err(
                VA_STATUS_ERROR_INVALID_IMAGE_FORMAT,
                format!("pixel format {fourcc:#x} for RT format {rt_format:#x}"),
            );
        }
        if let Some(m) = memory_type {
            if m & (VA_SURFACE_ATTRIB_MEM_TYPE_VA | VA_SURFACE_ATTRIB_MEM_TYPE_DRM_PRIME_2) == 0 {
                return err(VA_STATUS_ERROR_UNSUPPORTED_MEMORY_TYPE, format!("memory type {m:#x}: surfaces are the decoder's own buffers (importing is not supported)"));
            }
        }
        if !(MIN_SIZE..=MAX_WIDTH).contains(&width) || !(MIN_SIZE..=MAX_HEIGHT).contains(&height) {
            return err(VA_STATUS_ERROR_RESOLUTION_NOT_SUPPORTED, format!("{width}x{height} (the decoder takes {MIN_SIZE}x{MIN_SIZE} to {MAX_WIDTH}x{MAX_HEIGHT})"));
        }
        let mut st = lock(&self.state);
        Ok((0..count)
            .map(|_| {
                let id = st.id();
                st.surfaces.insert(
                    id,
                    Surface {
                        width,
                        height,
                        fourcc,
                        binding: None,
                    },
                );
                id
            })
            .collect())
    }

    pub fn destroy_surfaces(&self, ids: &[VASurfaceID]) -> VaResult<()> {
        let mut st = lock(&self.state);
        for id in ids {
            let Some(s) = st.surfaces.remove(id) else {
                return err(VA_STATUS_ERROR_INVALID_SURFACE, format!("surface {id}"));
            };
            if let Some(b) = s.binding {
                lock(&b.ctx).release(b.index);
            }
        }
        st.standby.retain(|_, ctx| !lock(ctx).captures.is_empty());
        Ok(())
    }

    pub fn create_context(
        &self,
        config: VAConfigID,
        width: u32,
        height: u32,
        targets: &[VASurfaceID],
    ) -> VaResult<VAContextID> {
        let mut st = lock(&self.state);
        let Some(c) = st.configs.get(&config).cloned() else {
            return err(VA_STATUS_ERROR_INVALID_CONFIG, format!("config {config}"));
        };
        let (codec, _) = profile_codec(c.profile).expect("configs have our profiles");
        // a config of either depth (AV1's, the client naming none) decodes into surfaces of
        // the render targets' format
        let fourccs = rt_fourccs(c.rt_format);
        let named = targets
            .first()
            .and_then(|t| st.surfaces.get(t))
            .map(|s| s.fourcc)
            .filter(|f| fourccs.contains(f));
        let mut ctx = Context::new(
            &self.video,
            &self.media,
            codec,
            c.profile,
            named.unwrap_or(fourccs[0]),
            width,
            height,
        )?;
        // (FFmpeg's dynamic surface pools make the context before any surface)
        ctx.either_depth = named.is_none() && fourccs.len() > 1;
        let ctx = Arc::new(Mutex::new(ctx));
        let id = st.id();
        for t in targets {
            if let Err(e) = Self::bind(&mut st, *t, &ctx) {
                // the surfaces bound so far may move on to the client's next context
                lock(&ctx).closed = true;
                return Err(e);
            }
        }
        st.contexts.insert(id, ctx);
        st.context_order.push(id);
        Ok(id)
    }

    pub fn destroy_context(&self, id: VAContextID) -> VaResult<()> {
        let mut st = lock(&self.state);
        st.context_order.retain(|c| *c != id);
        match st.contexts.remove(&id) {
            // the context's file stays open while surfaces still live in its buffers
            Some(ctx) => {
                lock(&ctx).closed = true;
                Ok(())
            }
            None => err(VA_STATUS_ERROR_INVALID_CONTEXT, format!("context {id}")),
        }
    }

    /// Give `surface` a CAPTURE buffer in `ctx` (if it has none yet).
    fn bind(st: &mut State, surface: VASurfaceID, ctx: &Arc<Mutex<Context>>) -> VaResult<Binding> {
        let Some(s) = st.surfaces.get_mut(&surface) else {
            return err(
                VA_STATUS_ERROR_INVALID_SURFACE,
                format!("surface {surface}"),
            );
        };
        if let Some(b) = &s.binding {
            if Arc::ptr_eq(&b.ctx, ctx) {
                return Ok(b.clone());
            }
            // A surface of a destroyed (or standby) context moves to this one: FFmpeg keeps
            // its surfaces when it makes a new context for a new SPS of the same size. It gets
            // a new buffer; dmabufs exported from the old one keep the old picture.
            let mut old = lock(&b.ctx);
            if !old.closed {
                return err(
                    VA_STATUS_ERROR_INVALID_SURFACE,
                    format!("surface {surface} belongs to another context"),
                );
            }
            old.release(b.index);
            drop(old);
            s.binding = None;
        }
        let index = lock(ctx).add_capture(surface, s.width, s.height, s.fourcc)?;
        let b = Binding {
            ctx: ctx.clone(),
            index,
        };
        s.binding = Some(b.clone());
        Ok(b)
    }

    /// The surface's binding; a surface without one joins the newest context of its format
    /// (clients such as GStreamer create and export surfaces after the context, without
    /// naming them as its render targets).
    fn binding(&self, surface: VASurfaceID) -> VaResult<Binding> {
        let mut st = lock(&self.state);
        let Some(s) = st.surfaces.get(&surface) else {
            return err(
                VA_STATUS_ERROR_INVALID_SURFACE,
                format!("surface {surface}"),
            );
        };
        if let Some(b) = &s.binding {
            return Ok(b.clone());
        }
        let (fourcc, width, height) = (s.fourcc, s.width, s.height);
        let fits = |ctx: &Arc<Mutex<Context>>| {
            let c = lock(ctx);
            let f = c.capture_format();
            c.capture_fourcc() == fourcc && width <= f.width && height <= f.height
        };
        let newest = st.context_order.iter().rev().find_map(|id| {
            let ctx = st.contexts.get(id)?;
            fits(ctx).then(|| ctx.clone())
        });
        let ctx = match newest {
            Some(ctx) => ctx,
            // No context yet: a standby one of this format and size gives the surface its
            // buffer (GStreamer exports a fresh surface to learn the dmabuf layout). Such a
            // surface is not decoded into later: a context's pictures need their own.
            None => match st.standby.get(&(fourcc, width, height)) {
                Some(ctx) => ctx.clone(),
                None => {
                    let (profile, depth) = if fourcc == VA_FOURCC_P010 {
                        (VAProfileVP9Profile2, VA_FOURCC_P010)
                    } else {
                        (VAProfileVP9Profile0, VA_FOURCC_NV12)
                    };
                    let mut c = Context::new(
                        &self.video,
                        &self.media,
                        Codec::Vp9,
                        profile,
                        depth,
                        width,
                        height,
                    )?;
                    c.closed = true;
                    let ctx = Arc::new(Mutex::new(c));
                    st.standby.insert((fourcc, width, height), ctx.clone());
                    ctx
                }
            },
        };
        Self::bind(&mut st, surface, &ctx)
    }

    pub fn create_buffer(
        &self,
        context: VAContextID,
        kind: VABufferType,
        elem_size: u32,
        count: u32,
        data: Option<&[u8]>,
    ) -> VaResult<VABufferID> {
        let mut st = lock(&self.state);
        if !st.contexts.contains_key(&context) {
            return err(
                VA_STATUS_ERROR_INVALID_CONTEXT,
                format!("context {context}"),
            );
        }
        let Some(len) = (elem_size as usize)
            .checked_mul(count as usize)
            .filter(|l| *l <= 256 << 20)
        else {
            return err(
                VA_STATUS_ERROR_ALLOCATION_FAILED,
                format!("{count} x {elem_size} bytes"),
            );
        };
        let mut words = vec![0u64; len.div_ceil(8)];
        if let Some(d) = data {
            let n = len.min(d.len());
            words_as_bytes_mut(&mut words)[..n].copy_from_slice(&d[..n]);
        }
        let id = st.id();
        st.buffers.insert(
            id,
            Buffer {
                kind,
                elem_size,
                count,
                data: BufData::Owned(words, len),
            },
        );
        Ok(id)
    }

    pub fn buffer_set_num_elements(&self, id: VABufferID, count: u32) -> VaResult<()> {
        let mut st = lock(&self.state);
        let Some(b) = st.buffers.get_mut(&id) else {
            return err(VA_STATUS_ERROR_INVALID_BUFFER, format!("buffer {id}"));
        };
        match &b.data {
            BufData::Owned(_, len) if (b.elem_size as usize) * (count as usize) <= *len => {
                b.count = count;
                Ok(())
            }
            _ => err(
                VA_STATUS_ERROR_INVALID_PARAMETER,
                format!("buffer {id}: {count} elements"),
            ),
        }
    }

    pub fn buffer_info(&self, id: VABufferID) -> VaResult<(VABufferType, u32, u32)> {
        let st = lock(&self.state);
        match st.buffers.get(&id) {
            Some(b) => Ok((b.kind, b.elem_size, b.count)),
            None => err(VA_STATUS_ERROR_INVALID_BUFFER, format!("buffer {id}")),
        }
    }

    /// `vaMapBuffer`: the address of the buffer's contents.
    pub fn map_buffer(&self, id: VABufferID) -> VaResult<*mut u8> {
        let mut st = lock(&self.state);
        let Some(b) = st.buffers.get_mut(&id) else {
            return err(VA_STATUS_ERROR_INVALID_BUFFER, format!("buffer {id}"));
        };
        match &mut b.data {
            BufData::Owned(words, _) => Ok(words.as_mut_ptr().cast()),
            BufData::Derived(binding) => {
                let binding = binding.clone();
                drop(st);
                wait_capture(&binding)?;
                let mut ctx = lock(&binding.ctx);
                let addr = ctx.capture_map(binding.index).map(|m| m.as_ptr());
                addr
            }
        }
    }

    pub fn destroy_buffer(&self, id: VABufferID) -> VaResult<()> {
        match lock(&self.state).buffers.remove(&id) {
            Some(_) => Ok(()),
            None => err(VA_STATUS_ERROR_INVALID_BUFFER, format!("buffer {id}")),
        }
    }

    fn context(&self, id: VAContextID) -> VaResult<Arc<Mutex<Context>>> {
        match lock(&self.state).contexts.get(&id) {
            Some(c) => Ok(c.clone()),
            None => err(VA_STATUS_ERROR_INVALID_CONTEXT, format!("context {id}")),
        }
    }

    pub fn begin_picture(&self, context: VAContextID, target: VASurfaceID) -> VaResult<()> {
        let ctx = self.context(context)?;
        let binding = {
            let mut st = lock(&self.state);
            Self::bind(&mut st, target, &ctx)?
        };
        let mut c = lock(&ctx);
        c.begin(binding.index)
    }

    pub fn render_picture(&self, context: VAContextID, ids: &[VABufferID]) -> VaResult<()> {
        let ctx = self.context(context)?;
        // the buffers go into the picture (slice data into its bitstream) straight from the
        // client's copy: the state's lock is held meanwhile (then the context's: lock order)
        let st = lock(&self.state);
        let mut ctx = lock(&ctx);
        let Some(pic) = ctx.pic.as_mut() else {
            return err(
                VA_STATUS_ERROR_INVALID_PARAMETER,
                "vaRenderPicture outside a picture",
            );
        };
        for id in ids {
            let Some(b) = st.buffers.get(id) else {
                return err(VA_STATUS_ERROR_INVALID_BUFFER, format!("buffer {id}"));
            };
            pic.add(&RenderBuf {
                kind: b.kind,
                elem_size: b.elem_size as usize,
                count: b.count as usize,
                data: b.bytes(),
            })?;
        }
        Ok(())
    }

    pub fn end_picture(&self, context: VAContextID) -> VaResult<()> {
        let ctx = self.context(context)?;
        // AV1 with film grain: the picture, grain applied, goes to the surface that shows it
        let display = lock(&ctx).pic.as_ref().and_then(Picture::display);
        if let Some(surface) = display {
            let b = {
                let mut st = lock(&self.state);
                Self::bind(&mut st, surface, &ctx)?
            };
            let mut c = lock(&ctx);
            let _ = c.wait_capture(b.index);
            if let Some(pic) = c.pic.as_mut() {
                pic.set_capture_index(b.index);
            }
        }
        let mut c = lock(&ctx);
        c.end()
    }

    /// `vaSyncSurface` (`limit` None) and `vaSyncSurface2`: wait for the surface's picture, at
    /// most `limit` (and never longer than the backstop): `VA_STATUS_ERROR_TIMEDOUT` if it is
    /// still decoding then. The picture goes on decoding; the client may sync again.
    pub fn sync_surface(&self, surface: VASurfaceID, limit: Option<Duration>) -> VaResult<()> {
        let b = self.binding_if_any(surface)?;
        match b {
            Some(b) => wait_capture_within(&b, limit.unwrap_or(DECODE_TIMEOUT)),
            None => Ok(()),
        }
    }

    fn binding_if_any(&self, surface: VASurfaceID) -> VaResult<Option<Binding>> {
        match lock(&self.state).surfaces.get(&surface) {
            Some(s) => Ok(s.binding.clone()),
            None => err(
                VA_STATUS_ERROR_INVALID_SURFACE,
                format!("surface {surface}"),
            ),
        }
    }

    pub fn surface_status(&self, surface: VASurfaceID) -> VaResult<VASurfaceStatus> {
        Ok(match self.binding_if_any(surface)? {
            Some(b) if lock(&b.ctx).busy(b.index)? => VASurfaceRendering,
            _ => VASurfaceReady,
        })
    }

    pub fn image_formats() -> Vec<VAImageFormat> {
        [(VA_FOURCC_NV12, 12), (VA_FOURCC_P010, 24)]
            .into_iter()
            .map(|(fourcc, bpp)| VAImageFormat {
                fourcc,
                byte_order: VA_LSB_FIRST,
                bits_per_pixel: bpp,
                ..Default::default()
            })
            .collect()
    }

    fn new_image(
        st: &mut State,
        format: VAImageFormat,
        geometry: Geometry,
        data: BufData,
    ) -> VAImage {
        let Geometry {
            width,
            height,
            pitch,
            uv_offset,
            size,
        } = geometry;
        let image_id = st.id();
        let buf = st.id();
        st.buffers.insert(
            buf,
            Buffer {
                kind: VAImageBufferType,
                elem_size: size,
                count: 1,
                data,
            },
        );
        let image = VAImage {
            image_id,
            format,
            buf,
            width: width as u16,
            height: height as u16,
            data_size: size,
            num_planes: 2,
            pitches: [pitch, pitch, 0],
            offsets: [0, uv_offset, 0],
            ..Default::default()
        };
        st.images.insert(image_id, image);
        image
    }

    pub fn create_image(
        &self,
        format: VAImageFormat,
        width: u32,
        height: u32,
    ) -> VaResult<VAImage> {
        let bpp = match format.fourcc {
            VA_FOURCC_NV12 => 1,
            VA_FOURCC_P010 => 2,
            f => {
                return err(
                    VA_STATUS_ERROR_INVALID_IMAGE_FORMAT,
                    format!("image format {f:#x}"),
                )
            }
        };
        if width == 0 || height == 0 || width > MAX_WIDTH || height > MAX_HEIGHT {
            return err(
                VA_STATUS_ERROR_INVALID_PARAMETER,
                format!("image {width}x{height}"),
            );
        }
        let pitch = width.next_multiple_of(2) * bpp;
        let h = height.next_multiple_of(2);
        let size = pitch * h * 3 / 2;
        let mut st = lock(&self.state);
        let data = BufData::Owned(vec![0; (size as usize).div_ceil(8)], size as usize);
        let geometry = Geometry {
            width,
            height,
            pitch,
            uv_offset: pitch * h,
            size,
        };
        Ok(Self::new_image(&mut st, format, geometry, data))
    }

    pub fn derive_image(&self, surface: VASurfaceID) -> VaResult<VAImage> {
        let b = self.binding_if_any(surface)?;
        let Some(b) = b else {
            // FFmpeg tries this on a fresh surface to learn whether deriving works, and falls
            // back to vaGetImage: an expected answer, not an error worth a log line
            return Err(VaError {
                status: VA_STATUS_ERROR_OPERATION_FAILED as VAStatus,
                msg: format!(
                    "surface {surface} has no picture yet: derive it after decoding into it"
                ),
                quiet: true,
            });
        };
        let fmt = lock(&b.ctx).capture_format();
        let mut st = lock(&self.state);
        let Some(s) = st.surfaces.get(&surface) else {
            return err(
                VA_STATUS_ERROR_INVALID_SURFACE,
                format!("surface {surface}"),
            );
        };
        let format = Self::image_formats()
            .into_iter()
            .find(|f| f.fourcc == s.fourcc)
            .expect("surfaces have our formats");
        let (w, h) = (s.width, s.height);
        let geometry = Geometry {
            width: w,
            height: h,
            pitch: fmt.bytesperline,
            uv_offset: fmt.bytesperline * fmt.height,
            size: fmt.sizeimage,
        };
        Ok(Self::new_image(
            &mut st,
            format,
            geometry,
            BufData::Derived(b),
        ))
    }

    pub fn destroy_image(&self, id: VAImageID) -> VaResult<()> {
        let mut st = lock(&self.state);
        let Some(img) = st.images.remove(&id) else {
            return err(VA_STATUS_ERROR_INVALID_IMAGE, format!("image {id}"));
        };
        st.buffers.remove(&img.buf);
        Ok(())
    }

    /// `vaGetImage`: copy a rectangle of the surface's picture into the image.
    pub fn get_image(
        &self,
        surface: VASurfaceID,
        x: u32,
        y: u32,
        w: u32,
        h: u32,
        image: VAImageID,
    ) -> VaResult<()> {
        let Some(b) = self.binding_if_any(surface)? else {
            return err(
                VA_STATUS_ERROR_OPERATION_FAILED,
                format!("surface {surface} holds no picture"),
            );
        };
        let Some(img) = lock(&self.state).images.get(&image).copied() else {
            return err(VA_STATUS_ERROR_INVALID_IMAGE, format!("image {image}"));
        };
        wait_capture(&b)?;
        // copy out under the context's lock, then into the image under the state's (never
        // both at once the other way round: end_picture takes the state's, then a context's)
        let mut out = vec![0u8; img.data_size as usize];
        {
            let mut ctx = lock(&b.ctx);
            let fmt = ctx.capture_format();
            if img.format.fourcc != fmt.fourcc {
                return err(
                    VA_STATUS_ERROR_INVALID_IMAGE_FORMAT,
                    "image and surface formats differ",
                );
            }
            let bpp = if fmt.fourcc == VA_FOURCC_P010 { 2 } else { 1 };
            if x % 2 != 0
                || y % 2 != 0
                || x + w > fmt.width
                || y + h > fmt.height
                || w > u32::from(img.width)
                || h > u32::from(img.height)
            {
                return err(
                    VA_STATUS_ERROR_INVALID_PARAMETER,
                    format!("rectangle {w}x{h}+{x}+{y}"),
                );
            }
            let map = ctx.capture_map(b.index)?;
            let row = (w * bpp) as usize;
            let planes = [
                (0, y, h, 0usize),
                (fmt.bytesperline * fmt.height, y / 2, h.div_ceil(2), 1),
            ];
            for (src_base, y0, rows, p) in planes {
                for r in 0..rows {
                    let src = (src_base + (y0 + r) * fmt.bytesperline + x * bpp) as usize;
                    let dst = (img.offsets[p] + r * img.pitches[p]) as usize;
                    if dst + row > out.len() || !map.read(src, &mut out[dst..dst + row]) {
                        return err(
                            VA_STATUS_ERROR_INVALID_PARAMETER,
                            "rectangle outside the image",
                        );
                    }
                }
            }
        }
        let mut st = lock(&self.state);
        let Some(Buffer {
            data: BufData::Owned(words, _),
            ..
        }) = st.buffers.get_mut(&img.buf)
        else {
            return err(
                VA_STATUS_ERROR_INVALID_IMAGE,
                format!("image {image} is derived"),
            );
        };
        words_as_bytes_mut(words)[..out.len()].copy_from_slice(&out);
        Ok(())
    }

    /// `vaExportSurfaceHandle` (DRM PRIME 2): the surface's CAPTURE buffer as one dmabuf.
    pub fn export(
        &self,
        surface: VASurfaceID,
        mem_type: u32,
        flags: u32,
    ) -> VaResult<VADRMPRIMESurfaceDescriptor> {
        if mem_type != VA_SURFACE_ATTRIB_MEM_TYPE_DRM_PRIME_2 {
            return err(
                VA_STATUS_ERROR_UNSUPPORTED_MEMORY_TYPE,
                format!("memory type {mem_type:#x}: only DRM PRIME 2"),
            );
        }
        let b = self.binding(surface)?;
        let (w, h) = {
            let st = lock(&self.state);
            let s = &st.surfaces[&surface];
            (s.width, s.height)
        };
        // the picture being decoded into it, if any, is there before the client can read it
        let _ = wait_capture(&b);
        let mut ctx = lock(&b.ctx);
        if let Some(c) = ctx.captures.get_mut(&b.index) {
            c.exported = true;
        }
        let fmt = ctx.capture_format();
        let write = flags & VA_EXPORT_SURFACE_WRITE_ONLY != 0;
        let fd = ctx
            .video
            .expbuf(Queue::Capture, b.index, write)
            .map_err(io_err("VIDIOC_EXPBUF"))?;
        let ten = fmt.fourcc == VA_FOURCC_P010;
        let uv = fmt.bytesperline * fmt.height;
        let mut d = VADRMPRIMESurfaceDescriptor {
            fourcc: fmt.fourcc,
            width: w,
            height: h,
            num_objects: 1,
            ..Default::default()
        };
        d.objects[0].fd = std::os::fd::IntoRawFd::into_raw_fd(fd);
        d.objects[0].size = fmt.sizeimage;
        d.objects[0].drm_format_modifier = 0; // DRM_FORMAT_MOD_LINEAR
        let fourcc = |s: &[u8; 4]| u32::from_le_bytes(*s);
        if flags & VA_EXPORT_SURFACE_SEPARATE_LAYERS != 0 {
            d.num_layers = 2;
            let (y, c) = if ten {
                (b"R16 ", b"GR32")
            } else {
                (b"R8  ", b"GR88")
            };
            for (i, (f, off)) in [(y, 0), (c, uv)].into_iter().enumerate() {
                d.layers[i].drm_format = fourcc(f);
                d.layers[i].num_planes = 1;
                d.layers[i].offset[0] = off;
                d.layers[i].pitch[0] = fmt.bytesperline;
            }
        } else {
            d.num_layers = 1;
            d.layers[0].drm_format = fourcc(if ten { b"P010" } else { b"NV12" });
            d.layers[0].num_planes = 2;
            d.layers[0].offset = [0, uv, 0, 0];
            d.layers[0].pitch = [fmt.bytesperline, fmt.bytesperline, 0, 0];
        }
        Ok(d)
    }
}

/// What a wait for a picture finds.
enum Step {
    Done(VaResult<()>),
    /// Still decoding: its request (fd), and its surface.
    Wait(OwnedFd, VASurfaceID),
}

/// Wait for a request until `deadline`, `limit` after the wait began: Err(TIMEDOUT) if it
/// has not completed by then.
fn wait_request(
    req: &OwnedFd,
    surface: VASurfaceID,
    deadline: Instant,
    limit: Duration,
) -> VaResult<()> {
    let left = deadline.saturating_duration_since(Instant::now());
    // a zero wait still polls: a finished picture is not a timeout
    if !Request::wait_fd(req.as_fd(), left).map_err(io_err("poll(request)"))? {
        return Err(VaError {
            status: VA_STATUS_ERROR_TIMEDOUT as VAStatus,
            msg: format!("surface {surface}: no picture within {limit:?}"),
            // a client polling with a short timeout expects this answer
            quiet: limit < DECODE_TIMEOUT,
        });
    }
    Ok(())
}

/// Wait for the decode into a surface's buffer, without holding its context meanwhile (the
/// client's other threads go on decoding): Err if it failed.
fn wait_capture(b: &Binding) -> VaResult<()> {
    wait_capture_within(b, DECODE_TIMEOUT)
}

/// wait_capture, for at most `limit` (capped at the backstop).
fn wait_capture_within(b: &Binding, limit: Duration) -> VaResult<()> {
    wait_steps(limit, || lock(&b.ctx).step(b.index))
}

/// Take `step` until it says the picture is done, waiting on its request between steps, for
/// at most `limit` (capped at the backstop). `step` decides what is held while it looks: the
/// wait itself holds nothing it does not.
fn wait_steps(limit: Duration, mut step: impl FnMut() -> VaResult<Step>) -> VaResult<()> {
    let limit = limit.min(DECODE_TIMEOUT);
    let deadline = Instant::now() + limit;
    loop {
        match step()? {
            Step::Done(r) => return r,
            Step::Wait(req, surface) => wait_request(&req, surface, deadline, limit)?,
        }
    }
}

/// Set the CAPTURE format of an open node to `fourcc` at `size`, telling it the bit depth
/// first (it picks the format) where `tell_depth`.
fn set_capture(
    dev: &Video,
    codec: Codec,
    fourcc: u32,
    (width, height): (u32, u32),
    tell_depth: bool,
) -> VaResult<Format> {
    if tell_depth {
        codec.set_depth(dev, if fourcc == VA_FOURCC_P010 { 10 } else { 8 })?;
    }
    let capture = dev
        .s_fmt(
            Queue::Capture,
            Format {
                fourcc,
                width,
                height,
                ..Default::default()
            },
        )
        .map_err(io_err("VIDIOC_S_FMT(CAPTURE)"))?;
    // (NV12 and P010 have the same fourcc in V4L2 and VA)
    if capture.fourcc != fourcc {
        return err(
            VA_STATUS_ERROR_INVALID_IMAGE_FORMAT,
            format!("the decoder gives {:#x}, not {fourcc:#x}", capture.fourcc),
        );
    }
    Ok(capture)
}

/// A CAPTURE buffer of a context.
struct Capture {
    surface: VASurfaceID,
    /// Its request while a picture decodes into it.
    pending: Option<Request>,
    /// The last decode's timestamp (references name pictures by it).
    timestamp: Option<u64>,
    /// Whether that decode failed.
    failed: bool,
    map: Option<Mapping>,
    /// Handed out as a dmabuf: its readers cannot wait for a decode (the buffer carries no
    /// fence, and clients such as GStreamer's dmabuf path never call vaSyncSurface), so
    /// decodes into it finish before vaEndPicture returns.
    exported: bool,
}

/// One VA context: an open file of the stateless node.
pub struct Context {
    video: Video,
    media: Media,
    codec: Codec,
    profile: VAProfile,
    capture: Format,
    captures: HashMap<u32, Capture>,
    streaming_capture: bool,
    outputs: Vec<Mapping>,
    output_busy: Vec<bool>,
    output_size: u32,
    spare_requests: Vec<Request>,
    next_ts: u64,
    pic: Option<Picture>,
    /// The size the client made the context for (an AV1 sequence's largest frame).
    size: (u32, u32),
    /// The client named no depth (an AV1 config, no render targets): the first surface that
    /// gets a buffer decides the CAPTURE format.
    either_depth: bool,
    /// AV1: what the stream keeps between pictures.
    av1: av1::Stream,
    /// AV1: the CAPTURE buffer (no surface's) pictures decoded again go to.
    scratch: Option<u32>,
    /// Destroyed by the client; kept open for its surfaces.
    closed: bool,
    /// Why this context decodes no more (its queues no longer match its pictures).
    broken: Option<String>,
}

impl Context {
    fn new(
        video: &Path,
        media: &Path,
        codec: Codec,
        profile: VAProfile,
        fourcc: u32,
        width: u32,
        height: u32,
    ) -> VaResult<Context> {
        if !(MIN_SIZE..=MAX_WIDTH).contains(&width) || !(MIN_SIZE..=MAX_HEIGHT).contains(&height) {
            return err(
                VA_STATUS_ERROR_RESOLUTION_NOT_SUPPORTED,
                format!("{width}x{height}"),
            );
        }
        let dev = Video::open(video).map_err(io_err(&format!("{}", video.display())))?;
        let media = Media::open(media).map_err(io_err(&format!("{}", media.display())))?;
        let out = dev
            .s_fmt(
                Queue::Output,
                Format {
                    fourcc: codec.v4l2_fourcc(),
                    width,
                    height,
                    bytesperline: 0,
                    // room for a picture coded at more than its raw size
                    sizeimage: (width * height * 3 / 2).max(1 << 20),
                },
            )
            .map_err(io_err("VIDIOC_S_FMT(OUTPUT)"))?;
        if out.fourcc != codec.v4l2_fourcc() || out.width != width || out.height != height {
            return err(
                VA_STATUS_ERROR_RESOLUTION_NOT_SUPPORTED,
                format!(
                    "the decoder takes {width}x{height} {codec:?} as {}x{}",
                    out.width, out.height
                ),
            );
        }
        let capture = set_capture(
            &dev,
            codec,
            fourcc,
            (width, height),
            fourcc == VA_FOURCC_P010,
        )?;
        let n = dev
            .reqbufs(Queue::Output, OUTPUT_BUFFERS)
            .map_err(io_err("VIDIOC_REQBUFS(OUTPUT)"))?;
        let outputs = (0..n)
            .map(|i| dev.map(Queue::Output, i))
            .collect::<Result<Vec<_>, _>>()
            .map_err(io_err("mmap(OUTPUT)"))?;
        dev.streamon(Queue::Output)
            .map_err(io_err("VIDIOC_STREAMON(OUTPUT)"))?;
        Ok(Context {
            output_size: outputs.iter().map(|m| m.len() as u32).min().unwrap_or(0),
            output_busy: vec![false; outputs.len()],
            outputs,
            video: dev,
            media,
            codec,
            profile,
            capture,
            captures: HashMap::new(),
            streaming_capture: false,
            spare_requests: Vec::new(),
            next_ts: 0,
            pic: None,
            size: (width, height),
            either_depth: false,
            av1: av1::Stream::default(),
            scratch: None,
            closed: false,
            broken: None,
        })
    }

    fn capture_fourcc(&self) -> u32 {
        if self.closed {
            0
        } else {
            self.capture.fourcc
        }
    }

    fn capture_format(&self) -> Format {
        self.capture
    }

    /// A CAPTURE buffer for a surface of `width` x `height` (which must fit the format).
    fn add_capture(
        &mut self,
        surface: VASurfaceID,
        width: u32,
        height: u32,
        fourcc: u32,
    ) -> VaResult<u32> {
        if self.either_depth && self.captures.is_empty() && fourcc != self.capture.fourcc {
            self.capture = set_capture(&self.video, self.codec, fourcc, self.size, true)?;
        }
        self.either_depth = false;
        if fourcc != self.capture.fourcc
            || width > self.capture.width
            || height > self.capture.height
        {
            return err(
                VA_STATUS_ERROR_INVALID_SURFACE,
                format!(
                    "surface {surface} ({width}x{height}, {fourcc:#x}) does not fit the context's {}x{} {:#x} pictures",
                    self.capture.width, self.capture.height, self.capture.fourcc
                ),
            );
        }
        let index = self
            .video
            .create_buf(Queue::Capture, self.capture)
            .map_err(io_err(
            "VIDIOC_CREATE_BUFS(CAPTURE) (the daemon allocates them: is daedalus-v4l2d running?)",
        ))?;
        self.captures.insert(
            index,
            Capture {
                surface,
                pending: None,
                timestamp: None,
                failed: false,
                map: None,
                exported: false,
            },
        );
        if !self.streaming_capture {
            self.video
                .streamon(Queue::Capture)
                .map_err(io_err("VIDIOC_STREAMON(CAPTURE)"))?;
            self.streaming_capture = true;
        }
        Ok(index)
    }

    /// The surface is gone: free its buffer once its decode is over.
    fn release(&mut self, index: u32) {
        let _ = self.wait_capture(index);
        // REMOVE_BUFS frees it in the kernel (the client's exported dmabufs stay valid); a
        // buffer it cannot free stays, unmapped and no surface's
        if self.video.remove_buf(Queue::Capture, index).is_ok() {
            self.captures.remove(&index);
        } else if let Some(c) = self.captures.get_mut(&index) {
            c.map = None;
            c.surface = VA_INVALID_SURFACE;
        }
    }

    /// Whether a picture is decoding into CAPTURE buffer `index` (one held back starts now).
    fn busy(&mut self, index: u32) -> VaResult<bool> {
        self.release_held(index)?;
        Ok(self
            .captures
            .get(&index)
            .is_some_and(|c| c.pending.is_some()))
    }

    /// AV1: the picture held back for CAPTURE buffer `index`, if any, queued now: the client
    /// waits for it before the next picture has said whether it is kept, so it is decoded
    /// refreshing no slot, and again if the next picture keeps it.
    fn release_held(&mut self, index: u32) -> VaResult<()> {
        if let Some((_, target, mut built)) = self.av1.take_held(Some(index)) {
            let ts = self.submit(&mut built, index)?;
            self.av1.decoded(target, ts, &built);
        }
        Ok(())
    }

    fn capture_map(&mut self, index: u32) -> VaResult<&Mapping> {
        let Some(c) = self.captures.get_mut(&index) else {
            return err(VA_STATUS_ERROR_INVALID_SURFACE, "surface has no buffer");
        };
        if c.map.is_none() {
            c.map = Some(
                self.video
                    .map(Queue::Capture, index)
                    .map_err(io_err("mmap(CAPTURE)"))?,
            );
        }
        Ok(c.map.as_ref().expect("just mapped"))
    }

    fn begin(&mut self, index: u32) -> VaResult<()> {
        if let Some(why) = &self.broken {
            return err(VA_STATUS_ERROR_OPERATION_FAILED, why.clone());
        }
        // a surface is decoded into again once the client is done with it: finish the last
        // decode first (its errors were the last picture's)
        let _ = self.wait_capture(index);
        self.pic = Some(Picture::new(self.codec, self.profile, index));
        Ok(())
    }

    /// Take back finished buffers of both queues.
    fn reap(&mut self) -> VaResult<()> {
        while let Some(d) = self
            .video
            .dqbuf(Queue::Output)
            .map_err(io_err("VIDIOC_DQBUF(OUTPUT)"))?
        {
            trace!("OUTPUT {} back (ts {})", d.index, d.timestamp_ns);
            if let Some(b) = self.output_busy.get_mut(d.index as usize) {
                *b = false;
            }
        }
        while let Some(d) = self
            .video
            .dqbuf(Queue::Capture)
            .map_err(io_err("VIDIOC_DQBUF(CAPTURE)"))?
        {
            trace!(
                "CAPTURE {} done (ts {}, error {})",
                d.index,
                d.timestamp_ns,
                d.error
            );
            if let Some(c) = self.captures.get_mut(&d.index) {
                c.failed = d.error;
                if let Some(req) = c.pending.take() {
                    if req.reinit().is_ok() {
                        self.spare_requests.push(req);
                    }
                }
            }
        }
        Ok(())
    }

    /// Where the decode into CAPTURE buffer `index` stands: its outcome, or the request to
    /// wait for (a duplicate of its fd, to poll without the context's lock).
    fn step(&mut self, index: u32) -> VaResult<Step> {
        self.release_held(index)?;
        self.reap()?;
        let Some(c) = self.captures.get(&index) else {
            return Ok(Step::Done(Ok(())));
        };
        let Some(req) = &c.pending else {
            return Ok(Step::Done(if c.failed {
                err(
                    VA_STATUS_ERROR_DECODING_ERROR,
                    format!(
                        "surface {}: the decoder failed on its picture (see the daemon's log)",
                        c.surface
                    ),
                )
            } else {
                Ok(())
            }));
        };
        let fd = req.try_clone().map_err(io_err("dup(request)"))?;
        trace!("waiting for CAPTURE {index} (surface {})", c.surface);
        Ok(Step::Wait(fd, c.surface))
    }

    /// Wait (holding the context) for the decode into CAPTURE buffer `index`.
    fn wait_capture(&mut self, index: u32) -> VaResult<()> {
        wait_steps(DECODE_TIMEOUT, || self.step(index))
    }

    /// A free OUTPUT buffer, waiting for the oldest picture in flight if all are busy (a
    /// request completes with its OUTPUT buffer).
    fn free_output(&mut self) -> VaResult<usize> {
        loop {
            self.reap()?;
            if let Some(i) = self.output_busy.iter().position(|b| !b) {
                return Ok(i);
            }
            let oldest = self
                .captures
                .iter()
                .filter(|(_, c)| c.pending.is_some())
                .min_by_key(|(_, c)| c.timestamp)
                .map(|(i, _)| *i);
            let Some(index) = oldest else {
                return err(
                    VA_STATUS_ERROR_OPERATION_FAILED,
                    "every OUTPUT buffer is busy, yet no picture is in flight",
                );
            };
            // its outcome is the surface's, reported when the client syncs it
            let _ = self.wait_capture(index);
        }
    }

    fn end(&mut self) -> VaResult<()> {
        let Some(pic) = self.pic.take() else {
            return err(
                VA_STATUS_ERROR_INVALID_PARAMETER,
                "vaEndPicture without vaBeginPicture",
            );
        };
        let index = pic.capture_index();
        let av1_refs = pic.av1_refs();
        let mut built = if let Some((_, map)) = &av1_refs {
            // the picture held back, now that this one's slots say where it goes
            if let Some((held, target, mut b)) = self.av1.take_held(None) {
                self.av1.place_held(map, target, &mut b);
                let ts = self.submit(&mut b, held)?;
                self.av1.decoded(target, ts, &b);
            }
            // the last picture again, now that this one's slots say it is kept
            if let Some((target, mut again)) = self.av1.settle(map) {
                let scratch = self.scratch()?;
                let ts = self.submit(&mut again, scratch)?;
                trace!("AV1 surface {target}: decoded again (ts {ts}) into a slot");
                self.av1.refreshed(target, ts, &again);
            }
            let mut built = pic.build(self.size, &HashMap::new())?;
            if !self.av1.place(map, &mut built)
                && !self.captures.get(&index).is_some_and(|c| c.exported)
            {
                // no slot is free: held back until the next picture says whether it is
                // kept, or the client waits for it (exported buffers are read without)
                let (target, _) = av1_refs.expect("an AV1 picture");
                self.av1.hold(index, target, built);
                return Ok(());
            }
            built
        } else {
            // the surfaces' last decodes, for the reference lists
            let timestamps: HashMap<VASurfaceID, u64> = self
                .captures
                .values()
                .filter_map(|c| Some((c.surface, c.timestamp?)))
                .collect();
            pic.build(self.size, &timestamps)?
        };
        let ts = self.submit(&mut built, index)?;
        if let Some((target, _)) = av1_refs {
            self.av1.decoded(target, ts, &built);
        }
        if self.captures.get(&index).is_some_and(|c| c.exported) {
            return self.wait_capture(index);
        }
        Ok(())
    }

    /// The CAPTURE buffer for pictures decoded again, once its last decode is over.
    fn scratch(&mut self) -> VaResult<u32> {
        let index = match self.scratch {
            Some(i) => i,
            None => {
                let f = self.capture;
                let i = self.add_capture(VA_INVALID_SURFACE, f.width, f.height, f.fourcc)?;
                self.scratch = Some(i);
                i
            }
        };
        if let Err(e) = self.wait_capture(index) {
            // (the picture after it had its references wrong: its own decode says so)
            trace!("a picture decoded again failed: {}", e.msg);
        }
        Ok(index)
    }

    /// Queue `built` as a request decoding into CAPTURE buffer `index`: its timestamp.
    fn submit(&mut self, built: &mut Built, index: u32) -> VaResult<u64> {
        let out = self.free_output()?;
        self.next_ts += 1000;
        let ts = self.next_ts;
        if built.bitstream.len() > self.output_size as usize {
            return err(
                VA_STATUS_ERROR_NOT_ENOUGH_BUFFER,
                format!(
                    "{}-byte picture, {}-byte OUTPUT buffers",
                    built.bitstream.len(),
                    self.output_size
                ),
            );
        }
        self.outputs[out].write(0, &built.bitstream);
        let req = match self.spare_requests.pop() {
            Some(r) => r,
            None => self
                .media
                .alloc_request()
                .map_err(io_err("MEDIA_IOC_REQUEST_ALLOC"))?,
        };
        let mut ctrls = built.ctrls();
        self.video
            .set_ctrls(Some(req.fd()), &mut ctrls)
            .map_err(|e| VaError {
                status: VA_STATUS_ERROR_INVALID_PARAMETER as VAStatus,
                msg: format!(
                    "the decoder refused the picture's parameters (VIDIOC_S_EXT_CTRLS): {e}"
                ),
                quiet: false,
            })?;
        self.video
            .qbuf(
                Queue::Output,
                out as u32,
                built.bitstream.len() as u32,
                ts,
                Some(req.fd()),
            )
            .map_err(io_err("VIDIOC_QBUF(OUTPUT)"))?;
        // (until the request is queued, dropping it takes the OUTPUT buffer back)
        self.video
            .qbuf(Queue::Capture, index, 0, 0, None)
            .map_err(io_err("VIDIOC_QBUF(CAPTURE)"))?;
        if let Err(e) = req.queue() {
            // a CAPTURE buffer is queued with no picture for it: the next picture would land
            // in it, so this context decodes no more
            let msg = format!("MEDIA_REQUEST_IOC_QUEUE: {e}; the context can decode no more");
            self.broken = Some(msg.clone());
            return err(VA_STATUS_ERROR_OPERATION_FAILED, msg);
        }
        self.output_busy[out] = true;
        trace!(
            "picture ts {ts}: {} bytes in OUTPUT {out}, into CAPTURE {index}",
            built.bitstream.len()
        );
        let c = self
            .captures
            .get_mut(&index)
            .expect("bound surfaces have a buffer");
        c.pending = Some(req);
        c.failed = false;
        c.timestamp = Some(ts);
        Ok(ts)
    }
}
