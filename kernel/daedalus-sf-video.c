// SPDX-License-Identifier: GPL-2.0
/*
 * The stateful decoder node's formats, ioctls and queues: the V4L2 stateful decoder interface
 * (Documentation/userspace-api/media/v4l/dev-decoder.rst), which the stock browsers of Raspberry
 * Pi OS and FFmpeg's and GStreamer's v4l2 wrappers speak. Its jobs are in daedalus-sf-dec.c.
 *
 * OUTPUT takes the byte stream as the client chunks it: H.264 Annex B in any chunks, VP9 one
 * frame (or superframe) per buffer, AV1 one temporal unit per buffer. CAPTURE has the one
 * format the stream needs (NV12, or P010 for 10 bits), which the daemon tells once it has
 * decoded the first picture; until then the OUTPUT size stands for the stream's.
 */
#include <media/v4l2-event.h>
#include <media/v4l2-ioctl.h>

#include "daedalus-sf.h"

/*
 * CAPTURE formats: the one the stream needs (NV12 until the daemon says otherwise), and for a
 * 10-bit stream NV12 after P010: its pictures in 8 bits, for clients that know no P010
 * (FFmpeg's v4l2m2m wrappers), which the daemon converts as FFmpeg's swscale does.
 */
static u32 daedalus_sf_cap_fmt(struct daedalus_ctx *ctx, unsigned int index)
{
	u32 stream_fmt;

	spin_lock_irq(&ctx->lock);
	stream_fmt = daedalus_sf_of(ctx)->stream_fmt;
	spin_unlock_irq(&ctx->lock);
	if (!index)
		return stream_fmt;
	return index == 1 && stream_fmt == V4L2_PIX_FMT_P010 ? V4L2_PIX_FMT_NV12 : 0;
}

static int daedalus_sf_enum_fmt_cap(struct file *file, void *priv, struct v4l2_fmtdesc *f)
{
	u32 fourcc = daedalus_sf_cap_fmt(daedalus_file_to_ctx(file), f->index);

	if (!fourcc)
		return -EINVAL;
	f->pixelformat = fourcc;
	return 0;
}

/* The size is the stream's; of the pixel formats, the client picks one ENUM_FMT lists. */
static int daedalus_sf_try_fmt_cap(struct file *file, void *priv, struct v4l2_format *f)
{
	struct daedalus_ctx *ctx = daedalus_file_to_ctx(file);
	u32 fourcc = f->fmt.pix_mp.pixelformat;

	daedalus_get_decoded(ctx, &f->fmt.pix_mp);
	if (fourcc != f->fmt.pix_mp.pixelformat &&
	    (fourcc == daedalus_sf_cap_fmt(ctx, 0) || fourcc == daedalus_sf_cap_fmt(ctx, 1)))
		daedalus_fill_layout(ctx, &f->fmt.pix_mp, fourcc, f->fmt.pix_mp.width,
				     f->fmt.pix_mp.height);
	return 0;
}

static int daedalus_sf_s_fmt_cap(struct file *file, void *priv, struct v4l2_format *f)
{
	struct daedalus_ctx *ctx = daedalus_file_to_ctx(file);
	struct v4l2_pix_format_mplane *pix = &f->fmt.pix_mp;

	if (vb2_is_busy(v4l2_m2m_get_dst_vq(ctx->fh.m2m_ctx)))
		return -EBUSY;
	daedalus_sf_try_fmt_cap(file, priv, f);
	spin_lock_irq(&ctx->lock);
	ctx->decoded_fmt.fmt.pix_mp.pixelformat = pix->pixelformat;
	ctx->decoded_fmt.fmt.pix_mp.num_planes = pix->num_planes;
	memcpy(ctx->decoded_fmt.fmt.pix_mp.plane_fmt, pix->plane_fmt, sizeof(pix->plane_fmt));
	spin_unlock_irq(&ctx->lock);
	return 0;
}

