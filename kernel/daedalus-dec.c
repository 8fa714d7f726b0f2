// SPDX-License-Identifier: GPL-2.0
/*
 * The stateless node: what it is (its struct daedalus_node_desc) and its jobs. device_run:
 * one decode job per request (OUTPUT buffer), handed to the daemon.
 *
 * The job applies the request's controls, snapshots the ones the daemon needs, and queues
 * itself for the daemon. It ends with the daemon's answer (DONE, or ERROR for a bitstream it
 * could not decode), with ERROR when the watchdog fires or the daemon goes away, or at once with
 * ERROR when no daemon is attached.
 *
 * Several jobs of a stream are with the daemon at once (jobs_per_stream, the context's slots),
 * so that its worker has the next picture's bitstream when it ends one, and the round trips
 * (job-done, the client's dequeue and its next request, job-get) overlap the decoding: device_run
 * takes the job's buffers off the m2m queues and finishes the m2m job at once; job_ready() lets
 * the next one run while a slot is free, and the job's end completes its buffers
 * (v4l2_m2m_buf_done()) and frees its slot. The daemon decodes a stream's jobs in the order they
 * were queued, and answers them in that order.
 *
 * Not while the OUTPUT queue may hold CAPTURE buffers (V4L2_BUF_FLAG_M2M_HOLD_CAPTURE_BUF,
 * H.264's field pairs): the m2m core's hold logic works on the buffers at the heads of its
 * queues and ends the m2m job with them (v4l2_m2m_buf_done_and_job_finish()). Those jobs run
 * one at a time, their buffers left on the queues until they end.
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
	if (dj->pipelined) {
		/*
		 * CAPTURE first: the OUTPUT buffer completes the request, which wakes the client.
		 * Both before the slot is free: a STREAMOFF waits for that (its buffers are off
		 * the m2m queues, and vb2 must not find them still active). Then the next job may
		 * run (job_ready() counts the free slots).
		 */
		v4l2_m2m_buf_done(dst, state);
		v4l2_m2m_buf_done(src, state);
		daedalus_free_slot(ctx, dj);
		v4l2_m2m_try_schedule(ctx->fh.m2m_ctx);
	} else {
		/* free before the job finish, which asks job_ready() for the next job */
		daedalus_free_slot(ctx, dj);
		v4l2_m2m_buf_done_and_job_finish(ctx->sched->m2m_dev, ctx->fh.m2m_ctx, state);
	}
	daedalus_finish_end(ctx);
}

static const struct daedalus_job_ops daedalus_decode_ops = {
	.fill = daedalus_decode_fill,
	.end = daedalus_decode_end,
};

/* m2m: a job of the context may run while one of its slots is free (atomic context) */
static int daedalus_job_ready(void *priv)
{
	struct daedalus_ctx *ctx = priv;

	return hweight_long(READ_ONCE(ctx->busy)) < ctx->slots;
}

static void daedalus_device_run(void *priv)
{
	struct daedalus_ctx *ctx = priv;
	struct v4l2_m2m_ctx *m2m_ctx = ctx->fh.m2m_ctx;
	const struct daedalus_coded_fmt *desc = ctx->coded_desc;
	struct v4l2_ctrl *fwd[DAEDALUS_MAX_FWD_CTRLS];
	unsigned int i, n = 0, off = 0, ahead, slot;
	struct daedalus_decode_job *dj;
	bool pipelined;
	int err;

	/* device_run is the only one to take a slot; job_ready() saw a free one */
	ahead = hweight_long(READ_ONCE(ctx->busy));
	slot = find_first_zero_bit(&ctx->busy, ctx->slots);
	if (WARN_ON_ONCE(slot >= ctx->slots)) {
		v4l2_m2m_buf_done_and_job_finish(ctx->sched->m2m_dev, m2m_ctx, VB2_BUF_STATE_ERROR);
		return;
	}
	dj = daedalus_slot(ctx, slot);
	set_bit(slot, &ctx->busy);
	pipelined = !(v4l2_m2m_get_src_vq(m2m_ctx)->subsystem_flags &
		      VB2_V4L2_FL_SUPPORTS_M2M_HOLD_CAPTURE_BUF);
	dj->pipelined = pipelined;
	dj->src = v4l2_m2m_next_src_buf(m2m_ctx);
	dj->dst = v4l2_m2m_next_dst_buf(m2m_ctx);
	if (pipelined) {
		v4l2_m2m_src_buf_remove(m2m_ctx);
		v4l2_m2m_dst_buf_remove(m2m_ctx);
	}
	v4l2_ctrl_request_setup(dj->src->vb2_buf.req_obj.req, &ctx->hdl);
	daedalus_copy_metadata(dj->src, dj->dst);

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
	v4l2_ctrl_request_complete(dj->src->vb2_buf.req_obj.req, &ctx->hdl);
	dj->job.reply_size = off + DAEDALUS_MAX_FWD_CTRLS * 2 * NLA_HDRLEN;
	/*
	 * From now: the jobs ahead of it are decoded first, within the same time (a hung worker
	 * fails the stream's jobs within one timeout, and a client's close waits no longer)
	 */
	dj->job.timeout = msecs_to_jiffies(daedalus_timeout_ms);
	dj->sequence = ctx->next_sequence++;
	dd_dbg(DAEDALUS_DBG_JOB, daedalus_ctx_dev(ctx), "stream %u frame %u: queued, %u ahead\n",
	       ctx->stream, dj->sequence, ahead);

	err = daedalus_job_queue(&dj->job);
	if (err) {
		dev_err_ratelimited(daedalus_ctx_dev(ctx),
				    "stream %u: no daemon attached, failing frame %u\n",
				    ctx->stream, dj->sequence);
		daedalus_decode_end(&dj->job, err, NULL);
	}
	/* @dj may have ended: not read again */
	if (pipelined) {
		daedalus_finish_begin(ctx);
		v4l2_m2m_job_finish(ctx->sched->m2m_dev, m2m_ctx);
		daedalus_finish_end(ctx);
	}
}

static const struct v4l2_m2m_ops daedalus_m2m_ops = {
	.device_run	= daedalus_device_run,
	.job_ready	= daedalus_job_ready,
};

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
};
