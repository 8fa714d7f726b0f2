// SPDX-License-Identifier: GPL-2.0
/*
 * The stateful decoder node: what it is (its struct daedalus_node_desc, the codecs it offers)
 * and its jobs. Its formats, ioctls and queues are in daedalus-sf-video.c.
 *
 * Nothing is parsed here: each job feeds one OUTPUT buffer to the stream's decoder in the
 * daemon (FFmpeg's parsers split the H.264 byte stream) and/or asks it for the next picture in
 * display order, written into one CAPTURE buffer. The daemon's answer says what happened: the
 * buffer was filled (with the timestamp of the OUTPUT buffer the picture came from), the
 * stream's format is known or changed (V4L2_EVENT_SOURCE_CHANGE; jobs wait until the client has
 * set CAPTURE up again; none is signalled if its buffers already fit), the drain ended (LAST and
 * V4L2_EVENT_EOS), and how many frames and pictures it holds for CAPTURE buffers to come.
 *
 * The m2m scheduler runs a job when job_ready() finds something to do: an OUTPUT buffer to
 * feed (unless the daemon said it holds all the bitstream it will), a CAPTURE buffer
 * for a picture that waits (or a frame to decode), or the drain. Both queues are "buffered"
 * for the scheduler, which leaves that decision to job_ready(), and the CAPTURE queue need not
 * stream for the header to be parsed.
 */
#include <media/v4l2-event.h>
#include <net/genetlink.h>

#include "daedalus-sf.h"

#define DAEDALUS_SF_META_FLAGS	(V4L2_BUF_FLAG_TIMECODE | V4L2_BUF_FLAG_KEYFRAME |	\
				 V4L2_BUF_FLAG_PFRAME | V4L2_BUF_FLAG_BFRAME |		\
				 V4L2_BUF_FLAG_TSTAMP_SRC_MASK)

static struct daedalus_sf_meta daedalus_sf_meta_of(const struct vb2_v4l2_buffer *src)
{
	struct daedalus_sf_meta m = {
		.timecode = src->timecode,
		.flags = src->flags & DAEDALUS_SF_META_FLAGS,
	};

	return m;
}

/*
 * @dst goes back to the client: give it @timestamp and @meta (NULL: none), those of the OUTPUT
 * buffer its picture came from, as v4l2_m2m_buf_copy_metadata() does when the two go together.
 */
static void daedalus_sf_meta_apply(struct vb2_v4l2_buffer *dst, u64 timestamp,
				   const struct daedalus_sf_meta *meta)
{
	dst->vb2_buf.timestamp = timestamp;
	dst->flags &= ~DAEDALUS_SF_META_FLAGS;
	if (meta) {
		dst->timecode = meta->timecode;
		dst->flags |= meta->flags & DAEDALUS_SF_META_FLAGS;
	}
}

/*
 * What the next job does: feed @src (if not NULL), drain (@drain), fill @dst (if not NULL).
 * False when there is nothing to do. Called with the context's lock held.
 */
static bool daedalus_sf_pick(struct daedalus_sf_ctx *sf, struct vb2_v4l2_buffer **src,
			     struct vb2_v4l2_buffer **dst, bool *drain)
{
	struct v4l2_m2m_ctx *m2m_ctx = sf->ctx.fh.m2m_ctx;

	*src = NULL;
	*dst = NULL;
	*drain = false;
	if (sf->stopped || sf->wait_capture)
		return false;
	if (!sf->drain_sent) {
		if (sf->draining && !sf->drain_src) {
			*drain = true;
		} else if (!sf->full) {
			*src = v4l2_m2m_next_src_buf(m2m_ctx);
			*drain = *src && *src == sf->drain_src;
		}
	}
	/* CAPTURE buffers are only on the ready list while CAPTURE streams */
	if (sf->announced || sf->drain_sent)
		*dst = v4l2_m2m_next_dst_buf(m2m_ctx);
	if (*src || *drain)
		return true;
	return *dst && (sf->pending || sf->drain_sent);
}

