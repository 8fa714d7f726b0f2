//! The daedalus generic netlink protocol, as the daemon sees it.
//!
//! The one definition is `kernel/Documentation/netlink/specs/daedalus.yaml`; the values here
//! mirror it and `tests::matches_the_spec` fails when they drift. This module does no I/O: it
//! names the wire values and turns a job-get reply into a typed [`Job`].

use std::os::fd::{FromRawFd, OwnedFd};

use neli::{
    attr::Attribute,
    genl::{GenlAttrHandle, Genlmsghdr},
    neli_enum, FromBytes,
};
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub const FAMILY_NAME: &str = "daedalus";
pub const FAMILY_VERSION: u8 = 1;
/// Protocol version sent in attach (`definitions: version`).
pub const VERSION: u32 = 8;
pub const MCGRP_JOBS: &str = "jobs";
/// Largest number of memory planes of a CAPTURE buffer (`definitions: max-planes`).
pub const MAX_PLANES: usize = 3;
/// Largest picture either decoder node takes (`definitions: max-width`, `max-height`): the
/// daemon's decoders allocate no larger one, whatever a stream's headers say.
pub const MAX_WIDTH: u32 = 4096;
pub const MAX_HEIGHT: u32 = 2304;

#[neli_enum(serialized_type = "u8")]
pub enum Cmd {
    Attach = 1,
    JobReady = 2,
    JobGet = 3,
    JobDone = 4,
}
impl neli::consts::genl::Cmd for Cmd {}

#[neli_enum(serialized_type = "u16")]
pub enum AttachAttr {
    Version = 1,
}
impl neli::consts::genl::NlAttrType for AttachAttr {}

#[neli_enum(serialized_type = "u16")]
pub enum CtrlAttr {
    Id = 1,
    Data = 2,
}
impl neli::consts::genl::NlAttrType for CtrlAttr {}

#[neli_enum(serialized_type = "u16")]
pub enum JobAttr {
    Id = 1,
    Kind = 2,
    Stream = 3,
    Codec = 4,
    Sequence = 5,
    Flags = 6,
    Output = 7,
    Capture = 8,
    Ctrl = 9,
    More = 10,
}
impl neli::consts::genl::NlAttrType for JobAttr {}

/// `attribute-set: output`, nested in a job's `output`.
#[neli_enum(serialized_type = "u16")]
pub enum OutputAttr {
    Fd = 1,
    Offset = 2,
    Bytes = 3,
    Timestamp = 4,
    Width = 5,
    Height = 6,
    Meta = 7,
    Buf = 8,
}
impl neli::consts::genl::NlAttrType for OutputAttr {}

/// `attribute-set: capture`, nested in a job's `capture`.
#[neli_enum(serialized_type = "u16")]
pub enum CaptureAttr {
    Width = 1,
    Height = 2,
    Pixfmt = 3,
    Bytesperline = 4,
    PlaneSize = 5,
    Fd = 6,
    Buf = 7,
}
impl neli::consts::genl::NlAttrType for CaptureAttr {}

#[neli_enum(serialized_type = "u16")]
pub enum DoneAttr {
    Id = 1,
    Status = 2,
    Fd = 3,
    Flags = 4,
    Timestamp = 5,
    Width = 6,
    Height = 7,
    Pixfmt = 8,
    MinBuffers = 9,
    Pending = 10,
    Meta = 11,
}
impl neli::consts::genl::NlAttrType for DoneAttr {}

/// `enum job-kind`
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobKind {
    Decode = 1,
    Alloc = 2,
    Release = 3,
    StreamClose = 4,
    Feed = 5,
    Flush = 6,
}

/// `flags feed-flags`: the client asked to drain; this is the last bitstream.
pub const FEED_FLAG_DRAIN: u32 = 1;
/// `flags feed-flags`: the node knows no format for the stream: tell it with the next picture.
pub const FEED_FLAG_ANNOUNCE: u32 = 2;
/// `flags done-flags`: the CAPTURE buffer holds a picture.
pub const DONE_FLAG_FILLED: u32 = 1;
/// `flags done-flags`: the CAPTURE buffer is the last of the drain or of the old format.
pub const DONE_FLAG_LAST: u32 = 2;
/// `flags done-flags`: the stream's format is new.
pub const DONE_FLAG_FORMAT: u32 = 4;
/// `flags done-flags`: feed no more bitstream until a CAPTURE buffer has taken a picture.
pub const DONE_FLAG_FULL: u32 = 8;
/// `flags done-flags`: with `DONE_FLAG_FORMAT`, the pictures are full range.
pub const DONE_FLAG_FULL_RANGE: u32 = 16;
/// `flags done-flags`: the daemon keeps the mapping of the job's OUTPUT export: send its fd no
/// more (decode and feed jobs).
pub const DONE_FLAG_OUTPUT_KEPT: u32 = 32;

