// SPDX-License-Identifier: GPL-2.0
/*
 * daedalus-v4l2: module parameters, the coded-format table, open/release, and the device.
 *
 * The module registers a V4L2 stateless decoder (video node plus media device, request API)
 * that decodes nothing in the kernel: a userspace daemon attached over generic netlink does
 * the decoding into buffers it allocated. See Documentation in docs/architecture.md.
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
module_param_named(timeout_ms, daedalus_timeout_ms, uint, 0644);
MODULE_PARM_DESC(timeout_ms, "time the daemon has to answer a job before it fails (ms)");

unsigned int daedalus_stateful_nr = 10;
module_param_named(stateful_nr, daedalus_stateful_nr, uint, 0444);
MODULE_PARM_DESC(stateful_nr,
		 "number N of the stateful decoder's /dev/videoN (the next free one if taken)");

static char *daedalus_stateful_codecs = "h264,vp9,av1";
module_param_named(stateful_codecs, daedalus_stateful_codecs, charp, 0444);
MODULE_PARM_DESC(stateful_codecs,
		 "codecs the stateful decoder offers, comma-separated, from h264,vp9,av1 (default all)");

/* One row per coded format; a new codec is a row here plus its daedalus-<codec>.c. */
static const struct daedalus_coded_fmt *const daedalus_stateless_fmts[] = {
	&daedalus_vp9_fmt,
	&daedalus_h264_fmt,
	&daedalus_av1_fmt,
};

const struct daedalus_node_desc daedalus_stateless_node = {
	.fmts = daedalus_stateless_fmts,
	.num_fmts = ARRAY_SIZE(daedalus_stateless_fmts),
};

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
 * The controls of every coded format of the node in one handler (and, on the stateful node,
 * MIN_BUFFERS_FOR_CAPTURE); returns the largest snapshot a stateless job needs.
 */
static int daedalus_init_ctrls(struct daedalus_ctx *ctx, size_t *snapshot)
{
	const struct daedalus_node_desc *node = ctx->node;
	struct v4l2_ctrl_handler *hdl = &ctx->hdl;
	unsigned int i, j, n = 1;

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
	if (ctx->stateful)
		daedalus_sf_init(ctx);
	if (hdl->error) {
		int err = hdl->error;

		v4l2_ctrl_handler_free(hdl);
		return err;
	}
	ctx->fh.ctrl_handler = hdl;
	return v4l2_ctrl_handler_setup(hdl);
}

/**
 * daedalus_open_ctx - open a decoder node
 * @file:	the file being opened
 * @lock:	the node's lock
 * @m2m_dev:	the node's mem2mem scheduler
 * @node:	what the node offers
 * @queue_init:	sets up the node's vb2 queues
 *
 * Return: 0 or a negative errno.
 */
int daedalus_open_ctx(struct file *file, struct mutex *lock, struct v4l2_m2m_dev *m2m_dev,
		      const struct daedalus_node_desc *node,
		      int (*queue_init)(void *priv, struct vb2_queue *src_vq,
					struct vb2_queue *dst_vq))
{
	struct daedalus_dev *dev = video_drvdata(file);
	struct daedalus_ctx *ctx;
	size_t snapshot;
	int ret;

	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL);
	if (!ctx)
		return -ENOMEM;
	if (mutex_lock_interruptible(lock)) {
		kfree(ctx);
		return -ERESTARTSYS;
	}
	v4l2_fh_init(&ctx->fh, video_devdata(file));
	file->private_data = &ctx->fh;
	ctx->dev = dev;
	ctx->node = node;
	ctx->stateful = node == &daedalus_stateful_node;
	ctx->stream = daedalus_next_stream_id();
	mutex_init(&ctx->vb_mutex);
	spin_lock_init(&ctx->sf.lock);
	mutex_init(&ctx->sf.poll_lock);

	ret = daedalus_init_ctrls(ctx, &snapshot);
	if (ret)
		goto err_fh;
	ctx->decode.ctrl_data = kvzalloc(max_t(size_t, snapshot, 1), GFP_KERNEL);
	if (!ctx->decode.ctrl_data) {
		ret = -ENOMEM;
		goto err_ctrls;
	}
	ctx->fh.m2m_ctx = v4l2_m2m_ctx_init(m2m_dev, ctx, queue_init);
	if (IS_ERR(ctx->fh.m2m_ctx)) {
		ret = PTR_ERR(ctx->fh.m2m_ctx);
		goto err_snapshot;
	}
	daedalus_set_default_formats(ctx);
	daedalus_decode_job_init(ctx);
	daedalus_fh_add(&ctx->fh, file);
	mutex_unlock(lock);
	return 0;

err_snapshot:
	kvfree(ctx->decode.ctrl_data);
err_ctrls:
	v4l2_ctrl_handler_free(&ctx->hdl);
err_fh:
	v4l2_fh_exit(&ctx->fh);
	mutex_destroy(&ctx->sf.poll_lock);
	mutex_destroy(&ctx->vb_mutex);
	mutex_unlock(lock);
	kfree(ctx);
	return ret;
}

