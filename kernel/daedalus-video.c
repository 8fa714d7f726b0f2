// SPDX-License-Identifier: GPL-2.0
/*
 * Formats, ioctls and vb2 queues: those both nodes share, and the stateless node's own (the
 * stateful node's own are in daedalus-sf-video.c).
 *
 * Stateless node: OUTPUT carries one coded frame per buffer in a format of its node table. CAPTURE
 * follows the stream's bit depth, which the codec's sequence control tells (set it before
 * ENUM_FMT on CAPTURE, as the stateless decoder interface asks): 8-bit streams decode to NV12 (one
 * memory plane, the default: what GStreamer and FFmpeg's request API clients map) or NV12M,
 * 10-bit ones to P010. The CAPTURE size is the coded size rounded up to whole 16x16 blocks; the
 * visible rectangle (the OUTPUT size) is reported through G_SELECTION.
 */
#include <linux/videodev2.h>
#include <media/v4l2-event.h>
#include <media/v4l2-ioctl.h>
#include <media/videobuf2-vmalloc.h>

#include "daedalus-v4l2.h"

#define DAEDALUS_DEFAULT_WIDTH	320
#define DAEDALUS_DEFAULT_HEIGHT	240

static const u32 daedalus_decoded_fmts_8[] = {
	V4L2_PIX_FMT_NV12,
	V4L2_PIX_FMT_NV12M,
};

static const u32 daedalus_decoded_fmts_10[] = {
	V4L2_PIX_FMT_P010,
};

/* The CAPTURE formats for a bit depth, the first one the default. */
static const u32 *daedalus_decoded_fmts(unsigned int depth, unsigned int *n)
{
	if (depth == 10) {
		*n = ARRAY_SIZE(daedalus_decoded_fmts_10);
		return daedalus_decoded_fmts_10;
	}
	*n = ARRAY_SIZE(daedalus_decoded_fmts_8);
	return daedalus_decoded_fmts_8;
}

/* Bit depth of the stream that a value @p of @desc's depth control describes (8 if refused). */
static unsigned int daedalus_depth_of(const struct daedalus_coded_fmt *desc, const void *p)
{
	int depth = desc->bit_depth(p);

	return depth > 0 ? depth : 8;
}

/*
 * The same for the control's current value, which a request applied at device_run may be
 * changing: read under the control handler's lock.
 */
static unsigned int daedalus_cur_bit_depth(struct daedalus_ctx *ctx,
					   const struct daedalus_coded_fmt *desc)
{
	struct v4l2_ctrl *ctrl;
	unsigned int depth;

	/* the stateful node: the daemon tells the depth, with the rest of the format */
	if (!desc->depth_ctrl)
		return 8;
	ctrl = v4l2_ctrl_find(&ctx->hdl, desc->depth_ctrl);
	v4l2_ctrl_lock(ctrl);
	depth = daedalus_depth_of(desc, ctrl->p_cur.p);
	v4l2_ctrl_unlock(ctrl);
	return depth;
}

/* The CAPTURE formats of the context's stream. */
static const u32 *daedalus_ctx_decoded_fmts(struct daedalus_ctx *ctx, unsigned int *n)
{
	return daedalus_decoded_fmts(daedalus_cur_bit_depth(ctx, ctx->coded_desc), n);
}

/* The node's coded format of @fourcc, or NULL. */
const struct daedalus_coded_fmt *daedalus_find_coded(struct daedalus_ctx *ctx, u32 fourcc)
{
	const struct daedalus_node_desc *node = ctx->node->desc;
	unsigned int i;

	for (i = 0; i < node->num_fmts; i++)
		if (node->fmts[i]->fourcc == fourcc)
			return node->fmts[i];
	return NULL;
}

static bool daedalus_is_decoded(struct daedalus_ctx *ctx, u32 fourcc)
{
	unsigned int i, n;
	const u32 *fmts = daedalus_ctx_decoded_fmts(ctx, &n);

	for (i = 0; i < n; i++)
		if (fmts[i] == fourcc)
			return true;
	return false;
}

int daedalus_querycap(struct file *file, void *priv, struct v4l2_capability *cap)
{
	strscpy(cap->driver, DAEDALUS_NAME, sizeof(cap->driver));
	strscpy(cap->card, "daedalus-v4l2 software decoder", sizeof(cap->card));
	strscpy(cap->bus_info, DAEDALUS_BUS_INFO, sizeof(cap->bus_info));
	return 0;
}

