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

#include <linux/atomic.h>
#include <linux/completion.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/wait_bit.h>
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
extern unsigned int daedalus_max_streams;
extern unsigned int daedalus_jobs_per_stream;
#define DAEDALUS_MAX_JOBS_PER_STREAM	8
#define DAEDALUS_TIMEOUT_MIN_MS	100
#define DAEDALUS_TIMEOUT_MAX_MS	600000

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

#ifndef V4L2_PIX_FMT_AV1
/*
 * Stateful AV1 (a stream of OBUs, one temporal unit per buffer) has no fourcc in the uapi
 * headers of the kernels this module builds for; Chromium and Firefox probe for this one.
 */
#define V4L2_PIX_FMT_AV1	v4l2_fourcc('A', 'V', '0', '1')
#endif

/* Frame sizes of an OUTPUT format: 16x16 up to the protocol's largest, in these steps. */
#define DAEDALUS_FRMSIZE(wstep, hstep) {						\
	.min_width = 16, .max_width = DAEDALUS_MAX_WIDTH, .step_width = (wstep),	\
	.min_height = 16, .max_height = DAEDALUS_MAX_HEIGHT, .step_height = (hstep),	\
}

/**
 * struct daedalus_coded_fmt - one OUTPUT (bitstream) format of a node and what goes with it
 * @name:	the codec's name ("vp9", as the stateful_codecs parameter names it)
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
 * @size:	the picture size (@width x @height) a value of @depth_ctrl describes; a larger
 *		one than @frmsize allows is refused (16-bit sizes would let the daemon's decoder
 *		allocate pictures no CAPTURE buffer can take)
 * @size_in_output: the value of @depth_ctrl describes the sequence the OUTPUT format was set
 *		for (H.264's SPS): its size must also fit that format
 * @resize_streaming: frames of a stream may change size between key frames, predicted from
 *		references of another size (VP9 reference scaling, AV1 frame size changes): the
 *		OUTPUT format may then be set while both queues stream, so that the references
 *		stay queued (GStreamer's v4l2codecs do that, freeing the free CAPTURE buffers
 *		with VIDIOC_REMOVE_BUFS and creating ones of the new size)
 * @description: ENUM_FMT description, for a fourcc the V4L2 core does not know (else NULL)
 * @flags:	ENUM_FMT flags beyond the ones the core sets
 *
 * Each codec's file (daedalus-<codec>.c) describes the codec for both nodes: one of these per
 * node, sharing @profiles.
 */
struct daedalus_coded_fmt {
	const char *name;
	u32 fourcc;
	enum daedalus_codec codec;
	struct v4l2_frmsize_stepwise frmsize;
	const struct daedalus_ctrl_desc *ctrls;
	unsigned int num_ctrls;
	const struct daedalus_ctrl_set *profiles;
	u32 depth_ctrl;
	int (*bit_depth)(const void *p);
	void (*size)(const void *p, u32 *width, u32 *height);
	bool size_in_output;
	bool resize_streaming;
	const char *description;
	u32 flags;
};

extern const struct daedalus_coded_fmt daedalus_vp9_fmt;
extern const struct daedalus_coded_fmt daedalus_h264_fmt;
extern const struct daedalus_coded_fmt daedalus_av1_fmt;
extern const struct daedalus_coded_fmt daedalus_vp9_sf_fmt;
extern const struct daedalus_coded_fmt daedalus_h264_sf_fmt;
extern const struct daedalus_coded_fmt daedalus_av1_sf_fmt;

struct daedalus_job;
struct dma_buf;
struct genl_info;
struct sk_buff;

/* A job's buffers: its OUTPUT buffer and the planes of its CAPTURE buffer. */
#define DAEDALUS_MAX_JOB_FDS	(1 + DAEDALUS_MAX_PLANES)

/**
 * struct daedalus_fds - the dmabuf fds of a job-get reply being built
 * @n:		how many
 * @fd:		fds reserved in the daemon (get_unused_fd_flags()), not installed yet
 * @dbuf:	the dmabuf each will be; the reference is the fd's once installed
 *
 * The reply names the fds as it is built; they become the daemon's only once it is complete,
 * so that a reply that fails midway, or is not delivered, leaves nothing in the daemon.
 */
struct daedalus_fds {
	unsigned int n;
	int fd[DAEDALUS_MAX_JOB_FDS];
	struct dma_buf *dbuf[DAEDALUS_MAX_JOB_FDS];
};