/**
 * daedalus_release_ctx - close a decoder node
 * @file:	the file being closed
 * @lock:	the node's lock
 *
 * Return: 0.
 */
int daedalus_release_ctx(struct file *file, struct mutex *lock)
{
	struct daedalus_ctx *ctx = daedalus_file_to_ctx(file);

	daedalus_fh_del(&ctx->fh, file);
	v4l2_fh_exit(&ctx->fh);
	mutex_lock(lock);
	/* waits for a running job to end: the daemon answers or the watchdog fires */
	v4l2_m2m_ctx_release(ctx->fh.m2m_ctx);
	mutex_unlock(lock);
	/* a job ended by its watchdog: let the watchdog return before the context goes */
	cancel_delayed_work_sync(&ctx->decode.job.watchdog);
	daedalus_notify_stream(ctx->stream, DAEDALUS_JOB_KIND_STREAM_CLOSE);
	v4l2_ctrl_handler_free(&ctx->hdl);
	kvfree(ctx->decode.ctrl_data);
	mutex_destroy(&ctx->sf.poll_lock);
	mutex_destroy(&ctx->vb_mutex);
	kfree(ctx);
	return 0;
}

static int daedalus_open(struct file *file)
{
	struct daedalus_dev *dev = video_drvdata(file);

	return daedalus_open_ctx(file, &dev->dev_mutex, dev->m2m_dev, &daedalus_stateless_node,
				 daedalus_queue_init);
}

static int daedalus_release(struct file *file)
{
	struct daedalus_dev *dev = video_drvdata(file);

	return daedalus_release_ctx(file, &dev->dev_mutex);
}

static const struct v4l2_file_operations daedalus_fops = {
	.owner		= THIS_MODULE,
	.open		= daedalus_open,
	.release	= daedalus_release,
	.poll		= v4l2_m2m_fop_poll,
	.unlocked_ioctl	= video_ioctl2,
	.mmap		= v4l2_m2m_fop_mmap,
};

static const struct v4l2_m2m_ops daedalus_m2m_ops = {
	.device_run	= daedalus_device_run,
};

static const struct media_device_ops daedalus_media_ops = {
	.req_validate	= daedalus_request_validate,
	.req_queue	= v4l2_m2m_request_queue,
};

/* The last registered node released (after remove and the last close): free the device. */
static void daedalus_vdev_release(struct video_device *vdev)
{
	struct daedalus_dev *dev = video_get_drvdata(vdev);

	if (!refcount_dec_and_test(&dev->refs))
		return;
	if (dev->sf_v4l2_dev.dev)	/* registered */
		v4l2_device_unregister(&dev->sf_v4l2_dev);
	v4l2_device_unregister(&dev->v4l2_dev);
	if (dev->sf_m2m_dev)
		v4l2_m2m_release(dev->sf_m2m_dev);
	v4l2_m2m_release(dev->m2m_dev);
	media_device_cleanup(&dev->mdev);
	mutex_destroy(&dev->sf_mutex);
	mutex_destroy(&dev->dev_mutex);
	kfree(dev);
}

static const struct video_device daedalus_videodev = {
	.name		= DAEDALUS_NAME,
	.vfl_dir	= VFL_DIR_M2M,
	.fops		= &daedalus_fops,
	.ioctl_ops	= &daedalus_ioctl_ops,
	.minor		= -1,
	.release	= daedalus_vdev_release,
	.device_caps	= V4L2_CAP_VIDEO_M2M_MPLANE | V4L2_CAP_STREAMING,
};

static const struct video_device daedalus_sf_videodev = {
	.name		= DAEDALUS_NAME "-stateful",
	.vfl_dir	= VFL_DIR_M2M,
	.fops		= &daedalus_sf_fops,
	.ioctl_ops	= &daedalus_sf_ioctl_ops,
	.minor		= -1,
	.release	= daedalus_vdev_release,
	.device_caps	= V4L2_CAP_VIDEO_M2M_MPLANE | V4L2_CAP_STREAMING,
};

static struct platform_device *daedalus_pdev;
/*
 * The stateful node's parent: a device of its own, so that tools which look for a video node's
 * media device through sysfs (its parent's children) find none, as there is none.
 */
static struct platform_device *daedalus_sf_pdev;

/*
 * The stateful node, at /dev/video<stateful_nr> if that is free (Raspberry Pi OS's Chromium
 * opens only /dev/video10), else at the next free number. Called with a reference on @dev
 * taken for it; on failure nothing of the node is left and the reference is dropped.
 */
