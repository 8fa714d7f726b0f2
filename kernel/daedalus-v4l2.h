/* SPDX-License-Identifier: GPL-2.0 */
/*
 * daedalus-v4l2: a V4L2 stateless decoder that decodes nothing itself.
 *
 * Each decode job is handed over generic netlink (daedalus-nl.c) to a userspace daemon, which
 * decodes with FFmpeg into CAPTURE buffers that it allocated itself (daedalus-mem.c) and reports
 * the job done. This header holds the device, the per-open context, the coded-format
 * descriptor and the job that travels to the daemon.
 */
#ifndef _DAEDALUS_V4L2_H_
#define _DAEDALUS_V4L2_H_

#include <linux/completion.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/workqueue.h>
#include <media/v4l2-ctrls.h>
#include <media/v4l2-device.h>
#include <media/v4l2-mem2mem.h>
#include <media/videobuf2-v4l2.h>
#include <uapi/linux/daedalus.h>

#include "daedalus-compat.h"

#define DAEDALUS_NAME		"daedalus-v4l2"
#define DAEDALUS_BUS_INFO	"platform:" DAEDALUS_NAME

extern unsigned int daedalus_debug;
extern unsigned int daedalus_timeout_ms;

/*
 * DOC: debug module parameter
 * bit 0: per-job messages (queued, taken, done)
 * bit 1: buffer allocation and release messages
 * bit 2: format negotiation messages
 */
#define DAEDALUS_DBG_JOB	BIT(0)
#define DAEDALUS_DBG_BUF	BIT(1)
#define DAEDALUS_DBG_FMT	BIT(2)