/// `enum codec`
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Codec {
    Vp9 = 1,
    H264 = 2,
    Av1 = 3,
}

impl JobKind {
    pub fn from_wire(value: u32) -> Result<JobKind, ParseError> {
        Ok(match value {
            1 => JobKind::Decode,
            2 => JobKind::Alloc,
            3 => JobKind::Release,
            4 => JobKind::StreamClose,
            5 => JobKind::Feed,
            6 => JobKind::Flush,
            value => {
                return Err(ParseError::Unknown {
                    what: "job kind",
                    value,
                })
            }
        })
    }
}

impl Codec {
    pub fn name(self) -> &'static str {
        match self {
            Codec::Vp9 => "vp9",
            Codec::H264 => "h264",
            Codec::Av1 => "av1",
        }
    }
}

/// A V4L2 fourcc as a `u32`, as `v4l2_fourcc()` builds it.
pub const fn fourcc(code: &[u8; 4]) -> u32 {
    u32::from_le_bytes(*code)
}
pub const PIX_FMT_NV12: u32 = fourcc(b"NV12");
pub const PIX_FMT_NV12M: u32 = fourcc(b"NM12");
pub const PIX_FMT_P010: u32 = fourcc(b"P010");

/// One V4L2 control of a decode job's request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ctrl {
    pub id: u32,
    pub data: Vec<u8>,
}

/// What a decode job asks: decode `src` into the CAPTURE buffer `dst`.
#[derive(Debug, Serialize, Deserialize)]
pub struct DecodeJob {
    pub codec: Codec,
    pub sequence: u32,
    /// The frame; its `width` and `height` are the stream's visible size.
    pub src: Output,
    pub dst: Capture,
    pub ctrls: Vec<Ctrl>,
}

/// A job's OUTPUT buffer (`attribute-set: output`): `bytes` of bitstream at `offset` in `fd`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Output {
    /// The buffer's dmabuf; `None` for an export this daemon said it keeps mapped (`buf`).
    /// (Not serialized: it travels to a worker process beside the job, `Job::take_fds`.)
    #[serde(skip)]
    pub fd: Option<OwnedFd>,
    pub offset: u32,
    pub bytes: u32,
    pub timestamp: u64,
    /// Decode jobs: the OUTPUT format's width and height (0 for feed jobs).
    pub width: u32,
    pub height: u32,
    /// Feed jobs: what else the client set on the buffer, for its picture.
    pub meta: Meta,
    /// The id of the kernel's kept export of the buffer (its mapping may be kept under it
    /// until a release job names it), or 0: the client's dmabuf, mapped for this job only.
    pub buf: u64,
}

/// The job `meta` of an OUTPUT buffer: bytes the kernel sends with the buffer and gets back,
/// unread, with the picture that starts in it (`max-len` in the spec).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    len: u8,
    bytes: [u8; META_MAX],
}

/// `meta`'s `max-len`.
pub const META_MAX: usize = 32;

