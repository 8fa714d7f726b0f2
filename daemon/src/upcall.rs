//! The daemon's end of the daedalus generic netlink family: attach, take jobs, report them done.

#![forbid(unsafe_code)]

use std::os::fd::{AsRawFd, BorrowedFd};

use neli::{
    consts::{nl::NlmF, socket::NlFamily},
    err::RouterError,
    genl::{AttrTypeBuilder, Genlmsghdr, GenlmsghdrBuilder, Nlattr, NlattrBuilder, NoUserHeader},
    nl::{NlPayload, Nlmsghdr},
    router::asynchronous::{NlRouter, NlRouterReceiverHandle},
    types::{Buffer, GenlBuffer},
    utils::Groups,
};
use thiserror::Error;

use crate::proto::{self, AttachAttr, Cmd, DoneAttr, FeedDone, Job, JobAttr};

#[derive(Debug, Error)]
pub enum UpcallError {
    #[error(
        "generic netlink family '{}' not found: is the daedalus-v4l2 module loaded?",
        proto::FAMILY_NAME
    )]
    NoFamily,
    #[error("the kernel refused {op}: {errno}{}", .msg.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Refused {
        op: &'static str,
        errno: std::io::Error,
        msg: Option<String>,
    },
    #[error("netlink {op}: {detail}")]
    Netlink { op: &'static str, detail: String },
    /// The family the daemon attached to is gone (ENOENT: the module was unloaded) or no
    /// longer knows this daemon (EPERM: it was reloaded): attach again.
    #[error("the kernel module went away ({op}: {errno})")]
    ModuleGone {
        op: &'static str,
        errno: std::io::Error,
    },
    /// A job the daemon cannot read: it fails that job (`id`, when readable), not the daemon.
    #[error("job {} malformed: {error}", .id.map_or("(no id)".into(), |id| id.to_string()))]
    BadJob {
        id: Option<u64>,
        #[source]
        error: proto::ParseError,
    },
}

/// Multicast messages (job-ready) arrive here.
pub type Notifications = NlRouterReceiverHandle<u16, Genlmsghdr<u8, u16, NoUserHeader>>;

pub struct Upcall {
    router: NlRouter,
    family: u16,
}

fn netlink<T, P>(op: &'static str, e: RouterError<T, P>) -> UpcallError
where
    T: std::fmt::Debug,
    P: std::fmt::Debug,
{
    match e {
        RouterError::Nlmsgerr(err) => {
            let msg = err.ext_ack().iter().find_map(|a| {
                if u16::from(*a.nla_type().nla_type()) == 1 {
                    // NLMSGERR_ATTR_MSG
                    let bytes: &[u8] = a.nla_payload().as_ref();
                    Some(
                        String::from_utf8_lossy(bytes)
                            .trim_end_matches('\0')
                            .to_string(),
                    )
                } else {
                    None
                }
            });
            UpcallError::Refused {
                op,
                errno: std::io::Error::from_raw_os_error(-*err.error()),
                msg,
            }
        }
        other => UpcallError::Netlink {
            op,
            detail: format!("{other:?}"),
        },
    }
}

impl UpcallError {
    /// The errno the kernel answered with, if it answered with one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            UpcallError::Refused { errno, .. } => errno.raw_os_error(),
            _ => None,
        }
    }
}

impl Upcall {
    /// Open a generic netlink socket, join the job-ready group and attach as the daemon.
    pub async fn attach() -> Result<(Upcall, Notifications), UpcallError> {
        let (router, notifications) = NlRouter::connect(NlFamily::Generic, None, Groups::empty())
            .await
            .map_err(|e| netlink("connect", e))?;
        router
            .enable_ext_ack(true)
            .map_err(|e| netlink("ext-ack", e))?;
        let family = router
            .resolve_genl_family(proto::FAMILY_NAME)
            .await
            .map_err(|_| UpcallError::NoFamily)?;
        let group = router
            .resolve_nl_mcast_group(proto::FAMILY_NAME, proto::MCGRP_JOBS)
            .await
            .map_err(|e| netlink("resolve group", e))?;
        router
            .add_mcast_membership(Groups::new_groups(&[group]))
            .map_err(|e| netlink("join group", e))?;

        let upcall = Upcall { router, family };
        let attrs = [NlattrBuilder::default()
            .nla_type(
                AttrTypeBuilder::default()
                    .nla_type(AttachAttr::Version)
                    .build()
                    .unwrap(),
            )
            .nla_payload(proto::VERSION)
            .build()
            .unwrap()]
        .into_iter()
        .collect::<GenlBuffer<AttachAttr, Buffer>>();
        let reply: Genlmsghdr<Cmd, AttachAttr> =
            upcall.request("attach", Cmd::Attach, attrs).await?;
        let version = reply
            .attrs()
            .get_attr_handle()
            .get_attr_payload_as::<u32>(AttachAttr::Version)
            .map_err(|e| UpcallError::Netlink {
                op: "attach",
                detail: e.to_string(),
            })?;
        if version != proto::VERSION {
            return Err(UpcallError::Netlink {
                op: "attach",
                detail: format!(
                    "module speaks protocol {version}, daemon {}",
                    proto::VERSION
                ),
            });
        }
        Ok((upcall, notifications))
    }

