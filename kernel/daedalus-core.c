// SPDX-License-Identifier: GPL-2.0
/*
 * daedalus-v4l2: module parameters, open/release, the decoder nodes and the device.
 *
 * The module registers two decoder nodes that decode nothing in the kernel: a V4L2 stateless
 * decoder (video node plus media device, request API) and a stateful one. A userspace daemon
 * attached over generic netlink does the decoding into buffers it allocated. What differs
 * between the nodes is in their struct daedalus_node_desc (daedalus-dec.c, daedalus-sf-dec.c);
 * everything here serves both. See docs/architecture.md.
 */
#include <linux/module.h>
#include <linux/platform_device.h>
#include <linux/slab.h>
#include <media/v4l2-event.h>
#include <media/v4l2-ioctl.h>

#include "daedalus-v4l2.h"

unsigned int daedalus_debug;
module_param_named(debug, daedalus_debug, uint, 0644);
MODULE_PARM_DESC(debug, "debug messages: bit 0 jobs, bit 1 buffers, bit 2 formats");

unsigned int daedalus_timeout_ms = 5000;

/* 0 would turn the watchdog off, and a client whose daemon never answers would hang */
static int daedalus_timeout_set(const char *val, const struct kernel_param *kp)
{
	return param_set_uint_minmax(val, kp, DAEDALUS_TIMEOUT_MIN_MS, DAEDALUS_TIMEOUT_MAX_MS);
}

static const struct kernel_param_ops daedalus_timeout_ops = {
	.set	= daedalus_timeout_set,
	.get	= param_get_uint,
};

module_param_cb(timeout_ms, &daedalus_timeout_ops, &daedalus_timeout_ms, 0644);
MODULE_PARM_DESC(timeout_ms,
		 "time the daemon has to answer a job before it fails (ms, 100 to 600000)");

unsigned int daedalus_max_streams = 32;
module_param_named(max_streams, daedalus_max_streams, uint, 0644);
MODULE_PARM_DESC(max_streams,
		 "streams with buffers at most, every user's on both nodes together (0: no limit)");

unsigned int daedalus_jobs_per_stream = 3;

static int daedalus_jobs_per_stream_set(const char *val, const struct kernel_param *kp)
{
	return param_set_uint_minmax(val, kp, 1, DAEDALUS_MAX_JOBS_PER_STREAM);
}

static const struct kernel_param_ops daedalus_jobs_per_stream_ops = {
	.set	= daedalus_jobs_per_stream_set,
	.get	= param_get_uint,
};

module_param_cb(jobs_per_stream, &daedalus_jobs_per_stream_ops, &daedalus_jobs_per_stream, 0644);
MODULE_PARM_DESC(jobs_per_stream,
		 "stateless node: jobs of one stream with the daemon at once, 1 to 8 (streams opened after a change)");

static unsigned int daedalus_stateful_nr = 10;
module_param_named(stateful_nr, daedalus_stateful_nr, uint, 0444);
MODULE_PARM_DESC(stateful_nr,
		 "number N of the stateful decoder's /dev/videoN (the next free one if taken)");

static char *daedalus_stateful_codecs = "h264,vp9,av1";
module_param_named(stateful_codecs, daedalus_stateful_codecs, charp, 0444);
MODULE_PARM_DESC(stateful_codecs,
		 "codecs the stateful decoder offers, comma-separated, from h264,vp9,av1 (default all)");

static size_t daedalus_ctrl_max_size(const struct v4l2_ctrl *ctrl)
{
	size_t size = ctrl->elem_size;
	unsigned int i;

	for (i = 0; i < ctrl->nr_of_dims; i++)
		size *= ctrl->dims[i];
	return size;
}

static bool daedalus_ctrl_listed(const struct daedalus_node_desc *node, unsigned int before,
				 u32 id)
{
	unsigned int i, j;

	for (i = 0; i < before; i++)
		for (j = 0; j < node->fmts[i]->profiles->num; j++)
			if (node->fmts[i]->profiles->ctrls[j].cfg.id == id)
				return true;
	return false;
}