impl Meta {
    /// `None` if `bytes` is longer than the spec allows.
    pub fn new(bytes: &[u8]) -> Option<Meta> {
        let mut meta = Meta {
            len: u8::try_from(bytes.len()).ok()?,
            bytes: [0; META_MAX],
        };
        meta.bytes.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(meta)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// A job's CAPTURE buffer (`attribute-set: capture`): one to fill, as decode and feed jobs
/// carry it (feed jobs: one memory plane, NV12 or P010).
#[derive(Debug, Serialize, Deserialize)]
pub struct Capture {
    /// One dmabuf per memory plane (not serialized, as `Output::fd`).
    #[serde(skip)]
    pub fds: Vec<OwnedFd>,
    /// Width of the CAPTURE format.
    pub width: u32,
    /// Luma rows of the CAPTURE format.
    pub height: u32,
    pub pixfmt: u32,
    /// One per memory plane.
    pub bytesperline: Vec<u32>,
    /// One per memory plane.
    pub plane_size: Vec<u32>,
    /// The daemon's id of the buffer, 0 when the client imported it.
    pub buf: u64,
}

/// What a feed job asks (stateful node): feed `src`, drain if `drain`, fill `dst`.
#[derive(Debug, Serialize, Deserialize)]
pub struct FeedJob {
    pub codec: Codec,
    pub sequence: u32,
    pub drain: bool,
    /// The node knows no format for the stream (`FEED_FLAG_ANNOUNCE`).
    pub announce: bool,
    pub src: Option<Output>,
    pub dst: Option<Capture>,
}

/// What a feed job did, for job-done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedDone {
    /// `DONE_FLAG_*`
    pub flags: u32,
    /// The picture's OUTPUT timestamp (with `DONE_FLAG_FILLED`).
    pub timestamp: u64,
    /// The stream's format, once known: visible width and height, CAPTURE pixel format and
    /// the fewest CAPTURE buffers it needs.
    pub format: Option<StreamFormat>,
    /// Decoded pictures waiting for CAPTURE buffers.
    pub pending: u32,
    /// The picture's OUTPUT meta (with `DONE_FLAG_FILLED`).
    pub meta: Meta,
}

/// The format of a stateful stream's pictures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamFormat {
    pub width: u32,
    pub height: u32,
    pub pixfmt: u32,
    pub min_buffers: u32,
    /// Full range (told with `DONE_FLAG_FULL_RANGE`), else limited (studio) range.
    pub full_range: bool,
}

/// What an alloc job asks: a dmabuf of at least `size` bytes.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct AllocJob {
    pub size: u32,
    pub width: u32,
    pub height: u32,
    pub pixfmt: u32,
    pub bytesperline: u32,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum JobBody {
    Decode(Box<DecodeJob>),
    Alloc(AllocJob),
    Release { buf: u64 },
    StreamClose,
    Feed(Box<FeedJob>),
    Flush,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Job {
    /// 64 bits: never used twice while the module is loaded.
    pub id: u64,
    pub stream: u32,
    pub body: JobBody,
}

#[derive(Debug, Error)]
pub enum ParseError {
    #[error("job attribute {0} missing")]
    Missing(String),
    #[error("job attribute {0} malformed")]
    Malformed(String),
    #[error("unknown {what} {value}")]
    Unknown { what: &'static str, value: u32 },
}

/// An attribute of a set, named in errors as `set.Attr`.
trait SetAttr: neli::consts::genl::NlAttrType + std::fmt::Debug + Copy {
    const SET: &'static str;
    fn name(self) -> String {
        format!("{}.{:?}", Self::SET, self)
    }
}
impl SetAttr for JobAttr {
    const SET: &'static str = "job";
}
impl SetAttr for OutputAttr {
    const SET: &'static str = "output";
}
impl SetAttr for CaptureAttr {
    const SET: &'static str = "capture";
}

type Handle<'a, T> = GenlAttrHandle<'a, T>;

fn get<T: SetAttr, R: FromBytes>(h: &Handle<'_, T>, a: T) -> Result<R, ParseError> {
    match h.get_attribute(a) {
        None => Err(ParseError::Missing(a.name())),
        Some(attr) => attr
            .get_payload_as::<R>()
            .map_err(|_| ParseError::Malformed(a.name())),
    }
}

/// An attribute the set may leave out.
fn get_opt<T: SetAttr, R: FromBytes>(h: &Handle<'_, T>, a: T) -> Result<Option<R>, ParseError> {
    h.get_attribute(a).map(|_| get(h, a)).transpose()
}

fn all_u32<T: SetAttr>(h: &Handle<'_, T>, a: T) -> Result<Vec<u32>, ParseError> {
    h.iter()
        .filter(|attr| *attr.nla_type().nla_type() == a)
        .map(|attr| {
            attr.get_payload_as::<u32>()
                .map_err(|_| ParseError::Malformed(a.name()))
        })
        .collect()
}

/// Take ownership of every fd the kernel installed in attribute `a`, before anything else of
/// the set can fail: each one is ours to close, whatever happens to the job.
fn take_fds<T: SetAttr>(h: &Handle<'_, T>, a: T) -> Result<Vec<OwnedFd>, ParseError> {
    let mut fds = Vec::new();
    for attr in h.iter().filter(|attr| *attr.nla_type().nla_type() == a) {
        let raw = attr
            .get_payload_as::<i32>()
            .map_err(|_| ParseError::Malformed(a.name()))?;
        if raw < 0 {
            return Err(ParseError::Malformed(a.name()));
        }
        // SAFETY: the kernel installed this fd into our process for this job (job-get's
        // reply) and nothing else in the process knows its number: we are its only owner.
        fds.push(unsafe { OwnedFd::from_raw_fd(raw) });
    }
    Ok(fds)
}

/// The set nested in the job's attribute `a`, if the job has it.
fn nested<'a, S: SetAttr>(
    h: &'a Handle<'_, JobAttr>,
    a: JobAttr,
) -> Result<Option<Handle<'a, S>>, ParseError> {
    match h.get_attribute(a) {
        None => Ok(None),
        Some(attr) => attr
            .get_attr_handle::<S>()
            .map(Some)
            .map_err(|_| ParseError::Malformed(a.name())),
    }
}

