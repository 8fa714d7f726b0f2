// SPDX-License-Identifier: GPL-2.0
/*
 * The upcall: work items for the userspace daemon, over the "daedalus" generic netlink family
 * (Documentation/netlink/specs/daedalus.yaml; policies and ops in the generated
 * daedalus-genl.c).
 *
 * The kernel queues a job and multicasts job-ready; the attached daemon takes it with job-get
 * (the job moves from the pending to the in-flight list, and the reply installs the job's dmabuf
 * fds into the daemon) and ends it with job-done. Every queued job ends exactly once, through
 * whoever takes it off its list under the upcall lock: job-done, its watchdog, the daemon's
 * socket closing, or (for one-way jobs) job-get itself.
 *
 * This file knows nothing of V4L2: job kinds fill their own attributes and end themselves
 * through struct daedalus_job_ops.
 */
#include <linux/dma-buf.h>
#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/netlink.h>
#include <linux/notifier.h>
#include <net/genetlink.h>
#include <net/net_namespace.h>

#include "daedalus-v4l2.h"
#include "daedalus-genl.h"

/**
 * struct daedalus_upcall - the daemon and its work
 * @lock:	protects every field below and the list membership of every job
 * @attached:	a daemon socket is attached
 * @portid:	the attached daemon's netlink port
 * @pending:	jobs waiting for job-get, oldest first
 * @inflight:	jobs taken by the daemon and waiting for job-done
 * @daemon:	the number of daemons attached since the module was loaded: the one attached now
 *		has (mapped) the buffers it allocated under this number
 * @next_id:	last job id handed out (64 bits: an id is never used twice while the module is
 *		loaded, so no answer can be taken for another job's)
 */
struct daedalus_upcall {
	struct mutex lock;	/* the fields below, and which list each job is on */
	bool attached;
	u32 portid;
	struct list_head pending;
	struct list_head inflight;
	u64 daemon;
	u64 next_id;
};

static struct daedalus_upcall upcall = {
	.lock = __MUTEX_INITIALIZER(upcall.lock),
	.pending = LIST_HEAD_INIT(upcall.pending),
	.inflight = LIST_HEAD_INIT(upcall.inflight),
};

static atomic_t daedalus_stream_ids = ATOMIC_INIT(0);

u32 daedalus_next_stream_id(void)
{
	u32 id;

	do {
		id = atomic_inc_return(&daedalus_stream_ids);
	} while (!id);
	return id;
}

static void daedalus_job_timeout(struct work_struct *work)
{
	struct daedalus_job *job = container_of(to_delayed_work(work), struct daedalus_job,
						watchdog);
	bool mine;

	mutex_lock(&upcall.lock);
	mine = !list_empty(&job->node);
	if (mine)
		list_del_init(&job->node);
	mutex_unlock(&upcall.lock);
	if (!mine)
		return;	/* someone else is ending it, and waits for us to return */

	pr_warn_ratelimited(DAEDALUS_NAME ": job %llu (stream %u) got no answer from the daemon in %u ms\n",
			    job->id, job->stream, jiffies_to_msecs(job->timeout));
	/* Nothing may touch @job after this: its owner may reuse or free it. */
	job->ops->end(job, -ETIMEDOUT, NULL);
}

/**
 * daedalus_job_init - prepare a job; once per job object (it initializes the watchdog)
 * @job:	the job
 * @kind:	DAEDALUS_JOB_KIND_*
 * @stream:	stream id, or 0
 * @ops:	fill and end callbacks
 * @timeout:	watchdog period in jiffies, 0 for none
 */
void daedalus_job_init(struct daedalus_job *job, enum daedalus_job_kind kind, u32 stream,
		       const struct daedalus_job_ops *ops, unsigned long timeout)
{
	INIT_LIST_HEAD(&job->node);
	INIT_DELAYED_WORK(&job->watchdog, daedalus_job_timeout);
	job->id = 0;
	job->kind = kind;
	job->stream = stream;
	job->ops = ops;
	job->oneway = kind == DAEDALUS_JOB_KIND_RELEASE || kind == DAEDALUS_JOB_KIND_STREAM_CLOSE ||
		      kind == DAEDALUS_JOB_KIND_FLUSH;
	job->timeout = timeout;
	job->reply_size = 0;
}