/*
 * The controls of every coded format of the node in one handler; returns the largest snapshot
 * a job of the node needs.
 */
static int daedalus_init_ctrls(struct daedalus_ctx *ctx, size_t *snapshot)
{
	const struct daedalus_node_desc *node = ctx->node->desc;
	struct v4l2_ctrl_handler *hdl = &ctx->hdl;
	unsigned int i, j, n = 0;

	for (i = 0; i < node->num_fmts; i++)
		n += node->fmts[i]->num_ctrls + node->fmts[i]->profiles->num;
	v4l2_ctrl_handler_init(hdl, n);
	*snapshot = 0;
	for (i = 0; i < node->num_fmts; i++) {
		const struct daedalus_coded_fmt *fmt = node->fmts[i];
		size_t size = 0;

		for (j = 0; j < fmt->num_ctrls; j++) {
			struct v4l2_ctrl_config cfg = fmt->ctrls[j].cfg;
			struct v4l2_ctrl *ctrl;

			if (cfg.id == fmt->depth_ctrl)
				cfg.ops = &daedalus_depth_ctrl_ops;
			ctrl = v4l2_ctrl_new_custom(hdl, &cfg, NULL);

			if (ctrl && fmt->ctrls[j].forward)
				size += daedalus_ctrl_max_size(ctrl);
		}
		/* two formats of a node may share a codec's profile controls */
		for (j = 0; j < fmt->profiles->num; j++)
			if (!daedalus_ctrl_listed(node, i, fmt->profiles->ctrls[j].cfg.id))
				v4l2_ctrl_new_custom(hdl, &fmt->profiles->ctrls[j].cfg, NULL);
		*snapshot = max(*snapshot, size);
	}
	if (hdl->error) {
		int err = hdl->error;

		v4l2_ctrl_handler_free(hdl);
		return err;
	}
	ctx->fh.ctrl_handler = hdl;
	return v4l2_ctrl_handler_setup(hdl);
}

/* The jobs of a new context: @ctx->slots of them, each with room for a snapshot of @snapshot. */
static int daedalus_alloc_slots(struct daedalus_ctx *ctx, size_t snapshot)
{
	unsigned int i;

	if (ctx->slots > 1) {
		ctx->more = kcalloc(ctx->slots - 1, sizeof(*ctx->more), GFP_KERNEL);
		if (!ctx->more)
			return -ENOMEM;
	}
	for (i = 0; i < ctx->slots; i++) {
		struct daedalus_decode_job *dj = daedalus_slot(ctx, i);

		dj->ctx = ctx;
		dj->index = i;
		dj->ctrl_data = kvzalloc(max_t(size_t, snapshot, 1), GFP_KERNEL);
		if (!dj->ctrl_data)
			return -ENOMEM;	/* the caller frees the others */
	}
	return 0;
}

static void daedalus_free_slots(struct daedalus_ctx *ctx)
{
	unsigned int i;

	for (i = 0; i < ctx->slots; i++)
		kvfree(daedalus_slot(ctx, i)->ctrl_data);
	kfree(ctx->more);
}

/* A scheduler for a new context of @node: a free one, else a new one. Under the node's lock. */
static struct daedalus_sched *daedalus_sched_get(struct daedalus_node *node)
{
	struct daedalus_sched *sched;
	int ret;

	sched = list_first_entry_or_null(&node->sched_free, struct daedalus_sched, list);
	if (sched) {
		list_del(&sched->list);
		return sched;
	}
	sched = kzalloc(sizeof(*sched), GFP_KERNEL);
	if (!sched)
		return ERR_PTR(-ENOMEM);
	sched->m2m_dev = v4l2_m2m_init(node->desc->m2m_ops);
	if (IS_ERR(sched->m2m_dev)) {
		ret = PTR_ERR(sched->m2m_dev);
		kfree(sched);
		return ERR_PTR(ret);
	}
	return sched;
}

