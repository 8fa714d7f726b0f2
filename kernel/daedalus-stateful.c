// SPDX-License-Identifier: GPL-2.0
/*
 * The stateful decoder node: the V4L2 stateful decoder interface (Documentation/userspace-api/
 * media/v4l/dev-decoder.rst), which the stock browsers of Raspberry Pi OS and FFmpeg's and
 * GStreamer's v4l2 wrappers speak.
 *
 * OUTPUT takes the byte stream as the client chunks it: H.264 Annex B in any chunks, VP9 one
 * frame (or superframe) per buffer, AV1 one temporal unit per buffer. Nothing is parsed here:
 * each job feeds one OUTPUT buffer to the stream's decoder in the daemon (FFmpeg's parsers split
 * the H.264 byte stream) and/or asks it for the next picture in display order, written into one
 * CAPTURE buffer. The daemon's answer says what happened: the buffer was filled (with the
 * timestamp of the OUTPUT buffer the picture came from), the stream's format is known or
 * changed (V4L2_EVENT_SOURCE_CHANGE; jobs wait until the client has set CAPTURE up again,
 * unless its buffers already fit), the drain ended (V4L2_BUF_FLAG_LAST and V4L2_EVENT_EOS), and
 * how many frames and pictures it holds for CAPTURE buffers to come.
 *
 * The m2m scheduler runs a job when job_ready() finds something to do: an OUTPUT buffer to
 * feed (unless the daemon said it holds all the bitstream it will), a CAPTURE buffer
 * for a picture that waits (or a frame to decode), or the drain. Both queues are "buffered"
 * for the scheduler, which leaves that decision to job_ready(), and the CAPTURE queue need not
 * stream for the header to be parsed.
 */
#include <linux/videodev2.h>
#include <media/v4l2-event.h>
#include <media/v4l2-ioctl.h>
#include <media/videobuf2-vmalloc.h>
#include <net/genetlink.h>

#include "daedalus-v4l2.h"

#ifndef V4L2_PIX_FMT_AV1
/*
 * Stateful AV1 (a stream of OBUs, one temporal unit per buffer) has no fourcc in the uapi
 * headers of the kernels this module builds for; Chromium and Firefox probe for this one.
 */
#define V4L2_PIX_FMT_AV1	v4l2_fourcc('A', 'V', '0', '1')
#endif

/* CAPTURE buffers a stream needs at least: the daemon holds the references itself. */
#define DAEDALUS_SF_MIN_BUFFERS	2

static const struct daedalus_coded_fmt daedalus_sf_h264_fmt = {
	.fourcc = V4L2_PIX_FMT_H264,
	.codec = DAEDALUS_CODEC_H264,
	.frmsize = { .min_width = 16, .max_width = 4096, .step_width = 1,
		     .min_height = 16, .max_height = 2304, .step_height = 1 },
	.profiles = &daedalus_h264_profiles,
	.flags = V4L2_FMT_FLAG_DYN_RESOLUTION | V4L2_FMT_FLAG_CONTINUOUS_BYTESTREAM,
};

static const struct daedalus_coded_fmt daedalus_sf_vp9_fmt = {
	.fourcc = V4L2_PIX_FMT_VP9,
	.codec = DAEDALUS_CODEC_VP9,
	.frmsize = { .min_width = 16, .max_width = 4096, .step_width = 1,
		     .min_height = 16, .max_height = 2304, .step_height = 1 },
	.profiles = &daedalus_vp9_profiles,
	.flags = V4L2_FMT_FLAG_DYN_RESOLUTION,
};

static const struct daedalus_coded_fmt daedalus_sf_av1_fmt = {
	.fourcc = V4L2_PIX_FMT_AV1,
	.codec = DAEDALUS_CODEC_AV1,
	.frmsize = { .min_width = 16, .max_width = 4096, .step_width = 1,
		     .min_height = 16, .max_height = 2304, .step_height = 1 },
	.profiles = &daedalus_av1_profiles,
	.description = "AV1 OBU stream",
	.flags = V4L2_FMT_FLAG_COMPRESSED | V4L2_FMT_FLAG_DYN_RESOLUTION,
};