static void daedalus_notify_ready(enum daedalus_job_kind kind)
{
	struct sk_buff *msg;
	void *hdr;

	msg = genlmsg_new(nla_total_size(sizeof(u32)), GFP_KERNEL);
	if (!msg)
		return;	/* the daemon still finds the job at its next job-get */
	hdr = genlmsg_put(msg, 0, 0, &daedalus_nl_family, 0, DAEDALUS_CMD_JOB_READY);
	if (!hdr || nla_put_u32(msg, DAEDALUS_A_JOB_KIND, kind)) {
		nlmsg_free(msg);
		return;
	}
	genlmsg_end(msg, hdr);
	/* -ESRCH (the daemon has not joined the group yet) is harmless: it polls at start. */
	genlmsg_multicast_netns(&daedalus_nl_family, &init_net, msg, 0, DAEDALUS_NLGRP_JOBS,
				GFP_KERNEL);
}

/* The attached daemon's number (struct daedalus_upcall). From a job's fill op: lock held. */
u64 daedalus_daemon_nr(void)
{
	lockdep_assert_held(&upcall.lock);
	return upcall.daemon;
}

/* A u32 attribute of a job-done (@info: NULL when the job ended without one), or @def. */
u32 daedalus_done_u32(const struct genl_info *info, int attr, u32 def)
{
	return info && info->attrs[attr] ? nla_get_u32(info->attrs[attr]) : def;
}

/*
 * A new id for something the daemon keeps (an OUTPUT export), from the job ids' counter: ids of
 * buffers share one space on the wire. Only from a job's fill op: the upcall lock is held.
 */
u64 daedalus_new_id(void)
{
	lockdep_assert_held(&upcall.lock);
	return ++upcall.next_id;
}

/**
 * daedalus_job_queue - hand a job to the daemon
 * @job:	an initialized job that is not queued
 *
 * Return: 0 when queued (the job will end exactly once through its ops->end), or -ENODEV when
 * no daemon is attached (the job was not queued and will not end: the caller fails it).
 */
int daedalus_job_queue(struct daedalus_job *job)
{
	enum daedalus_job_kind kind = job->kind;

	mutex_lock(&upcall.lock);
	if (!upcall.attached) {
		mutex_unlock(&upcall.lock);
		return -ENODEV;
	}
	job->id = ++upcall.next_id;
	list_add_tail(&job->node, &upcall.pending);
	if (job->timeout)
		schedule_delayed_work(&job->watchdog, job->timeout);
	mutex_unlock(&upcall.lock);
	/* @job may have ended already: do not touch it. */
	daedalus_notify_ready(kind);
	return 0;
}

/**
 * daedalus_job_cancel - take back a queued job that has not ended
 * @job:	the job
 *
 * Return: true if the job was taken back (it will not end through ops->end: the caller owns
 * it), false if it is already being ended by someone else.
 */
bool daedalus_job_cancel(struct daedalus_job *job)
{
	bool mine;

	mutex_lock(&upcall.lock);
	mine = !list_empty(&job->node);
	if (mine)
		list_del_init(&job->node);
	mutex_unlock(&upcall.lock);
	if (mine && job->timeout)
		cancel_delayed_work_sync(&job->watchdog);
	return mine;
}

/* End a job that the caller took off its list. Never called from the job's own watchdog. */
static void daedalus_job_end(struct daedalus_job *job, int status, struct genl_info *info)
{
	if (job->timeout)
		cancel_delayed_work_sync(&job->watchdog);
	job->ops->end(job, status, info);
}

static struct daedalus_job *daedalus_take_any(struct list_head *list)
{
	struct daedalus_job *job = list_first_entry_or_null(list, struct daedalus_job, node);

	if (job)
		list_del_init(&job->node);
	return job;
}