impl Output {
    fn parse(h: &Handle<'_, OutputAttr>) -> Result<Output, ParseError> {
        let fd = take_fds(h, OutputAttr::Fd)?.pop();
        let buf = get_opt(h, OutputAttr::Buf)?.unwrap_or(0);
        // no fd only for an export this daemon said it keeps mapped
        if fd.is_none() && buf == 0 {
            return Err(ParseError::Missing(OutputAttr::Fd.name()));
        }
        Ok(Output {
            fd,
            offset: get(h, OutputAttr::Offset)?,
            bytes: get(h, OutputAttr::Bytes)?,
            timestamp: get(h, OutputAttr::Timestamp)?,
            width: get_opt(h, OutputAttr::Width)?.unwrap_or(0),
            height: get_opt(h, OutputAttr::Height)?.unwrap_or(0),
            meta: match h.get_attribute(OutputAttr::Meta) {
                Some(a) => Meta::new(a.nla_payload().as_ref())
                    .ok_or(ParseError::Malformed(OutputAttr::Meta.name()))?,
                None => Meta::default(),
            },
            buf,
        })
    }
}

impl Capture {
    /// A buffer to fill: its fds, and a pitch and a size per memory plane.
    fn parse(h: &Handle<'_, CaptureAttr>) -> Result<Capture, ParseError> {
        let fds = take_fds(h, CaptureAttr::Fd)?;
        let bytesperline = all_u32(h, CaptureAttr::Bytesperline)?;
        let plane_size = all_u32(h, CaptureAttr::PlaneSize)?;
        let buf: u64 = get(h, CaptureAttr::Buf)?;
        let planes = bytesperline.len();
        if planes == 0 || planes > MAX_PLANES || plane_size.len() != planes {
            return Err(ParseError::Malformed(CaptureAttr::Bytesperline.name()));
        }
        // an fd per plane, or none for a buffer this daemon allocated (it has its own)
        if fds.len() != planes && !(fds.is_empty() && buf != 0 && planes == 1) {
            return Err(ParseError::Malformed(CaptureAttr::Fd.name()));
        }
        Ok(Capture {
            fds,
            width: get(h, CaptureAttr::Width)?,
            height: get(h, CaptureAttr::Height)?,
            pixfmt: get(h, CaptureAttr::Pixfmt)?,
            bytesperline,
            plane_size,
            buf,
        })
    }
}

/// Where the fds `Job::take_fds` took out of a job go back (`Job::put_fds`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FdLayout {
    output: bool,
    capture: u8,
}

impl Job {
    /// The job's OUTPUT and CAPTURE buffers, for the job kinds that carry them.
    fn buffers_mut(&mut self) -> (Option<&mut Output>, Option<&mut Capture>) {
        match &mut self.body {
            JobBody::Decode(d) => (Some(&mut d.src), Some(&mut d.dst)),
            JobBody::Feed(f) => (f.src.as_mut(), f.dst.as_mut()),
            _ => (None, None),
        }
    }

    /// Take the job's fds out of it (the OUTPUT buffer's, then each CAPTURE plane's), as a job
    /// that travels to a worker process goes: its fds beside it (`SCM_RIGHTS`), and where
    /// they go back.
    pub fn take_fds(&mut self) -> (Vec<OwnedFd>, FdLayout) {
        let (src, dst) = self.buffers_mut();
        let mut fds: Vec<OwnedFd> = src.and_then(|o| o.fd.take()).into_iter().collect();
        let output = !fds.is_empty();
        let capture = dst.map(|c| std::mem::take(&mut c.fds)).unwrap_or_default();
        let layout = FdLayout {
            output,
            capture: capture.len() as u8,
        };
        fds.extend(capture);
        (fds, layout)
    }