static int daedalus_enum_fmt_cap(struct file *file, void *priv, struct v4l2_fmtdesc *f)
{
	unsigned int n;
	const u32 *fmts = daedalus_ctx_decoded_fmts(daedalus_file_to_ctx(file), &n);

	if (f->index >= n)
		return -EINVAL;
	f->pixelformat = fmts[f->index];
	return 0;
}

int daedalus_enum_fmt_out(struct file *file, void *priv, struct v4l2_fmtdesc *f)
{
	const struct daedalus_node_desc *node = daedalus_file_to_ctx(file)->node->desc;
	const struct daedalus_coded_fmt *desc;

	if (f->index >= node->num_fmts)
		return -EINVAL;
	desc = node->fmts[f->index];
	f->pixelformat = desc->fourcc;
	f->flags = desc->flags;
	/* a fourcc the core does not know: without a description, v4l_fill_fmtdesc() WARNs */
	if (desc->description)
		strscpy(f->description, desc->description, sizeof(f->description));
	return 0;
}

int daedalus_enum_framesizes(struct file *file, void *priv, struct v4l2_frmsizeenum *fsize)
{
	const struct daedalus_coded_fmt *desc;

	if (fsize->index)
		return -EINVAL;
	desc = daedalus_find_coded(daedalus_file_to_ctx(file), fsize->pixel_format);
	if (!desc)
		return -EINVAL;
	fsize->type = V4L2_FRMSIZE_TYPE_STEPWISE;
	fsize->stepwise = desc->frmsize;
	return 0;
}

int daedalus_g_fmt_out(struct file *file, void *priv, struct v4l2_format *f)
{
	f->fmt.pix_mp = daedalus_file_to_ctx(file)->coded_fmt.fmt.pix_mp;
	return 0;
}

int daedalus_g_fmt_cap(struct file *file, void *priv, struct v4l2_format *f)
{
	daedalus_get_decoded(daedalus_file_to_ctx(file), &f->fmt.pix_mp);
	return 0;
}

/*
 * Room for any coded frame: H.264's level limits allow a macroblock up to 128 bits more than
 * its raw samples (PCM macroblocks, what encoders write for noise at high rates): 496 bytes
 * at 10 bits, 512 with the slice headers' share, per 16x16 block; at least 64 KiB. A client
 * whose frame does not fit a buffer may not say so (FFmpeg's v4l2m2m wrappers cut it).
 */
static u32 daedalus_coded_sizeimage(u32 width, u32 height)
{
	return max_t(u32, SZ_64K, DIV_ROUND_UP(width, 16) * DIV_ROUND_UP(height, 16) * 512);
}

/* A client may ask for bigger OUTPUT buffers than that, within reason. */
#define DAEDALUS_MAX_CODED_SIZEIMAGE	SZ_64M

int daedalus_try_fmt_out(struct file *file, void *priv, struct v4l2_format *f)
{
	struct daedalus_ctx *ctx = daedalus_file_to_ctx(file);
	struct v4l2_pix_format_mplane *pix = &f->fmt.pix_mp;
	const struct daedalus_coded_fmt *desc = daedalus_find_coded(ctx, pix->pixelformat);

	if (!desc) {
		desc = ctx->node->desc->fmts[0];
		pix->pixelformat = desc->fourcc;
	}
	v4l2_apply_frmsize_constraints(&pix->width, &pix->height, &desc->frmsize);
	pix->field = V4L2_FIELD_NONE;
	pix->num_planes = 1;
	pix->plane_fmt[0].bytesperline = 0;
	pix->plane_fmt[0].sizeimage = clamp_t(u32, pix->plane_fmt[0].sizeimage,
					      daedalus_coded_sizeimage(pix->width, pix->height),
					      DAEDALUS_MAX_CODED_SIZEIMAGE);
	/* colorimetry is the client's to set: it travels through to CAPTURE untouched */
	return 0;
}

/**
 * daedalus_fill_layout - the size, planes and rows of a CAPTURE format of @ctx's node
 * @ctx:	the context
 * @pix:	the format: its size and plane formats are set, nothing else
 * @fourcc:	its pixel format
 * @width:	width of the pictures
 * @height:	height of the pictures
 */
