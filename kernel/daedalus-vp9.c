// SPDX-License-Identifier: GPL-2.0
/*
 * VP9 for both decoder nodes. The stateful node takes V4L2_PIX_FMT_VP9, frames or superframes,
 * and needs nothing else; its profile and level menus are the stateless node's.
 * The stateless node:
 *
 * V4L2_PIX_FMT_VP9_FRAME, one frame (not a superframe) per OUTPUT buffer.
 *
 * The daemon decodes the frame's own bytes (uncompressed and compressed header, tiles) and
 * needs the frame control for what the bytes do not say to a stateless decoder: whether the
 * frame is shown and which reference slots it refreshes (a hidden frame's CAPTURE buffer must
 * still receive its picture). The frame control also tells the bit depth, which picks the
 * CAPTURE format.
 */
#include "daedalus-v4l2.h"

/* Profiles 0 and 2 (4:2:0 in 8 or 10 bits); 1 and 3 (other chroma formats) and 12 bits are not. */
static int daedalus_vp9_bit_depth(const void *p)
{
	const struct v4l2_ctrl_vp9_frame *frame = p;

	if (frame->profile & 1 || (frame->bit_depth != 8 && frame->bit_depth != 10))
		return -EINVAL;
	return frame->bit_depth;
}

/* The frame's size (a VP9 frame may change it at a key frame or by reference scaling). */
static void daedalus_vp9_size(const void *p, u32 *width, u32 *height)
{
	const struct v4l2_ctrl_vp9_frame *frame = p;

	*width = frame->frame_width_minus_1 + 1;
	*height = frame->frame_height_minus_1 + 1;
}

static const struct daedalus_ctrl_desc daedalus_vp9_ctrls[] = {
	{ .cfg.id = V4L2_CID_STATELESS_VP9_FRAME, .forward = true },
	{ .cfg.id = V4L2_CID_STATELESS_VP9_COMPRESSED_HDR, .forward = true },
};

/* Profiles (and levels) that both decoder nodes offer */
static const struct daedalus_ctrl_desc daedalus_vp9_profile_ctrls[] = {
	{
		.cfg = {
			.id = V4L2_CID_MPEG_VIDEO_VP9_PROFILE,
			.min = V4L2_MPEG_VIDEO_VP9_PROFILE_0,
			.max = V4L2_MPEG_VIDEO_VP9_PROFILE_2,
			.menu_skip_mask = BIT(V4L2_MPEG_VIDEO_VP9_PROFILE_1),
			.def = V4L2_MPEG_VIDEO_VP9_PROFILE_0,
		},
	},
};

static const struct daedalus_ctrl_set daedalus_vp9_profiles = {
	.ctrls = daedalus_vp9_profile_ctrls,
	.num = ARRAY_SIZE(daedalus_vp9_profile_ctrls),
};

/* The stateless node */
const struct daedalus_coded_fmt daedalus_vp9_fmt = {
	.name = "vp9",
	.fourcc = V4L2_PIX_FMT_VP9_FRAME,
	.codec = DAEDALUS_CODEC_VP9,
	.frmsize = DAEDALUS_FRMSIZE(1, 1),
	.ctrls = daedalus_vp9_ctrls,
	.num_ctrls = ARRAY_SIZE(daedalus_vp9_ctrls),
	.profiles = &daedalus_vp9_profiles,
	.depth_ctrl = V4L2_CID_STATELESS_VP9_FRAME,
	.bit_depth = daedalus_vp9_bit_depth,
	.size = daedalus_vp9_size,
	.resize_streaming = true,
};

/* The stateful node: VP9 frames or superframes, one per OUTPUT buffer. */
const struct daedalus_coded_fmt daedalus_vp9_sf_fmt = {
	.name = "vp9",
	.fourcc = V4L2_PIX_FMT_VP9,
	.codec = DAEDALUS_CODEC_VP9,
	.frmsize = DAEDALUS_FRMSIZE(1, 1),
	.profiles = &daedalus_vp9_profiles,
	.flags = V4L2_FMT_FLAG_DYN_RESOLUTION,
};
