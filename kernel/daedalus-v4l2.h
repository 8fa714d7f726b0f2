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
/* the same, where no device is at hand (the netlink side) */
#define dd_pr_dbg(bit, fmt, arg...)						\
	do {									\
		if (daedalus_debug & (bit))					\
			pr_info(DAEDALUS_NAME ": " fmt, ##arg);			\
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
 * struct daedalus_ctrl_set - controls of a codec
 * @ctrls:	the controls
 * @num:	how many
 */
struct daedalus_ctrl_set {
	const struct daedalus_ctrl_desc *ctrls;
	unsigned int num;
};

/**
 * struct daedalus_coded_fmt - one OUTPUT (bitstream) format and what goes with it
 * @fourcc:	V4L2 pixel format of the OUTPUT queue
 * @codec:	codec id on the wire
 * @frmsize:	frame sizes the decoder accepts
 * @ctrls:	controls of this codec (stateless node: its stateless controls)
 * @num_ctrls:	number of @ctrls
 * @profiles:	the profile and level menu controls (both nodes offer them)
 * @depth_ctrl:	stateless node: the control (one of @ctrls) that describes the stream's bit
 *		depth and chroma format: setting it picks the CAPTURE formats
 * @bit_depth:	bit depth (8 or 10) of the stream that a value of @depth_ctrl describes, or
 *		-EINVAL when the stream is one the daemon cannot decode (wrong chroma format or
 *		depth): the control is refused
 * @description: ENUM_FMT description, for a fourcc the V4L2 core does not know (else NULL)
 * @flags:	ENUM_FMT flags beyond the ones the core sets
 */
struct daedalus_coded_fmt {
	u32 fourcc;
	enum daedalus_codec codec;
	struct v4l2_frmsize_stepwise frmsize;
	const struct daedalus_ctrl_desc *ctrls;
	unsigned int num_ctrls;
	const struct daedalus_ctrl_set *profiles;
	u32 depth_ctrl;
	int (*bit_depth)(const void *p);
	const char *description;
	u32 flags;
};

/**
 * struct daedalus_node_desc - what one decoder node offers
 * @fmts:	its OUTPUT formats, the first the default
 * @num_fmts:	how many
 */
struct daedalus_node_desc {
	const struct daedalus_coded_fmt *const *fmts;
	unsigned int num_fmts;
};

extern const struct daedalus_node_desc daedalus_stateless_node;
extern struct daedalus_node_desc daedalus_stateful_node;
int daedalus_sf_select_codecs(const char *list);
extern const struct daedalus_coded_fmt daedalus_vp9_fmt;
extern const struct daedalus_coded_fmt daedalus_h264_fmt;
extern const struct daedalus_coded_fmt daedalus_av1_fmt;
extern const struct daedalus_ctrl_set daedalus_vp9_profiles;
extern const struct daedalus_ctrl_set daedalus_h264_profiles;
extern const struct daedalus_ctrl_set daedalus_av1_profiles;

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
 * struct daedalus_dev - the decoder device: a stateless and a stateful decoder node
 * @v4l2_dev:	V4L2 device of the stateless node (with the media device)
 * @vfd:	the stateless decoder's video node
 * @mdev:	its media device
 * @m2m_dev:	its mem2mem scheduler: runs one decode job at a time
 * @dev_mutex:	serializes the stateless node's open, release and ioctls (vfd.lock)
 * @sf_v4l2_dev: V4L2 device of the stateful node (no media device: stateful decoders have none)
 * @sf_vfd:	the stateful decoder's video node
 * @sf_m2m_dev:	its mem2mem scheduler
 * @sf_mutex:	serializes the stateful node's open, release and ioctls (sf_vfd.lock)
 * @refs:	registered video nodes whose release has not run; the last one frees the device
 */
struct daedalus_dev {
	struct v4l2_device v4l2_dev;
	struct video_device vfd;
	struct media_device mdev;
	struct v4l2_m2m_dev *m2m_dev;
	struct mutex dev_mutex;	/* the stateless node's open/release and ioctls */
	struct v4l2_device sf_v4l2_dev;
	struct video_device sf_vfd;
	struct v4l2_m2m_dev *sf_m2m_dev;
	struct mutex sf_mutex;	/* the stateful node's open/release and ioctls */
	refcount_t refs;
};

/**
 * struct daedalus_decode_job - the decode job of a context (at most one runs at a time)
 * @job:	the work item
 * @src:	OUTPUT buffer being decoded (left on the m2m queue until the job ends)
 * @dst:	CAPTURE buffer being filled
 * @sequence:	number of the job within the stream
 * @drain:	stateful node: the job drains the stream (V4L2_DEC_CMD_STOP)
 * @announce:	stateful node: the node has no format for the stream; the daemon tells it
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
	bool drain;
	bool announce;
	unsigned int num_ctrls;
	u32 ctrl_id[DAEDALUS_MAX_FWD_CTRLS];
	u32 ctrl_size[DAEDALUS_MAX_FWD_CTRLS];
	void *ctrl_data;
};

/*
 * What an OUTPUT buffer carries beyond its bytes and timestamp, for the CAPTURE buffer of its
 * picture: sent with the feed job, opaque to the daemon, which returns it with the picture.
 */
struct daedalus_sf_meta {
	struct v4l2_timecode timecode;
	u32 flags;
};

/**
 * struct daedalus_sf - state of a stream of the stateful node
 * @lock:	protects the fields below and the context's decoded_fmt, which the end of a job
 *		changes outside the node's ioctl lock and job_ready() reads in atomic context
 * @announced:	the daemon told the stream's format (a source change was signalled)
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
 * @visible:	visible size of the pictures (G_SELECTION), from the daemon
 * @in_sequence: sequence number of the next OUTPUT buffer fed
 * @out_sequence: sequence number of the next CAPTURE buffer
 * @last_fed_ts: the timestamp of the last OUTPUT buffer fed (an empty CAPTURE buffer gets it)
 * @last_fed:	and the rest of its metadata
 * @min_buffers_ctrl: V4L2_CID_MIN_BUFFERS_FOR_CAPTURE (set outside the lock)
 * @poll_lock:	held by poll() and by the end of a job around an event and the buffer it
 *		explains, so that poll() sees both or neither (a mutex: poll_wait() allocates)
 */
struct daedalus_sf {
	spinlock_t lock;	/* the fields below and the context's decoded_fmt */
	bool announced;
	bool wait_capture;
	bool draining;
	struct vb2_v4l2_buffer *drain_src;
	bool drain_sent;
	bool stopped;
	u32 pending;
	bool full;
	u32 min_buffers;
	struct v4l2_rect visible;
	u32 in_sequence;
	u32 out_sequence;
	u64 last_fed_ts;
	struct daedalus_sf_meta last_fed;
	struct v4l2_ctrl *min_buffers_ctrl;
	struct mutex poll_lock;	/* poll() against an event and its buffer */
};

/**
 * struct daedalus_ctx - one open file of a decoder node
 * @fh:		V4L2 file handle (holds the m2m context)
 * @dev:	the device
 * @node:	what the node offers (its OUTPUT formats)
 * @stateful:	an open file of the stateful node
 * @hdl:	controls of every coded format
 * @vb_mutex:	serializes the two vb2 queues (vb2_queue.lock)
 * @coded_fmt:	OUTPUT format
 * @decoded_fmt: CAPTURE format
 * @coded_desc:	descriptor of @coded_fmt's pixel format; its depth control's value picks the
 *		CAPTURE formats (NV12 for 8 bits, P010 for 10)
 * @stream:	stream id on the wire
 * @decode:	the decode job (owned by the m2m scheduler between device_run and its end)
 * @next_sequence: number of the next decode job (reset at OUTPUT STREAMON)
 * @sf:		stateful node: the stream's state
 * @job_fmt:	stateful node: the CAPTURE format when the running job was made
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
	const struct daedalus_node_desc *node;
	bool stateful;
	struct daedalus_sf sf;
	struct v4l2_pix_format_mplane job_fmt;
};

static inline struct daedalus_ctx *daedalus_file_to_ctx(struct file *file)
{
	return container_of(file->private_data, struct daedalus_ctx, fh);
}

/* daedalus-core.c */
int daedalus_open_ctx(struct file *file, struct mutex *lock, struct v4l2_m2m_dev *m2m_dev,
		      const struct daedalus_node_desc *node,
		      int (*queue_init)(void *priv, struct vb2_queue *src_vq,
					struct vb2_queue *dst_vq));
int daedalus_release_ctx(struct file *file, struct mutex *lock);

/* daedalus-video.c */
extern const struct v4l2_ioctl_ops daedalus_ioctl_ops;
extern const struct v4l2_ctrl_ops daedalus_depth_ctrl_ops;
int daedalus_queue_init(void *priv, struct vb2_queue *src_vq, struct vb2_queue *dst_vq);
int daedalus_request_validate(struct media_request *req);
void daedalus_set_default_formats(struct daedalus_ctx *ctx);
const struct daedalus_coded_fmt *daedalus_find_coded(struct daedalus_ctx *ctx, u32 fourcc);
u32 daedalus_coded_sizeimage(u32 width, u32 height);
int daedalus_querycap(struct file *file, void *priv, struct v4l2_capability *cap);
int daedalus_enum_fmt_out(struct file *file, void *priv, struct v4l2_fmtdesc *f);
int daedalus_enum_framesizes(struct file *file, void *priv, struct v4l2_frmsizeenum *fsize);
int daedalus_g_fmt_out(struct file *file, void *priv, struct v4l2_format *f);
int daedalus_g_selection(struct file *file, void *priv, struct v4l2_selection *s);
int daedalus_try_fmt_out(struct file *file, void *priv, struct v4l2_format *f);
int daedalus_queue_setup(struct vb2_queue *vq, unsigned int *nbuffers, unsigned int *nplanes,
			 unsigned int sizes[], struct device *alloc_devs[]);
int daedalus_buf_out_validate(struct vb2_buffer *vb);
int daedalus_buf_prepare(struct vb2_buffer *vb);
void daedalus_buf_queue(struct vb2_buffer *vb);
void daedalus_return_all(struct vb2_queue *vq, enum vb2_buffer_state state);

/* daedalus-stateful.c */
extern unsigned int daedalus_stateful_nr;
extern const struct v4l2_ioctl_ops daedalus_sf_ioctl_ops;
extern const struct v4l2_m2m_ops daedalus_sf_m2m_ops;
extern const struct v4l2_file_operations daedalus_sf_fops;
extern const struct daedalus_job_ops daedalus_sf_job_ops;
void daedalus_sf_init(struct daedalus_ctx *ctx);

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
void daedalus_notify_stream(u32 stream, enum daedalus_job_kind kind);

#endif /* _DAEDALUS_V4L2_H_ */