void daedalus_fill_layout(struct daedalus_ctx *ctx, struct v4l2_pix_format_mplane *pix,
			  u32 fourcc, u32 width, u32 height)
{
	const struct daedalus_node_desc *desc = ctx->node->desc;

	width = ALIGN(width, desc->capture_align);
	/* rows of whole multiples of stride_align pixels (the width stays as it is) */
	v4l2_fill_pixfmt_mp(pix, fourcc, ALIGN(width, desc->stride_align),
			    ALIGN(height, desc->capture_align));
	pix->width = width;
}

/*
 * A CAPTURE format of @fourcc for pictures of @width x @height, in the context's node's
 * alignment and with its OUTPUT colorimetry. The stateless node's pictures have the OUTPUT
 * size; the stateful node's come from the daemon's answers (until then the OUTPUT size stands
 * for them).
 */
static void daedalus_fill_decoded(struct daedalus_ctx *ctx,
				  struct v4l2_pix_format_mplane *pix, u32 fourcc, u32 width,
				  u32 height)
{
	const struct v4l2_pix_format_mplane *coded = &ctx->coded_fmt.fmt.pix_mp;

	daedalus_fill_layout(ctx, pix, fourcc, width, height);
	pix->field = V4L2_FIELD_NONE;
	pix->colorspace = coded->colorspace;
	pix->xfer_func = coded->xfer_func;
	pix->ycbcr_enc = coded->ycbcr_enc;
	pix->quantization = coded->quantization;
}

/**
 * daedalus_set_decoded - the pictures are @width x @height in @fourcc
 * @ctx:	the context: its CAPTURE format and visible rectangle are set
 * @fourcc:	CAPTURE pixel format
 * @width:	visible width of the pictures
 * @height:	visible height of the pictures
 *
 * Called with the context's lock held, or before the context can be seen.
 */
void daedalus_set_decoded(struct daedalus_ctx *ctx, u32 fourcc, u32 width, u32 height)
{
	daedalus_fill_decoded(ctx, &ctx->decoded_fmt.fmt.pix_mp, fourcc, width, height);
	ctx->visible = (struct v4l2_rect){ .width = width, .height = height };
}

static int daedalus_try_fmt_cap(struct file *file, void *priv, struct v4l2_format *f)
{
	struct daedalus_ctx *ctx = daedalus_file_to_ctx(file);
	u32 fourcc = f->fmt.pix_mp.pixelformat;
	unsigned int n;

	if (!daedalus_is_decoded(ctx, fourcc))
		fourcc = daedalus_ctx_decoded_fmts(ctx, &n)[0];
	daedalus_fill_decoded(ctx, &f->fmt.pix_mp, fourcc, ctx->coded_fmt.fmt.pix_mp.width,
			      ctx->coded_fmt.fmt.pix_mp.height);
	return 0;
}

/*
 * The stateless node's pictures have the coded size: CAPTURE in @fourcc for it. Called with the
 * context's lock held, or before the context can be seen.
 */
static void daedalus_set_decoded_coded(struct daedalus_ctx *ctx, u32 fourcc)
{
	daedalus_set_decoded(ctx, fourcc, ctx->coded_fmt.fmt.pix_mp.width,
			     ctx->coded_fmt.fmt.pix_mp.height);
}

/* The same in the default CAPTURE format of a stream of @depth bits. */
static void daedalus_reset_decoded(struct daedalus_ctx *ctx, unsigned int depth)
{
	unsigned int n;

	daedalus_set_decoded_coded(ctx, daedalus_decoded_fmts(depth, &n)[0]);
}

static struct daedalus_ctx *daedalus_ctrl_to_ctx(struct v4l2_ctrl *ctrl)
{
	return container_of(ctrl->handler, struct daedalus_ctx, hdl);
}

static const struct daedalus_coded_fmt *
daedalus_depth_desc(struct daedalus_ctx *ctx, u32 id)
{
	const struct daedalus_node_desc *node = ctx->node->desc;
	unsigned int i;

	for (i = 0; i < node->num_fmts; i++)
		if (node->fmts[i]->depth_ctrl == id)
			return node->fmts[i];
	return NULL;
}

/*
 * A stream the daemon cannot decode (chroma format, bit depth) is refused here, and so is one
 * whose pictures are larger than the node takes or, for a control that describes the sequence
 * the OUTPUT format was set for, than that format. Under the node's lock (an ioctl) or in
 * device_run (a request's values applied), where a racing S_FMT is the client's own doing.
 */