/* The codecs the stateful node can offer, by their names in the stateful_codecs parameter. */
static const struct {
	const char *name;
	const struct daedalus_coded_fmt *fmt;
} daedalus_sf_codecs[] = {
	{ "h264", &daedalus_sf_h264_fmt },
	{ "vp9", &daedalus_sf_vp9_fmt },
	{ "av1", &daedalus_sf_av1_fmt },
};

/* What it offers: written once by daedalus_sf_select_codecs(), before the node exists. */
static const struct daedalus_coded_fmt *daedalus_sf_fmts[ARRAY_SIZE(daedalus_sf_codecs)];

struct daedalus_node_desc daedalus_stateful_node = {
	.fmts = daedalus_sf_fmts,
};

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
	unsigned int i, n = 0;
	const char *p = list;

	while (*p) {
		size_t len = strcspn(p, ",");

		for (i = 0; i < ARRAY_SIZE(daedalus_sf_codecs); i++)
			if (strlen(daedalus_sf_codecs[i].name) == len &&
			    !strncmp(p, daedalus_sf_codecs[i].name, len))
				break;
		if (i == ARRAY_SIZE(daedalus_sf_codecs)) {
			pr_err(DAEDALUS_NAME ": stateful_codecs: unknown codec \"%.*s\" (known: h264, vp9, av1)\n",
			       (int)len, p);
			return -EINVAL;
		}
		if (!daedalus_sf_listed(daedalus_sf_codecs[i].fmt, n))
			daedalus_sf_fmts[n++] = daedalus_sf_codecs[i].fmt;
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

/* The CAPTURE format of a stream whose pictures are @width x @height in @pixfmt. */
static void daedalus_sf_fill_decoded(struct v4l2_pix_format_mplane *pix, u32 pixfmt,
				     u32 width, u32 height,
				     const struct v4l2_pix_format_mplane *coded)
{
	v4l2_fill_pixfmt_mp(pix, pixfmt, ALIGN(width, 2), ALIGN(height, 2));
	pix->field = V4L2_FIELD_NONE;
	pix->colorspace = coded->colorspace;
	pix->xfer_func = coded->xfer_func;
	pix->ycbcr_enc = coded->ycbcr_enc;
	pix->quantization = coded->quantization;
}

/*
 * At open: the stream's state and the stateful node's own control (read-only; the node sets it
 * when the daemon tells the format, which sends a control event to subscribers).
 */
void daedalus_sf_init(struct daedalus_ctx *ctx)
{
	ctx->sf.min_buffers = DAEDALUS_SF_MIN_BUFFERS;
	ctx->sf.min_buffers_ctrl = v4l2_ctrl_new_std(&ctx->hdl, NULL,
						     V4L2_CID_MIN_BUFFERS_FOR_CAPTURE, 1,
						     VIDEO_MAX_FRAME, 1,
						     DAEDALUS_SF_MIN_BUFFERS);
}

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
 * False when there is nothing to do. Called with sf.lock held.
 */
static bool daedalus_sf_pick(struct daedalus_ctx *ctx, struct vb2_v4l2_buffer **src,
			     struct vb2_v4l2_buffer **dst, bool *drain)
{
	struct v4l2_m2m_ctx *m2m_ctx = ctx->fh.m2m_ctx;
	struct daedalus_sf *sf = &ctx->sf;

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
	struct daedalus_ctx *ctx = priv;
	struct vb2_v4l2_buffer *src, *dst;
	unsigned long flags;
	bool drain, ready;

	spin_lock_irqsave(&ctx->sf.lock, flags);
	ready = daedalus_sf_pick(ctx, &src, &dst, &drain);
	spin_unlock_irqrestore(&ctx->sf.lock, flags);
	return ready;
}

static struct daedalus_ctx *daedalus_sf_job_ctx(struct daedalus_job *job)
{
	return container_of(job, struct daedalus_ctx, decode.job);
}

static int daedalus_sf_fill(struct daedalus_job *job, struct sk_buff *skb)
{
	struct daedalus_ctx *ctx = daedalus_sf_job_ctx(job);
	struct daedalus_decode_job *dj = &ctx->decode;
	const struct v4l2_pix_format_mplane *pix = &ctx->job_fmt;
	u32 flags = (dj->drain ? DAEDALUS_FEED_FLAGS_DRAIN : 0) |
		    (dj->announce ? DAEDALUS_FEED_FLAGS_ANNOUNCE : 0);
	int err;

	if (nla_put_u32(skb, DAEDALUS_A_JOB_CODEC, ctx->coded_desc->codec) ||
	    nla_put_u32(skb, DAEDALUS_A_JOB_SEQUENCE, dj->sequence) ||
	    nla_put_u32(skb, DAEDALUS_A_JOB_FLAGS, flags))
		return -EMSGSIZE;
	if (dj->src) {
		struct vb2_buffer *src = &dj->src->vb2_buf;
		u32 offset = src->planes[0].data_offset;
		u32 used = vb2_get_plane_payload(src, 0);
		struct daedalus_sf_meta meta = daedalus_sf_meta_of(dj->src);

		if (offset > used)
			return -EINVAL;
		if (nla_put_u32(skb, DAEDALUS_A_JOB_SRC_OFFSET, offset) ||
		    nla_put_u32(skb, DAEDALUS_A_JOB_SRC_BYTES, used - offset) ||
		    nla_put_u64_64bit(skb, DAEDALUS_A_JOB_TIMESTAMP, src->timestamp, 0) ||
		    nla_put(skb, DAEDALUS_A_JOB_META, sizeof(meta), &meta))
			return -EMSGSIZE;
		err = daedalus_fill_plane_fd(skb, DAEDALUS_A_JOB_SRC_FD, src, 0);
		if (err)
			return err;
	}
	if (dj->dst) {
		struct vb2_buffer *dst = &dj->dst->vb2_buf;

		if (nla_put_u32(skb, DAEDALUS_A_JOB_WIDTH, pix->width) ||
		    nla_put_u32(skb, DAEDALUS_A_JOB_HEIGHT, pix->height) ||
		    nla_put_u32(skb, DAEDALUS_A_JOB_PIXFMT, pix->pixelformat) ||
		    nla_put_u32(skb, DAEDALUS_A_JOB_BYTESPERLINE, pix->plane_fmt[0].bytesperline) ||
		    nla_put_u32(skb, DAEDALUS_A_JOB_PLANE_SIZE, vb2_plane_size(dst, 0)) ||
		    nla_put_u32(skb, DAEDALUS_A_JOB_BUF, daedalus_buf_id(dst, 0)))
			return -EMSGSIZE;
		err = daedalus_fill_plane_fd(skb, DAEDALUS_A_JOB_DST_FD, dst, 0);
		if (err)
			return err;
	}
	return 0;
}

static u32 daedalus_sf_attr(struct genl_info *info, int attr, u32 def)
{
	return info && info->attrs[attr] ? nla_get_u32(info->attrs[attr]) : def;
}

/*
 * The daemon knows the stream's format (first, or changed): the new CAPTURE format, and
 * whether the client must set CAPTURE up again before more pictures come. Called with
 * sf.lock held.
 */
static void daedalus_sf_new_format(struct daedalus_ctx *ctx, struct genl_info *info)
{
	struct v4l2_pix_format_mplane *pix = &ctx->decoded_fmt.fmt.pix_mp;
	struct vb2_queue *cap_q = v4l2_m2m_get_dst_vq(ctx->fh.m2m_ctx);
	u32 width = daedalus_sf_attr(info, DAEDALUS_A_DONE_WIDTH, 0);
	u32 height = daedalus_sf_attr(info, DAEDALUS_A_DONE_HEIGHT, 0);
	u32 pixfmt = daedalus_sf_attr(info, DAEDALUS_A_DONE_PIXFMT, V4L2_PIX_FMT_NV12);
	u32 min_buffers = daedalus_sf_attr(info, DAEDALUS_A_DONE_MIN_BUFFERS,
					   DAEDALUS_SF_MIN_BUFFERS);
	struct v4l2_pix_format_mplane old = *pix;

	if (pixfmt != V4L2_PIX_FMT_P010)
		pixfmt = V4L2_PIX_FMT_NV12;
	width = clamp(width, ctx->coded_desc->frmsize.min_width,
		      ctx->coded_desc->frmsize.max_width);
	height = clamp(height, ctx->coded_desc->frmsize.min_height,
		       ctx->coded_desc->frmsize.max_height);
	daedalus_sf_fill_decoded(pix, pixfmt, width, height, &ctx->coded_fmt.fmt.pix_mp);
	ctx->sf.visible = (struct v4l2_rect){ .width = width, .height = height };
	ctx->sf.min_buffers = clamp_t(u32, min_buffers, 1, VIDEO_MAX_FRAME);
	ctx->sf.announced = true;
	/* buffers the client set up for this very format (FFmpeg guesses it) go on serving */
	ctx->sf.wait_capture = !vb2_is_streaming(cap_q) || old.pixelformat != pix->pixelformat ||
			       old.width != pix->width || old.height != pix->height;
}

static void daedalus_sf_end(struct daedalus_job *job, int status, struct genl_info *info)
{
	static const struct v4l2_event source_change = {
		.type = V4L2_EVENT_SOURCE_CHANGE,
		.u.src_change.changes = V4L2_EVENT_SRC_CH_RESOLUTION,
	};
	static const struct v4l2_event eos = { .type = V4L2_EVENT_EOS };
	struct daedalus_ctx *ctx = daedalus_sf_job_ctx(job);
	struct daedalus_decode_job *dj = &ctx->decode;
	struct v4l2_m2m_ctx *m2m_ctx = ctx->fh.m2m_ctx;
	struct vb2_v4l2_buffer *src = dj->src, *dst = dj->dst;
	u32 flags = status ? 0 : daedalus_sf_attr(info, DAEDALUS_A_DONE_FLAGS, 0);
	bool drained = false, filled = flags & DAEDALUS_DONE_FLAGS_FILLED;
	bool last = flags & DAEDALUS_DONE_FLAGS_LAST;
	bool dst_done;
	u32 in_sequence = 0, out_sequence = 0, min_buffers;
	u64 timestamp = 0;

	if (status)
		dev_warn_ratelimited(ctx->dev->v4l2_dev.dev,
				     "stream %u job %u: %s: %pe\n", ctx->stream, dj->sequence,
				     info ? "bad bitstream" : "decoder failed", ERR_PTR(status));
	dd_dbg(DAEDALUS_DBG_JOB, ctx->dev->v4l2_dev.dev,
	       "stream %u job %u (src %d, dst %d, drain %d): flags %#x, %u pending\n",
	       ctx->stream, dj->sequence, !!src, !!dst, dj->drain, flags,
	       daedalus_sf_attr(info, DAEDALUS_A_DONE_PENDING, 0));

	spin_lock_irq(&ctx->sf.lock);
	if (dj->drain) {
		ctx->sf.draining = false;
		ctx->sf.drain_src = NULL;
		ctx->sf.drain_sent = true;
	} else if (src && src == ctx->sf.drain_src) {
		/* the stop came while this job ran: the drain follows it at once */
		ctx->sf.drain_src = NULL;
	}
	if (!info) {
		/* no answer (daemon gone, or too slow): what it held is lost */
		ctx->sf.pending = 0;
		last = dst && ctx->sf.drain_sent;
	} else {
		ctx->sf.pending = daedalus_sf_attr(info, DAEDALUS_A_DONE_PENDING, 0);
	}
	ctx->sf.full = flags & DAEDALUS_DONE_FLAGS_FULL;
	if (flags & DAEDALUS_DONE_FLAGS_FORMAT)
		daedalus_sf_new_format(ctx, info);
	else if (last)
		drained = true;
	if (drained) {
		ctx->sf.drain_sent = false;
		ctx->sf.stopped = true;
	}
	if (src)
		in_sequence = ctx->sf.in_sequence++;
	dst_done = dst && (filled || last || !info);
	if (dst_done)
		out_sequence = ctx->sf.out_sequence++;
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
		daedalus_sf_meta_apply(dst, ctx->sf.last_fed_ts, &ctx->sf.last_fed);
	}
	min_buffers = ctx->sf.min_buffers;
	spin_unlock_irq(&ctx->sf.lock);
	if (flags & DAEDALUS_DONE_FLAGS_FORMAT)
		v4l2_ctrl_s_ctrl(ctx->sf.min_buffers_ctrl, min_buffers);

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
	mutex_lock(&ctx->sf.poll_lock);
	if (flags & DAEDALUS_DONE_FLAGS_FORMAT)
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
	mutex_unlock(&ctx->sf.poll_lock);
	dj->src = NULL;
	dj->dst = NULL;
	v4l2_m2m_job_finish(ctx->dev->sf_m2m_dev, m2m_ctx);
}

