/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause) */
/* Do not edit directly, auto-generated from: */
/*	Documentation/netlink/specs/daedalus.yaml */
/* YNL-GEN uapi header */

#ifndef _UAPI_LINUX_DAEDALUS_H
#define _UAPI_LINUX_DAEDALUS_H

#define DAEDALUS_FAMILY_NAME	"daedalus"
#define DAEDALUS_FAMILY_VERSION	1

#define DAEDALUS_VERSION	8
#define DAEDALUS_MAX_PLANES	3
#define DAEDALUS_MAX_WIDTH	4096
#define DAEDALUS_MAX_HEIGHT	2304

/**
 * enum daedalus_job_kind - What a work item asks of the daemon.
 * @DAEDALUS_JOB_KIND_DECODE: Decode the bitstream in src-fd into the CAPTURE
 *   buffer dst-fd/dst-buf and report job-done with a status.
 * @DAEDALUS_JOB_KIND_ALLOC: Allocate a dmabuf of at least size bytes for a
 *   CAPTURE buffer and report job-done with its fd. The job id becomes the
 *   buffer's id (buf) in later decode and release jobs.
 * @DAEDALUS_JOB_KIND_RELEASE: The kernel dropped buffer buf (a CAPTURE buffer
 *   the daemon allocated, or an OUTPUT buffer's export); drop any mapping of
 *   it. No job-done.
 * @DAEDALUS_JOB_KIND_STREAM_CLOSE: Stream (open file) stream closed; drop its
 *   decoder. No job-done.
 * @DAEDALUS_JOB_KIND_FEED: A stream of the stateful decoder node. Feed the
 *   bitstream in src-fd, if the job has one (any chunk of the byte stream for
 *   H.264, one frame for VP9, one temporal unit for AV1), to the stream's
 *   decoder; with the drain flag, then drain the decoder (end of stream).
 *   Then, if the job has a CAPTURE buffer, write the next picture in display
 *   order into it. Report job-done with what happened (done flags, the
 *   picture's timestamp, the stream's format and how many frames wait).
 * @DAEDALUS_JOB_KIND_FLUSH: A stream of the stateful decoder node was seeked
 *   (OUTPUT STREAMOFF): drop every picture that waits and the decoder's
 *   references, keep its parameter sets. No job-done.
 */
enum daedalus_job_kind {
	DAEDALUS_JOB_KIND_DECODE = 1,
	DAEDALUS_JOB_KIND_ALLOC,
	DAEDALUS_JOB_KIND_RELEASE,
	DAEDALUS_JOB_KIND_STREAM_CLOSE,
	DAEDALUS_JOB_KIND_FEED,
	DAEDALUS_JOB_KIND_FLUSH,
};

/**
 * enum daedalus_feed_flags - Flags of a feed job.
 * @DAEDALUS_FEED_FLAGS_DRAIN: The client asked to drain (V4L2_DEC_CMD_STOP);
 *   this is the last bitstream.
 * @DAEDALUS_FEED_FLAGS_ANNOUNCE: The node knows no format for the stream (it
 *   is new, or the client stopped both queues and starts over): tell it with
 *   the next picture (done flag format), even if the decoder's has not
 *   changed.
 */
enum daedalus_feed_flags {
	DAEDALUS_FEED_FLAGS_DRAIN = 1,
	DAEDALUS_FEED_FLAGS_ANNOUNCE = 2,
};