static int daedalus_depth_try_ctrl(struct v4l2_ctrl *ctrl)
{
	struct daedalus_ctx *ctx = daedalus_ctrl_to_ctx(ctrl);
	const struct daedalus_coded_fmt *desc = daedalus_depth_desc(ctx, ctrl->id);
	int depth = desc->bit_depth(ctrl->p_new.p);
	u32 width, height, max_w = desc->frmsize.max_width, max_h = desc->frmsize.max_height;

	if (depth < 0) {
		dev_info_ratelimited(daedalus_ctx_dev(ctx),
				     "stream %u: %s refused: %p4cc streams of this chroma format or bit depth are not supported\n",
				     ctx->stream, ctrl->name, &desc->fourcc);
		return depth;
	}
	if (!desc->size)
		return 0;
	desc->size(ctrl->p_new.p, &width, &height);
	if (desc->size_in_output && ctx->coded_desc == desc) {
		max_w = ctx->coded_fmt.fmt.pix_mp.width;
		max_h = ctx->coded_fmt.fmt.pix_mp.height;
	}
	if (width <= max_w && height <= max_h)
		return 0;
	dev_info_ratelimited(daedalus_ctx_dev(ctx),
			     "stream %u: %s refused: %ux%u pictures, larger than %ux%u\n",
			     ctx->stream, ctrl->name, width, height, max_w, max_h);
	return -EINVAL;
}

/*
 * A new bit depth for the current coded format switches the CAPTURE format to that depth's
 * default, which a streaming CAPTURE queue forbids (the client must set it up again, as after a
 * resolution change). Depth controls of other coded formats only take their value.
 */
static int daedalus_depth_s_ctrl(struct v4l2_ctrl *ctrl)
{
	struct daedalus_ctx *ctx = daedalus_ctrl_to_ctx(ctrl);
	const struct daedalus_coded_fmt *desc = daedalus_depth_desc(ctx, ctrl->id);
	int depth;

	/* at open, before the formats exist */
	if (!ctx->coded_desc || ctx->coded_desc != desc)
		return 0;
	depth = desc->bit_depth(ctrl->p_new.p);
	if (depth < 0)
		return depth;
	/* the control still holds its old value (and its handler's lock is held) */
	if (depth == daedalus_depth_of(desc, ctrl->p_cur.p))
		return 0;
	if (vb2_is_streaming(v4l2_m2m_get_dst_vq(ctx->fh.m2m_ctx)))
		return -EBUSY;
	spin_lock_irq(&ctx->lock);
	daedalus_reset_decoded(ctx, depth);
	spin_unlock_irq(&ctx->lock);
	dd_dbg(DAEDALUS_DBG_FMT, daedalus_ctx_dev(ctx), "stream %u: %u-bit, CAPTURE %p4cc\n",
	       ctx->stream, depth, &ctx->decoded_fmt.fmt.pix_mp.pixelformat);
	return 0;
}

const struct v4l2_ctrl_ops daedalus_depth_ctrl_ops = {
	.try_ctrl	= daedalus_depth_try_ctrl,
	.s_ctrl		= daedalus_depth_s_ctrl,
};

static int daedalus_s_fmt_out(struct file *file, void *priv, struct v4l2_format *f)
{
	struct daedalus_ctx *ctx = daedalus_file_to_ctx(file);
	struct vb2_queue *out_q = v4l2_m2m_get_src_vq(ctx->fh.m2m_ctx);
	struct vb2_queue *cap_q = v4l2_m2m_get_dst_vq(ctx->fh.m2m_ctx);
	struct v4l2_pix_format_mplane *pix = &f->fmt.pix_mp;
	const struct daedalus_coded_fmt *desc;
	unsigned int depth;
	int ret;

	/*
	 * A stream whose size changes (up or down, at a key frame or a new sequence) is set up
	 * again between STREAMOFF and STREAMON: the client may keep its buffers meanwhile (it
	 * frees them as the pictures it still shows come back, VIDIOC_REMOVE_BUFS), as the
	 * kernel's stateless drivers allow. Buffers too small for the new format are refused when
	 * queued (buf_prepare). Only a new codec needs an OUTPUT queue with no buffers.
	 *
	 * Codecs whose frames change size between references take a new size of the same codec
	 * while both queues stream: the requests queued before keep the formats they were
	 * queued under (daedalus_dec_buf_queue()), the next ones take the new.
	 */
	ret = daedalus_try_fmt_out(file, priv, f);
	if (ret)
		return ret;
	desc = daedalus_find_coded(ctx, pix->pixelformat);
	if (desc != ctx->coded_desc || !desc->resize_streaming) {
		if (vb2_is_streaming(out_q))
			return -EBUSY;
		if (vb2_is_busy(out_q) && desc != ctx->coded_desc)
			return -EBUSY;
		/*
		 * A new coded format (or size) means a new CAPTURE format, which a streaming
		 * queue forbids. (The bit depth cannot have changed meanwhile: its control
		 * refuses that while CAPTURE streams.)
		 */
		if (vb2_is_streaming(cap_q) &&
		    (desc != ctx->coded_desc || pix->width != ctx->coded_fmt.fmt.pix_mp.width ||
		     pix->height != ctx->coded_fmt.fmt.pix_mp.height))
			return -EBUSY;
	}

	depth = daedalus_cur_bit_depth(ctx, desc);
	spin_lock_irq(&ctx->lock);
	ctx->coded_fmt = *f;
	if (desc != ctx->coded_desc) {
		ctx->coded_desc = desc;
		daedalus_reset_decoded(ctx, depth);
	} else {
		daedalus_set_decoded_coded(ctx, ctx->decoded_fmt.fmt.pix_mp.pixelformat);
	}
	spin_unlock_irq(&ctx->lock);
	dd_dbg(DAEDALUS_DBG_FMT, daedalus_ctx_dev(ctx), "stream %u: OUTPUT %p4cc %ux%u\n",
	       ctx->stream, &pix->pixelformat, pix->width, pix->height);
	return 0;
}