static int daedalus_register_stateful(struct daedalus_dev *dev, struct device *parent)
{
	int ret;

	strscpy(dev->sf_v4l2_dev.name, DAEDALUS_NAME "-stateful", sizeof(dev->sf_v4l2_dev.name));
	ret = v4l2_device_register(parent, &dev->sf_v4l2_dev);
	if (ret) {
		dev->sf_v4l2_dev.dev = NULL;
		goto err_ref;
	}
	dev->sf_m2m_dev = v4l2_m2m_init(&daedalus_sf_m2m_ops);
	if (IS_ERR(dev->sf_m2m_dev)) {
		ret = PTR_ERR(dev->sf_m2m_dev);
		dev->sf_m2m_dev = NULL;
		goto err_ref;
	}
	dev->sf_vfd = daedalus_sf_videodev;
	dev->sf_vfd.lock = &dev->sf_mutex;
	dev->sf_vfd.v4l2_dev = &dev->sf_v4l2_dev;
	video_set_drvdata(&dev->sf_vfd, dev);
	ret = video_register_device(&dev->sf_vfd, VFL_TYPE_VIDEO, daedalus_stateful_nr);
	if (ret)
		goto err_ref;
	/* From here on, the node's release callback drops the reference. */
	if (dev->sf_vfd.num != daedalus_stateful_nr)
		v4l2_warn(&dev->sf_v4l2_dev,
			  "/dev/video%u is taken: stateful decoder at %s (Raspberry Pi OS's Chromium opens only /dev/video10)\n",
			  daedalus_stateful_nr, video_device_node_name(&dev->sf_vfd));
	else
		v4l2_info(&dev->sf_v4l2_dev, "stateful decoder at %s\n",
			  video_device_node_name(&dev->sf_vfd));
	return 0;

err_ref:
	/* the v4l2_device and m2m device go with the device, in its release */
	refcount_dec(&dev->refs);
	return ret;
}

static int daedalus_probe(struct platform_device *pdev)
{
	struct daedalus_dev *dev;
	int ret;

	dev = kzalloc(sizeof(*dev), GFP_KERNEL);
	if (!dev)
		return -ENOMEM;
	mutex_init(&dev->dev_mutex);
	mutex_init(&dev->sf_mutex);

	ret = v4l2_device_register(&pdev->dev, &dev->v4l2_dev);
	if (ret)
		goto err_free;
	dev->m2m_dev = v4l2_m2m_init(&daedalus_m2m_ops);
	if (IS_ERR(dev->m2m_dev)) {
		ret = PTR_ERR(dev->m2m_dev);
		goto err_v4l2;
	}

	dev->mdev.dev = &pdev->dev;
	strscpy(dev->mdev.model, DAEDALUS_NAME, sizeof(dev->mdev.model));
	strscpy(dev->mdev.bus_info, DAEDALUS_BUS_INFO, sizeof(dev->mdev.bus_info));
	media_device_init(&dev->mdev);
	dev->mdev.ops = &daedalus_media_ops;
	dev->v4l2_dev.mdev = &dev->mdev;

	dev->vfd = daedalus_videodev;
	dev->vfd.lock = &dev->dev_mutex;
	dev->vfd.v4l2_dev = &dev->v4l2_dev;
	video_set_drvdata(&dev->vfd, dev);
	platform_set_drvdata(pdev, dev);

	/* one reference for each node; until a node is registered, for its unwinding here */
	refcount_set(&dev->refs, 2);
	ret = video_register_device(&dev->vfd, VFL_TYPE_VIDEO, -1);
	if (ret)
		goto err_media;
	/* From here on, the nodes' release callbacks free @dev. */
	ret = v4l2_m2m_register_media_controller(dev->m2m_dev, &dev->vfd,
						 MEDIA_ENT_F_PROC_VIDEO_DECODER);
	if (ret)
		goto err_video;
	ret = media_device_register(&dev->mdev);
	if (ret)
		goto err_mc;
	v4l2_info(&dev->v4l2_dev, "stateless decoder at %s, media device %s\n",
		  video_device_node_name(&dev->vfd), dev_name(&dev->mdev.devnode->dev));
	ret = daedalus_register_stateful(dev, &daedalus_sf_pdev->dev);
	if (ret)
		goto err_mdev;
	return 0;

err_mdev:
	media_device_unregister(&dev->mdev);
err_mc:
	v4l2_m2m_unregister_media_controller(dev->m2m_dev);
err_video:
	/* the stateful node's reference, then this node's (its release frees @dev) */
	if (refcount_read(&dev->refs) == 2)
		refcount_dec(&dev->refs);
	video_unregister_device(&dev->vfd);
	return ret;
err_media:
	media_device_cleanup(&dev->mdev);
	v4l2_m2m_release(dev->m2m_dev);
err_v4l2:
	v4l2_device_unregister(&dev->v4l2_dev);
err_free:
	mutex_destroy(&dev->sf_mutex);
	mutex_destroy(&dev->dev_mutex);
	kfree(dev);
	return ret;
}

static void daedalus_remove(struct platform_device *pdev)
{
	struct daedalus_dev *dev = platform_get_drvdata(pdev);

	video_unregister_device(&dev->sf_vfd);
	media_device_unregister(&dev->mdev);
	v4l2_m2m_unregister_media_controller(dev->m2m_dev);
	video_unregister_device(&dev->vfd);
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