#define dd_dbg(bit, dev, fmt, arg...)						\
	do {									\
		if (daedalus_debug & (bit))					\
			dev_info((dev), fmt, ##arg);				\
	} while (0)

/* Most controls a coded format forwards to the daemon with each job. */
#define DAEDALUS_MAX_FWD_CTRLS	8

/**
 * struct daedalus_ctrl_desc - a control a coded format offers
 * @cfg:	its configuration (for standard controls only the id and limits)
 * @forward:	whether each decode job carries the control's value to the daemon
 */
struct daedalus_ctrl_desc {
	struct v4l2_ctrl_config cfg;
	bool forward;
};

/**
 * struct daedalus_coded_fmt - one OUTPUT (bitstream) format and what goes with it
 * @fourcc:	V4L2 pixel format of the OUTPUT queue
 * @codec:	codec id on the wire
 * @frmsize:	frame sizes the decoder accepts
 * @ctrls:	controls of this codec
 * @num_ctrls:	number of @ctrls
 * @depth_ctrl:	the control (one of @ctrls) that describes the stream's bit depth and chroma
 *		format: setting it picks the CAPTURE formats
 * @bit_depth:	bit depth (8 or 10) of the stream that a value of @depth_ctrl describes, or
 *		-EINVAL when the stream is one the daemon cannot decode (wrong chroma format or
 *		depth): the control is refused
 */
struct daedalus_coded_fmt {
	u32 fourcc;
	enum daedalus_codec codec;
	struct v4l2_frmsize_stepwise frmsize;
	const struct daedalus_ctrl_desc *ctrls;
	unsigned int num_ctrls;
	u32 depth_ctrl;
	int (*bit_depth)(const void *p);
};

extern const struct daedalus_coded_fmt *const daedalus_coded_fmts[];
extern const unsigned int daedalus_num_coded_fmts;
extern const struct daedalus_coded_fmt daedalus_vp9_fmt;
extern const struct daedalus_coded_fmt daedalus_h264_fmt;
extern const struct daedalus_coded_fmt daedalus_av1_fmt;

struct daedalus_job;
struct genl_info;
struct sk_buff;

/**
 * struct daedalus_job_ops - what a kind of job does at the kernel's end
 * @fill:	add the job's attributes to the job-get reply, in the daemon's context (this is
 *		where dmabuf fds are installed into the daemon); optional
 * @end:	the job ended with @status (0 or a negative errno). @info is the daemon's job-done
 *		request when the daemon completed it, NULL when it failed otherwise (watchdog,
 *		daemon gone, no daemon). Called exactly once per queued job, in process context,
 *		with no lock held.
 */
struct daedalus_job_ops {
	int (*fill)(struct daedalus_job *job, struct sk_buff *skb);
	void (*end)(struct daedalus_job *job, int status, struct genl_info *info);
};

/**
 * struct daedalus_job - one work item for the daemon
 * @node:	on the pending or in-flight list of the upcall, under its lock; empty
 *		(list_del_init) once the job has been taken off to be ended
 * @id:		unique id on the wire
 * @kind:	DAEDALUS_JOB_KIND_*
 * @stream:	stream id of the owning context (0 for none)
 * @ops:	how the job is filled and ended
 * @oneway:	the daemon sends no job-done: the job is freed once taken (release, close)
 * @timeout:	watchdog period; 0 for jobs whose owner waits with its own timeout
 * @watchdog:	fails the job when the daemon does not answer within @timeout
 * @reply_size:	room the job-get reply needs for this job's attributes
 */
struct daedalus_job {
	struct list_head node;
	u32 id;
	enum daedalus_job_kind kind;
	u32 stream;
	const struct daedalus_job_ops *ops;
	bool oneway;
	unsigned long timeout;
	struct delayed_work watchdog;
	size_t reply_size;
};

/**
 * struct daedalus_dev - the decoder device
 * @v4l2_dev:	V4L2 device
 * @vfd:	the stateless decoder's video node
 * @mdev:	its media device
 * @m2m_dev:	mem2mem scheduler: runs one decode job at a time
 * @dev_mutex:	serializes open and release, and the video node's ioctls (vfd.lock)
 */
struct daedalus_dev {
	struct v4l2_device v4l2_dev;
	struct video_device vfd;
	struct media_device mdev;
	struct v4l2_m2m_dev *m2m_dev;
	struct mutex dev_mutex;	/* open/release and the video node's ioctls */
};

/**
 * struct daedalus_decode_job - the decode job of a context (at most one runs at a time)
 * @job:	the work item
 * @src:	OUTPUT buffer being decoded (left on the m2m queue until the job ends)
 * @dst:	CAPTURE buffer being filled
 * @sequence:	number of the job within the stream
 * @num_ctrls:	number of forwarded controls in the snapshot
 * @ctrl_id:	their ids
 * @ctrl_size:	their sizes in bytes, as applied by this job's request
 * @ctrl_data:	snapshot of their values, one after the other, taken at device_run
 */
struct daedalus_decode_job {
	struct daedalus_job job;
	struct vb2_v4l2_buffer *src;
	struct vb2_v4l2_buffer *dst;
	u32 sequence;
	unsigned int num_ctrls;
	u32 ctrl_id[DAEDALUS_MAX_FWD_CTRLS];
	u32 ctrl_size[DAEDALUS_MAX_FWD_CTRLS];
	void *ctrl_data;
};

/**
 * struct daedalus_ctx - one open file of the decoder
 * @fh:		V4L2 file handle (holds the m2m context)
 * @dev:	the device
 * @hdl:	controls of every coded format
 * @vb_mutex:	serializes the two vb2 queues (vb2_queue.lock)
 * @coded_fmt:	OUTPUT format
 * @decoded_fmt: CAPTURE format
 * @coded_desc:	descriptor of @coded_fmt's pixel format; its depth control's value picks the
 *		CAPTURE formats (NV12 for 8 bits, P010 for 10)
 * @stream:	stream id on the wire
 * @decode:	the decode job (owned by the m2m scheduler between device_run and its end)
 * @next_sequence: number of the next decode job (reset at OUTPUT STREAMON)
 */
struct daedalus_ctx {
	struct v4l2_fh fh;
	struct daedalus_dev *dev;
	struct v4l2_ctrl_handler hdl;
	struct mutex vb_mutex;	/* both vb2 queues of the context */
	struct v4l2_format coded_fmt;
	struct v4l2_format decoded_fmt;
	const struct daedalus_coded_fmt *coded_desc;
	u32 stream;
	struct daedalus_decode_job decode;
	u32 next_sequence;
};

static inline struct daedalus_ctx *daedalus_file_to_ctx(struct file *file)
{
	return container_of(file->private_data, struct daedalus_ctx, fh);
}

/* daedalus-video.c */
extern const struct v4l2_ioctl_ops daedalus_ioctl_ops;
extern const struct v4l2_ctrl_ops daedalus_depth_ctrl_ops;
int daedalus_queue_init(void *priv, struct vb2_queue *src_vq, struct vb2_queue *dst_vq);
int daedalus_request_validate(struct media_request *req);
void daedalus_set_default_formats(struct daedalus_ctx *ctx);

/* daedalus-dec.c */
void daedalus_device_run(void *priv);
void daedalus_decode_job_init(struct daedalus_ctx *ctx);

/* daedalus-mem.c */
extern const struct vb2_mem_ops daedalus_capture_memops;
int daedalus_fill_plane_fd(struct sk_buff *skb, int attr, struct vb2_buffer *vb,
			   unsigned int plane);
u32 daedalus_buf_id(struct vb2_buffer *vb, unsigned int plane);

/* daedalus-nl.c */
int daedalus_nl_init(void);
void daedalus_nl_exit(void);
u32 daedalus_next_stream_id(void);
void daedalus_job_init(struct daedalus_job *job, enum daedalus_job_kind kind, u32 stream,
		       const struct daedalus_job_ops *ops, unsigned long timeout);
int daedalus_job_queue(struct daedalus_job *job);
bool daedalus_job_cancel(struct daedalus_job *job);
void daedalus_notify_stream_close(u32 stream);

#endif /* _DAEDALUS_V4L2_H_ */