/* Called by the m2m scheduler with its job spinlock held (interrupts off). */
static int daedalus_sf_job_ready(void *priv)
{
	struct daedalus_sf_ctx *sf = daedalus_sf_of(priv);
	struct vb2_v4l2_buffer *src, *dst;
	unsigned long flags;
	bool drain, ready;

	spin_lock_irqsave(&sf->ctx.lock, flags);
	ready = daedalus_sf_pick(sf, &src, &dst, &drain);
	spin_unlock_irqrestore(&sf->ctx.lock, flags);
	return ready;
}

static int daedalus_sf_fill(struct daedalus_job *job, struct sk_buff *skb,
			    struct daedalus_fds *fds)
{
	struct daedalus_ctx *ctx = daedalus_job_ctx(job);
	struct daedalus_decode_job *dj = &ctx->decode;
	u32 flags = (dj->drain ? DAEDALUS_FEED_FLAGS_DRAIN : 0) |
		    (dj->announce ? DAEDALUS_FEED_FLAGS_ANNOUNCE : 0);
	int err;

	if (nla_put_u32(skb, DAEDALUS_A_JOB_CODEC, ctx->coded_desc->codec) ||
	    nla_put_u32(skb, DAEDALUS_A_JOB_SEQUENCE, dj->sequence) ||
	    nla_put_u32(skb, DAEDALUS_A_JOB_FLAGS, flags))
		return -EMSGSIZE;
	if (dj->src) {
		struct daedalus_sf_meta meta = daedalus_sf_meta_of(dj->src);

		err = daedalus_put_output(skb, fds, &dj->src->vb2_buf, NULL, &meta,
					  sizeof(meta));
		if (err)
			return err;
	}
	if (dj->dst)
		return daedalus_put_capture(skb, fds, &daedalus_sf_of(ctx)->job_fmt,
					    &dj->dst->vb2_buf);
	return 0;
}

/*
 * The daemon knows the stream's format (first, or changed): the new CAPTURE format, and
 * whether the client must set CAPTURE up again before more pictures come. Called with the
 * context's lock held.
 */
static void daedalus_sf_new_format(struct daedalus_sf_ctx *sf, struct genl_info *info,
				   u32 flags)
{
	struct daedalus_ctx *ctx = &sf->ctx;
	struct v4l2_pix_format_mplane *pix = &ctx->decoded_fmt.fmt.pix_mp;
	struct vb2_queue *cap_q = v4l2_m2m_get_dst_vq(ctx->fh.m2m_ctx);
	u32 width = daedalus_done_u32(info, DAEDALUS_A_DONE_WIDTH, 0);
	u32 height = daedalus_done_u32(info, DAEDALUS_A_DONE_HEIGHT, 0);
	u32 pixfmt = daedalus_done_u32(info, DAEDALUS_A_DONE_PIXFMT, V4L2_PIX_FMT_NV12);
	u32 min_buffers = daedalus_done_u32(info, DAEDALUS_A_DONE_MIN_BUFFERS,
					   DAEDALUS_SF_MIN_BUFFERS);
	struct v4l2_pix_format_mplane old = *pix;

	if (pixfmt != V4L2_PIX_FMT_P010)
		pixfmt = V4L2_PIX_FMT_NV12;
	width = clamp(width, ctx->coded_desc->frmsize.min_width,
		      ctx->coded_desc->frmsize.max_width);
	height = clamp(height, ctx->coded_desc->frmsize.min_height,
		       ctx->coded_desc->frmsize.max_height);
	sf->stream_fmt = pixfmt;
	/* NV12 buffers already streaming take a 10-bit stream's pictures in 8 bits */
	if (pixfmt == V4L2_PIX_FMT_P010 && vb2_is_streaming(cap_q) &&
	    old.pixelformat == V4L2_PIX_FMT_NV12)
		pixfmt = V4L2_PIX_FMT_NV12;
	daedalus_set_decoded(ctx, pixfmt, width, height);
	if (flags & DAEDALUS_DONE_FLAGS_FULL_RANGE)
		pix->quantization = V4L2_QUANTIZATION_FULL_RANGE;
	sf->min_buffers = clamp_t(u32, min_buffers, 1, VIDEO_MAX_FRAME);
	sf->announced = true;
	/*
	 * Buffers the client set up for this very format (FFmpeg guesses it from the container)
	 * go on serving, and no source change is signalled: dev-decoder.rst lets a client that
	 * knows the stream's parameters set CAPTURE up at once and hear of a source change only
	 * if its guess was wrong. (FFmpeg's wrapper cannot take an event while it drains: a short
	 * stream, drained before its first picture was decoded, made the ffmpeg tool abort or lost
	 * its pictures.)
	 */
	sf->wait_capture = !vb2_is_streaming(cap_q) || old.pixelformat != pix->pixelformat ||
			   old.width != pix->width || old.height != pix->height;
}