const struct daedalus_job_ops daedalus_sf_job_ops = {
	.fill = daedalus_sf_fill,
	.end = daedalus_sf_end,
};

static void daedalus_sf_device_run(void *priv)
{
	struct daedalus_ctx *ctx = priv;
	struct daedalus_decode_job *dj = &ctx->decode;
	bool ready;
	int err;

	spin_lock_irq(&ctx->sf.lock);
	ready = daedalus_sf_pick(ctx, &dj->src, &dj->dst, &dj->drain);
	dj->announce = !ctx->sf.announced;
	ctx->job_fmt = ctx->decoded_fmt.fmt.pix_mp;
	if (dj->src) {
		ctx->sf.last_fed_ts = dj->src->vb2_buf.timestamp;
		ctx->sf.last_fed = daedalus_sf_meta_of(dj->src);
	}
	spin_unlock_irq(&ctx->sf.lock);
	if (!ready) {
		/* the state changed since job_ready() (a source change, a stop) */
		v4l2_m2m_job_finish(ctx->dev->sf_m2m_dev, ctx->fh.m2m_ctx);
		return;
	}
	dj->sequence = ctx->next_sequence++;
	dj->job.reply_size = 0;
	dj->job.timeout = msecs_to_jiffies(daedalus_timeout_ms);
	err = daedalus_job_queue(&dj->job);
	if (err) {
		dev_err_ratelimited(ctx->dev->v4l2_dev.dev,
				    "stream %u: no daemon attached, failing job %u\n",
				    ctx->stream, dj->sequence);
		daedalus_sf_end(&dj->job, err, NULL);
	}
}