/* A context's scheduler, which runs none of its jobs any more, waits for the next context. */
static void daedalus_sched_put(struct daedalus_node *node, struct daedalus_sched *sched)
{
	mutex_lock(&node->lock);
	list_add(&sched->list, &node->sched_free);
	mutex_unlock(&node->lock);
}

static int daedalus_open(struct file *file)
{
	struct daedalus_node *node = video_drvdata(file);
	const struct daedalus_node_desc *desc = node->desc;
	struct daedalus_ctx *ctx;
	size_t snapshot;
	unsigned int i;
	int ret;

	ctx = kzalloc(desc->ctx_size, GFP_KERNEL);
	if (!ctx)
		return -ENOMEM;
	if (mutex_lock_interruptible(&node->lock)) {
		kfree(ctx);
		return -ERESTARTSYS;
	}
	v4l2_fh_init(&ctx->fh, video_devdata(file));
	file->private_data = &ctx->fh;
	ctx->node = node;
	ctx->stream = daedalus_next_stream_id();
	mutex_init(&ctx->vb_mutex);
	spin_lock_init(&ctx->lock);

	ret = daedalus_init_ctrls(ctx, &snapshot);
	if (ret)
		goto err_fh;
	ctx->slots = desc->pipelined ? READ_ONCE(daedalus_jobs_per_stream) : 1;
	ret = daedalus_alloc_slots(ctx, snapshot);
	if (ret)
		goto err_snapshot;
	ctx->sched = daedalus_sched_get(node);
	if (IS_ERR(ctx->sched)) {
		ret = PTR_ERR(ctx->sched);
		goto err_snapshot;
	}
	ctx->fh.m2m_ctx = v4l2_m2m_ctx_init(ctx->sched->m2m_dev, ctx, daedalus_queue_init);
	if (IS_ERR(ctx->fh.m2m_ctx)) {
		ret = PTR_ERR(ctx->fh.m2m_ctx);
		goto err_sched;
	}
	daedalus_set_default_formats(ctx);
	/* once per context: the watchdog must not be initialized again while it may run */
	for (i = 0; i < ctx->slots; i++)
		daedalus_job_init(&daedalus_slot(ctx, i)->job, desc->job_kind, ctx->stream,
				  desc->job_ops, msecs_to_jiffies(daedalus_timeout_ms));
	if (desc->open) {
		ret = desc->open(ctx);
		if (ret)
			goto err_m2m;
	}
	daedalus_fh_add(&ctx->fh, file);
	spin_lock(&node->open_lock);
	list_add_tail(&ctx->open_link, &node->open_ctxs);
	spin_unlock(&node->open_lock);
	mutex_unlock(&node->lock);
	return 0;

err_m2m:
	v4l2_m2m_ctx_release(ctx->fh.m2m_ctx);
err_sched:
	list_add(&ctx->sched->list, &node->sched_free);
err_snapshot:
	daedalus_free_slots(ctx);
	v4l2_ctrl_handler_free(&ctx->hdl);
err_fh:
	v4l2_fh_exit(&ctx->fh);
	mutex_destroy(&ctx->vb_mutex);
	mutex_unlock(&node->lock);
	kfree(ctx);
	return ret;
}