/*
 * Whether the daemon's answer contradicts the job it answers: a picture, or the last buffer,
 * for a job that carried no CAPTURE buffer; a picture together with a new format (which must
 * be set up before any picture of it); an OUTPUT mapping kept for a job without an OUTPUT
 * export (else noted: daedalus_output_kept()). The kernel believes no answer it cannot check:
 * the daemon decodes what web pages send, and may be confused or compromised. Such a job fails.
 */
static bool daedalus_sf_contradicts(struct daedalus_ctx *ctx, u32 flags)
{
	const char *why = NULL;

	if ((flags & (DAEDALUS_DONE_FLAGS_FILLED | DAEDALUS_DONE_FLAGS_LAST)) && !ctx->decode.dst)
		why = "a picture or the last buffer, and the job had no CAPTURE buffer";
	else if ((flags & DAEDALUS_DONE_FLAGS_FILLED) && (flags & DAEDALUS_DONE_FLAGS_FORMAT))
		why = "a picture together with a new format";
	else if (daedalus_output_kept(ctx->decode.src, flags))
		why = "an OUTPUT mapping kept, and the job had no OUTPUT export";
	if (why)
		dev_warn_ratelimited(daedalus_ctx_dev(ctx),
				     "stream %u job %u: the daemon's answer contradicts the job (%s): failing it\n",
				     ctx->stream, ctx->decode.sequence, why);
	return why;
}