const struct v4l2_m2m_ops daedalus_sf_m2m_ops = {
	.device_run	= daedalus_sf_device_run,
	.job_ready	= daedalus_sf_job_ready,
};

/* CAPTURE formats: the one the stream needs (NV12 until the daemon says otherwise). */
static int daedalus_sf_enum_fmt_cap(struct file *file, void *priv, struct v4l2_fmtdesc *f)
{
	struct daedalus_ctx *ctx = daedalus_file_to_ctx(file);

	if (f->index)
		return -EINVAL;
	spin_lock_irq(&ctx->sf.lock);
	f->pixelformat = ctx->decoded_fmt.fmt.pix_mp.pixelformat;
	spin_unlock_irq(&ctx->sf.lock);
	return 0;
}

static int daedalus_sf_g_fmt_cap(struct file *file, void *priv, struct v4l2_format *f)
{
	struct daedalus_ctx *ctx = daedalus_file_to_ctx(file);

	spin_lock_irq(&ctx->sf.lock);
	f->fmt.pix_mp = ctx->decoded_fmt.fmt.pix_mp;
	spin_unlock_irq(&ctx->sf.lock);
	return 0;
}

/* The size and pixel format are the stream's: the client may only read them back. */
static int daedalus_sf_try_fmt_cap(struct file *file, void *priv, struct v4l2_format *f)
{
	return daedalus_sf_g_fmt_cap(file, priv, f);
}

