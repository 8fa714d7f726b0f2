/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The stateful decoder node's per-open state, shared by its formats and ioctls
 * (daedalus-sf-video.c) and its jobs (daedalus-sf-dec.c).
 */
#ifndef _DAEDALUS_SF_H_
#define _DAEDALUS_SF_H_

#include "daedalus-v4l2.h"

/* CAPTURE buffers a stream needs at least: the daemon holds the references itself. */
#define DAEDALUS_SF_MIN_BUFFERS	2

/*
 * What an OUTPUT buffer carries beyond its bytes and timestamp, for the CAPTURE buffer of its
 * picture: sent with the feed job, opaque to the daemon, which returns it with the picture.
 */
struct daedalus_sf_meta {
	struct v4l2_timecode timecode;
	u32 flags;
};

/**
 * struct daedalus_sf_ctx - an open file of the stateful node: a stream
 * @ctx:	what every node's context has; its lock protects the fields below up to
 *		@last_fed (and the CAPTURE format), which the end of a job changes outside the
 *		node's ioctl lock and job_ready() reads in atomic context
 * @announced:	the daemon told the stream's format (a source change was signalled, unless
 *		the CAPTURE buffers streaming already fit it)
 * @stream_fmt:	the CAPTURE pixel format the stream's pictures come in (NV12 or P010); a
 *		P010 stream is also offered as NV12 (8 bits) to clients that know no P010
 * @capture_sizeimage: the CAPTURE buffer size of the format CAPTURE was started with (the
 *		buffers it streams keep it after a source change told a new one)
 * @wait_capture: a source change waits for the client to set CAPTURE up again (STREAMON):
 *		no job runs meanwhile
 * @draining:	V4L2_DEC_CMD_STOP was given; the drain job has not been sent yet
 * @drain_src:	the OUTPUT buffer the drain follows (the last one queued before the command),
 *		NULL to drain at once
 * @drain_sent:	the drain job was sent; the daemon's LAST buffer ends it
 * @stopped:	the drain ended: no job runs until DEC_CMD_START or a STREAMOFF
 * @pending:	frames and pictures the daemon holds for CAPTURE buffers (from its last answer)
 * @full:	the daemon holds all the bitstream it will: no feeding until a picture is taken
 * @min_buffers: V4L2_CID_MIN_BUFFERS_FOR_CAPTURE, from the daemon
 * @in_sequence: sequence number of the next OUTPUT buffer fed
 * @out_sequence: sequence number of the next CAPTURE buffer
 * @last_fed_ts: the timestamp of the last OUTPUT buffer fed (an empty CAPTURE buffer gets it)
 * @last_fed:	and the rest of its metadata
 * @job_fmt:	the CAPTURE format when the running job was made (the job's own)
 * @min_buffers_ctrl: V4L2_CID_MIN_BUFFERS_FOR_CAPTURE (set outside the lock)
 * @poll_lock:	held by poll() and by the end of a job around an event and the buffer it
 *		explains, so that poll() sees both or neither (a mutex: poll_wait() allocates)
 */
struct daedalus_sf_ctx {
	struct daedalus_ctx ctx;
	bool announced;
	u32 stream_fmt;
	u32 capture_sizeimage;
	bool wait_capture;
	bool draining;
	struct vb2_v4l2_buffer *drain_src;
	bool drain_sent;
	bool stopped;
	u32 pending;
	bool full;
	u32 min_buffers;
	u32 in_sequence;
	u32 out_sequence;
	u64 last_fed_ts;
	struct daedalus_sf_meta last_fed;
	struct v4l2_pix_format_mplane job_fmt;
	struct v4l2_ctrl *min_buffers_ctrl;
	struct mutex poll_lock;	/* poll() against an event and its buffer */
};

static inline struct daedalus_sf_ctx *daedalus_sf_of(struct daedalus_ctx *ctx)
{
	return container_of(ctx, struct daedalus_sf_ctx, ctx);
}

#endif /* _DAEDALUS_SF_H_ */