static int daedalus_release(struct file *file)
{
	struct daedalus_ctx *ctx = daedalus_file_to_ctx(file);
	struct daedalus_node *node = ctx->node;
	unsigned int i;

	/*
	 * Waits for a running job to end (the daemon answers or the watchdog fires), before the
	 * file handle goes: the end of a job may queue an event on it. Under the context's queue
	 * lock only: this was the file's last reference, and other users' ioctls (under the node's
	 * lock) must not wait for this stream's daemon. Both queues are stopped first (the wait
	 * is the first thing streamoff does), so that no other job can be queued; then the end of
	 * that job, which woke us from inside v4l2_m2m_job_finish(), must have returned from it
	 * before the m2m context is freed (found by KASAN: closing a stateful file as its job
	 * ended, tests/earlyclose.py).
	 */
	spin_lock(&node->open_lock);
	list_del(&ctx->open_link);
	spin_unlock(&node->open_lock);
	mutex_lock(&ctx->vb_mutex);
	v4l2_m2m_streamoff(file, ctx->fh.m2m_ctx, V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE);
	v4l2_m2m_streamoff(file, ctx->fh.m2m_ctx, V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE);
	wait_var_event(&ctx->finishing, !atomic_read(&ctx->finishing));
	v4l2_m2m_ctx_release(ctx->fh.m2m_ctx);
	daedalus_uncount_stream(ctx);
	mutex_unlock(&ctx->vb_mutex);
	/* a job ended by its watchdog: let the watchdog return before the context goes */
	for (i = 0; i < ctx->slots; i++)
		cancel_delayed_work_sync(&daedalus_slot(ctx, i)->job.watchdog);
	daedalus_sched_put(node, ctx->sched);
	daedalus_fh_del(&ctx->fh, file);
	v4l2_fh_exit(&ctx->fh);
	daedalus_notify_stream(ctx->stream, DAEDALUS_JOB_KIND_STREAM_CLOSE);
	if (node->desc->release)
		node->desc->release(ctx);
	v4l2_ctrl_handler_free(&ctx->hdl);
	daedalus_free_slots(ctx);
	mutex_destroy(&ctx->vb_mutex);
	kfree(ctx);
	return 0;
}

static __poll_t daedalus_poll(struct file *file, struct poll_table_struct *wait)
{
	struct daedalus_node *node = video_drvdata(file);

	return node->desc->poll ? node->desc->poll(file, wait) : v4l2_m2m_fop_poll(file, wait);
}

static const struct v4l2_file_operations daedalus_fops = {
	.owner		= THIS_MODULE,
	.open		= daedalus_open,
	.release	= daedalus_release,
	.poll		= daedalus_poll,
	.unlocked_ioctl	= video_ioctl2,
	.mmap		= v4l2_m2m_fop_mmap,
};

/* The node's last reference is gone (removed, and its video device closed by all): free it. */
static void daedalus_node_release(struct v4l2_device *v4l2_dev)
{
	struct daedalus_node *node = container_of(v4l2_dev, struct daedalus_node, v4l2_dev);
	struct daedalus_sched *sched, *next;

	v4l2_device_unregister(&node->v4l2_dev);
	list_for_each_entry_safe(sched, next, &node->sched_free, list) {
		v4l2_m2m_release(sched->m2m_dev);
		kfree(sched);
	}
	if (node->m2m_dev)
		v4l2_m2m_release(node->m2m_dev);
	if (node->desc->media_ops)
		media_device_cleanup(&node->mdev);
	mutex_destroy(&node->lock);
	kfree(node);
}

/**
 * daedalus_register_node - create and register a decoder node
 * @parent:	its parent device
 * @desc:	what kind of decoder it is
 * @nr:		the N of /dev/videoN it asks for (the next free one if taken), or -1 for any
 *
 * Return: the node, or an ERR_PTR. daedalus_unregister_node() undoes it.
 */
