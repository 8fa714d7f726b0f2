// SPDX-License-Identifier: GPL-2.0
/*
 * CAPTURE buffer memory that the daemon allocates.
 *
 * A vb2 MMAP allocation becomes an alloc job: the daemon allocates a dmabuf (through GBM on a
 * DRM device, or a dma-heap, or udmabuf), and job-done passes its fd, on which the kernel takes
 * a reference in the daemon's context. The client's mmap() maps that dmabuf and EXPBUF exports
 * the very same dmabuf, so a browser imports the daemon's buffer with no copy. Imported
 * (DMABUF) CAPTURE buffers are handed to the daemon as they are.
 *
 * The kernel never touches the pixels: there is no vaddr, and no cache maintenance here (the
 * daemon brackets its CPU writes with DMA_BUF_IOCTL_SYNC).
 */
#include <linux/dma-buf.h>
#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/slab.h>
#include <net/genetlink.h>

#include "daedalus-v4l2.h"

/**
 * struct daedalus_mem_buf - one memory plane of a CAPTURE buffer
 * @job:	the alloc job, then the release notification
 * @done:	completed when the alloc job ends
 * @status:	result of the alloc job
 * @id:		the daemon's name for the buffer (the alloc job's id), 0 when imported
 * @dbuf:	the dmabuf (a reference of ours when allocated, vb2's when imported)
 * @size:	bytes vb2 asked for (page aligned)
 * @imported:	the client imported the buffer (DMABUF memory)
 * @daemon:	the daemon the alloc job went to (daedalus_daemon_nr()): while that one is
 *		attached, jobs send it no fd of the buffer (it has its own, and its mapping)
 * @width:	allocation hints sent with the alloc job: CAPTURE format when allocated
 * @height:	  "
 * @pixfmt:	  "
 * @bytesperline: "
 */
struct daedalus_mem_buf {
	struct daedalus_job job;
	struct completion done;
	int status;
	u64 id;
	struct dma_buf *dbuf;
	unsigned long size;
	bool imported;
	u64 daemon;
	u32 width;
	u32 height;
	u32 pixfmt;
	u32 bytesperline;
};

static int daedalus_alloc_fill(struct daedalus_job *job, struct sk_buff *skb,
			       struct daedalus_fds *fds)
{
	struct daedalus_mem_buf *buf = container_of(job, struct daedalus_mem_buf, job);
	struct nlattr *nest = nla_nest_start(skb, DAEDALUS_A_JOB_CAPTURE);

	buf->daemon = daedalus_daemon_nr();
	if (!nest || nla_put_u32(skb, DAEDALUS_A_CAPTURE_PLANE_SIZE, buf->size) ||
	    nla_put_u32(skb, DAEDALUS_A_CAPTURE_WIDTH, buf->width) ||
	    nla_put_u32(skb, DAEDALUS_A_CAPTURE_HEIGHT, buf->height) ||
	    nla_put_u32(skb, DAEDALUS_A_CAPTURE_PIXFMT, buf->pixfmt) ||
	    nla_put_u32(skb, DAEDALUS_A_CAPTURE_BYTESPERLINE, buf->bytesperline))
		return -EMSGSIZE;
	nla_nest_end(skb, nest);
	return 0;
}

/* Runs in the daemon's context when it completed the job: the fd is the daemon's. */
static void daedalus_alloc_end(struct daedalus_job *job, int status, struct genl_info *info)
{
	struct daedalus_mem_buf *buf = container_of(job, struct daedalus_mem_buf, job);
	struct dma_buf *dbuf;

	if (!status && info) {
		if (!info->attrs[DAEDALUS_A_DONE_FD]) {
			GENL_SET_ERR_MSG(info, "alloc job done without an fd");
			status = -EINVAL;
			goto out;
		}
		dbuf = dma_buf_get(nla_get_s32(info->attrs[DAEDALUS_A_DONE_FD]));
		if (IS_ERR(dbuf)) {
			GENL_SET_ERR_MSG(info, "fd is not a dmabuf");
			status = PTR_ERR(dbuf);
			goto out;
		}
		if (dbuf->size < buf->size) {
			NL_SET_ERR_MSG_FMT(info->extack, "dmabuf has %zu bytes, %lu needed",
					   dbuf->size, buf->size);
			dma_buf_put(dbuf);
			status = -EINVAL;
			goto out;
		}
		buf->dbuf = dbuf;
	}
out:
	buf->status = status;
	complete(&buf->done);
}