    async fn request<A, R>(
        &self,
        op: &'static str,
        cmd: Cmd,
        attrs: GenlBuffer<A, Buffer>,
    ) -> Result<Genlmsghdr<Cmd, R>, UpcallError>
    where
        A: neli::consts::genl::NlAttrType + std::fmt::Debug,
        R: neli::consts::genl::NlAttrType + std::fmt::Debug,
    {
        let msg = GenlmsghdrBuilder::<Cmd, A, NoUserHeader>::default()
            .cmd(cmd)
            .version(proto::FAMILY_VERSION)
            .attrs(attrs)
            .build()
            .map_err(|e| UpcallError::Netlink {
                op,
                detail: e.to_string(),
            })?;
        let mut recv = self
            .router
            .send::<_, _, u16, Genlmsghdr<Cmd, R>>(
                self.family,
                NlmF::empty(),
                NlPayload::Payload(msg),
            )
            .await
            .map_err(|e| netlink(op, e))?;
        match recv.next::<u16, Genlmsghdr<Cmd, R>>().await {
            Some(Ok(reply)) => match reply.nl_payload() {
                NlPayload::Payload(p) => Ok(p.clone()),
                other => Err(UpcallError::Netlink {
                    op,
                    detail: format!("unexpected {other:?}"),
                }),
            },
            Some(Err(e)) => Err(netlink(op, e)),
            None => Err(UpcallError::Netlink {
                op,
                detail: "no reply".into(),
            }),
        }
    }

    /// Take the oldest waiting job, or `None` when none waits; with it, whether more jobs
    /// wait behind it (when none does, a job queued later comes with its own job-ready).
    pub async fn job_get(&self) -> Result<Option<(Job, bool)>, UpcallError> {
        match self
            .request::<JobAttr, JobAttr>("job-get", Cmd::JobGet, GenlBuffer::new())
            .await
        {
            Ok(reply) => Job::parse(&reply)
                .map(|job| Some((job, Job::more_of(&reply))))
                .map_err(|error| UpcallError::BadJob {
                    id: Job::id_of(&reply),
                    error,
                }),
            Err(e) => match e.errno() {
                Some(libc::EAGAIN) => Ok(None),
                Some(errno @ (libc::ENOENT | libc::EPERM)) => Err(UpcallError::ModuleGone {
                    op: "job-get",
                    errno: std::io::Error::from_raw_os_error(errno),
                }),
                _ => Err(e),
            },
        }
    }

    /// Complete a decode or alloc job: `status` is 0 or a positive errno; `fd` is an alloc
    /// job's dmabuf (the kernel takes its own reference before this returns); `output_kept`:
    /// the job's OUTPUT export stays mapped here (`DONE_FLAG_OUTPUT_KEPT`).
    pub async fn job_done(
        &self,
        id: u64,
        status: u32,
        fd: Option<BorrowedFd<'_>>,
        feed: Option<&FeedDone>,
        output_kept: bool,
    ) -> Result<(), UpcallError> {
        fn attr<P: neli::ToBytes + neli::Size>(t: DoneAttr, v: P) -> Nlattr<DoneAttr, Buffer> {
            NlattrBuilder::default()
                .nla_type(AttrTypeBuilder::default().nla_type(t).build().unwrap())
                .nla_payload(v)
                .build()
                .unwrap()
        }
        let mut attrs = vec![attr(DoneAttr::Id, id), attr(DoneAttr::Status, status)];
        if let Some(fd) = fd {
            attrs.push(attr(DoneAttr::Fd, fd.as_raw_fd() as u32));
        }
        let mut flags = if output_kept {
            proto::DONE_FLAG_OUTPUT_KEPT
        } else {
            0
        };
        if let Some(f) = feed {
            flags |= f.flags;
            if f.format.is_some_and(|fmt| fmt.full_range) {
                flags |= proto::DONE_FLAG_FULL_RANGE;
            }
        }
        if feed.is_some() || flags != 0 {
            attrs.push(attr(DoneAttr::Flags, flags));
        }
        if let Some(f) = feed {
            attrs.push(attr(DoneAttr::Pending, f.pending));
            if f.flags & proto::DONE_FLAG_FILLED != 0 {
                attrs.push(attr(DoneAttr::Timestamp, f.timestamp));
                if !f.meta.as_bytes().is_empty() {
                    attrs.push(attr(DoneAttr::Meta, Buffer::from(f.meta.as_bytes())));
                }
            }
            if let Some(fmt) = f.format {
                attrs.push(attr(DoneAttr::Width, fmt.width));
                attrs.push(attr(DoneAttr::Height, fmt.height));
                attrs.push(attr(DoneAttr::Pixfmt, fmt.pixfmt));
                attrs.push(attr(DoneAttr::MinBuffers, fmt.min_buffers));
            }
        }
        let msg = GenlmsghdrBuilder::<Cmd, DoneAttr, NoUserHeader>::default()
            .cmd(Cmd::JobDone)
            .version(proto::FAMILY_VERSION)
            .attrs(attrs.into_iter().collect::<GenlBuffer<_, _>>())
            .build()
            .map_err(|e| UpcallError::Netlink {
                op: "job-done",
                detail: e.to_string(),
            })?;
        let mut recv = self
            .router
            .send::<_, _, u16, Genlmsghdr<Cmd, DoneAttr>>(
                self.family,
                NlmF::ACK,
                NlPayload::Payload(msg),
            )
            .await
            .map_err(|e| netlink("job-done", e))?;
        while let Some(res) = recv.next::<u16, Genlmsghdr<Cmd, DoneAttr>>().await {
            let _: Nlmsghdr<u16, Genlmsghdr<Cmd, DoneAttr>> =
                res.map_err(|e| netlink("job-done", e))?;
        }
        Ok(())
    }
}