static int daedalus_s_fmt_cap(struct file *file, void *priv, struct v4l2_format *f)
{
	struct daedalus_ctx *ctx = daedalus_file_to_ctx(file);
	int ret;

	/* as for OUTPUT: buffers kept from the previous format are checked when queued */
	if (vb2_is_streaming(v4l2_m2m_get_dst_vq(ctx->fh.m2m_ctx)))
		return -EBUSY;
	ret = daedalus_try_fmt_cap(file, priv, f);
	if (ret)
		return ret;
	spin_lock_irq(&ctx->lock);
	ctx->decoded_fmt = *f;
	spin_unlock_irq(&ctx->lock);
	return 0;
}

int daedalus_g_selection(struct file *file, void *priv, struct v4l2_selection *s)
{
	struct daedalus_ctx *ctx = daedalus_file_to_ctx(file);
	struct v4l2_pix_format_mplane decoded;
	struct v4l2_rect visible;

	if (s->type != V4L2_BUF_TYPE_VIDEO_CAPTURE)
		return -EINVAL;
	spin_lock_irq(&ctx->lock);
	decoded = ctx->decoded_fmt.fmt.pix_mp;
	visible = ctx->visible;
	spin_unlock_irq(&ctx->lock);
	s->r.left = 0;
	s->r.top = 0;
	switch (s->target) {
	case V4L2_SEL_TGT_COMPOSE:
	case V4L2_SEL_TGT_COMPOSE_DEFAULT:
		s->r.width = visible.width;
		s->r.height = visible.height;
		return 0;
	case V4L2_SEL_TGT_COMPOSE_BOUNDS:
	case V4L2_SEL_TGT_COMPOSE_PADDED:
		s->r.width = decoded.width;
		s->r.height = decoded.height;
		return 0;
	default:
		return -EINVAL;
	}
}

const struct v4l2_ioctl_ops daedalus_ioctl_ops = {
	.vidioc_querycap		= daedalus_querycap,
	.vidioc_enum_framesizes		= daedalus_enum_framesizes,

	.vidioc_enum_fmt_vid_cap	= daedalus_enum_fmt_cap,
	.vidioc_g_fmt_vid_cap_mplane	= daedalus_g_fmt_cap,
	.vidioc_try_fmt_vid_cap_mplane	= daedalus_try_fmt_cap,
	.vidioc_s_fmt_vid_cap_mplane	= daedalus_s_fmt_cap,

	.vidioc_enum_fmt_vid_out	= daedalus_enum_fmt_out,
	.vidioc_g_fmt_vid_out_mplane	= daedalus_g_fmt_out,
	.vidioc_try_fmt_vid_out_mplane	= daedalus_try_fmt_out,
	.vidioc_s_fmt_vid_out_mplane	= daedalus_s_fmt_out,

	.vidioc_g_selection		= daedalus_g_selection,

	.vidioc_reqbufs			= v4l2_m2m_ioctl_reqbufs,
	.vidioc_querybuf		= v4l2_m2m_ioctl_querybuf,
	.vidioc_qbuf			= v4l2_m2m_ioctl_qbuf,
	.vidioc_dqbuf			= v4l2_m2m_ioctl_dqbuf,
	.vidioc_prepare_buf		= v4l2_m2m_ioctl_prepare_buf,
	.vidioc_create_bufs		= v4l2_m2m_ioctl_create_bufs,
	.vidioc_remove_bufs		= v4l2_m2m_ioctl_remove_bufs,
	.vidioc_expbuf			= v4l2_m2m_ioctl_expbuf,
	.vidioc_streamon		= v4l2_m2m_ioctl_streamon,
	.vidioc_streamoff		= v4l2_m2m_ioctl_streamoff,

	.vidioc_decoder_cmd		= v4l2_m2m_ioctl_stateless_decoder_cmd,
	.vidioc_try_decoder_cmd		= v4l2_m2m_ioctl_stateless_try_decoder_cmd,

	.vidioc_subscribe_event		= v4l2_ctrl_subscribe_event,
	.vidioc_unsubscribe_event	= v4l2_event_unsubscribe,
};

