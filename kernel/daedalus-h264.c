// SPDX-License-Identifier: GPL-2.0
/*
 * H.264 for both decoder nodes. The stateful node takes V4L2_PIX_FMT_H264, an Annex B byte
 * stream, and needs nothing else; its profile and level menus are the stateless node's.
 * The stateless node:
 *
 * V4L2_PIX_FMT_H264_SLICE in frame-based decode mode, Annex B start codes: one OUTPUT
 * buffer holds every slice NAL unit of one picture, each behind a start code.
 *
 * The client parses the stream and passes SPS and PPS (and the scaling matrix) only as
 * controls; the daemon rebuilds SPS and PPS NAL units from them for its decoder, which parses
 * the slice headers itself. Interlaced streams decode in all three forms: MBAFF frames,
 * progressive frames of an interlaced SPS, and field pictures (PAFF), each field a request of
 * its own whose OUTPUT buffer holds the CAPTURE buffer for the second
 * (V4L2_BUF_FLAG_M2M_HOLD_CAPTURE_BUF, as v4l2_m2m_buf_done_and_job_finish() keeps it): the
 * daemon writes the frame the pair decodes into after each field. The SPS also tells the bit
 * depth, which picks the CAPTURE format.
 */
#include "daedalus-v4l2.h"

/*
 * 4:2:0 (or monochrome, which the daemon refuses per frame) in 8 or 10 bits, the same for luma
 * and chroma; 4:2:2, 4:4:4 and other depths are refused.
 */
static int daedalus_h264_bit_depth(const void *p)
{
	const struct v4l2_ctrl_h264_sps *sps = p;

	if (sps->chroma_format_idc > 1 ||
	    sps->bit_depth_luma_minus8 != sps->bit_depth_chroma_minus8 ||
	    (sps->bit_depth_luma_minus8 != 0 && sps->bit_depth_luma_minus8 != 2))
		return -EINVAL;
	return 8 + sps->bit_depth_luma_minus8;
}

/* The coded size of the sequence's pictures, in whole macroblocks. */
static void daedalus_h264_size(const void *p, u32 *width, u32 *height)
{
	const struct v4l2_ctrl_h264_sps *sps = p;
	u32 map_units = sps->pic_height_in_map_units_minus1 + 1;

	*width = (sps->pic_width_in_mbs_minus1 + 1) * 16;
	/* a map unit is two macroblock rows unless every picture is a frame */
	*height = map_units * 16 *
		  (sps->flags & V4L2_H264_SPS_FLAG_FRAME_MBS_ONLY ? 1 : 2);
}

static const struct daedalus_ctrl_desc daedalus_h264_ctrls[] = {
	{ .cfg.id = V4L2_CID_STATELESS_H264_SPS, .forward = true },
	{ .cfg.id = V4L2_CID_STATELESS_H264_PPS, .forward = true },
	{ .cfg.id = V4L2_CID_STATELESS_H264_SCALING_MATRIX, .forward = true },
	{ .cfg.id = V4L2_CID_STATELESS_H264_DECODE_PARAMS, .forward = true },
	{
		.cfg = {
			.id = V4L2_CID_STATELESS_H264_DECODE_MODE,
			.min = V4L2_STATELESS_H264_DECODE_MODE_FRAME_BASED,
			.max = V4L2_STATELESS_H264_DECODE_MODE_FRAME_BASED,
			.def = V4L2_STATELESS_H264_DECODE_MODE_FRAME_BASED,
		},
	},
	{
		.cfg = {
			.id = V4L2_CID_STATELESS_H264_START_CODE,
			.min = V4L2_STATELESS_H264_START_CODE_ANNEX_B,
			.max = V4L2_STATELESS_H264_START_CODE_ANNEX_B,
			.def = V4L2_STATELESS_H264_START_CODE_ANNEX_B,
		},
	},
};

/* Profiles (and levels) that both decoder nodes offer */
static const struct daedalus_ctrl_desc daedalus_h264_profile_ctrls[] = {
	{
		/* 4:2:0 up to 10 bits; extended (data partitioning) is not offered */
		.cfg = {
			.id = V4L2_CID_MPEG_VIDEO_H264_PROFILE,
			.min = V4L2_MPEG_VIDEO_H264_PROFILE_BASELINE,
			.max = V4L2_MPEG_VIDEO_H264_PROFILE_HIGH_10,
			.menu_skip_mask = BIT(V4L2_MPEG_VIDEO_H264_PROFILE_EXTENDED),
			.def = V4L2_MPEG_VIDEO_H264_PROFILE_HIGH,
		},
	},
	{
		.cfg = {
			.id = V4L2_CID_MPEG_VIDEO_H264_LEVEL,
			.min = V4L2_MPEG_VIDEO_H264_LEVEL_1_0,
			.max = V4L2_MPEG_VIDEO_H264_LEVEL_5_1,
			.def = V4L2_MPEG_VIDEO_H264_LEVEL_5_1,
		},
	},
};

static const struct daedalus_ctrl_set daedalus_h264_profiles = {
	.ctrls = daedalus_h264_profile_ctrls,
	.num = ARRAY_SIZE(daedalus_h264_profile_ctrls),
};

/* The stateless node */
const struct daedalus_coded_fmt daedalus_h264_fmt = {
	.name = "h264",
	.fourcc = V4L2_PIX_FMT_H264_SLICE,
	.codec = DAEDALUS_CODEC_H264,
	.frmsize = DAEDALUS_FRMSIZE(16, 16),
	.ctrls = daedalus_h264_ctrls,
	.num_ctrls = ARRAY_SIZE(daedalus_h264_ctrls),
	.profiles = &daedalus_h264_profiles,
	.depth_ctrl = V4L2_CID_STATELESS_H264_SPS,
	.bit_depth = daedalus_h264_bit_depth,
	.size = daedalus_h264_size,
	.size_in_output = true,
};

/* The stateful node: an Annex B byte stream, cut anywhere. */
const struct daedalus_coded_fmt daedalus_h264_sf_fmt = {
	.name = "h264",
	.fourcc = V4L2_PIX_FMT_H264,
	.codec = DAEDALUS_CODEC_H264,
	.frmsize = DAEDALUS_FRMSIZE(1, 1),
	.profiles = &daedalus_h264_profiles,
	.flags = V4L2_FMT_FLAG_DYN_RESOLUTION | V4L2_FMT_FLAG_CONTINUOUS_BYTESTREAM,
};