static int daedalus_sf_s_fmt_cap(struct file *file, void *priv, struct v4l2_format *f)
{
	struct daedalus_ctx *ctx = daedalus_file_to_ctx(file);

	if (vb2_is_busy(v4l2_m2m_get_dst_vq(ctx->fh.m2m_ctx)))
		return -EBUSY;
	return daedalus_sf_g_fmt_cap(file, priv, f);
}

static int daedalus_sf_s_fmt_out(struct file *file, void *priv, struct v4l2_format *f)
{
	struct daedalus_ctx *ctx = daedalus_file_to_ctx(file);
	struct v4l2_pix_format_mplane *pix = &f->fmt.pix_mp;
	int ret;

	if (vb2_is_busy(v4l2_m2m_get_src_vq(ctx->fh.m2m_ctx)))
		return -EBUSY;
	ret = daedalus_try_fmt_out(file, priv, f);
	if (ret)
		return ret;

	spin_lock_irq(&ctx->sf.lock);
	/* a new codec is a new stream: its format is unknown until the daemon has parsed it */
	if (pix->pixelformat != ctx->coded_fmt.fmt.pix_mp.pixelformat)
		ctx->sf.announced = false;
	ctx->coded_fmt = *f;
	ctx->coded_desc = daedalus_find_coded(ctx, pix->pixelformat);
	/* until then, the client's size stands for the stream's */
	if (!ctx->sf.announced) {
		daedalus_sf_fill_decoded(&ctx->decoded_fmt.fmt.pix_mp, V4L2_PIX_FMT_NV12,
					 pix->width, pix->height, pix);
		ctx->sf.visible = (struct v4l2_rect){ .width = pix->width,
						      .height = pix->height };
	}
	spin_unlock_irq(&ctx->sf.lock);
	dd_dbg(DAEDALUS_DBG_FMT, ctx->dev->v4l2_dev.dev, "stream %u: OUTPUT %p4cc %ux%u\n",
	       ctx->stream, &pix->pixelformat, pix->width, pix->height);
	return 0;
}

