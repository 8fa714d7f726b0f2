/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Differences between the kernels the module builds against (6.12 up to 7.3). Each shim names
 * the kernel version that changed the interface; nothing else in the module tests versions.
 */
#ifndef _DAEDALUS_COMPAT_H_
#define _DAEDALUS_COMPAT_H_

#include <linux/version.h>
#include <linux/module.h>

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

#endif /* _DAEDALUS_COMPAT_H_ */
