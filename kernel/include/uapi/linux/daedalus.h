/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause) */
/* Do not edit directly, auto-generated from: */
/*	Documentation/netlink/specs/daedalus.yaml */
/* YNL-GEN uapi header */

#ifndef _UAPI_LINUX_DAEDALUS_H
#define _UAPI_LINUX_DAEDALUS_H

#define DAEDALUS_FAMILY_NAME	"daedalus"
#define DAEDALUS_FAMILY_VERSION	1

#define DAEDALUS_VERSION	1
#define DAEDALUS_MAX_PLANES	3

/**
 * enum daedalus_job_kind - What a work item asks of the daemon.
 * @DAEDALUS_JOB_KIND_DECODE: Decode the bitstream in src-fd into the CAPTURE
 *   buffer dst-fd/dst-buf and report job-done with a status.
 * @DAEDALUS_JOB_KIND_ALLOC: Allocate a dmabuf of at least size bytes for a
 *   CAPTURE buffer and report job-done with its fd. The job id becomes the
 *   buffer's id (buf) in later decode and release jobs.
 * @DAEDALUS_JOB_KIND_RELEASE: The kernel dropped CAPTURE buffer buf; drop any
 *   mapping of it. No job-done.
 * @DAEDALUS_JOB_KIND_STREAM_CLOSE: Stream (open file) stream closed; drop its
 *   decoder. No job-done.
 */
enum daedalus_job_kind {
	DAEDALUS_JOB_KIND_DECODE = 1,
	DAEDALUS_JOB_KIND_ALLOC,
	DAEDALUS_JOB_KIND_RELEASE,
	DAEDALUS_JOB_KIND_STREAM_CLOSE,
};

/**
 * enum daedalus_codec - Coded format of a stream.
 */
enum daedalus_codec {
	DAEDALUS_CODEC_VP9 = 1,
	DAEDALUS_CODEC_H264,
	DAEDALUS_CODEC_AV1,
};

enum {
	DAEDALUS_A_ATTACH_VERSION = 1,

	__DAEDALUS_A_ATTACH_MAX,
	DAEDALUS_A_ATTACH_MAX = (__DAEDALUS_A_ATTACH_MAX - 1)
};

enum {
	DAEDALUS_A_CTRL_ID = 1,
	DAEDALUS_A_CTRL_DATA,

	__DAEDALUS_A_CTRL_MAX,
	DAEDALUS_A_CTRL_MAX = (__DAEDALUS_A_CTRL_MAX - 1)
};

enum {
	DAEDALUS_A_JOB_ID = 1,
	DAEDALUS_A_JOB_KIND,
	DAEDALUS_A_JOB_STREAM,
	DAEDALUS_A_JOB_CODEC,
	DAEDALUS_A_JOB_SEQUENCE,
	DAEDALUS_A_JOB_WIDTH,
	DAEDALUS_A_JOB_HEIGHT,
	DAEDALUS_A_JOB_PIXFMT,
	DAEDALUS_A_JOB_BYTESPERLINE,
	DAEDALUS_A_JOB_PLANE_SIZE,
	DAEDALUS_A_JOB_SRC_FD,
	DAEDALUS_A_JOB_SRC_OFFSET,
	DAEDALUS_A_JOB_SRC_BYTES,
	DAEDALUS_A_JOB_TIMESTAMP,
	DAEDALUS_A_JOB_DST_FD,
	DAEDALUS_A_JOB_BUF,
	DAEDALUS_A_JOB_SIZE,
	DAEDALUS_A_JOB_CTRL,

	__DAEDALUS_A_JOB_MAX,
	DAEDALUS_A_JOB_MAX = (__DAEDALUS_A_JOB_MAX - 1)
};

enum {
	DAEDALUS_A_DONE_ID = 1,
	DAEDALUS_A_DONE_STATUS,
	DAEDALUS_A_DONE_FD,

	__DAEDALUS_A_DONE_MAX,
	DAEDALUS_A_DONE_MAX = (__DAEDALUS_A_DONE_MAX - 1)
};

enum {
	DAEDALUS_CMD_ATTACH = 1,
	DAEDALUS_CMD_JOB_READY,
	DAEDALUS_CMD_JOB_GET,
	DAEDALUS_CMD_JOB_DONE,

	__DAEDALUS_CMD_MAX,
	DAEDALUS_CMD_MAX = (__DAEDALUS_CMD_MAX - 1)
};

#define DAEDALUS_MCGRP_JOBS	"jobs"

#endif /* _UAPI_LINUX_DAEDALUS_H */