/* The daemon on @portid is gone: forget it, and fail everything it held or would have taken. */
static void daedalus_detach(u32 portid, const char *why)
{
	struct daedalus_job *job;
	unsigned int failed = 0;

	mutex_lock(&upcall.lock);
	if (!upcall.attached || upcall.portid != portid) {
		mutex_unlock(&upcall.lock);
		return;
	}
	upcall.attached = false;
	for (;;) {
		job = daedalus_take_any(&upcall.inflight);
		if (!job)
			job = daedalus_take_any(&upcall.pending);
		if (!job)
			break;
		mutex_unlock(&upcall.lock);
		daedalus_job_end(job, -EPIPE, NULL);
		failed++;
		mutex_lock(&upcall.lock);
	}
	mutex_unlock(&upcall.lock);
	pr_info(DAEDALUS_NAME ": daemon on port %u detached (%s), %u job(s) failed\n", portid, why,
		failed);
}

static void daedalus_stream_note_end(struct daedalus_job *job, int status,
				     struct genl_info *info)
{
	kfree(job);
}

static const struct daedalus_job_ops daedalus_stream_note_ops = {
	.end = daedalus_stream_note_end,
};

/**
 * daedalus_notify_stream - tell the daemon something of a stream, best effort (one-way job)
 * @stream:	the stream
 * @kind:	DAEDALUS_JOB_KIND_STREAM_CLOSE (drop its decoder) or DAEDALUS_JOB_KIND_FLUSH (drop
 *		its pictures and references)
 */
void daedalus_notify_stream(u32 stream, enum daedalus_job_kind kind)
{
	struct daedalus_job *job;

	job = kzalloc(sizeof(*job), GFP_KERNEL);
	if (!job)
		return;
	daedalus_job_init(job, kind, stream, &daedalus_stream_note_ops, 0);
	if (daedalus_job_queue(job))
		kfree(job);
}

static int daedalus_check_daemon(struct genl_info *info)
{
	bool ok;

	mutex_lock(&upcall.lock);
	ok = upcall.attached && upcall.portid == info->snd_portid &&
	     net_eq(genl_info_net(info), &init_net);
	mutex_unlock(&upcall.lock);
	if (!ok) {
		GENL_SET_ERR_MSG(info, "not the attached daedalus daemon");
		return -EPERM;
	}
	return 0;
}

int daedalus_nl_attach_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct sk_buff *msg;
	u32 version;
	void *hdr;
	int err;

	if (!net_eq(genl_info_net(info), &init_net)) {
		GENL_SET_ERR_MSG(info, "the daemon must run in the initial network namespace");
		return -EPERM;
	}
	if (GENL_REQ_ATTR_CHECK(info, DAEDALUS_A_ATTACH_VERSION))
		return -EINVAL;
	version = nla_get_u32(info->attrs[DAEDALUS_A_ATTACH_VERSION]);
	if (version != DAEDALUS_VERSION) {
		NL_SET_ERR_MSG_FMT(info->extack, "protocol version %u, the module speaks %u",
				   version, DAEDALUS_VERSION);
		return -EPROTO;
	}

	msg = genlmsg_new(nla_total_size(sizeof(u32)), GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_iput(msg, info);
	if (!hdr || nla_put_u32(msg, DAEDALUS_A_ATTACH_VERSION, DAEDALUS_VERSION)) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);

	mutex_lock(&upcall.lock);
	if (upcall.attached && upcall.portid != info->snd_portid) {
		mutex_unlock(&upcall.lock);
		nlmsg_free(msg);
		GENL_SET_ERR_MSG(info, "another daemon is attached");
		return -EBUSY;
	}
	if (!upcall.attached)
		upcall.daemon++;
	upcall.attached = true;
	upcall.portid = info->snd_portid;
	mutex_unlock(&upcall.lock);
	pr_info(DAEDALUS_NAME ": daemon attached (pid %d, port %u)\n", task_tgid_vnr(current),
		info->snd_portid);

	err = genlmsg_reply(msg, info);
	/* Jobs may have been queued while nobody listened for job-ready. */
	daedalus_notify_ready(DAEDALUS_JOB_KIND_DECODE);
	return err;
}

/* Take the in-flight job @id off its list to end it; NULL if it is not in flight (any more). */
static struct daedalus_job *daedalus_take_inflight(u64 id)
{
	struct daedalus_job *job, *found = NULL;

