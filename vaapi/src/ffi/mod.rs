// SPDX-License-Identifier: GPL-2.0
//! The FFI boundary, and the only unsafe code of the driver: `va` is libva's side (the entry
//! points, raw pointers in and out), `v4l2` the kernel's (ioctls, mappings), `sys` what bindgen
//! made of the C headers. Here too: reading libva's plain parameter structs out of the bytes a
//! client wrote, and the bit fields of their unions.

pub mod sys;
pub mod v4l2;
pub mod va;

use sys::*;

/// libva's parameter structs: C structs of integers, for which any bit pattern is valid.
///
/// # Safety
/// Implement only for `#[repr(C)]` structs of integers (and arrays and unions of them).
pub unsafe trait Plain: Copy + Default {}

macro_rules! plain {
    ($($t:ty),*) => { $(
        // SAFETY: a libva parameter struct: integers, arrays and unions of integers
        unsafe impl Plain for $t {}
    )* };
}
plain!(
    VAPictureParameterBufferH264,
    VASliceParameterBufferH264,
    VAIQMatrixBufferH264,
    VADecPictureParameterBufferVP9,
    VASliceParameterBufferVP9,
    VASliceParameterBufferAV1
);

/// libva's AV1 picture parameters, as a picture keeps them until it is decoded (by whichever
/// of the client's threads ends it).
#[repr(transparent)]
#[derive(Clone, Copy, Default)]
pub struct Av1PicParams(pub VADecPictureParameterBufferAV1);

// SAFETY: integers, arrays and unions of integers, and one pointer (anchor_frames_list, for
// large-scale tiles, which are refused) that is never dereferenced: any bit pattern is valid,
// and nothing is shared through it between threads
unsafe impl Plain for Av1PicParams {}
// SAFETY: as above: the pointer is never dereferenced
unsafe impl Send for Av1PicParams {}

/// The `index`th `T` of `bytes` (a buffer of `elem_size`-byte elements), if it is all there.
pub fn read<T: Plain>(bytes: &[u8], elem_size: usize, index: usize) -> Option<T> {
    let start = elem_size.checked_mul(index)?;
    if elem_size < std::mem::size_of::<T>()
        || start.checked_add(std::mem::size_of::<T>())? > bytes.len()
    {
        return None;
    }
    // SAFETY: size_of::<T>() bytes from `start` are inside `bytes`, and T is Plain: any bytes
    // are a valid T; read_unaligned copes with the byte alignment
    Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr().add(start).cast::<T>()) })
}

/// The bytes of a buffer kept in 64-bit words (aligned for the parameter structs clients
/// write into it through `vaMapBuffer`).
pub fn words_as_bytes(words: &[u64]) -> &[u8] {
    // SAFETY: u8 has no alignment and no invalid values; the length covers the same memory
    unsafe { std::slice::from_raw_parts(words.as_ptr().cast(), std::mem::size_of_val(words)) }
}

/// The same, writable.
pub fn words_as_bytes_mut(words: &mut [u64]) -> &mut [u8] {
    // SAFETY: as words_as_bytes; the borrow is exclusive
    unsafe {
        std::slice::from_raw_parts_mut(words.as_mut_ptr().cast(), std::mem::size_of_val(words))
    }
}

/// The bit-field view of a libva flags union (its other member is the same bits as an integer).
pub trait Bits {
    type View;
    fn bits(&self) -> &Self::View;
}

macro_rules! bits {
    ($($u:ty => $v:ty),*) => { $(
        impl Bits for $u {
            type View = $v;
            fn bits(&self) -> &$v {
                // SAFETY: both members of the union are plain integers over the same bytes
                unsafe { &self.bits }
            }
        }
    )* };
}
bits!(
    _VAPictureParameterBufferH264__bindgen_ty_1 => _VAPictureParameterBufferH264__bindgen_ty_1__bindgen_ty_1,
    _VAPictureParameterBufferH264__bindgen_ty_2 => _VAPictureParameterBufferH264__bindgen_ty_2__bindgen_ty_1,
    _VADecPictureParameterBufferVP9__bindgen_ty_1 => _VADecPictureParameterBufferVP9__bindgen_ty_1__bindgen_ty_1,
    _VADecPictureParameterBufferAV1__bindgen_ty_2 => _VADecPictureParameterBufferAV1__bindgen_ty_2__bindgen_ty_1,
    _VADecPictureParameterBufferAV1__bindgen_ty_3 => _VADecPictureParameterBufferAV1__bindgen_ty_3__bindgen_ty_1,
    _VADecPictureParameterBufferAV1__bindgen_ty_4 => _VADecPictureParameterBufferAV1__bindgen_ty_4__bindgen_ty_1,
    _VADecPictureParameterBufferAV1__bindgen_ty_5 => _VADecPictureParameterBufferAV1__bindgen_ty_5__bindgen_ty_1,
    _VADecPictureParameterBufferAV1__bindgen_ty_6 => _VADecPictureParameterBufferAV1__bindgen_ty_6__bindgen_ty_1,
    _VASegmentationStructAV1__bindgen_ty_1 => _VASegmentationStructAV1__bindgen_ty_1__bindgen_ty_1,
    _VAFilmGrainStructAV1__bindgen_ty_1 => _VAFilmGrainStructAV1__bindgen_ty_1__bindgen_ty_1
);

// (AV1's sequence flags name their bit-field member `fields`)
impl Bits for _VADecPictureParameterBufferAV1__bindgen_ty_1 {
    type View = _VADecPictureParameterBufferAV1__bindgen_ty_1__bindgen_ty_1;
    fn bits(&self) -> &Self::View {
        // SAFETY: both members of the union are plain integers over the same bytes
        unsafe { &self.fields }
    }
}