    /// Put back what `take_fds` took; `Err` (and the fds dropped) if they do not fit the
    /// layout or the job.
    pub fn put_fds(&mut self, layout: FdLayout, fds: Vec<OwnedFd>) -> Result<(), ParseError> {
        let bad = Err(ParseError::Malformed("fds".into()));
        if fds.len() != usize::from(layout.output) + usize::from(layout.capture) {
            return bad;
        }
        let mut fds = fds.into_iter();
        let (src, dst) = self.buffers_mut();
        match (layout.output, src) {
            (true, Some(o)) => o.fd = fds.next(),
            (false, _) => {}
            (true, None) => return bad,
        }
        match dst {
            Some(c) => c.fds = fds.collect(),
            None if fds.len() == 0 => {}
            None => return bad,
        }
        Ok(())
    }

    /// Parse a job-get reply.
    /// The id of a job whose message `parse` refused, if it has a readable one: the daemon
    /// still answers that job (with an error) rather than leave it to the kernel's watchdog.
    pub fn id_of(msg: &Genlmsghdr<Cmd, JobAttr>) -> Option<u64> {
        get(&msg.attrs().get_attr_handle(), JobAttr::Id).ok()
    }

    /// Whether more jobs waited behind this one when job-get took it (the reply's `more` flag):
    /// the daemon asks for the next at once rather than wait for a job-ready.
    pub fn more_of(msg: &Genlmsghdr<Cmd, JobAttr>) -> bool {
        msg.attrs()
            .get_attr_handle()
            .get_attribute(JobAttr::More)
            .is_some()
    }

    pub fn parse(msg: &Genlmsghdr<Cmd, JobAttr>) -> Result<Job, ParseError> {
        let h = msg.attrs().get_attr_handle();
        let kind = get(&h, JobAttr::Kind).and_then(JobKind::from_wire);
        let capture = nested::<CaptureAttr>(&h, JobAttr::Capture)?;
        // the buffers first: their fds must be owned (and so closed) even if the rest is bad
        let src = nested::<OutputAttr>(&h, JobAttr::Output)?
            .map(|o| Output::parse(&o))
            .transpose();
        // (a job of an unknown kind too: whatever fds it carries are closed with it)
        let dst = match (&capture, &kind) {
            (Some(c), Ok(JobKind::Decode | JobKind::Feed) | Err(_)) => Capture::parse(c).map(Some),
            _ => Ok(None),
        };
        let (kind, src, dst) = (kind?, src?, dst?);
        let id = get(&h, JobAttr::Id)?;
        let stream = get(&h, JobAttr::Stream)?;
        let codec = || match get(&h, JobAttr::Codec)? {
            1 => Ok(Codec::Vp9),
            2 => Ok(Codec::H264),
            3 => Ok(Codec::Av1),
            value => Err(ParseError::Unknown {
                what: "codec",
                value,
            }),
        };
        let capture = || {
            capture
                .as_ref()
                .ok_or(ParseError::Missing(JobAttr::Capture.name()))
        };
        let body = match kind {
            JobKind::Decode => {
                let mut ctrls = Vec::new();
                for attr in h
                    .iter()
                    .filter(|a| *a.nla_type().nla_type() == JobAttr::Ctrl)
                {
                    let bad = || ParseError::Malformed(JobAttr::Ctrl.name());
                    let nested = attr.get_attr_handle::<CtrlAttr>().map_err(|_| bad())?;
                    let id = nested
                        .get_attr_payload_as::<u32>(CtrlAttr::Id)
                        .map_err(|_| bad())?;
                    let data = nested
                        .get_attribute(CtrlAttr::Data)
                        .ok_or_else(bad)?
                        .nla_payload()
                        .as_ref()
                        .to_vec();
                    ctrls.push(Ctrl { id, data });
                }
                JobBody::Decode(Box::new(DecodeJob {
                    codec: codec()?,
                    sequence: get(&h, JobAttr::Sequence)?,
                    src: src.ok_or(ParseError::Missing(JobAttr::Output.name()))?,
                    dst: dst.ok_or(ParseError::Missing(JobAttr::Capture.name()))?,
                    ctrls,
                }))
            }
            JobKind::Alloc => {
                let c = capture()?;
                JobBody::Alloc(AllocJob {
                    size: get(c, CaptureAttr::PlaneSize)?,
                    width: get(c, CaptureAttr::Width)?,
                    height: get(c, CaptureAttr::Height)?,
                    pixfmt: get(c, CaptureAttr::Pixfmt)?,
                    bytesperline: get(c, CaptureAttr::Bytesperline)?,
                })
            }
            JobKind::Release => JobBody::Release {
                buf: get(capture()?, CaptureAttr::Buf)?,
            },
            JobKind::StreamClose => JobBody::StreamClose,
            JobKind::Flush => JobBody::Flush,
            JobKind::Feed => {
                if dst.as_ref().is_some_and(|d| d.bytesperline.len() != 1) {
                    return Err(ParseError::Malformed(CaptureAttr::Fd.name()));
                }
                let flags: u32 = get(&h, JobAttr::Flags)?;
                JobBody::Feed(Box::new(FeedJob {
                    codec: codec()?,
                    sequence: get(&h, JobAttr::Sequence)?,
                    drain: flags & FEED_FLAG_DRAIN != 0,
                    announce: flags & FEED_FLAG_ANNOUNCE != 0,
                    src,
                    dst,
                }))
            }
        };
        Ok(Job { id, stream, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yaml_rust2::{Yaml, YamlLoader};

    fn spec() -> Yaml {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../kernel/Documentation/netlink/specs/daedalus.yaml"
        );
        let text = std::fs::read_to_string(path).expect("spec");
        YamlLoader::load_from_str(&text).expect("yaml").remove(0)
    }

    fn list<'a>(y: &'a Yaml, key: &str) -> &'a Vec<Yaml> {
        match &y[key] {
            Yaml::Array(a) => a,
            Yaml::Hash(_) => match &y[key]["list"] {
                Yaml::Array(a) => a,
                other => panic!("{key}.list: {other:?}"),
            },
            other => panic!("{key}: {other:?}"),
        }
    }