int daedalus_fds_add(struct daedalus_fds *fds, struct dma_buf *dbuf);

/**
 * struct daedalus_job_ops - what a kind of job does at the kernel's end
 * @fill:	add the job's attributes to the job-get reply, in the daemon's context; the
 *		dmabufs it names go in @fds (daedalus_fds_add()), and are installed into the
 *		daemon once the reply is complete; optional
 * @end:	the job ended with @status (0 or a negative errno). @info is the daemon's job-done
 *		request when the daemon completed it, NULL when it failed otherwise (watchdog,
 *		daemon gone, no daemon). Called exactly once per queued job, in process context,
 *		with no lock held.
 */
struct daedalus_job_ops {
	int (*fill)(struct daedalus_job *job, struct sk_buff *skb, struct daedalus_fds *fds);
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
	u64 id;
	enum daedalus_job_kind kind;
	u32 stream;
	const struct daedalus_job_ops *ops;
	bool oneway;
	unsigned long timeout;
	struct delayed_work watchdog;
	size_t reply_size;
};

struct daedalus_ctx;
struct daedalus_node;

/**
 * struct daedalus_node_desc - what kind of decoder a node is
 * @name:	its name (video device, V4L2 device)
 * @kind:	"stateless" or "stateful", for log lines
 * @fmts:	its OUTPUT formats, the first the default
 * @num_fmts:	how many
 * @ioctl_ops:	its ioctls
 * @m2m_ops:	its mem2mem callbacks (device_run queues the context's job)
 * @qops:	its vb2 queue callbacks
 * @media_ops:	its media device's callbacks; NULL: the node has no media device (nor the
 *		request API)
 * @capture_align: the CAPTURE format's width and height are multiples of this
 * @stride_align: its rows (bytesperline) hold a multiple of this many pixels
 * @job_kind:	DAEDALUS_JOB_KIND_* of the context's job (struct daedalus_decode_job)
 * @job_ops:	how that job is filled and ended (in the context the ops document)
 * @pipelined:	several jobs of a context may be with the daemon at once (jobs_per_stream)
 * @ctx_size:	size of the per-open context, which begins with struct daedalus_ctx
 * @open:	optional: the rest of a new context, once its controls, formats, queues and
 *		job exist; called with the node's lock held. Return: 0 or a negative errno
 * @release:	optional: undoes @open, after the context's last job ended
 * @poll:	optional: poll() (default: v4l2_m2m_fop_poll())
 */
struct daedalus_node_desc {
	const char *name;
	const char *kind;
	const struct daedalus_coded_fmt *const *fmts;
	unsigned int num_fmts;
	const struct v4l2_ioctl_ops *ioctl_ops;
	const struct v4l2_m2m_ops *m2m_ops;
	const struct vb2_ops *qops;
	const struct media_device_ops *media_ops;
	unsigned int capture_align;
	unsigned int stride_align;
	enum daedalus_job_kind job_kind;
	const struct daedalus_job_ops *job_ops;
	bool pipelined;
	size_t ctx_size;
	int (*open)(struct daedalus_ctx *ctx);
	void (*release)(struct daedalus_ctx *ctx);
	__poll_t (*poll)(struct file *file, struct poll_table_struct *wait);
};

/* daedalus-dec.c and daedalus-sf-dec.c */
extern const struct daedalus_node_desc daedalus_stateless_node;
extern struct daedalus_node_desc daedalus_stateful_node;
int daedalus_sf_select_codecs(const char *list);

/**
 * struct daedalus_node - one decoder node: a video device and what it owns
 * @desc:	what kind of decoder it is
 * @v4l2_dev:	its V4L2 device; the last reference (the node's removal, the last close of
 *		its video device) frees the node
 * @vfd:	its video device
 * @mdev:	its media device (a node whose desc has media_ops)
 * @m2m_dev:	the mem2mem device of its media topology; no job runs on it (each context has
 *		a scheduler of its own, see struct daedalus_sched)
 * @sched_free:	the schedulers no context uses, under @lock
 * @lock:	serializes the node's open, release and ioctls (vfd.lock)
 * @open_lock:	protects @open_ctxs (a spinlock: a release must not wait for another
 *		context's ioctl, which may wait for the daemon under @lock)
 * @open_ctxs:	the open contexts, from the end of their open until their release frees
 *		the m2m context: the node's removal wakes whoever waits on them
 */