static const struct daedalus_job_ops daedalus_alloc_ops = {
	.fill = daedalus_alloc_fill,
	.end = daedalus_alloc_end,
};

static void *daedalus_mem_alloc(struct vb2_buffer *vb, struct device *dev, unsigned long size)
{
	struct daedalus_ctx *ctx = vb2_get_drv_priv(vb->vb2_queue);
	struct v4l2_pix_format_mplane pix;
	struct daedalus_mem_buf *buf;
	long left;
	int err;

	if (size > U32_MAX)
		return ERR_PTR(-EINVAL);
	buf = kzalloc(sizeof(*buf), GFP_KERNEL);
	if (!buf)
		return ERR_PTR(-ENOMEM);
	daedalus_job_init(&buf->job, DAEDALUS_JOB_KIND_ALLOC, ctx->stream, &daedalus_alloc_ops, 0);
	init_completion(&buf->done);
	buf->size = size;
	daedalus_get_decoded(ctx, &pix);
	buf->width = pix.width;
	buf->height = pix.height;
	buf->pixfmt = pix.pixelformat;
	buf->bytesperline = pix.plane_fmt[0].bytesperline;

	err = daedalus_job_queue(&buf->job);
	if (err) {
		dev_err_ratelimited(dev, "cannot allocate CAPTURE buffers: no daemon attached\n");
		goto fail;
	}
	left = wait_for_completion_killable_timeout(&buf->done,
						    msecs_to_jiffies(daedalus_timeout_ms));
	if (left <= 0) {
		if (daedalus_job_cancel(&buf->job)) {
			err = left ? left : -ETIMEDOUT;
			dev_err_ratelimited(dev, "daemon did not allocate a buffer: %d\n", err);
			goto fail;
		}
		wait_for_completion(&buf->done);	/* being ended right now */
	}
	err = buf->status;
	if (err) {
		dev_err_ratelimited(dev, "daemon failed to allocate %lu bytes: %d\n", size, err);
		goto fail;
	}
	buf->id = buf->job.id;
	dd_dbg(DAEDALUS_DBG_BUF, dev, "stream %u: buffer %llu, %lu bytes\n", ctx->stream,
	       buf->id, size);
	return buf;

fail:
	kfree(buf);
	return ERR_PTR(err);
}

static void daedalus_release_end(struct daedalus_job *job, int status, struct genl_info *info)
{
	kfree(container_of(job, struct daedalus_mem_buf, job));
}

/* A release job's message: the id of the buffer (or OUTPUT export) the daemon drops. */
static int daedalus_put_release(struct sk_buff *skb, u64 id)
{
	struct nlattr *nest = nla_nest_start(skb, DAEDALUS_A_JOB_CAPTURE);

	if (!nest || nla_put_u64_64bit(skb, DAEDALUS_A_CAPTURE_BUF, id, 0))
		return -EMSGSIZE;
	nla_nest_end(skb, nest);
	return 0;
}

static int daedalus_release_fill(struct daedalus_job *job, struct sk_buff *skb,
				 struct daedalus_fds *fds)
{
	return daedalus_put_release(skb, container_of(job, struct daedalus_mem_buf, job)->id);
}

static const struct daedalus_job_ops daedalus_release_ops = {
	.fill = daedalus_release_fill,
	.end = daedalus_release_end,
};

static void daedalus_mem_put(void *priv)
{
	struct daedalus_mem_buf *buf = priv;

	dma_buf_put(buf->dbuf);
	/* Reuse the object as the release notification; it frees itself when sent. */
	daedalus_job_init(&buf->job, DAEDALUS_JOB_KIND_RELEASE, buf->job.stream,
			  &daedalus_release_ops, 0);
	if (daedalus_job_queue(&buf->job))
		kfree(buf);
}

static struct dma_buf *daedalus_mem_get_dmabuf(struct vb2_buffer *vb, void *priv,
					       unsigned long flags)
{
	struct daedalus_mem_buf *buf = priv;

	get_dma_buf(buf->dbuf);
	return buf->dbuf;
}

static int daedalus_mem_mmap(void *priv, struct vm_area_struct *vma)
{
	struct daedalus_mem_buf *buf = priv;

	return dma_buf_mmap(buf->dbuf, vma, 0);
}

static unsigned int daedalus_mem_num_users(void *priv)
{
	/* mmap() and EXPBUF hold references on the dmabuf itself, not on this object. */
	return 1;
}