static void daedalus_sf_end(struct daedalus_job *job, int status, struct genl_info *info)
{
	static const struct v4l2_event source_change = {
		.type = V4L2_EVENT_SOURCE_CHANGE,
		.u.src_change.changes = V4L2_EVENT_SRC_CH_RESOLUTION,
	};
	static const struct v4l2_event eos = { .type = V4L2_EVENT_EOS };
	struct daedalus_ctx *ctx = daedalus_job_ctx(job);
	struct daedalus_sf_ctx *sf = daedalus_sf_of(ctx);
	struct daedalus_decode_job *dj = &ctx->decode;
	struct v4l2_m2m_ctx *m2m_ctx = ctx->fh.m2m_ctx;
	struct vb2_v4l2_buffer *src = dj->src, *dst = dj->dst;
	u32 flags = status ? 0 : daedalus_done_u32(info, DAEDALUS_A_DONE_FLAGS, 0);
	bool drained = false, changed = false, filled, last, dst_done;
	u32 in_sequence = 0, out_sequence = 0, min_buffers;
	u64 timestamp = 0;

	if (flags && daedalus_sf_contradicts(ctx, flags)) {
		status = -EPROTO;
		flags = 0;
	}
	if (status)
		daedalus_output_resend(src);
	filled = flags & DAEDALUS_DONE_FLAGS_FILLED;
	last = flags & DAEDALUS_DONE_FLAGS_LAST;
	if (status)
		dev_warn_ratelimited(daedalus_ctx_dev(ctx),
				     "stream %u job %u: %s: %pe\n", ctx->stream, dj->sequence,
				     info ? "bad bitstream" : "decoder failed", ERR_PTR(status));
	dd_dbg(DAEDALUS_DBG_JOB, daedalus_ctx_dev(ctx),
	       "stream %u job %u (src %d, dst %d, drain %d): flags %#x, %u pending\n",
	       ctx->stream, dj->sequence, !!src, !!dst, dj->drain, flags,
	       daedalus_done_u32(info, DAEDALUS_A_DONE_PENDING, 0));

	spin_lock_irq(&ctx->lock);
	if (dj->drain) {
		sf->draining = false;
		sf->drain_src = NULL;
		sf->drain_sent = true;
	} else if (src && src == sf->drain_src) {
		/* the stop came while this job ran: the drain follows it at once */
		sf->drain_src = NULL;
	}
	if (!info) {
		/* no answer (daemon gone, or too slow): what it held is lost */
		sf->pending = 0;
		last = dst && sf->drain_sent;
	} else {
		sf->pending = daedalus_done_u32(info, DAEDALUS_A_DONE_PENDING, 0);
	}
	sf->full = flags & DAEDALUS_DONE_FLAGS_FULL;
	if (flags & DAEDALUS_DONE_FLAGS_FORMAT) {
		daedalus_sf_new_format(sf, info, flags);
		changed = sf->wait_capture;
	} else if (last) {
		drained = true;
	}
	if (drained) {
		sf->drain_sent = false;
		sf->stopped = true;
	}
	if (src)
		in_sequence = sf->in_sequence++;
	dst_done = dst && (filled || last || !info);
	if (dst_done)
		out_sequence = sf->out_sequence++;
	if (filled) {
		const struct nlattr *meta = info->attrs[DAEDALUS_A_DONE_META];

		if (info->attrs[DAEDALUS_A_DONE_TIMESTAMP])
			timestamp = nla_get_u64(info->attrs[DAEDALUS_A_DONE_TIMESTAMP]);
		/* what the job that fed the picture's first bytes sent, if the daemon kept it */
		daedalus_sf_meta_apply(dst, timestamp,
				       meta && nla_len(meta) == sizeof(struct daedalus_sf_meta) ?
				       nla_data(meta) : NULL);
	} else if (dst_done) {
		/* an empty buffer (LAST, or failed): those of the last bitstream fed */
		daedalus_sf_meta_apply(dst, sf->last_fed_ts, &sf->last_fed);
	}
	min_buffers = sf->min_buffers;
	spin_unlock_irq(&ctx->lock);
	if (flags & DAEDALUS_DONE_FLAGS_FORMAT)
		v4l2_ctrl_s_ctrl(sf->min_buffers_ctrl, min_buffers);

	if (src) {
		v4l2_m2m_src_buf_remove_by_buf(m2m_ctx, src);
		src->sequence = in_sequence;
		v4l2_m2m_buf_done(src, status ? VB2_BUF_STATE_ERROR : VB2_BUF_STATE_DONE);
	}
	/*
	 * An event and the buffer it explains appear to poll() together: a client that finds the
	 * LAST buffer finds why (v4l2-compliance checks), and one that finds the EOS event finds
	 * the LAST buffer with it (FFmpeg takes the event for the end and stops dequeuing: the
	 * buffer's picture would be lost).
	 */
	mutex_lock(&sf->poll_lock);
	if (changed)
		v4l2_event_queue_fh(&ctx->fh, &source_change);
	else if (drained)
		v4l2_event_queue_fh(&ctx->fh, &eos);
	if (dst_done) {
		v4l2_m2m_dst_buf_remove_by_buf(m2m_ctx, dst);
		dst->sequence = out_sequence;
		dst->field = V4L2_FIELD_NONE;
		if (!filled)
			vb2_set_plane_payload(&dst->vb2_buf, 0, 0);
		if (last)
			dst->flags |= V4L2_BUF_FLAG_LAST;
		v4l2_m2m_buf_done(dst, info ? VB2_BUF_STATE_DONE : VB2_BUF_STATE_ERROR);
	}
	mutex_unlock(&sf->poll_lock);
	dj->src = NULL;
	dj->dst = NULL;
	/*
	 * A stream the daemon cannot decode at all: the client must see it, and an error buffer
	 * now and then is not what every client takes for one (FFmpeg's wrapper counts such
	 * pictures as decoded). OUTPUT fails (QBUF and DQBUF give EIO) until the client stops
	 * it; CAPTURE goes on, so that a drain still ends with its LAST buffer (FFmpeg's wrapper
	 * takes a CAPTURE queue in error for a reason to poll again, for ever).
	 */
	if (status == -EOPNOTSUPP && info) {
		dev_info_ratelimited(daedalus_ctx_dev(ctx),
				     "stream %u: the daemon cannot decode this stream: OUTPUT fails\n",
				     ctx->stream);
		vb2_queue_error(v4l2_m2m_get_src_vq(m2m_ctx));
	}
	/*
	 * The daemon went away (-EPIPE), or none is attached (-ENODEV): the stream's decoder and
	 * the bitstream it held went with it, and a daemon that comes later cannot go on from
	 * the middle of a stream. OUTPUT fails as above, so that the client sees it and starts
	 * again (one that waits for the stream's first source change would wait for ever).
	 */
	if (status == -EPIPE || status == -ENODEV) {
		dev_info_ratelimited(daedalus_ctx_dev(ctx),
				     "stream %u: no daemon (any more): OUTPUT fails\n",
				     ctx->stream);
		vb2_queue_error(v4l2_m2m_get_src_vq(m2m_ctx));
	}
	daedalus_finish_begin(ctx);
	v4l2_m2m_job_finish(ctx->sched->m2m_dev, m2m_ctx);
	daedalus_finish_end(ctx);
}