struct daedalus_node {
	const struct daedalus_node_desc *desc;
	struct v4l2_device v4l2_dev;
	struct video_device vfd;
	struct media_device mdev;
	struct v4l2_m2m_dev *m2m_dev;
	struct list_head sched_free;
	struct mutex lock;	/* the node's open and ioctls (vfd.lock), @sched_free */
	spinlock_t open_lock;
	struct list_head open_ctxs;
};

/**
 * struct daedalus_sched - a context's mem2mem scheduler
 * @list:	on the node's @sched_free while no context uses it
 * @m2m_dev:	the scheduler
 *
 * The mem2mem framework runs one job at a time per v4l2_m2m_dev. With one per context, the
 * streams' jobs run at the same time (each stream has a worker of its own in the daemon), and
 * the jobs of one stream are handed out in order; on the stateless node, several of a stream
 * are with the daemon at once (daedalus-dec.c). A scheduler outlives its
 * context: v4l2_m2m_job_finish() schedules its work item, which may still be pending when the
 * context goes; it waits on @sched_free for the next context and is freed with the node.
 */
struct daedalus_sched {
	struct list_head list;
	struct v4l2_m2m_dev *m2m_dev;
};

/**
 * struct daedalus_decode_job - a job of a context
 * @job:	the work item
 * @ctx:	the context
 * @index:	its slot in the context (bit @index of the context's @busy while it runs)
 * @ahead:	stateless node: the job went to the daemon ahead of its turn, while the m2m
 *		job (the head) ran: its buffers were taken off the m2m queues and its end
 *		completes them; else the job is the head (daedalus-dec.c)
 * @src:	OUTPUT buffer being decoded
 * @dst:	CAPTURE buffer being filled
 * @sequence:	number of the job within the stream
 * @drain:	stateful node: the job drains the stream (V4L2_DEC_CMD_STOP)
 * @announce:	stateful node: the node has no format for the stream; the daemon tells it
 * @num_ctrls:	stateless node: number of forwarded controls in the snapshot
 * @ctrl_id:	their ids
 * @ctrl_size:	their sizes in bytes, as applied by this job's request
 * @ctrl_data:	snapshot of their values, one after the other, taken at device_run
 */