static void *daedalus_mem_attach_dmabuf(struct vb2_buffer *vb, struct device *dev,
					struct dma_buf *dbuf, unsigned long size)
{
	struct daedalus_mem_buf *buf;

	if (dbuf->size < size)
		return ERR_PTR(-EFAULT);
	buf = kzalloc(sizeof(*buf), GFP_KERNEL);
	if (!buf)
		return ERR_PTR(-ENOMEM);
	buf->dbuf = dbuf;	/* vb2 holds the reference */
	buf->size = size;
	buf->imported = true;
	return buf;
}

static void daedalus_mem_detach_dmabuf(void *priv)
{
	kfree(priv);
}

static int daedalus_mem_map_dmabuf(void *priv)
{
	return 0;	/* the daemon maps it, through the fd each job carries */
}

static void daedalus_mem_unmap_dmabuf(void *priv)
{
}

const struct vb2_mem_ops daedalus_capture_memops = {
	.alloc		= daedalus_mem_alloc,
	.put		= daedalus_mem_put,
	.get_dmabuf	= daedalus_mem_get_dmabuf,
	.mmap		= daedalus_mem_mmap,
	.num_users	= daedalus_mem_num_users,
	.attach_dmabuf	= daedalus_mem_attach_dmabuf,
	.detach_dmabuf	= daedalus_mem_detach_dmabuf,
	.map_dmabuf	= daedalus_mem_map_dmabuf,
	.unmap_dmabuf	= daedalus_mem_unmap_dmabuf,
};

/*
 * Whether the attached daemon allocated this CAPTURE buffer plane: it has its own fd (and
 * mapping) of it, and is sent none. From a job's fill op (the upcall lock is held).
 */
static bool daedalus_daemon_has(struct vb2_buffer *vb, unsigned int plane)
{
	struct daedalus_mem_buf *buf = vb->planes[plane].mem_priv;

	return vb->vb2_queue->mem_ops == &daedalus_capture_memops && !buf->imported &&
	       buf->daemon == daedalus_daemon_nr();
}

/* The daemon's id of a CAPTURE buffer plane: its alloc job's, or 0 when imported. */
static u64 daedalus_buf_id(struct vb2_buffer *vb, unsigned int plane)
{
	struct daedalus_mem_buf *buf = vb->planes[plane].mem_priv;

	return buf->id;
}

/**
 * struct daedalus_export - an OUTPUT buffer of vb2's memory, as the daemon knows it
 * @job:	the release notification, sent when vb2 frees the buffer
 * @dbuf:	the buffer's dmabuf, exported once (a reference)
 * @id:		its id on the wire: the daemon keeps its mapping under it until released
 * @sent_to:	the daemon (daedalus_daemon_nr()) the export's fd was last sent to
 * @kept_by:	that daemon, once it said it keeps the mapping (done flag output-kept): while it
 *		is attached, jobs carry no fd for the export; 0 for none. Both written by a job
 *		of the buffer (fill, end) and read by its next: a buffer is in one job at a time,
 *		no lock.
 *
 * vb2-vmalloc makes a new dmabuf at each export; one kept for the buffer's life lets the daemon
 * map the buffer once instead of at every job, and install its fd only until it says so.
 */
struct daedalus_export {
	struct daedalus_job job;
	struct dma_buf *dbuf;
	u64 id;
	u64 sent_to;
	u64 kept_by;
};

static void daedalus_export_end(struct daedalus_job *job, int status, struct genl_info *info)
{
	kfree(container_of(job, struct daedalus_export, job));
}

static int daedalus_export_release_fill(struct daedalus_job *job, struct sk_buff *skb,
					struct daedalus_fds *fds)
{
	return daedalus_put_release(skb, container_of(job, struct daedalus_export, job)->id);
}

static const struct daedalus_job_ops daedalus_export_release_ops = {
	.fill = daedalus_export_release_fill,
	.end = daedalus_export_end,
};

/*
 * The kept export of an OUTPUT buffer of vb2's memory, made now if it has none. From a job's
 * fill op (the upcall lock is held: its id comes from daedalus_new_id()).
 */
static struct daedalus_export *daedalus_output_export(struct vb2_buffer *vb)
{
	struct daedalus_buf *buf = daedalus_to_buf(vb);
	struct daedalus_export *export = buf->export;
	struct dma_buf *dbuf;