static const struct daedalus_job_ops daedalus_sf_job_ops = {
	.fill = daedalus_sf_fill,
	.end = daedalus_sf_end,
};

static void daedalus_sf_device_run(void *priv)
{
	struct daedalus_ctx *ctx = priv;
	struct daedalus_sf_ctx *sf = daedalus_sf_of(ctx);
	struct daedalus_decode_job *dj = &ctx->decode;
	bool ready;
	int err;

	spin_lock_irq(&ctx->lock);
	ready = daedalus_sf_pick(sf, &dj->src, &dj->dst, &dj->drain);
	dj->announce = !sf->announced;
	sf->job_fmt = ctx->decoded_fmt.fmt.pix_mp;
	if (dj->src) {
		sf->last_fed_ts = dj->src->vb2_buf.timestamp;
		sf->last_fed = daedalus_sf_meta_of(dj->src);
	}
	spin_unlock_irq(&ctx->lock);
	if (!ready) {
		/* the state changed since job_ready() (a source change, a stop) */
		daedalus_finish_begin(ctx);
		v4l2_m2m_job_finish(ctx->sched->m2m_dev, ctx->fh.m2m_ctx);
		daedalus_finish_end(ctx);
		return;
	}
	dj->sequence = ctx->next_sequence++;
	dj->job.reply_size = 0;
	dj->job.timeout = msecs_to_jiffies(daedalus_timeout_ms);
	err = daedalus_job_queue(&dj->job);
	if (err) {
		dev_err_ratelimited(daedalus_ctx_dev(ctx),
				    "stream %u: no daemon attached, failing job %u\n",
				    ctx->stream, dj->sequence);
		daedalus_sf_end(&dj->job, err, NULL);
	}
}

