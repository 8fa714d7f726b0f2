// SPDX-License-Identifier: GPL-2.0
//! VP9: libva's picture parameters as the stateless node's frame control, the frame (its
//! uncompressed and compressed headers and tiles, as `V4L2_PIX_FMT_VP9_FRAME` wants) as the
//! OUTPUT buffer. libva's parameters are what a decoder that does not parse the uncompressed
//! header needs; the frame control carries them, and our daemon decodes the frame's own bytes.

use std::collections::HashMap;

use crate::{
    codec::{Built, Ctrls},
    driver::{err, RenderBuf, VaResult},
    ffi::{read, sys::*, Bits},
};

#[derive(Default)]
pub struct Params {
    pic: Option<VADecPictureParameterBufferVP9>,
    data: Vec<u8>,
    slices: usize,
}

impl Params {
    pub fn add(&mut self, buf: &RenderBuf) -> VaResult<()> {
        match buf.kind {
            VAPictureParameterBufferType => {
                self.pic = read(buf.data, buf.elem_size, 0);
                if self.pic.is_none() {
                    return err(
                        VA_STATUS_ERROR_INVALID_BUFFER,
                        "short VP9 picture parameters",
                    );
                }
                Ok(())
            }
            k => err(
                VA_STATUS_ERROR_UNSUPPORTED_BUFFERTYPE,
                format!("buffer type {k} in a VP9 picture"),
            ),
        }
    }

    pub fn slices(&mut self, params: &RenderBuf, data: &[u8]) -> VaResult<()> {
        for i in 0..params.count {
            let Some(p) = read::<VASliceParameterBufferVP9>(params.data, params.elem_size, i)
            else {
                return err(VA_STATUS_ERROR_INVALID_BUFFER, "short VP9 slice parameters");
            };
            let start = p.slice_data_offset as usize;
            let Some(bytes) = start
                .checked_add(p.slice_data_size as usize)
                .and_then(|end| data.get(start..end))
            else {
                return err(
                    VA_STATUS_ERROR_INVALID_BUFFER,
                    "VP9 frame outside its data buffer",
                );
            };
            self.data.extend_from_slice(bytes);
            self.slices += 1;
        }
        Ok(())
    }