/* At open, before the context can be seen: the node's first coded format at 320x240. */
void daedalus_set_default_formats(struct daedalus_ctx *ctx)
{
	struct v4l2_pix_format_mplane *pix = &ctx->coded_fmt.fmt.pix_mp;

	ctx->coded_fmt.type = V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE;
	pix->pixelformat = ctx->node->desc->fmts[0]->fourcc;
	pix->width = DAEDALUS_DEFAULT_WIDTH;
	pix->height = DAEDALUS_DEFAULT_HEIGHT;
	pix->colorspace = V4L2_COLORSPACE_REC709;
	pix->num_planes = 1;
	pix->field = V4L2_FIELD_NONE;
	pix->plane_fmt[0].sizeimage = daedalus_coded_sizeimage(pix->width, pix->height);
	ctx->coded_desc = ctx->node->desc->fmts[0];

	ctx->decoded_fmt.type = V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
	daedalus_reset_decoded(ctx, daedalus_cur_bit_depth(ctx, ctx->coded_desc));
}

/* contexts that have set up buffers, on both nodes: what max_streams bounds */
static atomic_t daedalus_streams_counted = ATOMIC_INIT(0);

/*
 * The context sets up buffers: it becomes one of the max_streams streams, or is refused with
 * -EBUSY. Opening a node costs nothing and is never refused (V4L2 allows any number of opens);
 * buffers and decoding are what one user could take from all. Called under the queue lock.
 */
static int daedalus_count_stream(struct daedalus_ctx *ctx)
{
	unsigned int max = READ_ONCE(daedalus_max_streams);

	if (ctx->counted)
		return 0;
	if (atomic_inc_return(&daedalus_streams_counted) > max && max) {
		atomic_dec(&daedalus_streams_counted);
		dev_warn_ratelimited(daedalus_ctx_dev(ctx),
				     "stream %u: %u streams have buffers already (max_streams): refusing another\n",
				     ctx->stream, max);
		return -EBUSY;
	}
	ctx->counted = true;
	return 0;
}

/* The context's buffers are gone for good (its file is closed). Under the queue lock. */
void daedalus_uncount_stream(struct daedalus_ctx *ctx)
{
	if (ctx->counted)
		atomic_dec(&daedalus_streams_counted);
	ctx->counted = false;
}

/*
 * The biggest buffer plane a client of @ctx may ask for on a queue of @type: the OUTPUT cap
 * that S_FMT applies, or a CAPTURE picture of the coded format's largest size in the deepest
 * format (P010). Bigger asks are refused, whichever ioctl makes them.
 */
static unsigned int daedalus_max_plane_size(struct daedalus_ctx *ctx, u32 type)
{
	const struct v4l2_frmsize_stepwise *frmsize = &ctx->coded_desc->frmsize;
	struct v4l2_pix_format_mplane pix;

	if (V4L2_TYPE_IS_OUTPUT(type))
		return DAEDALUS_MAX_CODED_SIZEIMAGE;
	daedalus_fill_decoded(ctx, &pix, V4L2_PIX_FMT_P010, frmsize->max_width,
			      frmsize->max_height);
	return pix.plane_fmt[0].sizeimage;
}