static int daedalus_sf_s_fmt_out(struct file *file, void *priv, struct v4l2_format *f)
{
	struct daedalus_ctx *ctx = daedalus_file_to_ctx(file);
	struct daedalus_sf_ctx *sf = daedalus_sf_of(ctx);
	struct v4l2_pix_format_mplane *pix = &f->fmt.pix_mp;
	int ret;

	if (vb2_is_busy(v4l2_m2m_get_src_vq(ctx->fh.m2m_ctx)))
		return -EBUSY;
	ret = daedalus_try_fmt_out(file, priv, f);
	if (ret)
		return ret;

	spin_lock_irq(&ctx->lock);
	/* a new codec is a new stream: its format is unknown until the daemon has parsed it */
	if (pix->pixelformat != ctx->coded_fmt.fmt.pix_mp.pixelformat) {
		sf->announced = false;
		sf->stream_fmt = V4L2_PIX_FMT_NV12;
	}
	ctx->coded_fmt = *f;
	ctx->coded_desc = daedalus_find_coded(ctx, pix->pixelformat);
	/* until then, the client's size stands for the stream's */
	if (!sf->announced)
		daedalus_set_decoded(ctx, V4L2_PIX_FMT_NV12, pix->width, pix->height);
	spin_unlock_irq(&ctx->lock);
	dd_dbg(DAEDALUS_DBG_FMT, daedalus_ctx_dev(ctx), "stream %u: OUTPUT %p4cc %ux%u\n",
	       ctx->stream, &pix->pixelformat, pix->width, pix->height);
	return 0;
}

static int daedalus_sf_decoder_cmd(struct file *file, void *priv, struct v4l2_decoder_cmd *dc)
{
	struct daedalus_ctx *ctx = daedalus_file_to_ctx(file);
	struct daedalus_sf_ctx *sf = daedalus_sf_of(ctx);
	struct v4l2_m2m_ctx *m2m_ctx = ctx->fh.m2m_ctx;
	bool resume = false;
	int ret;

	ret = v4l2_m2m_ioctl_try_decoder_cmd(file, priv, dc);
	if (ret)
		return ret;
	spin_lock_irq(&ctx->lock);
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
	spin_unlock_irq(&ctx->lock);
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
	.vidioc_g_fmt_vid_cap_mplane	= daedalus_g_fmt_cap,
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
		spin_lock_irq(&ctx->lock);
		*nbuffers = max(*nbuffers, daedalus_sf_of(ctx)->min_buffers);
		spin_unlock_irq(&ctx->lock);
	}
	return ret;
}

static int daedalus_sf_start_streaming(struct vb2_queue *vq, unsigned int count)
{
	struct daedalus_ctx *ctx = vb2_get_drv_priv(vq);
	struct daedalus_sf_ctx *sf = daedalus_sf_of(ctx);

	spin_lock_irq(&ctx->lock);
	if (V4L2_TYPE_IS_OUTPUT(vq->type)) {
		ctx->next_sequence = 0;
		sf->in_sequence = 0;
	} else {
		/* the client set CAPTURE up (again) after a source change */
		sf->wait_capture = false;
		sf->out_sequence = 0;
		sf->capture_sizeimage = ctx->decoded_fmt.fmt.pix_mp.plane_fmt[0].sizeimage;
	}
	sf->stopped = false;
	spin_unlock_irq(&ctx->lock);
	return 0;
}

static void daedalus_sf_stop_streaming(struct vb2_queue *vq)
{
	struct daedalus_ctx *ctx = vb2_get_drv_priv(vq);
	struct daedalus_sf_ctx *sf = daedalus_sf_of(ctx);
	bool output = V4L2_TYPE_IS_OUTPUT(vq->type);
	struct vb2_queue *other = output ? v4l2_m2m_get_dst_vq(ctx->fh.m2m_ctx) :
					   v4l2_m2m_get_src_vq(ctx->fh.m2m_ctx);

	/* the m2m core waited for the running job to end */
	spin_lock_irq(&ctx->lock);
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
	spin_unlock_irq(&ctx->lock);
	daedalus_return_all(vq, VB2_BUF_STATE_ERROR);
	if (output)
		daedalus_notify_stream(ctx->stream, DAEDALUS_JOB_KIND_FLUSH);
}