static const struct v4l2_m2m_ops daedalus_sf_m2m_ops = {
	.device_run	= daedalus_sf_device_run,
	.job_ready	= daedalus_sf_job_ready,
};

/* The codecs the stateful node can offer, in the order of the stateful_codecs default. */
static const struct daedalus_coded_fmt *const daedalus_sf_codecs[] = {
	&daedalus_h264_sf_fmt,
	&daedalus_vp9_sf_fmt,
	&daedalus_av1_sf_fmt,
};

/* What it offers: written once by daedalus_sf_select_codecs(), before the node exists. */
static const struct daedalus_coded_fmt *daedalus_sf_fmts[ARRAY_SIZE(daedalus_sf_codecs)];

struct daedalus_node_desc daedalus_stateful_node = {
	.name		= DAEDALUS_NAME "-stateful",
	.kind		= "stateful",
	.fmts		= daedalus_sf_fmts,
	.ioctl_ops	= &daedalus_sf_ioctl_ops,
	.m2m_ops	= &daedalus_sf_m2m_ops,
	.qops		= &daedalus_sf_qops,
	/*
	 * The pictures' own size, odd or not: at a source change FFmpeg's v4l2m2m wrappers
	 * output G_FMT's size and GStreamer's v4l2videodec wants TRY_FMT to give back the
	 * visible one. Rows of whole 16-pixel blocks, as hardware decoders write them (with
	 * rows not a multiple of 4 bytes, v4l2videodec mis-sizes its frames).
	 */
	.capture_align	= 1,
	.stride_align	= 16,
	.job_kind	= DAEDALUS_JOB_KIND_FEED,
	.job_ops	= &daedalus_sf_job_ops,
	.ctx_size	= sizeof(struct daedalus_sf_ctx),
	.open		= daedalus_sf_open,
	.release	= daedalus_sf_release,
	.poll		= daedalus_sf_poll,
};

static const struct daedalus_coded_fmt *daedalus_sf_codec(const char *name, size_t len)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(daedalus_sf_codecs); i++)
		if (strlen(daedalus_sf_codecs[i]->name) == len &&
		    !strncmp(name, daedalus_sf_codecs[i]->name, len))
			return daedalus_sf_codecs[i];
	return NULL;
}

static bool daedalus_sf_listed(const struct daedalus_coded_fmt *fmt, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (daedalus_sf_fmts[i] == fmt)
			return true;
	return false;
}

/**
 * daedalus_sf_select_codecs - choose the stateful node's coded formats
 * @list:	comma-separated codec names ("h264,vp9,av1"), in the order ENUM_FMT lists them
 *
 * Called once at module load, before the node is registered.
 *
 * Return: 0, or -EINVAL for an unknown name or an empty list.
 */
int daedalus_sf_select_codecs(const char *list)
{
	const struct daedalus_coded_fmt *fmt;
	const char *p = list;
	unsigned int n = 0;

	/* the message below names each codec */
	BUILD_BUG_ON(ARRAY_SIZE(daedalus_sf_codecs) != 3);
	while (*p) {
		size_t len = strcspn(p, ",");

		fmt = daedalus_sf_codec(p, len);
		if (!fmt) {
			pr_err(DAEDALUS_NAME ": stateful_codecs: unknown codec \"%.*s\" (known: %s, %s, %s)\n",
			       (int)len, p, daedalus_sf_codecs[0]->name,
			       daedalus_sf_codecs[1]->name, daedalus_sf_codecs[2]->name);
			return -EINVAL;
		}
		if (!daedalus_sf_listed(fmt, n))
			daedalus_sf_fmts[n++] = fmt;
		p += len;
		if (*p)
			p++;
	}
	if (!n) {
		pr_err(DAEDALUS_NAME ": stateful_codecs names no codec\n");
		return -EINVAL;
	}
	daedalus_stateful_node.num_fmts = n;
	return 0;
}
