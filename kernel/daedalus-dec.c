// SPDX-License-Identifier: GPL-2.0
/*
 * The stateless node: what it is (its struct daedalus_node_desc) and its jobs: one decode job
 * per request (OUTPUT buffer), handed to the daemon.
 *
 * A job applies the request's controls, snapshots the ones the daemon needs, and queues itself
 * for the daemon. It ends with the daemon's answer (DONE, or ERROR for a bitstream it could not
 * decode), with ERROR when the watchdog fires or the daemon goes away, or at once with ERROR
 * when no daemon is attached.
 *
 * Several jobs of a stream are with the daemon at once (jobs_per_stream: the context's slots),
 * so that its worker has the next picture's bitstream when it ends one, and the round trips
 * (job-done, the client's dequeue and its next request, job-get) overlap the decoding. The m2m
 * scheduler runs one job of the context at a time, the head: device_run queues it with the
 * buffers at the heads of the m2m queues, which stay there until it ends with
 * v4l2_m2m_buf_done_and_job_finish() (and with it the core's logic for a CAPTURE buffer held
 * across requests, V4L2_BUF_FLAG_M2M_HOLD_CAPTURE_BUF: H.264's field pairs). While it runs, the
 * requests queued behind it go to the daemon too, ahead of their turn (daedalus_look_ahead():
 * at device_run, when a buffer is queued, when a job ends): each takes the OUTPUT and CAPTURE
 * buffers next after the head's off the queues, and its end completes them itself. Not while
 * the head holds its CAPTURE buffer for the next request, nor for a request that would hold
 * one: those wait for their turn as the head. The daemon decodes a stream's jobs in the order
 * they were queued (head and ahead alike, under the context's @pipe_lock) and answers them in
 * that order.
 */
#include <linux/slab.h>
#include <net/netlink.h>

#include "daedalus-v4l2.h"

static int daedalus_decode_fill(struct daedalus_job *job, struct sk_buff *skb,
				struct daedalus_fds *fds)
{
	struct daedalus_decode_job *dj = daedalus_to_decode_job(job);
	struct daedalus_ctx *ctx = dj->ctx;
	struct vb2_buffer *src = &dj->src->vb2_buf;
	const struct daedalus_buf *buf = daedalus_to_buf(src);
	unsigned int i, off = 0;
	struct nlattr *nest;
	int err;

	if (vb2_get_plane_payload(src, 0) <= src->planes[0].data_offset)
		return -EINVAL;	/* no bitstream */
	if (nla_put_u32(skb, DAEDALUS_A_JOB_CODEC, ctx->coded_desc->codec) ||
	    nla_put_u32(skb, DAEDALUS_A_JOB_SEQUENCE, dj->sequence))
		return -EMSGSIZE;
	for (i = 0; i < dj->num_ctrls; i++) {
		nest = nla_nest_start(skb, DAEDALUS_A_JOB_CTRL);
		if (!nest || nla_put_u32(skb, DAEDALUS_A_CTRL_ID, dj->ctrl_id[i]) ||
		    nla_put(skb, DAEDALUS_A_CTRL_DATA, dj->ctrl_size[i], dj->ctrl_data + off))
			return -EMSGSIZE;
		nla_nest_end(skb, nest);
		off += dj->ctrl_size[i];
	}
	err = daedalus_put_output(skb, fds, src, &buf->coded, NULL, 0);
	if (err)
		return err;
	return daedalus_put_capture(skb, fds, &buf->decoded, &dj->dst->vb2_buf);
}

/* A job's slot is free again; nothing of @dj is read after. */
static void daedalus_free_slot(struct daedalus_ctx *ctx, struct daedalus_decode_job *dj)
{
	clear_bit(dj->index, &ctx->busy);
	/* the cleared bit is seen by the waiter wake_up_var() wakes (daedalus_stop_streaming()) */
	smp_mb__after_atomic();
	wake_up_var(&ctx->busy);
}

static bool daedalus_slot_free(struct daedalus_ctx *ctx)
{
	return hweight_long(READ_ONCE(ctx->busy)) < ctx->slots;
}