static struct daedalus_node *daedalus_register_node(struct device *parent,
						    const struct daedalus_node_desc *desc, int nr)
{
	struct daedalus_node *node;
	int ret;

	node = kzalloc(sizeof(*node), GFP_KERNEL);
	if (!node)
		return ERR_PTR(-ENOMEM);
	node->desc = desc;
	mutex_init(&node->lock);
	INIT_LIST_HEAD(&node->sched_free);
	spin_lock_init(&node->open_lock);
	INIT_LIST_HEAD(&node->open_ctxs);
	if (desc->media_ops) {
		node->mdev.dev = parent;
		node->mdev.ops = desc->media_ops;
		strscpy(node->mdev.model, desc->name, sizeof(node->mdev.model));
		strscpy(node->mdev.bus_info, DAEDALUS_BUS_INFO, sizeof(node->mdev.bus_info));
		media_device_init(&node->mdev);
		node->v4l2_dev.mdev = &node->mdev;
	}
	strscpy(node->v4l2_dev.name, desc->name, sizeof(node->v4l2_dev.name));
	ret = v4l2_device_register(parent, &node->v4l2_dev);
	if (ret) {
		if (desc->media_ops)
			media_device_cleanup(&node->mdev);
		mutex_destroy(&node->lock);
		kfree(node);
		return ERR_PTR(ret);
	}
	/* From here on, the last v4l2_device_put() frees the node. */
	node->v4l2_dev.release = daedalus_node_release;

	node->m2m_dev = v4l2_m2m_init(desc->m2m_ops);
	if (IS_ERR(node->m2m_dev)) {
		ret = PTR_ERR(node->m2m_dev);
		node->m2m_dev = NULL;
		goto err_put;
	}
	strscpy(node->vfd.name, desc->name, sizeof(node->vfd.name));
	node->vfd.vfl_dir = VFL_DIR_M2M;
	node->vfd.fops = &daedalus_fops;
	node->vfd.ioctl_ops = desc->ioctl_ops;
	node->vfd.minor = -1;
	node->vfd.release = video_device_release_empty;
	node->vfd.device_caps = V4L2_CAP_VIDEO_M2M_MPLANE | V4L2_CAP_STREAMING;
	node->vfd.lock = &node->lock;
	node->vfd.v4l2_dev = &node->v4l2_dev;
	video_set_drvdata(&node->vfd, node);
	ret = video_register_device(&node->vfd, VFL_TYPE_VIDEO, nr);
	if (ret)
		goto err_put;
	if (desc->media_ops) {
		ret = v4l2_m2m_register_media_controller(node->m2m_dev, &node->vfd,
							 MEDIA_ENT_F_PROC_VIDEO_DECODER);
		if (ret)
			goto err_video;
		ret = media_device_register(&node->mdev);
		if (ret)
			goto err_mc;
	}
	if (nr >= 0 && node->vfd.num != nr)
		v4l2_warn(&node->v4l2_dev, "/dev/video%d is taken\n", nr);
	if (desc->media_ops)
		v4l2_info(&node->v4l2_dev, "%s decoder at %s, media device %s\n", desc->kind,
			  video_device_node_name(&node->vfd), dev_name(&node->mdev.devnode->dev));
	else
		v4l2_info(&node->v4l2_dev, "%s decoder at %s\n", desc->kind,
			  video_device_node_name(&node->vfd));
	return node;

err_mc:
	v4l2_m2m_unregister_media_controller(node->m2m_dev);
err_video:
	video_unregister_device(&node->vfd);
err_put:
	v4l2_device_put(&node->v4l2_dev);
	return ERR_PTR(ret);
}

/*
 * Take a node away from userspace; it is freed when its last open file is closed. A client
 * asleep in poll() or in a blocking DQBUF on one of its files would sleep on, unless a job of
 * its stream happened to end: each open context's queues are put in error and its waiters
 * woken, so that poll() returns EPOLLERR (the device is unregistered) and DQBUF -EIO.
 */
static void daedalus_unregister_node(struct daedalus_node *node)
{
	struct daedalus_ctx *ctx;

	if (node->desc->media_ops) {
		media_device_unregister(&node->mdev);
		v4l2_m2m_unregister_media_controller(node->m2m_dev);
	}
	video_unregister_device(&node->vfd);
	/* a file opened from here on finds the device unregistered at its next poll or ioctl */
	spin_lock(&node->open_lock);
	list_for_each_entry(ctx, &node->open_ctxs, open_link) {
		vb2_queue_error(v4l2_m2m_get_src_vq(ctx->fh.m2m_ctx));
		vb2_queue_error(v4l2_m2m_get_dst_vq(ctx->fh.m2m_ctx));
		wake_up_all(&ctx->fh.wait);
	}
	spin_unlock(&node->open_lock);
	v4l2_device_put(&node->v4l2_dev);
}

