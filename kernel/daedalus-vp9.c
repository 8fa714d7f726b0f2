// SPDX-License-Identifier: GPL-2.0
/*
 * VP9: V4L2_PIX_FMT_VP9_FRAME, one frame (not a superframe) per OUTPUT buffer.
 *
 * The daemon decodes the frame's own bytes (uncompressed and compressed header, tiles) and
 * needs the frame control for what the bytes do not say to a stateless decoder: whether the
 * frame is shown and which reference slots it refreshes (a hidden frame's CAPTURE buffer must
 * still receive its picture).
 */
#include "daedalus-v4l2.h"

static const struct daedalus_ctrl_desc daedalus_vp9_ctrls[] = {
	{ .cfg.id = V4L2_CID_STATELESS_VP9_FRAME, .forward = true },
	{ .cfg.id = V4L2_CID_STATELESS_VP9_COMPRESSED_HDR, .forward = true },
	{
		/* 8-bit 4:2:0 only for now */
		.cfg = {
			.id = V4L2_CID_MPEG_VIDEO_VP9_PROFILE,
			.min = V4L2_MPEG_VIDEO_VP9_PROFILE_0,
			.max = V4L2_MPEG_VIDEO_VP9_PROFILE_0,
			.def = V4L2_MPEG_VIDEO_VP9_PROFILE_0,
		},
	},
};

const struct daedalus_coded_fmt daedalus_vp9_fmt = {
	.fourcc = V4L2_PIX_FMT_VP9_FRAME,
	.codec = DAEDALUS_CODEC_VP9,
	.frmsize = { .min_width = 16, .max_width = 4096, .step_width = 1,
		     .min_height = 16, .max_height = 2304, .step_height = 1 },
	.ctrls = daedalus_vp9_ctrls,
	.num_ctrls = ARRAY_SIZE(daedalus_vp9_ctrls),
};