/*
 * While CAPTURE streams, its buffers are those of the format it was started with, also after a
 * source change has told a new one: the client goes on requeueing the pictures it has shown
 * until it sees the LAST buffer and stops the queue (v4l2r retries a refused one for ever).
 * They are checked against that format; no job takes them meanwhile (jobs wait for the client
 * to set CAPTURE up again). Before STREAMON, and on OUTPUT, the current format decides.
 */
static int daedalus_sf_buf_prepare(struct vb2_buffer *vb)
{
	struct daedalus_ctx *ctx = vb2_get_drv_priv(vb->vb2_queue);
	u32 sizeimage;

	if (V4L2_TYPE_IS_OUTPUT(vb->vb2_queue->type) || !vb2_is_streaming(vb->vb2_queue))
		return daedalus_buf_prepare(vb);
	spin_lock_irq(&ctx->lock);
	sizeimage = daedalus_sf_of(ctx)->capture_sizeimage;
	spin_unlock_irq(&ctx->lock);
	if (vb2_plane_size(vb, 0) < sizeimage)
		return -EINVAL;
	vb2_set_plane_payload(vb, 0, sizeimage);
	return 0;
}

const struct vb2_ops daedalus_sf_qops = {
	.queue_setup		= daedalus_sf_queue_setup,
	.buf_out_validate	= daedalus_buf_out_validate,
	.buf_prepare		= daedalus_sf_buf_prepare,
	.buf_queue		= daedalus_buf_queue,
	.buf_cleanup		= daedalus_buf_cleanup,
	.start_streaming	= daedalus_sf_start_streaming,
	.stop_streaming		= daedalus_sf_stop_streaming,
	DAEDALUS_VB2_WAIT_OPS
};

/*
 * The rest of a new context: the stream's state and the node's own control (read-only; the
 * node sets it when the daemon tells the format, which sends a control event to subscribers).
 */
int daedalus_sf_open(struct daedalus_ctx *ctx)
{
	struct daedalus_sf_ctx *sf = daedalus_sf_of(ctx);
	struct v4l2_m2m_ctx *m2m_ctx = ctx->fh.m2m_ctx;

	sf->min_buffers = DAEDALUS_SF_MIN_BUFFERS;
	sf->stream_fmt = V4L2_PIX_FMT_NV12;
	sf->min_buffers_ctrl = v4l2_ctrl_new_std(&ctx->hdl, NULL,
						 V4L2_CID_MIN_BUFFERS_FOR_CAPTURE, 1,
						 VIDEO_MAX_FRAME, 1, DAEDALUS_SF_MIN_BUFFERS);
	if (!sf->min_buffers_ctrl)
		return ctx->hdl.error;
	mutex_init(&sf->poll_lock);
	/* job_ready() decides when a job runs; the header is parsed before CAPTURE streams */
	m2m_ctx->ignore_cap_streaming = true;
	v4l2_m2m_set_src_buffered(m2m_ctx, true);
	v4l2_m2m_set_dst_buffered(m2m_ctx, true);
	return 0;
}

void daedalus_sf_release(struct daedalus_ctx *ctx)
{
	mutex_destroy(&daedalus_sf_of(ctx)->poll_lock);
}

/*
 * v4l2_m2m_poll() under the poll lock (see daedalus_sf_end()), and under no other: not the
 * queue lock v4l2_m2m_fop_poll() takes. That one is held by REQBUFS and CREATE_BUFS while the
 * daemon allocates the buffers: a poll waiting for it while holding the poll lock would stop
 * the daemon's answer to the job before (daedalus_sf_end() takes the poll lock), and so the
 * allocation, until its timeout.
 */
__poll_t daedalus_sf_poll(struct file *file, struct poll_table_struct *wait)
{
	struct daedalus_ctx *ctx = daedalus_file_to_ctx(file);
	struct daedalus_sf_ctx *sf = daedalus_sf_of(ctx);
	__poll_t ret;

	mutex_lock(&sf->poll_lock);
	ret = v4l2_m2m_poll(file, ctx->fh.m2m_ctx, wait);
	mutex_unlock(&sf->poll_lock);
	return ret;
}