static void daedalus_decode_end(struct daedalus_job *job, int status, struct genl_info *info)
{
	struct daedalus_decode_job *dj = daedalus_to_decode_job(job);
	struct daedalus_ctx *ctx = dj->ctx;
	struct vb2_v4l2_buffer *src = dj->src, *dst = dj->dst;
	u32 flags = status ? 0 : daedalus_done_u32(info, DAEDALUS_A_DONE_FLAGS, 0);
	enum vb2_buffer_state state;

	/* a decode job's answer may say the daemon keeps the OUTPUT mapping, and nothing else */
	if ((flags & ~DAEDALUS_DONE_FLAGS_OUTPUT_KEPT) || daedalus_output_kept(src, flags)) {
		dev_warn_ratelimited(daedalus_ctx_dev(ctx),
				     "stream %u frame %u: the daemon's answer contradicts the job (flags %#x): failing it\n",
				     ctx->stream, dj->sequence, flags);
		status = -EPROTO;
	}
	if (status) {
		daedalus_output_resend(src);
		dev_warn_ratelimited(daedalus_ctx_dev(ctx),
				     "stream %u frame %u: decode failed: %pe\n", ctx->stream,
				     dj->sequence, ERR_PTR(status));
	}
	state = status ? VB2_BUF_STATE_ERROR : VB2_BUF_STATE_DONE;
	dj->src = NULL;
	dj->dst = NULL;
	daedalus_finish_begin(ctx);
	if (dj->ahead) {
		/*
		 * CAPTURE first: the OUTPUT buffer completes the request, which wakes the client.
		 * Both before the slot is free: a STREAMOFF waits for that (the buffers are off the
		 * m2m queues, and vb2 must not find them still active). The free slot may take the
		 * next request (from a work item: this may be the end of a job that failed as
		 * daedalus_look_ahead() queued it).
		 */
		v4l2_m2m_buf_done(dst, state);
		v4l2_m2m_buf_done(src, state);
		daedalus_free_slot(ctx, dj);
		schedule_work(&ctx->ahead_work);
	} else {
		/*
		 * The head: no request goes ahead until the next device_run, and its buffers leave
		 * the queues' heads with no look-ahead in between. Its slot is free before the job
		 * finish, which asks job_ready() for the next job.
		 */
		mutex_lock(&ctx->pipe_lock);
		WRITE_ONCE(ctx->head, false);
		daedalus_free_slot(ctx, dj);
		v4l2_m2m_buf_done_and_job_finish(ctx->sched->m2m_dev, ctx->fh.m2m_ctx, state);
		mutex_unlock(&ctx->pipe_lock);
	}
	daedalus_finish_end(ctx);
}

static const struct daedalus_job_ops daedalus_decode_ops = {
	.fill = daedalus_decode_fill,
	.end = daedalus_decode_end,
};

/*
 * Queue a job for @src and @dst in a free slot (the caller saw one): the request's controls
 * applied and snapshotted. Under @pipe_lock, which orders the jobs of the stream. Return: NULL,
 * or the job when no daemon is attached, which the caller ends with -ENODEV once it dropped
 * the lock.
 */
static struct daedalus_decode_job *daedalus_dispatch(struct daedalus_ctx *ctx,
						     struct vb2_v4l2_buffer *src,
						     struct vb2_v4l2_buffer *dst, bool ahead)
{
	const struct daedalus_coded_fmt *desc = ctx->coded_desc;
	unsigned int before = hweight_long(READ_ONCE(ctx->busy));
	unsigned int slot = find_first_zero_bit(&ctx->busy, ctx->slots);
	struct v4l2_ctrl *fwd[DAEDALUS_MAX_FWD_CTRLS];
	unsigned int i, n = 0, off = 0;
	struct daedalus_decode_job *dj;

	lockdep_assert_held(&ctx->pipe_lock);
	dj = daedalus_slot(ctx, slot);
	set_bit(slot, &ctx->busy);
	dj->ahead = ahead;
	dj->src = src;
	dj->dst = dst;
	v4l2_ctrl_request_setup(src->vb2_buf.req_obj.req, &ctx->hdl);
	daedalus_copy_metadata(src, dst);

