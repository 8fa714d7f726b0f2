// SPDX-License-Identifier: GPL-2.0
/*
 * AV1 for both decoder nodes. The stateful node takes V4L2_PIX_FMT_AV1, OBUs, one temporal unit
 * per buffer, and needs nothing else; its profile and level menus are the stateless node's.
 * The stateless node:
 *
 * V4L2_PIX_FMT_AV1_FRAME, one frame per OUTPUT buffer: its tile data, at the offsets the
 * tile group entries give.
 *
 * The client parses the OBUs and passes the sequence header, the frame header and the film
 * grain parameters only as controls; the daemon rebuilds sequence header, frame header and
 * tile group OBUs from them and the tiles for its decoder. The sequence control also tells the
 * bit depth, which picks the CAPTURE format.
 */
#include "daedalus-v4l2.h"

/* Main profile (4:2:0 in 8 or 10 bits); monochrome, the other profiles and 12 bits are not. */
static int daedalus_av1_bit_depth(const void *p)
{
	const struct v4l2_ctrl_av1_sequence *seq = p;

	if (seq->seq_profile != 0 || seq->flags & V4L2_AV1_SEQUENCE_FLAG_MONO_CHROME ||
	    (seq->bit_depth != 8 && seq->bit_depth != 10))
		return -EINVAL;
	return seq->bit_depth;
}

/* The largest frame of the sequence. */
static void daedalus_av1_size(const void *p, u32 *width, u32 *height)
{
	const struct v4l2_ctrl_av1_sequence *seq = p;

	*width = seq->max_frame_width_minus_1 + 1;
	*height = seq->max_frame_height_minus_1 + 1;
}

static const struct daedalus_ctrl_desc daedalus_av1_ctrls[] = {
	{ .cfg.id = V4L2_CID_STATELESS_AV1_SEQUENCE, .forward = true },
	{ .cfg.id = V4L2_CID_STATELESS_AV1_FRAME, .forward = true },
	{
		.cfg = {
			.id = V4L2_CID_STATELESS_AV1_TILE_GROUP_ENTRY,
			.dims = { V4L2_AV1_MAX_TILE_COUNT },
		},
		.forward = true,
	},
	{ .cfg.id = V4L2_CID_STATELESS_AV1_FILM_GRAIN, .forward = true },
};

/* Profiles (and levels) that both decoder nodes offer */
static const struct daedalus_ctrl_desc daedalus_av1_profile_ctrls[] = {
	{
		.cfg = {
			.id = V4L2_CID_MPEG_VIDEO_AV1_PROFILE,
			.min = V4L2_MPEG_VIDEO_AV1_PROFILE_MAIN,
			.max = V4L2_MPEG_VIDEO_AV1_PROFILE_MAIN,
			.def = V4L2_MPEG_VIDEO_AV1_PROFILE_MAIN,
		},
	},
	{
		.cfg = {
			.id = V4L2_CID_MPEG_VIDEO_AV1_LEVEL,
			.min = V4L2_MPEG_VIDEO_AV1_LEVEL_2_0,
			.max = V4L2_MPEG_VIDEO_AV1_LEVEL_5_1,
			.def = V4L2_MPEG_VIDEO_AV1_LEVEL_5_1,
		},
	},
};

static const struct daedalus_ctrl_set daedalus_av1_profiles = {
	.ctrls = daedalus_av1_profile_ctrls,
	.num = ARRAY_SIZE(daedalus_av1_profile_ctrls),
};

/* The stateless node */
const struct daedalus_coded_fmt daedalus_av1_fmt = {
	.name = "av1",
	.fourcc = V4L2_PIX_FMT_AV1_FRAME,
	.codec = DAEDALUS_CODEC_AV1,
	.frmsize = DAEDALUS_FRMSIZE(1, 1),
	.ctrls = daedalus_av1_ctrls,
	.num_ctrls = ARRAY_SIZE(daedalus_av1_ctrls),
	.profiles = &daedalus_av1_profiles,
	.depth_ctrl = V4L2_CID_STATELESS_AV1_SEQUENCE,
	.bit_depth = daedalus_av1_bit_depth,
	.size = daedalus_av1_size,
	.resize_streaming = true,
};

/* The stateful node: a stream of OBUs, one temporal unit per OUTPUT buffer. */
const struct daedalus_coded_fmt daedalus_av1_sf_fmt = {
	.name = "av1",
	.fourcc = V4L2_PIX_FMT_AV1,
	.codec = DAEDALUS_CODEC_AV1,
	.frmsize = DAEDALUS_FRMSIZE(1, 1),
	.profiles = &daedalus_av1_profiles,
	.description = "AV1 OBU stream",
	.flags = V4L2_FMT_FLAG_COMPRESSED | V4L2_FMT_FLAG_DYN_RESOLUTION,
};