static int daedalus_sf_decoder_cmd(struct file *file, void *priv, struct v4l2_decoder_cmd *dc)
{
	struct daedalus_ctx *ctx = daedalus_file_to_ctx(file);
	struct v4l2_m2m_ctx *m2m_ctx = ctx->fh.m2m_ctx;
	struct daedalus_sf *sf = &ctx->sf;
	bool resume = false;
	int ret;

	ret = v4l2_m2m_ioctl_try_decoder_cmd(file, priv, dc);
	if (ret)
		return ret;
	spin_lock_irq(&sf->lock);
	if (sf->draining || sf->drain_sent) {
		ret = -EBUSY;	/* a drain is under way */
	} else if (dc->cmd == V4L2_DEC_CMD_STOP) {
		/* nothing to drain when OUTPUT does not stream, or the drain ended */
		if (vb2_is_streaming(v4l2_m2m_get_src_vq(m2m_ctx)) && !sf->stopped) {
			sf->draining = true;
			sf->drain_src = v4l2_m2m_last_src_buf(m2m_ctx);
		}
	} else {
		resume = sf->stopped;
		sf->stopped = false;
	}
	spin_unlock_irq(&sf->lock);
	if (ret)
		return ret;
	if (resume)
		vb2_clear_last_buffer_dequeued(v4l2_m2m_get_dst_vq(m2m_ctx));
	v4l2_m2m_try_schedule(m2m_ctx);
	return 0;
}

static int daedalus_sf_subscribe_event(struct v4l2_fh *fh,
				       const struct v4l2_event_subscription *sub)
{
	switch (sub->type) {
	case V4L2_EVENT_EOS:
		return v4l2_event_subscribe(fh, sub, 2, NULL);
	case V4L2_EVENT_SOURCE_CHANGE:
		return v4l2_src_change_event_subscribe(fh, sub);
	default:
		return v4l2_ctrl_subscribe_event(fh, sub);
	}
}

const struct v4l2_ioctl_ops daedalus_sf_ioctl_ops = {
	.vidioc_querycap		= daedalus_querycap,
	.vidioc_enum_framesizes		= daedalus_enum_framesizes,

	.vidioc_enum_fmt_vid_cap	= daedalus_sf_enum_fmt_cap,
	.vidioc_g_fmt_vid_cap_mplane	= daedalus_sf_g_fmt_cap,
	.vidioc_try_fmt_vid_cap_mplane	= daedalus_sf_try_fmt_cap,
	.vidioc_s_fmt_vid_cap_mplane	= daedalus_sf_s_fmt_cap,

	.vidioc_enum_fmt_vid_out	= daedalus_enum_fmt_out,
	.vidioc_g_fmt_vid_out_mplane	= daedalus_g_fmt_out,
	.vidioc_try_fmt_vid_out_mplane	= daedalus_try_fmt_out,
	.vidioc_s_fmt_vid_out_mplane	= daedalus_sf_s_fmt_out,

	.vidioc_g_selection		= daedalus_g_selection,

	.vidioc_reqbufs			= v4l2_m2m_ioctl_reqbufs,
	.vidioc_querybuf		= v4l2_m2m_ioctl_querybuf,
	.vidioc_qbuf			= v4l2_m2m_ioctl_qbuf,
	.vidioc_dqbuf			= v4l2_m2m_ioctl_dqbuf,
	.vidioc_prepare_buf		= v4l2_m2m_ioctl_prepare_buf,
	.vidioc_create_bufs		= v4l2_m2m_ioctl_create_bufs,
	.vidioc_expbuf			= v4l2_m2m_ioctl_expbuf,
	.vidioc_streamon		= v4l2_m2m_ioctl_streamon,
	.vidioc_streamoff		= v4l2_m2m_ioctl_streamoff,

	.vidioc_decoder_cmd		= daedalus_sf_decoder_cmd,
	.vidioc_try_decoder_cmd		= v4l2_m2m_ioctl_try_decoder_cmd,

	.vidioc_subscribe_event		= daedalus_sf_subscribe_event,
	.vidioc_unsubscribe_event	= v4l2_event_unsubscribe,
};