	mutex_lock(&upcall.lock);
	list_for_each_entry(job, &upcall.inflight, node) {
		if (job->id == id) {
			found = job;
			list_del_init(&job->node);
			break;
		}
	}
	mutex_unlock(&upcall.lock);
	return found;
}

/**
 * daedalus_fds_add - reserve the daemon's fd for a dmabuf a job-get reply names
 * @fds:	the reply's fds
 * @dbuf:	the dmabuf, with a reference that this takes over (dropped on failure)
 *
 * Return: the fd it will have in the daemon, or a negative errno.
 */
int daedalus_fds_add(struct daedalus_fds *fds, struct dma_buf *dbuf)
{
	int fd;

	if (WARN_ON_ONCE(fds->n == ARRAY_SIZE(fds->fd))) {
		dma_buf_put(dbuf);
		return -EINVAL;
	}
	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0) {
		dma_buf_put(dbuf);
		return fd;
	}
	fds->fd[fds->n] = fd;
	fds->dbuf[fds->n++] = dbuf;
	return fd;
}

/* The reply is complete: its fds become the daemon's (each takes its dmabuf reference). */
static void daedalus_fds_install(struct daedalus_fds *fds)
{
	unsigned int i;

	for (i = 0; i < fds->n; i++)
		fd_install(fds->fd[i], fds->dbuf[i]->file);
}

/* The reply was never complete: give the fds back, unused. */
static void daedalus_fds_release(struct daedalus_fds *fds)
{
	unsigned int i;

	for (i = 0; i < fds->n; i++) {
		put_unused_fd(fds->fd[i]);
		dma_buf_put(fds->dbuf[i]);
	}
}

/* The installed fds of a reply the daemon never got: nobody else knows their numbers. */
static void daedalus_fds_close(struct daedalus_fds *fds)
{
	unsigned int i;

	for (i = 0; i < fds->n; i++)
		close_fd(fds->fd[i]);
}

int daedalus_nl_job_get_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct daedalus_fds fds = {};
	struct daedalus_job *job;
	struct sk_buff *msg;
	bool oneway, more;
	u64 id;
	void *hdr;
	int err;

	err = daedalus_check_daemon(info);
	if (err)
		return err;

	/*
	 * The lock is held while the reply is filled, so that the job cannot end (watchdog,
	 * detach) while its buffers are being exported to the daemon.
	 */
	mutex_lock(&upcall.lock);
	job = list_first_entry_or_null(&upcall.pending, struct daedalus_job, node);
	if (!job) {
		mutex_unlock(&upcall.lock);
		return -EAGAIN;
	}
	if (job->oneway)
		list_del_init(&job->node);
	else
		list_move_tail(&job->node, &upcall.inflight);
	/* a job queued after this reply has its own job-ready */
	more = !list_empty(&upcall.pending);

	err = -ENOMEM;
	msg = genlmsg_new(NLMSG_GOODSIZE + job->reply_size, GFP_KERNEL);
	if (!msg)
		goto fail;
	err = -EMSGSIZE;
	hdr = genlmsg_iput(msg, info);
	if (!hdr)
		goto fail_free;
	if (nla_put_u64_64bit(msg, DAEDALUS_A_JOB_ID, job->id, 0) ||
	    nla_put_u32(msg, DAEDALUS_A_JOB_KIND, job->kind) ||
	    nla_put_u32(msg, DAEDALUS_A_JOB_STREAM, job->stream) ||
	    (more && nla_put_flag(msg, DAEDALUS_A_JOB_MORE)))
		goto fail_free;
	if (job->ops->fill) {
		err = job->ops->fill(job, msg, &fds);
		if (err)
			goto fail_free;
	}
	genlmsg_end(msg, hdr);
	dd_pr_dbg(DAEDALUS_DBG_JOB, "job %llu (kind %u, stream %u) taken\n", job->id,
		  job->kind, job->stream);
	id = job->id;
	oneway = job->oneway;
	mutex_unlock(&upcall.lock);

	daedalus_fds_install(&fds);
	/* from here on, only a one-way job is still ours (any other may end any time) */
	if (oneway)
		job->ops->end(job, 0, NULL);
	err = genlmsg_reply(msg, info);
	if (err) {
		/* not delivered (the daemon's socket is full): its fds, and the job, end here */
		daedalus_fds_close(&fds);
		pr_err_ratelimited(DAEDALUS_NAME ": job %llu could not be sent to the daemon: %d\n",
				   id, err);
		job = daedalus_take_inflight(id);
		if (job)
			daedalus_job_end(job, err, NULL);
	}
	return err;