	if (export)
		return export;
	export = kzalloc(sizeof(*export), GFP_KERNEL);
	if (!export)
		return ERR_PTR(-ENOMEM);
	dbuf = vb->vb2_queue->mem_ops->get_dmabuf(vb, vb->planes[0].mem_priv, O_RDONLY);
	if (IS_ERR_OR_NULL(dbuf)) {
		kfree(export);
		return dbuf ? ERR_CAST(dbuf) : ERR_PTR(-EINVAL);
	}
	export->dbuf = dbuf;
	export->id = daedalus_new_id();
	buf->export = export;
	return export;
}

/**
 * daedalus_buf_cleanup - vb2 frees a buffer: drop its kept export, and tell the daemon
 * @vb:		the buffer (in no job)
 */
void daedalus_buf_cleanup(struct vb2_buffer *vb)
{
	struct daedalus_ctx *ctx = vb2_get_drv_priv(vb->vb2_queue);
	struct daedalus_buf *buf = daedalus_to_buf(vb);
	struct daedalus_export *export = buf->export;

	if (!export)
		return;
	buf->export = NULL;
	dma_buf_put(export->dbuf);
	/* the release notification frees it once sent; with no daemon, nobody holds a mapping */
	daedalus_job_init(&export->job, DAEDALUS_JOB_KIND_RELEASE, ctx->stream,
			  &daedalus_export_release_ops, 0);
	if (daedalus_job_queue(&export->job))
		kfree(export);
}

/*
 * Put the fd a buffer plane's dmabuf will have in the daemon in @attr of @skb, the job-get reply
 * being built (in the daemon's context); the fd is reserved in @fds, and installed with the
 * others once the reply is complete.
 */
static int daedalus_fill_plane_fd(struct sk_buff *skb, struct daedalus_fds *fds, int attr,
				  struct vb2_buffer *vb, unsigned int plane)
{
	const struct vb2_mem_ops *ops = vb->vb2_queue->mem_ops;
	void *priv = vb->planes[plane].mem_priv;
	struct dma_buf *dbuf;
	int fd;

	if (vb->memory == VB2_MEMORY_DMABUF) {
		dbuf = vb->planes[plane].dbuf;
		get_dma_buf(dbuf);
	} else if (ops == &daedalus_capture_memops) {
		dbuf = ((struct daedalus_mem_buf *)priv)->dbuf;
		get_dma_buf(dbuf);
	} else {
		/* an OUTPUT buffer of vb2-vmalloc's: the daemon maps its kept export */
		struct daedalus_export *export = daedalus_output_export(vb);

		if (IS_ERR(export))
			return PTR_ERR(export);
		dbuf = export->dbuf;
		get_dma_buf(dbuf);
	}
	fd = daedalus_fds_add(fds, dbuf);
	if (fd < 0)
		return fd;
	return nla_put_s32(skb, attr, fd);
}

/**
 * daedalus_put_output - the output nest of a job: its OUTPUT buffer
 * @skb:	the job-get reply being built (in the daemon's context)
 * @fds:	its fds: the buffer's dmabuf is added
 * @src:	the buffer
 * @coded:	decode jobs: the OUTPUT format, whose size goes along; NULL for none
 * @meta:	feed jobs: what the daemon returns with the picture; NULL for none
 * @meta_len:	its length
 *
 * Return: 0 or a negative errno.
 */
int daedalus_put_output(struct sk_buff *skb, struct daedalus_fds *fds, struct vb2_buffer *src,
			const struct v4l2_pix_format_mplane *coded, const void *meta,
			int meta_len)
{
	u32 offset = src->planes[0].data_offset;
	u32 used = vb2_get_plane_payload(src, 0);
	struct daedalus_export *export;
	struct nlattr *nest;
	int err;

	if (offset > used)
		return -EINVAL;
	nest = nla_nest_start(skb, DAEDALUS_A_JOB_OUTPUT);
	if (!nest || nla_put_u32(skb, DAEDALUS_A_OUTPUT_OFFSET, offset) ||
	    nla_put_u32(skb, DAEDALUS_A_OUTPUT_BYTES, used - offset) ||
	    nla_put_u64_64bit(skb, DAEDALUS_A_OUTPUT_TIMESTAMP, src->timestamp, 0))
		return -EMSGSIZE;
	if (coded && (nla_put_u32(skb, DAEDALUS_A_OUTPUT_WIDTH, coded->width) ||
		      nla_put_u32(skb, DAEDALUS_A_OUTPUT_HEIGHT, coded->height)))
		return -EMSGSIZE;
	if (meta && nla_put(skb, DAEDALUS_A_OUTPUT_META, meta_len, meta))
		return -EMSGSIZE;
	export = daedalus_to_buf(src)->export;
	if (!export || export->kept_by != daedalus_daemon_nr()) {
		err = daedalus_fill_plane_fd(skb, fds, DAEDALUS_A_OUTPUT_FD, src, 0);
		if (err)
			return err;
		export = daedalus_to_buf(src)->export;
		if (export)
			export->sent_to = daedalus_daemon_nr();
	}
	if (export && nla_put_u64_64bit(skb, DAEDALUS_A_OUTPUT_BUF, export->id, 0))
		return -EMSGSIZE;
	nla_nest_end(skb, nest);
	return 0;
}