static int daedalus_sf_queue_setup(struct vb2_queue *vq, unsigned int *nbuffers,
				   unsigned int *nplanes, unsigned int sizes[],
				   struct device *alloc_devs[])
{
	struct daedalus_ctx *ctx = vb2_get_drv_priv(vq);
	bool create = *nplanes;
	int ret;

	ret = daedalus_queue_setup(vq, nbuffers, nplanes, sizes, alloc_devs);
	if (!ret && !create && !V4L2_TYPE_IS_OUTPUT(vq->type)) {
		spin_lock_irq(&ctx->sf.lock);
		*nbuffers = max(*nbuffers, ctx->sf.min_buffers);
		spin_unlock_irq(&ctx->sf.lock);
	}
	return ret;
}

static int daedalus_sf_start_streaming(struct vb2_queue *vq, unsigned int count)
{
	struct daedalus_ctx *ctx = vb2_get_drv_priv(vq);
	struct daedalus_sf *sf = &ctx->sf;

	spin_lock_irq(&sf->lock);
	if (V4L2_TYPE_IS_OUTPUT(vq->type)) {
		ctx->next_sequence = 0;
		sf->in_sequence = 0;
	} else {
		/* the client set CAPTURE up (again) after a source change */
		sf->wait_capture = false;
		sf->out_sequence = 0;
	}
	sf->stopped = false;
	spin_unlock_irq(&sf->lock);
	return 0;
}

static void daedalus_sf_stop_streaming(struct vb2_queue *vq)
{
	struct daedalus_ctx *ctx = vb2_get_drv_priv(vq);
	struct daedalus_sf *sf = &ctx->sf;
	bool output = V4L2_TYPE_IS_OUTPUT(vq->type);
	struct vb2_queue *other = output ? v4l2_m2m_get_dst_vq(ctx->fh.m2m_ctx) :
					   v4l2_m2m_get_src_vq(ctx->fh.m2m_ctx);

	/* the m2m core waited for the running job to end */
	spin_lock_irq(&sf->lock);
	if (output) {
		/* a seek (or the end): the daemon drops what it holds, and a drain is off */
		sf->draining = false;
		sf->drain_src = NULL;
		sf->drain_sent = false;
		sf->pending = 0;
		sf->full = false;
	}
	/*
	 * Both queues stopped: the client starts over (v4l2-compliance between its streaming
	 * modes, a player reopening a stream), as at initialization, and the next picture's
	 * format comes with a new source change even if it is the same. A seek stops OUTPUT
	 * alone, and a resolution change CAPTURE alone: neither does this.
	 */
	if (!vb2_is_streaming(other))
		sf->announced = false;
	sf->stopped = false;
	spin_unlock_irq(&sf->lock);
	daedalus_return_all(vq, VB2_BUF_STATE_ERROR);
	if (output)
		daedalus_notify_stream(ctx->stream, DAEDALUS_JOB_KIND_FLUSH);
}

static const struct vb2_ops daedalus_sf_qops = {
	.queue_setup		= daedalus_sf_queue_setup,
	.buf_out_validate	= daedalus_buf_out_validate,
	.buf_prepare		= daedalus_buf_prepare,
	.buf_queue		= daedalus_buf_queue,
	.start_streaming	= daedalus_sf_start_streaming,
	.stop_streaming		= daedalus_sf_stop_streaming,
	DAEDALUS_VB2_WAIT_OPS
};