int daedalus_queue_setup(struct vb2_queue *vq, unsigned int *nbuffers, unsigned int *nplanes,
			 unsigned int sizes[], struct device *alloc_devs[])
{
	struct daedalus_ctx *ctx = vb2_get_drv_priv(vq);
	struct v4l2_pix_format_mplane fmt;
	const struct v4l2_pix_format_mplane *pix = &fmt;
	unsigned int i;
	int ret;

	ret = daedalus_count_stream(ctx);
	if (ret)
		return ret;
	if (V4L2_TYPE_IS_OUTPUT(vq->type))
		daedalus_get_coded(ctx, &fmt);
	else
		daedalus_get_decoded(ctx, &fmt);

	if (*nplanes) {
		/* VIDIOC_CREATE_BUFS: the client's sizes, at least the format's, within the caps */
		unsigned int max = daedalus_max_plane_size(ctx, vq->type);

		if (*nplanes != pix->num_planes)
			return -EINVAL;
		for (i = 0; i < pix->num_planes; i++) {
			if (sizes[i] < pix->plane_fmt[i].sizeimage)
				return -EINVAL;
			if (sizes[i] > max) {
				dev_dbg(daedalus_ctx_dev(ctx),
					"stream %u: %u-byte buffers asked, at most %u\n",
					ctx->stream, sizes[i], max);
				return -EINVAL;
			}
		}
		return 0;
	}
	*nplanes = pix->num_planes;
	for (i = 0; i < pix->num_planes; i++)
		sizes[i] = pix->plane_fmt[i].sizeimage;
	return 0;
}

void daedalus_return_all(struct vb2_queue *vq, enum vb2_buffer_state state)
{
	struct daedalus_ctx *ctx = vb2_get_drv_priv(vq);
	struct vb2_v4l2_buffer *vbuf;

	for (;;) {
		if (V4L2_TYPE_IS_OUTPUT(vq->type))
			vbuf = v4l2_m2m_src_buf_remove(ctx->fh.m2m_ctx);
		else
			vbuf = v4l2_m2m_dst_buf_remove(ctx->fh.m2m_ctx);
		if (!vbuf)
			return;
		v4l2_ctrl_request_complete(vbuf->vb2_buf.req_obj.req, &ctx->hdl);
		v4l2_m2m_buf_done(vbuf, state);
	}
}

int daedalus_buf_out_validate(struct vb2_buffer *vb)
{
	to_vb2_v4l2_buffer(vb)->field = V4L2_FIELD_NONE;
	return 0;
}

int daedalus_buf_prepare(struct vb2_buffer *vb)
{
	struct daedalus_ctx *ctx = vb2_get_drv_priv(vb->vb2_queue);
	struct v4l2_pix_format_mplane pix;
	unsigned int i;

	if (V4L2_TYPE_IS_OUTPUT(vb->vb2_queue->type)) {
		daedalus_get_coded(ctx, &pix);
		return vb2_plane_size(vb, 0) < pix.plane_fmt[0].sizeimage ? -EINVAL : 0;
	}

	daedalus_get_decoded(ctx, &pix);
	for (i = 0; i < pix.num_planes; i++) {
		if (vb2_plane_size(vb, i) < pix.plane_fmt[i].sizeimage)
			return -EINVAL;
		vb2_set_plane_payload(vb, i, pix.plane_fmt[i].sizeimage);
	}
	return 0;
}

void daedalus_buf_queue(struct vb2_buffer *vb)
{
	struct daedalus_ctx *ctx = vb2_get_drv_priv(vb->vb2_queue);

	v4l2_m2m_buf_queue(ctx->fh.m2m_ctx, to_vb2_v4l2_buffer(vb));
}

/* The stateless node: a request's job is decoded for the formats it was queued under. */
static void daedalus_dec_buf_queue(struct vb2_buffer *vb)
{
	struct daedalus_ctx *ctx = vb2_get_drv_priv(vb->vb2_queue);
	struct daedalus_buf *buf = daedalus_to_buf(vb);

	if (V4L2_TYPE_IS_OUTPUT(vb->vb2_queue->type)) {
		spin_lock_irq(&ctx->lock);
		buf->coded = ctx->coded_fmt.fmt.pix_mp;
		buf->decoded = ctx->decoded_fmt.fmt.pix_mp;
		spin_unlock_irq(&ctx->lock);
	}
	daedalus_buf_queue(vb);
	/* a request, or a CAPTURE buffer, for a job ahead of its turn (daedalus-dec.c) */
	if (READ_ONCE(ctx->head))
		schedule_work(&ctx->ahead_work);
}

static void daedalus_buf_request_complete(struct vb2_buffer *vb)
{
	struct daedalus_ctx *ctx = vb2_get_drv_priv(vb->vb2_queue);

	v4l2_ctrl_request_complete(vb->req_obj.req, &ctx->hdl);
}