	/*
	 * The daemon reads the controls later, in job-get: snapshot this request's values (the
	 * buffer has room for every forwarded control at its largest, see daedalus_open()).
	 * Under the handler's lock: another thread of the client may set the same controls
	 * meanwhile (VIDIOC_S_EXT_CTRLS outside a request), which reallocates the value of a
	 * dynamic array (AV1's tile group entries) and changes its element count.
	 */
	for (i = 0; i < desc->num_ctrls && n < DAEDALUS_MAX_FWD_CTRLS; i++)
		if (desc->ctrls[i].forward)
			fwd[n++] = v4l2_ctrl_find(&ctx->hdl, desc->ctrls[i].cfg.id);
	dj->num_ctrls = 0;
	mutex_lock(ctx->hdl.lock);
	for (i = 0; i < n; i++) {
		u32 size = fwd[i]->elems * fwd[i]->elem_size;

		memcpy(dj->ctrl_data + off, fwd[i]->p_cur.p, size);
		dj->ctrl_id[dj->num_ctrls] = fwd[i]->id;
		dj->ctrl_size[dj->num_ctrls++] = size;
		off += size;
	}
	mutex_unlock(ctx->hdl.lock);
	/* the request's controls are read: a client may read them back from now on */
	v4l2_ctrl_request_complete(src->vb2_buf.req_obj.req, &ctx->hdl);
	dj->job.reply_size = off + DAEDALUS_MAX_FWD_CTRLS * 2 * NLA_HDRLEN;
	/*
	 * From now: the jobs before it are decoded first, within the same time (a hung worker
	 * fails the stream's jobs within one timeout, and a client's close waits no longer)
	 */
	dj->job.timeout = msecs_to_jiffies(daedalus_timeout_ms);
	dj->sequence = ctx->next_sequence++;
	dd_dbg(DAEDALUS_DBG_JOB, daedalus_ctx_dev(ctx), "stream %u frame %u: queued, %u ahead\n",
	       ctx->stream, dj->sequence, before);

	if (!daedalus_job_queue(&dj->job))
		return NULL;
	dev_err_ratelimited(daedalus_ctx_dev(ctx), "stream %u: no daemon attached, failing frame %u\n",
			    ctx->stream, dj->sequence);
	return dj;
}

/* The buffer after the one at the head of an m2m queue (under its lock), or NULL. */
static struct vb2_v4l2_buffer *daedalus_second(struct v4l2_m2m_queue_ctx *q)
{
	struct v4l2_m2m_buffer *b;
	unsigned long flags;

	spin_lock_irqsave(&q->rdy_spinlock, flags);
	b = list_first_entry_or_null(&q->rdy_queue, struct v4l2_m2m_buffer, list);
	if (b && !list_is_last(&b->list, &q->rdy_queue))
		b = list_next_entry(b, list);
	else
		b = NULL;
	spin_unlock_irqrestore(&q->rdy_spinlock, flags);
	return b ? &b->vb : NULL;
}

/*
 * Send the requests queued behind the running head to the daemon, in order, while the context
 * has a free slot (see the top of this file). Each takes the OUTPUT and CAPTURE buffers next
 * after the head's, which cannot change meanwhile: the head's end takes its buffers off the
 * queues under @pipe_lock, as this looks.
 */
static void daedalus_look_ahead(struct daedalus_ctx *ctx)
{
	struct v4l2_m2m_ctx *m2m_ctx = ctx->fh.m2m_ctx;
	struct vb2_v4l2_buffer *head, *src, *dst;
	struct daedalus_decode_job *failed;
	u32 hold = V4L2_BUF_FLAG_M2M_HOLD_CAPTURE_BUF;

	for (;;) {
		mutex_lock(&ctx->pipe_lock);
		if (!ctx->head || !daedalus_slot_free(ctx))
			break;
		head = v4l2_m2m_next_src_buf(m2m_ctx);
		src = daedalus_second(&m2m_ctx->out_q_ctx);
		dst = daedalus_second(&m2m_ctx->cap_q_ctx);
		/* a request that holds its CAPTURE buffer, or the next that would: in turn */
		if (!head || !src || !dst || (head->flags & hold) || (src->flags & hold))
			break;
		v4l2_m2m_src_buf_remove_by_buf(m2m_ctx, src);
		v4l2_m2m_dst_buf_remove_by_buf(m2m_ctx, dst);
		failed = daedalus_dispatch(ctx, src, dst, true);
		mutex_unlock(&ctx->pipe_lock);
		if (failed) {
			daedalus_decode_end(&failed->job, -ENODEV, NULL);
			return;
		}
	}
	mutex_unlock(&ctx->pipe_lock);
}

static void daedalus_look_ahead_work(struct work_struct *work)
{
	daedalus_look_ahead(container_of(work, struct daedalus_ctx, ahead_work));
}

/* m2m: the next head may run while the context has a free slot (atomic context) */
static int daedalus_job_ready(void *priv)
{
	return daedalus_slot_free(priv);
}