fail_free:
	daedalus_fds_release(&fds);
	nlmsg_free(msg);
fail:
	if (!job->oneway)
		list_del_init(&job->node);
	mutex_unlock(&upcall.lock);
	pr_err_ratelimited(DAEDALUS_NAME ": job %llu could not be sent to the daemon: %d\n",
			   job->id, err);
	if (job->oneway)
		job->ops->end(job, err, NULL);
	else
		daedalus_job_end(job, err, NULL);
	return err;
}

int daedalus_nl_job_done_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct daedalus_job *found;
	u32 status;
	u64 id;
	int err;

	err = daedalus_check_daemon(info);
	if (err)
		return err;
	if (GENL_REQ_ATTR_CHECK(info, DAEDALUS_A_DONE_ID) ||
	    GENL_REQ_ATTR_CHECK(info, DAEDALUS_A_DONE_STATUS))
		return -EINVAL;
	id = nla_get_u64(info->attrs[DAEDALUS_A_DONE_ID]);
	status = nla_get_u32(info->attrs[DAEDALUS_A_DONE_STATUS]);

	found = daedalus_take_inflight(id);
	if (!found) {
		NL_SET_ERR_MSG_FMT(info->extack, "job %llu is not in flight (it timed out?)", id);
		return -ENOENT;
	}
	dd_pr_dbg(DAEDALUS_DBG_JOB, "job %llu done, status %u\n", id, status);
	daedalus_job_end(found, -(int)status, info);
	return 0;
}

static int daedalus_netlink_event(struct notifier_block *nb, unsigned long event, void *ptr)
{
	struct netlink_notify *n = ptr;

	if (event == NETLINK_URELEASE && n->protocol == NETLINK_GENERIC &&
	    net_eq(n->net, &init_net))
		daedalus_detach(n->portid, "socket closed");
	return NOTIFY_DONE;
}

static struct notifier_block daedalus_netlink_notifier = {
	.notifier_call = daedalus_netlink_event,
};

/*
 * The family's multicast groups as generated, but joinable with CAP_NET_ADMIN only: job-ready
 * tells when every user's streams decode. (ynl-gen of the pinned kernel has no way to say so
 * in the spec.) Set before the family is registered, while it is still writable.
 */
static const struct genl_multicast_group daedalus_nl_admin_mcgrps[] = {
	[DAEDALUS_NLGRP_JOBS] = {
		.name	= DAEDALUS_MCGRP_JOBS,
		.flags	= GENL_MCAST_CAP_NET_ADMIN,
	},
};

int daedalus_nl_init(void)
{
	int err;

	if (WARN_ON(daedalus_nl_family.n_mcgrps != ARRAY_SIZE(daedalus_nl_admin_mcgrps) ||
		    strcmp(daedalus_nl_family.mcgrps[DAEDALUS_NLGRP_JOBS].name,
			   DAEDALUS_MCGRP_JOBS)))
		return -EINVAL;
	daedalus_nl_family.mcgrps = daedalus_nl_admin_mcgrps;
	err = netlink_register_notifier(&daedalus_netlink_notifier);
	if (err)
		return err;
	err = genl_register_family(&daedalus_nl_family);
	if (err)
		netlink_unregister_notifier(&daedalus_netlink_notifier);
	return err;
}

void daedalus_nl_exit(void)
{
	u32 portid;
	bool attached;

	genl_unregister_family(&daedalus_nl_family);
	netlink_unregister_notifier(&daedalus_netlink_notifier);
	mutex_lock(&upcall.lock);
	attached = upcall.attached;
	portid = upcall.portid;
	mutex_unlock(&upcall.lock);
	if (attached)
		daedalus_detach(portid, "module unloading");
}

#ifdef DAEDALUS_KUNIT
#include "daedalus-nl-test.c"
#endif