struct daedalus_decode_job {
	struct daedalus_job job;
	struct daedalus_ctx *ctx;
	unsigned int index;
	bool ahead;
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

/**
 * struct daedalus_ctx - one open file of a decoder node
 * @fh:		V4L2 file handle (holds the m2m context)
 * @node:	the node
 * @sched:	its mem2mem scheduler
 * @hdl:	controls of every coded format
 * @vb_mutex:	serializes the two vb2 queues (vb2_queue.lock)
 * @lock:	protects @decoded_fmt and @visible, which the end of a stateful job changes
 *		outside the node's ioctl lock, @coded_fmt, which the stateless node's S_FMT
 *		may change while the queues (under @vb_mutex, not the node's lock) read it,
 *		and the stateful node's stream state (struct daedalus_sf_ctx), which
 *		job_ready() reads in atomic context
 * @coded_fmt:	OUTPUT format
 * @decoded_fmt: CAPTURE format
 * @visible:	visible rectangle of the pictures (G_SELECTION)
 * @coded_desc:	descriptor of @coded_fmt's pixel format; on the stateless node its depth
 *		control's value picks the CAPTURE formats (NV12 for 8 bits, P010 for 10)
 * @stream:	stream id on the wire
 * @decode:	the job (owned by the m2m scheduler between device_run and its end); on the
 *		stateless node the first of @slots
 * @more:	stateless node: the context's other jobs; with @decode, @slots jobs, each busy
 *		from its queueing to its end (daedalus_slot()); taken only under @pipe_lock
 * @slots:	how many (the jobs_per_stream parameter at open; 1 on the stateful node)
 * @busy:	bit N set while slot N's job runs (atomic bitops: set as the job is queued,
 *		cleared by its end, which wakes waiters on it: wait_var_event)
 * @pipe_lock:	stateless node: orders the stream's jobs as they are queued (device_run and
 *		daedalus_look_ahead()) and the head's end against them; taken after @vb_mutex
 * @ahead_work:	stateless node: daedalus_look_ahead() for a buffer queued or a slot freed
 * @head:	stateless node: the m2m job runs (under @pipe_lock)
 * @next_sequence: number of the next job (reset at OUTPUT STREAMON)
 * @counted:	the context has set up buffers: it is one of the max_streams streams
 * @finishing:	job ends inside v4l2_m2m_job_finish() (daedalus_finish_begin/end): a
 *		release must not free the m2m context before they have returned
 * @open_link:	on the node's @open_ctxs, under its @open_lock
 *
 * A node's desc->ctx_size says what follows (the stateful node's stream state).
 */
struct daedalus_ctx {
	struct v4l2_fh fh;
	struct daedalus_node *node;
	struct daedalus_sched *sched;
	struct v4l2_ctrl_handler hdl;
	struct mutex vb_mutex;	/* both vb2 queues of the context */
	spinlock_t lock;	/* formats, visible, the stateful stream state */
	struct v4l2_format coded_fmt;
	struct v4l2_format decoded_fmt;
	struct v4l2_rect visible;
	const struct daedalus_coded_fmt *coded_desc;
	u32 stream;
	struct daedalus_decode_job decode;
	struct daedalus_decode_job *more;
	unsigned int slots;
	unsigned long busy;
	struct mutex pipe_lock;	/* the stream's jobs in order (stateless node) */
	struct work_struct ahead_work;
	bool head;
	u32 next_sequence;
	bool counted;		/* under vb_mutex */
	atomic_t finishing;
	struct list_head open_link;
};

static inline struct daedalus_ctx *daedalus_file_to_ctx(struct file *file)
{
	return container_of(file->private_data, struct daedalus_ctx, fh);
}

/* The device a context's log lines name. */
static inline struct device *daedalus_ctx_dev(struct daedalus_ctx *ctx)
{
	return ctx->node->v4l2_dev.dev;
}

static inline struct daedalus_decode_job *daedalus_to_decode_job(struct daedalus_job *job)
{
	return container_of(job, struct daedalus_decode_job, job);
}

static inline struct daedalus_ctx *daedalus_job_ctx(struct daedalus_job *job)
{
	return daedalus_to_decode_job(job)->ctx;
}

/* Slot @i of a context (i < ctx->slots). */
static inline struct daedalus_decode_job *daedalus_slot(struct daedalus_ctx *ctx, unsigned int i)
{
	return i ? &ctx->more[i - 1] : &ctx->decode;
}

/*
 * Around each v4l2_m2m_job_finish() (or _buf_done_and_job_finish()) of a context's job. The
 * m2m core wakes a release waiting for the job before it is done with the m2m context: it goes
 * on to queue the context's next job. The release waits for the count to drop to zero before
 * it frees the m2m context (wait_var_event: the wake-up does not touch the context).
 */
static inline void daedalus_finish_begin(struct daedalus_ctx *ctx)
{
	atomic_inc(&ctx->finishing);
	/* seen by a release before it sees the job end (TRANS_RUNNING cleared) */
	smp_mb__after_atomic();
}

static inline void daedalus_finish_end(struct daedalus_ctx *ctx)
{
	if (atomic_dec_and_test(&ctx->finishing))
		wake_up_var(&ctx->finishing);
}

/* The CAPTURE format, read under the context's lock. */
static inline void daedalus_get_decoded(struct daedalus_ctx *ctx,
					struct v4l2_pix_format_mplane *pix)
{
	spin_lock_irq(&ctx->lock);
	*pix = ctx->decoded_fmt.fmt.pix_mp;
	spin_unlock_irq(&ctx->lock);
}

/* The OUTPUT format, read under the context's lock. */
static inline void daedalus_get_coded(struct daedalus_ctx *ctx,
				      struct v4l2_pix_format_mplane *pix)
{
	spin_lock_irq(&ctx->lock);
	*pix = ctx->coded_fmt.fmt.pix_mp;
	spin_unlock_irq(&ctx->lock);
}

/* daedalus-video.c: what both nodes share, and the stateless node's formats and ioctls */
extern const struct v4l2_ioctl_ops daedalus_ioctl_ops;
extern const struct v4l2_ctrl_ops daedalus_depth_ctrl_ops;
extern const struct vb2_ops daedalus_qops;
int daedalus_queue_init(void *priv, struct vb2_queue *src_vq, struct vb2_queue *dst_vq);
int daedalus_request_validate(struct media_request *req);
void daedalus_set_default_formats(struct daedalus_ctx *ctx);
const struct daedalus_coded_fmt *daedalus_find_coded(struct daedalus_ctx *ctx, u32 fourcc);
void daedalus_set_decoded(struct daedalus_ctx *ctx, u32 fourcc, u32 width, u32 height);
void daedalus_fill_layout(struct daedalus_ctx *ctx, struct v4l2_pix_format_mplane *pix,
			  u32 fourcc, u32 width, u32 height);
int daedalus_querycap(struct file *file, void *priv, struct v4l2_capability *cap);
int daedalus_enum_fmt_out(struct file *file, void *priv, struct v4l2_fmtdesc *f);
int daedalus_enum_framesizes(struct file *file, void *priv, struct v4l2_frmsizeenum *fsize);
int daedalus_g_fmt_out(struct file *file, void *priv, struct v4l2_format *f);
int daedalus_g_fmt_cap(struct file *file, void *priv, struct v4l2_format *f);
int daedalus_g_selection(struct file *file, void *priv, struct v4l2_selection *s);
int daedalus_try_fmt_out(struct file *file, void *priv, struct v4l2_format *f);
int daedalus_queue_setup(struct vb2_queue *vq, unsigned int *nbuffers, unsigned int *nplanes,
			 unsigned int sizes[], struct device *alloc_devs[]);
int daedalus_buf_out_validate(struct vb2_buffer *vb);
int daedalus_buf_prepare(struct vb2_buffer *vb);
void daedalus_buf_queue(struct vb2_buffer *vb);
void daedalus_return_all(struct vb2_queue *vq, enum vb2_buffer_state state);
void daedalus_uncount_stream(struct daedalus_ctx *ctx);

/* daedalus-sf-video.c: the stateful node's formats, ioctls and queues */
extern const struct v4l2_ioctl_ops daedalus_sf_ioctl_ops;
extern const struct vb2_ops daedalus_sf_qops;
int daedalus_sf_open(struct daedalus_ctx *ctx);
void daedalus_sf_release(struct daedalus_ctx *ctx);
__poll_t daedalus_sf_poll(struct file *file, struct poll_table_struct *wait);

/* daedalus-mem.c */
struct daedalus_export;

/**
 * struct daedalus_buf - a vb2 buffer of a decoder node
 * @m2m:	the mem2mem buffer (first: vb2 and the m2m helpers use it as such)
 * @export:	an OUTPUT buffer of vb2's own memory: its dmabuf, exported for the first job that
 *		sends the buffer to the daemon and kept (the daemon keeps its mapping) until vb2
 *		frees the buffer (daedalus_buf_cleanup()); NULL before. Set while the buffer is
 *		in a job, freed when it is in none: no lock.
 * @coded:	an OUTPUT buffer of the stateless node: the OUTPUT format its request was
 *		queued under (buf_queue), which its job is decoded for; the format may change
 *		while the job waits (&daedalus_coded_fmt.resize_streaming)
 * @decoded:	likewise, the CAPTURE format the job's picture is written in
 */
struct daedalus_buf {
	struct v4l2_m2m_buffer m2m;
	struct daedalus_export *export;
	struct v4l2_pix_format_mplane coded;
	struct v4l2_pix_format_mplane decoded;
};

static inline struct daedalus_buf *daedalus_to_buf(struct vb2_buffer *vb)
{
	return container_of(to_vb2_v4l2_buffer(vb), struct daedalus_buf, m2m.vb);
}

extern const struct vb2_mem_ops daedalus_capture_memops;
void daedalus_buf_cleanup(struct vb2_buffer *vb);
int daedalus_put_output(struct sk_buff *skb, struct daedalus_fds *fds, struct vb2_buffer *src,
			const struct v4l2_pix_format_mplane *coded, const void *meta,
			int meta_len);
int daedalus_put_capture(struct sk_buff *skb, struct daedalus_fds *fds,
			 const struct v4l2_pix_format_mplane *pix, struct vb2_buffer *dst);
int daedalus_output_kept(struct vb2_v4l2_buffer *src, u32 flags);
void daedalus_output_resend(struct vb2_v4l2_buffer *src);

/* daedalus-nl.c */
int daedalus_nl_init(void);
void daedalus_nl_exit(void);
u32 daedalus_next_stream_id(void);
void daedalus_job_init(struct daedalus_job *job, enum daedalus_job_kind kind, u32 stream,
		       const struct daedalus_job_ops *ops, unsigned long timeout);
int daedalus_job_queue(struct daedalus_job *job);
u64 daedalus_new_id(void);
u64 daedalus_daemon_nr(void);
u32 daedalus_done_u32(const struct genl_info *info, int attr, u32 def);
bool daedalus_job_cancel(struct daedalus_job *job);
void daedalus_notify_stream(u32 stream, enum daedalus_job_kind kind);

#endif /* _DAEDALUS_V4L2_H_ */