/**
 * enum daedalus_done_flags - What a decode or feed job did (feed jobs all of
 *   them, decode jobs output-kept only).
 * @DAEDALUS_DONE_FLAGS_FILLED: The CAPTURE buffer holds a picture (timestamp
 *   is its OUTPUT buffer's).
 * @DAEDALUS_DONE_FLAGS_LAST: The CAPTURE buffer is the last one: of the
 *   drained stream, or (with format) of the old format. Without filled, it
 *   holds nothing.
 * @DAEDALUS_DONE_FLAGS_FORMAT: The stream's format is new (first known, or
 *   changed): width, height, pixfmt and min-buffers describe it; CAPTURE must
 *   be set up again before more pictures.
 * @DAEDALUS_DONE_FLAGS_FULL: The daemon holds as much bitstream as it will:
 *   feed it no more until a CAPTURE buffer has taken a picture.
 * @DAEDALUS_DONE_FLAGS_FULL_RANGE: With format: the pictures are full range
 *   (the stream's video_full_range_flag or color_range; 0 to 255 in 8 bits),
 *   V4L2_QUANTIZATION_FULL_RANGE in the CAPTURE format.
 * @DAEDALUS_DONE_FLAGS_OUTPUT_KEPT: The daemon keeps the mapping of the job's
 *   OUTPUT export (output buf) until a release job names it: the kernel sends
 *   it the export's fd no more. Only for a job whose OUTPUT buffer has an
 *   export; on any other it contradicts the job.
 */
enum daedalus_done_flags {
	DAEDALUS_DONE_FLAGS_FILLED = 1,
	DAEDALUS_DONE_FLAGS_LAST = 2,
	DAEDALUS_DONE_FLAGS_FORMAT = 4,
	DAEDALUS_DONE_FLAGS_FULL = 8,
	DAEDALUS_DONE_FLAGS_FULL_RANGE = 16,
	DAEDALUS_DONE_FLAGS_OUTPUT_KEPT = 32,
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
	DAEDALUS_A_OUTPUT_FD = 1,
	DAEDALUS_A_OUTPUT_OFFSET,
	DAEDALUS_A_OUTPUT_BYTES,
	DAEDALUS_A_OUTPUT_TIMESTAMP,
	DAEDALUS_A_OUTPUT_WIDTH,
	DAEDALUS_A_OUTPUT_HEIGHT,
	DAEDALUS_A_OUTPUT_META,
	DAEDALUS_A_OUTPUT_BUF,

	__DAEDALUS_A_OUTPUT_MAX,
	DAEDALUS_A_OUTPUT_MAX = (__DAEDALUS_A_OUTPUT_MAX - 1)
};

enum {
	DAEDALUS_A_CAPTURE_WIDTH = 1,
	DAEDALUS_A_CAPTURE_HEIGHT,
	DAEDALUS_A_CAPTURE_PIXFMT,
	DAEDALUS_A_CAPTURE_BYTESPERLINE,
	DAEDALUS_A_CAPTURE_PLANE_SIZE,
	DAEDALUS_A_CAPTURE_FD,
	DAEDALUS_A_CAPTURE_BUF,

	__DAEDALUS_A_CAPTURE_MAX,
	DAEDALUS_A_CAPTURE_MAX = (__DAEDALUS_A_CAPTURE_MAX - 1)
};

enum {
	DAEDALUS_A_JOB_ID = 1,
	DAEDALUS_A_JOB_KIND,
	DAEDALUS_A_JOB_STREAM,
	DAEDALUS_A_JOB_CODEC,
	DAEDALUS_A_JOB_SEQUENCE,
	DAEDALUS_A_JOB_FLAGS,
	DAEDALUS_A_JOB_OUTPUT,
	DAEDALUS_A_JOB_CAPTURE,
	DAEDALUS_A_JOB_CTRL,
	DAEDALUS_A_JOB_MORE,

	__DAEDALUS_A_JOB_MAX,
	DAEDALUS_A_JOB_MAX = (__DAEDALUS_A_JOB_MAX - 1)
};

enum {
	DAEDALUS_A_DONE_ID = 1,
	DAEDALUS_A_DONE_STATUS,
	DAEDALUS_A_DONE_FD,
	DAEDALUS_A_DONE_FLAGS,
	DAEDALUS_A_DONE_TIMESTAMP,
	DAEDALUS_A_DONE_WIDTH,
	DAEDALUS_A_DONE_HEIGHT,
	DAEDALUS_A_DONE_PIXFMT,
	DAEDALUS_A_DONE_MIN_BUFFERS,
	DAEDALUS_A_DONE_PENDING,
	DAEDALUS_A_DONE_META,

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