static int daedalus_start_streaming(struct vb2_queue *vq, unsigned int count)
{
	struct daedalus_ctx *ctx = vb2_get_drv_priv(vq);

	if (V4L2_TYPE_IS_OUTPUT(vq->type))
		ctx->next_sequence = 0;
	return 0;
}

static void daedalus_stop_streaming(struct vb2_queue *vq)
{
	struct daedalus_ctx *ctx = vb2_get_drv_priv(vq);

	/*
	 * The jobs that went to the daemon ahead of their turn (their buffers off the m2m
	 * queues, daedalus-dec.c) end within their watchdog; none goes after the head ended, and
	 * the m2m core (v4l2_m2m_cancel_job()) waited for that and starts no other.
	 */
	wait_var_event(&ctx->busy, !READ_ONCE(ctx->busy));
	daedalus_return_all(vq, VB2_BUF_STATE_ERROR);
}

/* The stateless node's queues */
const struct vb2_ops daedalus_qops = {
	.queue_setup		= daedalus_queue_setup,
	.buf_out_validate	= daedalus_buf_out_validate,
	.buf_prepare		= daedalus_buf_prepare,
	.buf_queue		= daedalus_dec_buf_queue,
	.buf_cleanup		= daedalus_buf_cleanup,
	.buf_request_complete	= daedalus_buf_request_complete,
	.start_streaming	= daedalus_start_streaming,
	.stop_streaming		= daedalus_stop_streaming,
	DAEDALUS_VB2_WAIT_OPS
};

/*
 * Both nodes' queues: OUTPUT in vmalloc memory (the daemon maps it through an exported
 * dmabuf), CAPTURE in memory the daemon allocates; the request API where the node has a media
 * device.
 */
int daedalus_queue_init(void *priv, struct vb2_queue *src_vq, struct vb2_queue *dst_vq)
{
	struct daedalus_ctx *ctx = priv;
	const struct daedalus_node_desc *desc = ctx->node->desc;
	int ret;

	src_vq->type = V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE;
	src_vq->io_modes = VB2_MMAP | VB2_DMABUF;
	src_vq->drv_priv = ctx;
	src_vq->buf_struct_size = sizeof(struct daedalus_buf);
	src_vq->ops = desc->qops;
	src_vq->mem_ops = &vb2_vmalloc_memops;
	src_vq->timestamp_flags = V4L2_BUF_FLAG_TIMESTAMP_COPY;
	src_vq->lock = &ctx->vb_mutex;
	src_vq->dev = daedalus_ctx_dev(ctx);
	if (desc->media_ops) {
		src_vq->supports_requests = true;
		src_vq->requires_requests = true;
		src_vq->subsystem_flags |= VB2_V4L2_FL_SUPPORTS_M2M_HOLD_CAPTURE_BUF;
	}
	ret = vb2_queue_init(src_vq);
	if (ret)
		return ret;

	dst_vq->type = V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
	dst_vq->io_modes = VB2_MMAP | VB2_DMABUF;
	dst_vq->drv_priv = ctx;
	dst_vq->buf_struct_size = sizeof(struct daedalus_buf);
	dst_vq->ops = desc->qops;
	dst_vq->mem_ops = &daedalus_capture_memops;
	dst_vq->timestamp_flags = V4L2_BUF_FLAG_TIMESTAMP_COPY;
	dst_vq->lock = &ctx->vb_mutex;
	dst_vq->dev = daedalus_ctx_dev(ctx);
	return vb2_queue_init(dst_vq);
}

int daedalus_request_validate(struct media_request *req)
{
	struct media_request_object *obj;
	struct daedalus_ctx *ctx = NULL;
	unsigned int count;

	list_for_each_entry(obj, &req->objects, list) {
		if (vb2_request_object_is_buffer(obj)) {
			struct vb2_buffer *vb = container_of(obj, struct vb2_buffer, req_obj);

			ctx = vb2_get_drv_priv(vb->vb2_queue);
			break;
		}
	}
	if (!ctx)
		return -ENOENT;

	count = vb2_request_buffer_cnt(req);
	if (count != 1) {
		v4l2_err(&ctx->node->v4l2_dev, "a request needs exactly one OUTPUT buffer, has %u\n",
			 count);
		return count ? -EINVAL : -ENOENT;
	}
	return vb2_request_validate(req);
}