    pub fn build(self, timestamps: &HashMap<VASurfaceID, u64>) -> VaResult<Built> {
        let Some(pic) = self.pic else {
            return err(
                VA_STATUS_ERROR_INVALID_PARAMETER,
                "VP9 picture without picture parameters",
            );
        };
        if self.slices != 1 {
            return err(
                VA_STATUS_ERROR_INVALID_PARAMETER,
                format!("VP9 picture in {} pieces (one frame each)", self.slices),
            );
        }
        let f = pic.pic_fields.bits();
        let mut flags = 0;
        for (on, flag) in [
            (f.frame_type() == 0, V4L2_VP9_FRAME_FLAG_KEY_FRAME),
            (f.show_frame() != 0, V4L2_VP9_FRAME_FLAG_SHOW_FRAME),
            (
                f.error_resilient_mode() != 0,
                V4L2_VP9_FRAME_FLAG_ERROR_RESILIENT,
            ),
            (f.intra_only() != 0, V4L2_VP9_FRAME_FLAG_INTRA_ONLY),
            (
                f.allow_high_precision_mv() != 0,
                V4L2_VP9_FRAME_FLAG_ALLOW_HIGH_PREC_MV,
            ),
            (
                f.refresh_frame_context() != 0,
                V4L2_VP9_FRAME_FLAG_REFRESH_FRAME_CTX,
            ),
            (
                f.frame_parallel_decoding_mode() != 0,
                V4L2_VP9_FRAME_FLAG_PARALLEL_DEC_MODE,
            ),
            (f.subsampling_x() != 0, V4L2_VP9_FRAME_FLAG_X_SUBSAMPLING),
            (f.subsampling_y() != 0, V4L2_VP9_FRAME_FLAG_Y_SUBSAMPLING),
        ] {
            if on {
                flags |= flag;
            }
        }
        let ts = |slot: u32| {
            pic.reference_frames
                .get(slot as usize)
                .and_then(|s| timestamps.get(s))
                .copied()
                .unwrap_or(0)
        };
        let mut sign_bias = 0;
        for (on, bit) in [
            (f.last_ref_frame_sign_bias(), V4L2_VP9_SIGN_BIAS_LAST),
            (f.golden_ref_frame_sign_bias(), V4L2_VP9_SIGN_BIAS_GOLDEN),
            (f.alt_ref_frame_sign_bias(), V4L2_VP9_SIGN_BIAS_ALT),
        ] {
            if on != 0 {
                sign_bias |= bit;
            }
        }
        let mut seg_flags = 0;
        for (on, flag) in [
            (f.segmentation_enabled(), V4L2_VP9_SEGMENTATION_FLAG_ENABLED),
            (
                f.segmentation_update_map(),
                V4L2_VP9_SEGMENTATION_FLAG_UPDATE_MAP,
            ),
            (
                f.segmentation_temporal_update(),
                V4L2_VP9_SEGMENTATION_FLAG_TEMPORAL_UPDATE,
            ),
        ] {
            if on != 0 {
                seg_flags |= flag;
            }
        }
        let w = pic.frame_width.max(1) - 1;
        let h = pic.frame_height.max(1) - 1;
        let frame = v4l2_ctrl_vp9_frame {
            lf: v4l2_vp9_loop_filter {
                level: pic.filter_level,
                sharpness: pic.sharpness_level,
                ..Default::default()
            },
            seg: v4l2_vp9_segmentation {
                tree_probs: pic.mb_segment_tree_probs,
                pred_probs: pic.segment_pred_probs,
                flags: seg_flags as u8,
                ..Default::default()
            },
            flags,
            compressed_header_size: pic.first_partition_size,
            uncompressed_header_size: u16::from(pic.frame_header_length_in_bytes),
            frame_width_minus_1: w,
            frame_height_minus_1: h,
            render_width_minus_1: w,
            render_height_minus_1: h,
            last_frame_ts: ts(f.last_ref_frame()),
            golden_frame_ts: ts(f.golden_ref_frame()),
            alt_frame_ts: ts(f.alt_ref_frame()),
            ref_frame_sign_bias: sign_bias as u8,
            // the syntax element (0 and 1: no reset) as V4L2's enum (none, spec, all)
            reset_frame_context: f.reset_frame_context().saturating_sub(1) as u8,
            frame_context_idx: f.frame_context_idx() as u8,
            profile: pic.profile,
            bit_depth: pic.bit_depth,
            // libva's filter type is the spec's interp_filter, as V4L2's is
            interpolation_filter: f.mcomp_filter_type() as u8,
            tile_cols_log2: pic.log2_tile_columns,
            tile_rows_log2: pic.log2_tile_rows,
            ..Default::default()
        };
        Ok(Built {
            bitstream: self.data,
            ctrls: Ctrls::Vp9 { frame },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_becomes_the_frame_control_and_its_bytes() {
        let mut f = _VADecPictureParameterBufferVP9__bindgen_ty_1__bindgen_ty_1::default();
        f.set_subsampling_x(1);
        f.set_subsampling_y(1);
        f.set_frame_type(0);
        f.set_show_frame(1);
        f.set_refresh_frame_context(1);
        f.set_reset_frame_context(2);
        f.set_mcomp_filter_type(4);
        f.set_golden_ref_frame(3);
        f.set_golden_ref_frame_sign_bias(1);
        let mut params = Params {
            pic: Some(VADecPictureParameterBufferVP9 {
                frame_width: 352,
                frame_height: 288,
                reference_frames: [7, 8, 9, 10, 11, 12, 13, 14],
                pic_fields: _VADecPictureParameterBufferVP9__bindgen_ty_1 { bits: f },
                profile: 0,
                bit_depth: 8,
                frame_header_length_in_bytes: 18,
                first_partition_size: 99,
                ..Default::default()
            }),
            ..Default::default()
        };
        let data: Vec<u8> = (0..40).collect();
        let slice = VASliceParameterBufferVP9 {
            slice_data_offset: 5,
            slice_data_size: 30,
            ..Default::default()
        };
        // one element, as libva's buffers hold it
        let bytes = {
            let mut v = vec![0u8; std::mem::size_of::<VASliceParameterBufferVP9>()];
            v[..4].copy_from_slice(&30u32.to_ne_bytes());
            v[4..8].copy_from_slice(&5u32.to_ne_bytes());
            v
        };
        assert_eq!(
            read::<VASliceParameterBufferVP9>(&bytes, bytes.len(), 0)
                .unwrap()
                .slice_data_offset,
            slice.slice_data_offset
        );
        params
            .slices(
                &RenderBuf {
                    kind: VASliceParameterBufferType,
                    elem_size: bytes.len(),
                    count: 1,
                    data: &bytes,
                },
                &data,
            )
            .unwrap();
        let ts = HashMap::from([(10, 5000u64)]);
        let built = params.build(&ts).unwrap();
        assert_eq!(built.bitstream, data[5..35]);
        let Ctrls::Vp9 { frame } = built.ctrls else {
            panic!("not VP9 controls");
        };
        assert_eq!(
            frame.flags,
            V4L2_VP9_FRAME_FLAG_KEY_FRAME
                | V4L2_VP9_FRAME_FLAG_SHOW_FRAME
                | V4L2_VP9_FRAME_FLAG_REFRESH_FRAME_CTX
                | V4L2_VP9_FRAME_FLAG_X_SUBSAMPLING
                | V4L2_VP9_FRAME_FLAG_Y_SUBSAMPLING
        );
        assert_eq!(
            (frame.frame_width_minus_1, frame.frame_height_minus_1),
            (351, 287)
        );
        assert_eq!(
            (frame.uncompressed_header_size, frame.compressed_header_size),
            (18, 99)
        );
        assert_eq!(
            (frame.reset_frame_context, frame.interpolation_filter),
            (1, 4)
        );
        assert_eq!((frame.golden_frame_ts, frame.last_frame_ts), (5000, 0));
        assert_eq!(
            u32::from(frame.ref_frame_sign_bias),
            V4L2_VP9_SIGN_BIAS_GOLDEN
        );
    }

    #[test]
    fn a_slice_outside_its_data_is_refused() {
        let mut params = Params::default();
        let mut bytes = vec![0u8; std::mem::size_of::<VASliceParameterBufferVP9>()];
        bytes[..4].copy_from_slice(&100u32.to_ne_bytes());
        let e = params
            .slices(
                &RenderBuf {
                    kind: VASliceParameterBufferType,
                    elem_size: bytes.len(),
                    count: 1,
                    data: &bytes,
                },
                &[0; 10],
            )
            .err()
            .unwrap();
        assert_eq!(e.status, VA_STATUS_ERROR_INVALID_BUFFER as VAStatus);
    }
}