static int daedalus_sf_queue_init(void *priv, struct vb2_queue *src_vq,
				  struct vb2_queue *dst_vq)
{
	struct daedalus_ctx *ctx = priv;
	int ret;

	src_vq->type = V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE;
	src_vq->io_modes = VB2_MMAP | VB2_DMABUF;
	src_vq->drv_priv = ctx;
	src_vq->buf_struct_size = sizeof(struct v4l2_m2m_buffer);
	src_vq->ops = &daedalus_sf_qops;
	src_vq->mem_ops = &vb2_vmalloc_memops;
	src_vq->timestamp_flags = V4L2_BUF_FLAG_TIMESTAMP_COPY;
	src_vq->lock = &ctx->vb_mutex;
	src_vq->dev = ctx->dev->v4l2_dev.dev;
	ret = vb2_queue_init(src_vq);
	if (ret)
		return ret;

	dst_vq->type = V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
	dst_vq->io_modes = VB2_MMAP | VB2_DMABUF;
	dst_vq->drv_priv = ctx;
	dst_vq->buf_struct_size = sizeof(struct v4l2_m2m_buffer);
	dst_vq->ops = &daedalus_sf_qops;
	dst_vq->mem_ops = &daedalus_capture_memops;
	dst_vq->timestamp_flags = V4L2_BUF_FLAG_TIMESTAMP_COPY;
	dst_vq->lock = &ctx->vb_mutex;
	dst_vq->dev = ctx->dev->v4l2_dev.dev;
	return vb2_queue_init(dst_vq);
}

static int daedalus_sf_open(struct file *file)
{
	struct daedalus_dev *dev = video_drvdata(file);
	struct v4l2_pix_format_mplane *pix;
	struct v4l2_m2m_ctx *m2m_ctx;
	struct daedalus_ctx *ctx;
	int ret;

	ret = daedalus_open_ctx(file, &dev->sf_mutex, dev->sf_m2m_dev, &daedalus_stateful_node,
				daedalus_sf_queue_init);
	if (ret)
		return ret;
	ctx = daedalus_file_to_ctx(file);
	pix = &ctx->coded_fmt.fmt.pix_mp;
	/* until the daemon has parsed the stream, the OUTPUT size stands for the stream's */
	spin_lock_irq(&ctx->sf.lock);
	daedalus_sf_fill_decoded(&ctx->decoded_fmt.fmt.pix_mp, V4L2_PIX_FMT_NV12, pix->width,
				 pix->height, pix);
	ctx->sf.visible = (struct v4l2_rect){ .width = pix->width, .height = pix->height };
	spin_unlock_irq(&ctx->sf.lock);
	/* job_ready() decides when a job runs; the header is parsed before CAPTURE streams */
	m2m_ctx = ctx->fh.m2m_ctx;
	m2m_ctx->ignore_cap_streaming = true;
	v4l2_m2m_set_src_buffered(m2m_ctx, true);
	v4l2_m2m_set_dst_buffered(m2m_ctx, true);
	return 0;
}

static int daedalus_sf_release(struct file *file)
{
	struct daedalus_dev *dev = video_drvdata(file);

	return daedalus_release_ctx(file, &dev->sf_mutex);
}

/* v4l2_m2m_fop_poll(), under sf.poll_lock (see daedalus_sf_end()) */
static __poll_t daedalus_sf_poll(struct file *file, poll_table *wait)
{
	struct daedalus_ctx *ctx = daedalus_file_to_ctx(file);
	__poll_t ret;

	mutex_lock(&ctx->sf.poll_lock);
	ret = v4l2_m2m_fop_poll(file, wait);
	mutex_unlock(&ctx->sf.poll_lock);
	return ret;
}

const struct v4l2_file_operations daedalus_sf_fops = {
	.owner		= THIS_MODULE,
	.open		= daedalus_sf_open,
	.release	= daedalus_sf_release,
	.poll		= daedalus_sf_poll,
	.unlocked_ioctl	= video_ioctl2,
	.mmap		= v4l2_m2m_fop_mmap,
};
