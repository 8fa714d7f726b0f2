/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Differences between the kernels the module builds against (6.12 up to 7.3). Each shim names
 * the kernel version that changed the interface; nothing else in the module tests versions.
 * Where the exact release is not known here, Kbuild reads the kernel's own header instead of
 * guessing a version (DAEDALUS_FH_TAKES_FILE, DAEDALUS_COPY_FRAME_FLAGS).
 */
#ifndef _DAEDALUS_COMPAT_H_
#define _DAEDALUS_COMPAT_H_

#include <linux/version.h>
#include <linux/module.h>
#include <media/v4l2-fh.h>
#include <media/v4l2-mem2mem.h>

/* 6.13 made the namespace argument of MODULE_IMPORT_NS() a string literal. */
#if KERNEL_VERSION(6, 13, 0) <= LINUX_VERSION_CODE
#define DAEDALUS_IMPORT_NS_DMA_BUF()	MODULE_IMPORT_NS("DMA_BUF")
#else
#define DAEDALUS_IMPORT_NS_DMA_BUF()	MODULE_IMPORT_NS(DMA_BUF)
#endif

/*
 * Before 6.15 vb2 drops the queue lock around blocking waits only through these callbacks;
 * later kernels do it themselves and removed them.
 */
#if KERNEL_VERSION(6, 15, 0) > LINUX_VERSION_CODE
#define DAEDALUS_VB2_WAIT_OPS					\
	.wait_prepare		= vb2_ops_wait_prepare,		\
	.wait_finish		= vb2_ops_wait_finish,
#else
#define DAEDALUS_VB2_WAIT_OPS
#endif

/*
 * v4l2_fh_add() and v4l2_fh_del() take the file, and set and clear file->private_data
 * themselves, since 6.18 (6.12 has the old form, 7.3 the new).
 */
#ifdef DAEDALUS_FH_TAKES_FILE
#define daedalus_fh_add(fh, file)	v4l2_fh_add(fh, file)
#define daedalus_fh_del(fh, file)	v4l2_fh_del(fh, file)
#else
static inline void daedalus_fh_add(struct v4l2_fh *fh, struct file *file)
{
	file->private_data = fh;
	v4l2_fh_add(fh);
}

static inline void daedalus_fh_del(struct v4l2_fh *fh, struct file *file)
{
	v4l2_fh_del(fh);
	file->private_data = NULL;
}
#endif

/*
 * v4l2_m2m_buf_copy_metadata() lost its copy_frame_flags argument after 6.12 (7.3 has none and
 * always copies the frame flags, which is what we ask of the older form).
 */
#ifdef DAEDALUS_COPY_FRAME_FLAGS
#define daedalus_copy_metadata(src, dst)	v4l2_m2m_buf_copy_metadata(src, dst, true)
#else
#define daedalus_copy_metadata(src, dst)	v4l2_m2m_buf_copy_metadata(src, dst)
#endif

#endif /* _DAEDALUS_COMPAT_H_ */
