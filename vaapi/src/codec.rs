// SPDX-License-Identifier: GPL-2.0
//! One picture as libva hands it over (parameter buffers, slice data) and what it becomes for
//! the stateless node: the bytes of one OUTPUT buffer and the codec's controls.

use std::collections::HashMap;

use crate::{
    av1,
    driver::{err, RenderBuf, VaError, VaResult},
    ffi::{
        sys::*,
        v4l2::{Ctrl, Video},
    },
    h264, vp9,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    H264,
    Vp9,
    Av1,
}

const fn fourcc(s: &[u8; 4]) -> u32 {
    u32::from_le_bytes(*s)
}

impl Codec {
    /// The node's OUTPUT format.
    pub fn v4l2_fourcc(self) -> u32 {
        match self {
            Codec::H264 => fourcc(b"S264"),
            Codec::Vp9 => fourcc(b"VP9F"),
            Codec::Av1 => fourcc(b"AV1F"),
        }
    }

    /// Tell the node the stream's bit depth (before its CAPTURE format is set).
    pub fn set_depth(self, dev: &Video, depth: u8) -> VaResult<()> {
        let res = match self {
            Codec::H264 => {
                let mut sps = [v4l2_ctrl_h264_sps {
                    profile_idc: 110,
                    chroma_format_idc: 1,
                    bit_depth_luma_minus8: depth - 8,
                    bit_depth_chroma_minus8: depth - 8,
                    ..Default::default()
                }];
                dev.set_ctrls(
                    None,
                    &mut [Ctrl::new(V4L2_CID_STATELESS_H264_SPS, &mut sps)],
                )
            }
            Codec::Vp9 => {
                let mut frame = [v4l2_ctrl_vp9_frame {
                    profile: 2,
                    bit_depth: depth,
                    // 4:2:0
                    flags: V4L2_VP9_FRAME_FLAG_X_SUBSAMPLING | V4L2_VP9_FRAME_FLAG_Y_SUBSAMPLING,
                    ..Default::default()
                }];
                dev.set_ctrls(
                    None,
                    &mut [Ctrl::new(V4L2_CID_STATELESS_VP9_FRAME, &mut frame)],
                )
            }
            Codec::Av1 => {
                let mut seq = [v4l2_ctrl_av1_sequence {
                    flags: V4L2_AV1_SEQUENCE_FLAG_SUBSAMPLING_X
                        | V4L2_AV1_SEQUENCE_FLAG_SUBSAMPLING_Y,
                    bit_depth: depth,
                    ..Default::default()
                }];
                dev.set_ctrls(
                    None,
                    &mut [Ctrl::new(V4L2_CID_STATELESS_AV1_SEQUENCE, &mut seq)],
                )
            }
        };
        res.map_err(|e| VaError {
            status: VA_STATUS_ERROR_UNSUPPORTED_RT_FORMAT as VAStatus,
            msg: format!("the decoder refused {depth}-bit {self:?}: {e}"),
            quiet: false,
        })
    }
}

/// The parameter buffers of one picture, per codec.
enum Params {
    H264(Box<h264::Params>),
    Vp9(vp9::Params),
    Av1(Box<av1::Params>),
}

/// A picture between `vaBeginPicture` and `vaEndPicture`.
pub struct Picture {
    capture_index: u32,
    params: Params,
    /// Slice parameter buffers waiting for their slice data buffer: element size, count, bytes.
    slice_params: Vec<(usize, usize, Vec<u8>)>,
}

impl Picture {
    pub fn new(codec: Codec, profile: VAProfile, capture_index: u32) -> Picture {
        Picture {
            capture_index,
            params: match codec {
                Codec::H264 => Params::H264(Box::new(h264::Params::new(profile))),
                Codec::Vp9 => Params::Vp9(vp9::Params::default()),
                Codec::Av1 => Params::Av1(Box::default()),
            },
            slice_params: Vec::new(),
        }
    }

    pub fn capture_index(&self) -> u32 {
        self.capture_index
    }

    /// Decode into CAPTURE buffer `index` instead (the surface that shows the picture).
    pub fn set_capture_index(&mut self, index: u32) {
        self.capture_index = index;
    }

    /// AV1: the surface that shows the picture, where it is not the one decoded into.
    pub fn display(&self) -> Option<VASurfaceID> {
        match &self.params {
            Params::Av1(a) => a.display(),
            _ => None,
        }
    }

    /// AV1: the surface decoded into (the picture's name as a reference) and the surfaces
    /// in the reference slots before this picture.
    pub fn av1_refs(&self) -> Option<(VASurfaceID, [VASurfaceID; 8])> {
        match &self.params {
            Params::Av1(a) => a.refs(),
            _ => None,
        }
    }