    fn named<'a>(items: &'a [Yaml], name: &str) -> &'a Yaml {
        items
            .iter()
            .find(|i| i["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("{name} not in spec"))
    }

    /// Names of an attribute set in order (ids count from 1, as ynl assigns them).
    fn attr_names(spec: &Yaml, set: &str) -> Vec<String> {
        let s = named(list(spec, "attribute-sets"), set);
        list(s, "attributes")
            .iter()
            .map(|a| a["name"].as_str().unwrap().to_string())
            .collect()
    }

    fn kebab(debug: impl std::fmt::Debug) -> String {
        let camel = format!("{debug:?}");
        let mut out = String::new();
        for (i, c) in camel.chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        }
        out
    }

    fn const_value(spec: &Yaml, name: &str) -> i64 {
        named(list(spec, "definitions"), name)["value"]
            .as_i64()
            .unwrap()
    }

    #[test]
    fn matches_the_spec() {
        let spec = spec();
        assert_eq!(spec["name"].as_str(), Some(FAMILY_NAME));
        assert_eq!(const_value(&spec, "version"), i64::from(VERSION));
        assert_eq!(const_value(&spec, "max-planes"), MAX_PLANES as i64);
        assert_eq!(const_value(&spec, "max-width"), i64::from(MAX_WIDTH));
        assert_eq!(const_value(&spec, "max-height"), i64::from(MAX_HEIGHT));
        assert_eq!(
            list(&spec, "mcast-groups")[0]["name"].as_str(),
            Some(MCGRP_JOBS)
        );

        let ops: Vec<_> = list(&spec, "operations")
            .iter()
            .map(|o| o["name"].as_str().unwrap().to_string())
            .collect();
        let ours: Vec<_> = [Cmd::Attach, Cmd::JobReady, Cmd::JobGet, Cmd::JobDone]
            .iter()
            .map(|c| (kebab(c), u8::from(*c)))
            .collect();
        for (i, name) in ops.iter().enumerate() {
            assert_eq!(ours[i], (name.clone(), i as u8 + 1), "operation {name}");
        }
        assert_eq!(ops.len(), ours.len());

        macro_rules! check_set {
            ($set:expr, $ty:ty, [$($v:ident),*]) => {{
                let names = attr_names(&spec, $set);
                let ours: Vec<(String, u16)> =
                    vec![$((kebab(<$ty>::$v), u16::from(<$ty>::$v))),*];
                assert_eq!(names.len(), ours.len(), "attribute set {}", $set);
                for (i, name) in names.iter().enumerate() {
                    assert_eq!(ours[i], (name.clone(), i as u16 + 1), "set {}", $set);
                }
            }};
        }
        check_set!("attach", AttachAttr, [Version]);
        check_set!("ctrl", CtrlAttr, [Id, Data]);
        let job_meta = named(
            named(list(&spec, "attribute-sets"), "output")["attributes"]
                .as_vec()
                .unwrap(),
            "meta",
        );
        assert_eq!(
            job_meta["checks"]["max-len"].as_i64(),
            Some(META_MAX as i64)
        );
        assert_eq!(Meta::new(&[7; META_MAX + 1]), None);
        assert_eq!(Meta::new(&[1, 2, 3]).unwrap().as_bytes(), [1, 2, 3]);
        check_set!(
            "done",
            DoneAttr,
            [Id, Status, Fd, Flags, Timestamp, Width, Height, Pixfmt, MinBuffers, Pending, Meta]
        );
        check_set!(
            "job",
            JobAttr,
            [Id, Kind, Stream, Codec, Sequence, Flags, Output, Capture, Ctrl, More]
        );
        check_set!(
            "output",
            OutputAttr,
            [Fd, Offset, Bytes, Timestamp, Width, Height, Meta, Buf]
        );
        check_set!(
            "capture",
            CaptureAttr,
            [Width, Height, Pixfmt, Bytesperline, PlaneSize, Fd, Buf]
        );

        let enum_entries = |name: &str| -> Vec<String> {
            let e = named(list(&spec, "definitions"), name);
            assert_eq!(e["value-start"].as_i64(), Some(1), "{name} value-start");
            e["entries"]
                .as_vec()
                .unwrap()
                .iter()
                .map(|v| match v {
                    Yaml::String(s) => s.clone(),
                    h => h["name"].as_str().unwrap().to_string(),
                })
                .collect()
        };
        let kinds = [
            JobKind::Decode,
            JobKind::Alloc,
            JobKind::Release,
            JobKind::StreamClose,
            JobKind::Feed,
            JobKind::Flush,
        ];
        let spec_kinds = enum_entries("job-kind");
        assert_eq!(spec_kinds.len(), kinds.len());
        for (i, k) in kinds.iter().enumerate() {
            assert_eq!((kebab(k), *k as usize), (spec_kinds[i].clone(), i + 1));
        }
        // flags sets: entries are bits from 1 << 0, in order
        let flag_values = |name: &str| -> Vec<(String, u32)> {
            let e = named(list(&spec, "definitions"), name);
            assert_eq!(e["type"].as_str(), Some("flags"), "{name}");
            e["entries"]
                .as_vec()
                .unwrap()
                .iter()
                .enumerate()
                .map(|(i, v)| (v["name"].as_str().unwrap().to_string(), 1 << i))
                .collect()
        };
        assert_eq!(
            flag_values("feed-flags"),
            [
                ("drain".into(), FEED_FLAG_DRAIN),
                ("announce".into(), FEED_FLAG_ANNOUNCE)
            ]
        );
        assert_eq!(
            flag_values("done-flags"),
            [
                ("filled".into(), DONE_FLAG_FILLED),
                ("last".into(), DONE_FLAG_LAST),
                ("format".into(), DONE_FLAG_FORMAT),
                ("full".into(), DONE_FLAG_FULL),
                ("full-range".into(), DONE_FLAG_FULL_RANGE),
                ("output-kept".into(), DONE_FLAG_OUTPUT_KEPT)
            ]
        );
        let codecs = [Codec::Vp9, Codec::H264, Codec::Av1];
        let spec_codecs = enum_entries("codec");
        assert_eq!(spec_codecs.len(), codecs.len());
        for (i, c) in codecs.iter().enumerate() {
            assert_eq!(
                (c.name().to_string(), *c as usize),
                (spec_codecs[i].clone(), i + 1)
            );
        }
    }

    #[test]
    fn fourccs() {
        assert_eq!(PIX_FMT_NV12, 0x3231_564e);
    }
}