/**
 * struct daedalus_dev - the decoder device
 * @stateless:	its stateless decoder node
 * @stateful:	its stateful decoder node
 */
struct daedalus_dev {
	struct daedalus_node *stateless;
	struct daedalus_node *stateful;
};

static struct platform_device *daedalus_pdev;
/*
 * The stateful node's parent: a device of its own, so that tools which look for a video node's
 * media device through sysfs (its parent's children) find none, as there is none.
 */
static struct platform_device *daedalus_sf_pdev;

static int daedalus_probe(struct platform_device *pdev)
{
	struct daedalus_dev *dev;

	dev = devm_kzalloc(&pdev->dev, sizeof(*dev), GFP_KERNEL);
	if (!dev)
		return -ENOMEM;
	dev->stateless = daedalus_register_node(&pdev->dev, &daedalus_stateless_node, -1);
	if (IS_ERR(dev->stateless))
		return PTR_ERR(dev->stateless);
	/* Raspberry Pi OS's Chromium opens only /dev/video10 */
	dev->stateful = daedalus_register_node(&daedalus_sf_pdev->dev, &daedalus_stateful_node,
					       min_t(unsigned int, daedalus_stateful_nr, INT_MAX));
	if (IS_ERR(dev->stateful)) {
		daedalus_unregister_node(dev->stateless);
		return PTR_ERR(dev->stateful);
	}
	platform_set_drvdata(pdev, dev);
	return 0;
}

static void daedalus_remove(struct platform_device *pdev)
{
	struct daedalus_dev *dev = platform_get_drvdata(pdev);

	daedalus_unregister_node(dev->stateful);
	daedalus_unregister_node(dev->stateless);
}

static struct platform_driver daedalus_pdrv = {
	.probe		= daedalus_probe,
	.remove		= daedalus_remove,
	.driver		= {
		.name	= DAEDALUS_NAME,
	},
};

static int __init daedalus_init(void)
{
	int ret;

	ret = daedalus_sf_select_codecs(daedalus_stateful_codecs);
	if (ret)
		return ret;
	ret = daedalus_nl_init();
	if (ret)
		return ret;
	daedalus_sf_pdev = platform_device_register_simple(DAEDALUS_NAME "-stateful",
							   PLATFORM_DEVID_NONE, NULL, 0);
	if (IS_ERR(daedalus_sf_pdev)) {
		ret = PTR_ERR(daedalus_sf_pdev);
		goto err_nl;
	}
	ret = platform_driver_register(&daedalus_pdrv);
	if (ret)
		goto err_sf_pdev;
	daedalus_pdev = platform_device_register_simple(DAEDALUS_NAME, PLATFORM_DEVID_NONE,
							NULL, 0);
	if (IS_ERR(daedalus_pdev)) {
		ret = PTR_ERR(daedalus_pdev);
		goto err_drv;
	}
	return 0;

err_drv:
	platform_driver_unregister(&daedalus_pdrv);
err_sf_pdev:
	platform_device_unregister(daedalus_sf_pdev);
err_nl:
	daedalus_nl_exit();
	return ret;
}

static void __exit daedalus_exit(void)
{
	platform_device_unregister(daedalus_pdev);
	platform_driver_unregister(&daedalus_pdrv);
	platform_device_unregister(daedalus_sf_pdev);
	daedalus_nl_exit();
}

module_init(daedalus_init);
module_exit(daedalus_exit);

MODULE_DESCRIPTION("V4L2 stateless and stateful decoders backed by a userspace decoding daemon");
MODULE_AUTHOR("daedalus-v4l2 maintainers");
MODULE_LICENSE("GPL");
DAEDALUS_IMPORT_NS_DMA_BUF();