    /// One buffer of `vaRenderPicture` (slice data goes straight into the bitstream).
    pub fn add(&mut self, buf: &RenderBuf) -> VaResult<()> {
        match buf.kind {
            VASliceParameterBufferType => {
                self.slice_params
                    .push((buf.elem_size, buf.count, buf.data.to_vec()));
                Ok(())
            }
            VASliceDataBufferType => {
                let params = std::mem::take(&mut self.slice_params);
                if params.is_empty() {
                    return err(
                        VA_STATUS_ERROR_INVALID_BUFFER,
                        "slice data without slice parameters",
                    );
                }
                for (elem_size, count, bytes) in &params {
                    let p = RenderBuf {
                        kind: VASliceParameterBufferType,
                        elem_size: *elem_size,
                        count: *count,
                        data: bytes,
                    };
                    match &mut self.params {
                        Params::H264(h) => h.slices(&p, buf.data)?,
                        Params::Vp9(v) => v.slices(&p, buf.data)?,
                        Params::Av1(a) => a.slices(&p, buf.data)?,
                    }
                }
                Ok(())
            }
            _ => match &mut self.params {
                Params::H264(h) => h.add(buf),
                Params::Vp9(v) => v.add(buf),
                Params::Av1(a) => a.add(buf),
            },
        }
    }

    /// The OUTPUT buffer and the controls; `timestamps` says which decode each surface holds,
    /// `size` is the context's.
    pub fn build(
        self,
        size: (u32, u32),
        timestamps: &HashMap<VASurfaceID, u64>,
    ) -> VaResult<Built> {
        if !self.slice_params.is_empty() {
            return err(
                VA_STATUS_ERROR_INVALID_BUFFER,
                "slice parameters without slice data",
            );
        }
        match self.params {
            Params::H264(h) => (*h).build(timestamps),
            Params::Vp9(v) => v.build(timestamps),
            Params::Av1(a) => (*a).build(size),
        }
    }
}

/// The controls of one request.
#[derive(Clone)]
pub enum Ctrls {
    H264(Box<H264Ctrls>),
    Vp9 { frame: v4l2_ctrl_vp9_frame },
    Av1(Box<av1::Av1Ctrls>),
}

#[derive(Clone)]
pub struct H264Ctrls {
    pub sps: v4l2_ctrl_h264_sps,
    pub pps: v4l2_ctrl_h264_pps,
    pub matrix: Option<v4l2_ctrl_h264_scaling_matrix>,
    pub decode: v4l2_ctrl_h264_decode_params,
}

/// What a picture became.
#[derive(Clone)]
pub struct Built {
    pub bitstream: Vec<u8>,
    pub ctrls: Ctrls,
}

impl Built {
    /// The controls for `VIDIOC_S_EXT_CTRLS`, borrowing their payloads.
    pub fn ctrls(&mut self) -> Vec<Ctrl<'_>> {
        match &mut self.ctrls {
            Ctrls::H264(c) => {
                let H264Ctrls {
                    sps,
                    pps,
                    matrix,
                    decode,
                } = &mut **c;
                let mut v = vec![
                    Ctrl::new(V4L2_CID_STATELESS_H264_SPS, std::slice::from_mut(sps)),
                    Ctrl::new(V4L2_CID_STATELESS_H264_PPS, std::slice::from_mut(pps)),
                    Ctrl::new(
                        V4L2_CID_STATELESS_H264_DECODE_PARAMS,
                        std::slice::from_mut(decode),
                    ),
                ];
                if let Some(m) = matrix {
                    v.push(Ctrl::new(
                        V4L2_CID_STATELESS_H264_SCALING_MATRIX,
                        std::slice::from_mut(m),
                    ));
                }
                v
            }
            Ctrls::Vp9 { frame } => {
                vec![Ctrl::new(
                    V4L2_CID_STATELESS_VP9_FRAME,
                    std::slice::from_mut(frame),
                )]
            }
            Ctrls::Av1(c) => {
                let av1::Av1Ctrls {
                    sequence,
                    frame,
                    grain,
                    tiles,
                } = &mut **c;
                vec![
                    Ctrl::new(
                        V4L2_CID_STATELESS_AV1_SEQUENCE,
                        std::slice::from_mut(sequence),
                    ),
                    Ctrl::new(
                        V4L2_CID_STATELESS_AV1_FRAME,
                        std::slice::from_mut(&mut **frame),
                    ),
                    Ctrl::new(
                        V4L2_CID_STATELESS_AV1_FILM_GRAIN,
                        std::slice::from_mut(grain),
                    ),
                    Ctrl::new(V4L2_CID_STATELESS_AV1_TILE_GROUP_ENTRY, tiles),
                ]
            }
        }
    }
}