/**
 * daedalus_output_kept - the daemon answered a job with @flags: note what it keeps mapped
 * @src:	the job's OUTPUT buffer, or NULL for none
 * @flags:	the job-done's done-flags
 *
 * With DAEDALUS_DONE_FLAGS_OUTPUT_KEPT the daemon the export's fd went to keeps its mapping:
 * the buffer's next jobs carry no fd while it is attached. From a job's end op (no upcall
 * lock), the job still holding @src.
 *
 * Return: 0, or -EPROTO if the flag contradicts the job (no OUTPUT buffer, or one the kernel
 * did not export: the client's dmabuf), and nothing is noted.
 */
int daedalus_output_kept(struct vb2_v4l2_buffer *src, u32 flags)
{
	struct daedalus_export *export;

	if (!(flags & DAEDALUS_DONE_FLAGS_OUTPUT_KEPT))
		return 0;
	export = src ? daedalus_to_buf(&src->vb2_buf)->export : NULL;
	if (!export)
		return -EPROTO;
	export->kept_by = export->sent_to;
	return 0;
}

/**
 * daedalus_output_resend - a job of @src failed: its next job carries the export's fd again
 * @src:	the job's OUTPUT buffer, or NULL for none
 *
 * Whatever the daemon said before, it may have lost the mapping (its stream's worker gone);
 * one fd more after a failure costs nothing, a buffer it cannot map would fail every job.
 */
void daedalus_output_resend(struct vb2_v4l2_buffer *src)
{
	struct daedalus_export *export = src ? daedalus_to_buf(&src->vb2_buf)->export : NULL;

	if (export)
		export->kept_by = 0;
}

/**
 * daedalus_put_capture - the capture nest of a job: the CAPTURE buffer it fills
 * @skb:	the job-get reply being built (in the daemon's context)
 * @fds:	its fds: the dmabuf of each of the buffer's planes is added
 * @pix:	the CAPTURE format the job writes
 * @dst:	the buffer
 *
 * Return: 0 or a negative errno.
 */
int daedalus_put_capture(struct sk_buff *skb, struct daedalus_fds *fds,
			 const struct v4l2_pix_format_mplane *pix, struct vb2_buffer *dst)
{
	struct nlattr *nest;
	unsigned int i;
	int err;

	nest = nla_nest_start(skb, DAEDALUS_A_JOB_CAPTURE);
	if (!nest || nla_put_u32(skb, DAEDALUS_A_CAPTURE_WIDTH, pix->width) ||
	    nla_put_u32(skb, DAEDALUS_A_CAPTURE_HEIGHT, pix->height) ||
	    nla_put_u32(skb, DAEDALUS_A_CAPTURE_PIXFMT, pix->pixelformat) ||
	    nla_put_u64_64bit(skb, DAEDALUS_A_CAPTURE_BUF, daedalus_buf_id(dst, 0), 0))
		return -EMSGSIZE;
	for (i = 0; i < pix->num_planes; i++)
		if (nla_put_u32(skb, DAEDALUS_A_CAPTURE_BYTESPERLINE,
				pix->plane_fmt[i].bytesperline) ||
		    nla_put_u32(skb, DAEDALUS_A_CAPTURE_PLANE_SIZE, vb2_plane_size(dst, i)))
			return -EMSGSIZE;
	for (i = 0; i < pix->num_planes; i++) {
		if (daedalus_daemon_has(dst, i))
			continue;
		err = daedalus_fill_plane_fd(skb, fds, DAEDALUS_A_CAPTURE_FD, dst, i);
		if (err)
			return err;
	}
	nla_nest_end(skb, nest);
	return 0;
}