static void daedalus_device_run(void *priv)
{
	struct daedalus_ctx *ctx = priv;
	struct v4l2_m2m_ctx *m2m_ctx = ctx->fh.m2m_ctx;
	struct daedalus_decode_job *failed;

	mutex_lock(&ctx->pipe_lock);
	/* job_ready() saw a free slot, and only a running head lets jobs go ahead */
	if (WARN_ON_ONCE(!daedalus_slot_free(ctx))) {
		mutex_unlock(&ctx->pipe_lock);
		/* failed, its request completed too: the client must not wait for it */
		v4l2_ctrl_request_complete(v4l2_m2m_next_src_buf(m2m_ctx)->vb2_buf.req_obj.req,
					   &ctx->hdl);
		v4l2_m2m_buf_done_and_job_finish(ctx->sched->m2m_dev, m2m_ctx, VB2_BUF_STATE_ERROR);
		return;
	}
	WRITE_ONCE(ctx->head, true);
	failed = daedalus_dispatch(ctx, v4l2_m2m_next_src_buf(m2m_ctx),
				   v4l2_m2m_next_dst_buf(m2m_ctx), false);
	mutex_unlock(&ctx->pipe_lock);
	if (failed)
		daedalus_decode_end(&failed->job, -ENODEV, NULL);
	else
		daedalus_look_ahead(ctx);
}

static const struct v4l2_m2m_ops daedalus_m2m_ops = {
	.device_run	= daedalus_device_run,
	.job_ready	= daedalus_job_ready,
};

static int daedalus_dec_open(struct daedalus_ctx *ctx)
{
	mutex_init(&ctx->pipe_lock);
	INIT_WORK(&ctx->ahead_work, daedalus_look_ahead_work);
	return 0;
}

/* after both queues stopped (no head runs, no job is with the daemon, none can be queued) */
static void daedalus_dec_release(struct daedalus_ctx *ctx)
{
	cancel_work_sync(&ctx->ahead_work);
	mutex_destroy(&ctx->pipe_lock);
}

/*
 * A request is a file of its own (MEDIA_IOC_REQUEST_ALLOC), which a client may keep open after
 * it closed the node, across an unbind of the device and an rmmod. Its release reads the media
 * device and calls its ops: each request holds the node (its v4l2_device, which frees the node
 * with the media device in it at the last put) and the module, which cannot be unloaded
 * meanwhile (rmmod says it is in use).
 */
static struct media_request *daedalus_req_alloc(struct media_device *mdev)
{
	struct daedalus_node *node = container_of(mdev, struct daedalus_node, mdev);
	struct media_request *req;

	if (!try_module_get(THIS_MODULE))
		return NULL;
	req = kzalloc(sizeof(*req), GFP_KERNEL);
	if (!req) {
		module_put(THIS_MODULE);
		return NULL;
	}
	v4l2_device_get(&node->v4l2_dev);
	return req;
}

static void daedalus_req_free(struct media_request *req)
{
	struct daedalus_node *node = container_of(req->mdev, struct daedalus_node, mdev);

	kfree(req);
	v4l2_device_put(&node->v4l2_dev);
	module_put(THIS_MODULE);
}

static const struct media_device_ops daedalus_media_ops = {
	.req_alloc	= daedalus_req_alloc,
	.req_free	= daedalus_req_free,
	.req_validate	= daedalus_request_validate,
	.req_queue	= v4l2_m2m_request_queue,
};

/* One row per coded format; a new codec is a row here plus its daedalus-<codec>.c. */
static const struct daedalus_coded_fmt *const daedalus_stateless_fmts[] = {
	&daedalus_vp9_fmt,
	&daedalus_h264_fmt,
	&daedalus_av1_fmt,
};

const struct daedalus_node_desc daedalus_stateless_node = {
	.name		= DAEDALUS_NAME,
	.kind		= "stateless",
	.fmts		= daedalus_stateless_fmts,
	.num_fmts	= ARRAY_SIZE(daedalus_stateless_fmts),
	.ioctl_ops	= &daedalus_ioctl_ops,
	.m2m_ops	= &daedalus_m2m_ops,
	.qops		= &daedalus_qops,
	.media_ops	= &daedalus_media_ops,
	/* whole 16x16 blocks: what the codecs' reference pictures cover */
	.capture_align	= 16,
	.stride_align	= 16,
	.job_kind	= DAEDALUS_JOB_KIND_DECODE,
	.job_ops	= &daedalus_decode_ops,
	.pipelined	= true,
	.ctx_size	= sizeof(struct daedalus_ctx),
	.open		= daedalus_dec_open,
	.release	= daedalus_dec_release,
};
