// SPDX-License-Identifier: GPL-2.0
//! libva's side of the FFI boundary: `__vaDriverInit_1_<minor>` fills libva's driver context
//! and vtable with the functions below, each of which checks its pointers, turns them into
//! Rust values, calls `Driver`, and writes the results back. A panic never crosses into C: it
//! becomes `VA_STATUS_ERROR_OPERATION_FAILED`. Errors are logged through libva's error
//! callback (the client's log: FFmpeg's, GStreamer's, "libva error:" on stderr otherwise).

use std::{
    ffi::{c_int, c_uint, c_void, CString},
    panic::{catch_unwind, AssertUnwindSafe},
    slice,
    time::Duration,
};

use super::sys::*;
use crate::driver::{Driver, VaResult, PROFILES};

include!(concat!(env!("OUT_DIR"), "/init.rs"));

const SUCCESS: VAStatus = VA_STATUS_SUCCESS as VAStatus;

fn log(ctx: VADriverContextP, msg: &str) {
    let Ok(text) = CString::new(format!("daedalus: {msg}\n")) else {
        return;
    };
    // SAFETY: ctx is libva's live driver context (checked non-null by the caller)
    if let Some(cb) = unsafe { (*ctx).error_callback } {
        // SAFETY: libva's callback, called with its context and a NUL-terminated string
        unsafe { cb(ctx, text.as_ptr()) };
    } else {
        eprint!("{}", text.to_string_lossy());
    }
}

/// Run `f` with the display's driver: its status, its error logged.
fn call(ctx: VADriverContextP, f: impl FnOnce(&Driver) -> VaResult<()>) -> VAStatus {
    if ctx.is_null() {
        return VA_STATUS_ERROR_INVALID_CONTEXT as VAStatus;
    }
    // SAFETY: libva passes its driver context; pDriverData is ours (init), or null
    let data = unsafe { (*ctx).pDriverData } as *const Driver;
    if data.is_null() {
        return VA_STATUS_ERROR_INVALID_DISPLAY as VAStatus;
    }
    // SAFETY: pDriverData holds the Box<Driver> leaked by init until vaTerminate
    let driver = unsafe { &*data };
    match catch_unwind(AssertUnwindSafe(|| f(driver))) {
        Ok(Ok(())) => SUCCESS,
        Ok(Err(e)) => {
            if !e.quiet {
                log(ctx, &e.msg);
            }
            e.status
        }
        Err(_) => {
            log(ctx, "internal error (panic)");
            VA_STATUS_ERROR_OPERATION_FAILED as VAStatus
        }
    }
}

/// `*p = v` for an out-pointer of the client's; Err if it is null.
fn out<T>(p: *mut T, v: T) -> VaResult<()> {
    if p.is_null() {
        return crate::driver::err(VA_STATUS_ERROR_INVALID_PARAMETER, "null output pointer");
    }
    // SAFETY: libva's API: a non-null out-pointer points at a T of the client's
    unsafe { p.write(v) };
    Ok(())
}

/// The client's array of `n` T (empty when null or n <= 0).
fn array<'a, T>(p: *const T, n: c_int) -> &'a [T] {
    if p.is_null() || n <= 0 {
        return &[];
    }
    // SAFETY: libva's API: a non-null array pointer with its length
    unsafe { slice::from_raw_parts(p, n as usize) }
}

fn array_mut<'a, T>(p: *mut T, n: c_int) -> &'a mut [T] {
    if p.is_null() || n <= 0 {
        return &mut [];
    }
    // SAFETY: libva's API: a non-null array pointer with its length
    unsafe { slice::from_raw_parts_mut(p, n as usize) }
}

/// Fill libva's context; called through the versioned entry point.
///
/// # Safety
/// `ctx` is libva's driver context, its vtable allocated.
unsafe fn init(ctx: VADriverContextP, major: c_int, minor: c_int) -> VAStatus {
    // SAFETY: see the function's contract
    let c = match unsafe { ctx.as_mut() } {
        Some(c) if !c.vtable.is_null() => c,
        _ => return VA_STATUS_ERROR_INVALID_CONTEXT as VAStatus,
    };
    let driver = match catch_unwind(Driver::open) {
        Ok(Ok(d)) => d,
        Ok(Err(e)) => {
            log(ctx, &e.msg);
            return e.status;
        }
        Err(_) => return VA_STATUS_ERROR_OPERATION_FAILED as VAStatus,
    };
    let vendor = CString::new(driver.vendor()).unwrap_or_default();
    c.version_major = major;
    c.version_minor = minor;
    c.max_profiles = PROFILES.len() as c_int;
    c.max_entrypoints = 1;
    c.max_attributes = 8;
    c.max_image_formats = Driver::image_formats().len() as c_int;
    // libva wants room for at least one of each (there are none: vaQuery* report 0)
    c.max_subpic_formats = 1;
    c.max_display_attributes = 1;
    // leaked on purpose: libva may read it after vaTerminate
    c.str_vendor = vendor.into_raw();
    c.pDriverData = Box::into_raw(Box::new(driver)).cast();
    // SAFETY: libva allocated the vtable (checked non-null above) for us to fill
    let v = unsafe { &mut *c.vtable };
    v.vaTerminate = Some(terminate);
    v.vaQueryConfigProfiles = Some(query_config_profiles);
    v.vaQueryConfigEntrypoints = Some(query_config_entrypoints);
    v.vaGetConfigAttributes = Some(get_config_attributes);
    v.vaCreateConfig = Some(create_config);
    v.vaDestroyConfig = Some(destroy_config);
    v.vaQueryConfigAttributes = Some(query_config_attributes);
    v.vaCreateSurfaces = Some(create_surfaces);
    v.vaCreateSurfaces2 = Some(create_surfaces2);
    v.vaDestroySurfaces = Some(destroy_surfaces);
    v.vaCreateContext = Some(create_context);
    v.vaDestroyContext = Some(destroy_context);
    v.vaCreateBuffer = Some(create_buffer);
    v.vaBufferSetNumElements = Some(buffer_set_num_elements);
    v.vaMapBuffer = Some(map_buffer);
    v.vaUnmapBuffer = Some(unmap_buffer);
    v.vaDestroyBuffer = Some(destroy_buffer);
    v.vaBufferInfo = Some(buffer_info);
    v.vaBeginPicture = Some(begin_picture);
    v.vaRenderPicture = Some(render_picture);
    v.vaEndPicture = Some(end_picture);
    v.vaSyncSurface = Some(sync_surface);
    v.vaSyncSurface2 = Some(sync_surface2);
    v.vaQuerySurfaceStatus = Some(query_surface_status);
    v.vaQuerySurfaceAttributes = Some(query_surface_attributes);
    v.vaPutSurface = Some(put_surface);
    v.vaQueryImageFormats = Some(query_image_formats);
    v.vaCreateImage = Some(create_image);
    v.vaDeriveImage = Some(derive_image);
    v.vaDestroyImage = Some(destroy_image);
    v.vaSetImagePalette = Some(set_image_palette);
    v.vaGetImage = Some(get_image);
    v.vaPutImage = Some(put_image);
    v.vaQuerySubpictureFormats = Some(query_subpicture_formats);
    v.vaCreateSubpicture = Some(create_subpicture);
    v.vaDestroySubpicture = Some(destroy_subpicture);
    v.vaSetSubpictureImage = Some(set_subpicture_image);
    v.vaSetSubpictureChromakey = Some(set_subpicture_chromakey);
    v.vaSetSubpictureGlobalAlpha = Some(set_subpicture_global_alpha);
    v.vaAssociateSubpicture = Some(associate_subpicture);
    v.vaDeassociateSubpicture = Some(deassociate_subpicture);
    v.vaQueryDisplayAttributes = Some(query_display_attributes);
    v.vaGetDisplayAttributes = Some(get_display_attributes);
    v.vaSetDisplayAttributes = Some(set_display_attributes);
    v.vaLockSurface = Some(lock_surface);
    v.vaUnlockSurface = Some(unlock_surface);
    v.vaExportSurfaceHandle = Some(export_surface_handle);
    SUCCESS
}

extern "C" fn terminate(ctx: VADriverContextP) -> VAStatus {
    if ctx.is_null() {
        return VA_STATUS_ERROR_INVALID_CONTEXT as VAStatus;
    }
    // SAFETY: libva's context; pDriverData is the Box<Driver> of init, taken back once
    unsafe {
        let data = (*ctx).pDriverData as *mut Driver;
        if !data.is_null() {
            drop(Box::from_raw(data));
            (*ctx).pDriverData = std::ptr::null_mut();
        }
    }
    SUCCESS
}

extern "C" fn query_config_profiles(
    ctx: VADriverContextP,
    list: *mut VAProfile,
    n: *mut c_int,
) -> VAStatus {
    call(ctx, |_| {
        array_mut(list, PROFILES.len() as c_int).copy_from_slice(&PROFILES);
        out(n, PROFILES.len() as c_int)
    })
}

extern "C" fn query_config_entrypoints(
    ctx: VADriverContextP,
    profile: VAProfile,
    list: *mut VAEntrypoint,
    n: *mut c_int,
) -> VAStatus {
    call(ctx, |d| {
        let eps = d.entrypoints(profile)?;
        array_mut(list, eps.len() as c_int).copy_from_slice(&eps);
        out(n, eps.len() as c_int)
    })
}

extern "C" fn get_config_attributes(
    ctx: VADriverContextP,
    profile: VAProfile,
    entrypoint: VAEntrypoint,
    list: *mut VAConfigAttrib,
    n: c_int,
) -> VAStatus {
    call(ctx, |d| {
        d.config_attributes(profile, entrypoint, array_mut(list, n))
    })
}

extern "C" fn create_config(
    ctx: VADriverContextP,
    profile: VAProfile,
    entrypoint: VAEntrypoint,
    list: *mut VAConfigAttrib,
    n: c_int,
    id: *mut VAConfigID,
) -> VAStatus {
    call(ctx, |d| {
        let c = d.create_config(profile, entrypoint, array(list, n))?;
        out(id, c)
    })
}

extern "C" fn destroy_config(ctx: VADriverContextP, id: VAConfigID) -> VAStatus {
    call(ctx, |d| d.destroy_config(id))
}

extern "C" fn query_config_attributes(
    ctx: VADriverContextP,
    id: VAConfigID,
    profile: *mut VAProfile,
    entrypoint: *mut VAEntrypoint,
    list: *mut VAConfigAttrib,
    n: *mut c_int,
) -> VAStatus {
    call(ctx, |d| {
        let (c, attribs) = d.query_config(id)?;
        out(profile, c.profile)?;
        out(entrypoint, c.entrypoint)?;
        array_mut(list, attribs.len() as c_int).copy_from_slice(&attribs);
        out(n, attribs.len() as c_int)
    })
}

extern "C" fn create_surfaces(
    ctx: VADriverContextP,
    width: c_int,
    height: c_int,
    format: c_int,
    n: c_int,
    surfaces: *mut VASurfaceID,
) -> VAStatus {
    create_surfaces2(
        ctx,
        format as c_uint,
        width as c_uint,
        height as c_uint,
        surfaces,
        n as c_uint,
        std::ptr::null_mut(),
        0,
    )
}

#[allow(clippy::too_many_arguments)]
extern "C" fn create_surfaces2(
    ctx: VADriverContextP,
    format: c_uint,
    width: c_uint,
    height: c_uint,
    surfaces: *mut VASurfaceID,
    n: c_uint,
    attribs: *mut VASurfaceAttrib,
    n_attribs: c_uint,
) -> VAStatus {
    call(ctx, |d| {
        let mut fourcc = None;
        let mut memory = None;
        for a in array(attribs, n_attribs as c_int) {
            if a.type_ == VASurfaceAttribExternalBufferDescriptor {
                return crate::driver::err(
                    VA_STATUS_ERROR_UNSUPPORTED_MEMORY_TYPE,
                    "surfaces over the client's buffers: not supported (surfaces are the decoder's own buffers)",
                );
            }
            if a.flags & VA_SURFACE_ATTRIB_SETTABLE == 0
                || a.value.type_ != VAGenericValueTypeInteger
            {
                continue;
            }
            // SAFETY: the value's type says its union member is the integer
            let v = unsafe { a.value.value.i } as u32;
            match a.type_ {
                VASurfaceAttribPixelFormat => fourcc = Some(v),
                VASurfaceAttribMemoryType => memory = Some(v),
                _ => {}
            }
        }
        if surfaces.is_null() {
            return crate::driver::err(VA_STATUS_ERROR_INVALID_PARAMETER, "null surface array");
        }
        let ids = d.create_surfaces(format, width, height, n as usize, fourcc, memory)?;
        array_mut(surfaces, ids.len() as c_int).copy_from_slice(&ids);
        Ok(())
    })
}

extern "C" fn destroy_surfaces(
    ctx: VADriverContextP,
    list: *mut VASurfaceID,
    n: c_int,
) -> VAStatus {
    call(ctx, |d| d.destroy_surfaces(array(list, n)))
}

#[allow(clippy::too_many_arguments)]
extern "C" fn create_context(
    ctx: VADriverContextP,
    config: VAConfigID,
    width: c_int,
    height: c_int,
    _flag: c_int,
    targets: *mut VASurfaceID,
    n: c_int,
    id: *mut VAContextID,
) -> VAStatus {
    call(ctx, |d| {
        let c = d.create_context(
            config,
            width.max(0) as u32,
            height.max(0) as u32,
            array(targets, n),
        )?;
        out(id, c)
    })
}

extern "C" fn destroy_context(ctx: VADriverContextP, id: VAContextID) -> VAStatus {
    call(ctx, |d| d.destroy_context(id))
}

extern "C" fn create_buffer(
    ctx: VADriverContextP,
    context: VAContextID,
    kind: VABufferType,
    size: c_uint,
    n: c_uint,
    data: *mut c_void,
    id: *mut VABufferID,
) -> VAStatus {
    call(ctx, |d| {
        let len = (size as usize).saturating_mul(n as usize);
        let bytes = (!data.is_null()).then(|| {
            // SAFETY: libva's API: data, when given, holds size * n bytes
            unsafe { slice::from_raw_parts(data as *const u8, len) }
        });
        let b = d.create_buffer(context, kind, size, n, bytes)?;
        out(id, b)
    })
}

extern "C" fn buffer_set_num_elements(
    ctx: VADriverContextP,
    id: VABufferID,
    n: c_uint,
) -> VAStatus {
    call(ctx, |d| d.buffer_set_num_elements(id, n))
}

extern "C" fn buffer_info(
    ctx: VADriverContextP,
    id: VABufferID,
    kind: *mut VABufferType,
    size: *mut c_uint,
    n: *mut c_uint,
) -> VAStatus {
    call(ctx, |d| {
        let (k, s, c) = d.buffer_info(id)?;
        out(kind, k)?;
        out(size, s)?;
        out(n, c)
    })
}

extern "C" fn map_buffer(ctx: VADriverContextP, id: VABufferID, p: *mut *mut c_void) -> VAStatus {
    call(ctx, |d| {
        let addr = d.map_buffer(id)?;
        out(p, addr.cast())
    })
}

extern "C" fn unmap_buffer(ctx: VADriverContextP, id: VABufferID) -> VAStatus {
    call(ctx, |d| d.buffer_info(id).map(|_| ()))
}

extern "C" fn destroy_buffer(ctx: VADriverContextP, id: VABufferID) -> VAStatus {
    call(ctx, |d| d.destroy_buffer(id))
}

extern "C" fn begin_picture(
    ctx: VADriverContextP,
    context: VAContextID,
    target: VASurfaceID,
) -> VAStatus {
    call(ctx, |d| d.begin_picture(context, target))
}

extern "C" fn render_picture(
    ctx: VADriverContextP,
    context: VAContextID,
    list: *mut VABufferID,
    n: c_int,
) -> VAStatus {
    call(ctx, |d| d.render_picture(context, array(list, n)))
}

extern "C" fn end_picture(ctx: VADriverContextP, context: VAContextID) -> VAStatus {
    call(ctx, |d| d.end_picture(context))
}

extern "C" fn sync_surface(ctx: VADriverContextP, surface: VASurfaceID) -> VAStatus {
    call(ctx, |d| d.sync_surface(surface, None))
}

extern "C" fn sync_surface2(
    ctx: VADriverContextP,
    surface: VASurfaceID,
    timeout_ns: u64,
) -> VAStatus {
    // VA_TIMEOUT_INFINITE (all ones) waits as vaSyncSurface does
    let limit = (timeout_ns != u64::MAX).then(|| Duration::from_nanos(timeout_ns));
    call(ctx, |d| d.sync_surface(surface, limit))
}

extern "C" fn query_surface_status(
    ctx: VADriverContextP,
    surface: VASurfaceID,
    status: *mut VASurfaceStatus,
) -> VAStatus {
    call(ctx, |d| {
        let s = d.surface_status(surface)?;
        out(status, s)
    })
}

extern "C" fn query_surface_attributes(
    ctx: VADriverContextP,
    config: VAConfigID,
    list: *mut VASurfaceAttrib,
    n: *mut c_uint,
) -> VAStatus {
    call(ctx, |d| {
        let attribs = d.surface_attributes(config)?;
        if n.is_null() {
            return crate::driver::err(VA_STATUS_ERROR_INVALID_PARAMETER, "null count");
        }
        if !list.is_null() {
            // SAFETY: n is non-null (checked): the client's capacity
            let cap = unsafe { *n } as usize;
            if cap < attribs.len() {
                out(n, attribs.len() as c_uint)?;
                return crate::driver::err(
                    VA_STATUS_ERROR_MAX_NUM_EXCEEDED,
                    "surface attribute list too short",
                );
            }
            for (slot, (kind, flags, value)) in array_mut(list, attribs.len() as c_int)
                .iter_mut()
                .zip(attribs.iter())
            {
                *slot = VASurfaceAttrib {
                    type_: *kind,
                    flags: *flags,
                    value: VAGenericValue {
                        type_: VAGenericValueTypeInteger,
                        value: _VAGenericValue__bindgen_ty_1 { i: *value },
                    },
                };
            }
        }
        out(n, attribs.len() as c_uint)
    })
}

extern "C" fn query_image_formats(
    ctx: VADriverContextP,
    list: *mut VAImageFormat,
    n: *mut c_int,
) -> VAStatus {
    call(ctx, |_| {
        let formats = Driver::image_formats();
        array_mut(list, formats.len() as c_int).copy_from_slice(&formats);
        out(n, formats.len() as c_int)
    })
}

extern "C" fn create_image(
    ctx: VADriverContextP,
    format: *mut VAImageFormat,
    width: c_int,
    height: c_int,
    image: *mut VAImage,
) -> VAStatus {
    call(ctx, |d| {
        let Some(&f) = array(format, 1).first() else {
            return crate::driver::err(VA_STATUS_ERROR_INVALID_PARAMETER, "null image format");
        };
        let img = d.create_image(f, width.max(0) as u32, height.max(0) as u32)?;
        out(image, img)
    })
}

extern "C" fn derive_image(
    ctx: VADriverContextP,
    surface: VASurfaceID,
    image: *mut VAImage,
) -> VAStatus {
    call(ctx, |d| {
        let img = d.derive_image(surface)?;
        out(image, img)
    })
}

extern "C" fn destroy_image(ctx: VADriverContextP, id: VAImageID) -> VAStatus {
    call(ctx, |d| d.destroy_image(id))
}

#[allow(clippy::too_many_arguments)]
extern "C" fn get_image(
    ctx: VADriverContextP,
    surface: VASurfaceID,
    x: c_int,
    y: c_int,
    width: c_uint,
    height: c_uint,
    image: VAImageID,
) -> VAStatus {
    call(ctx, |d| {
        d.get_image(
            surface,
            x.max(0) as u32,
            y.max(0) as u32,
            width,
            height,
            image,
        )
    })
}

extern "C" fn export_surface_handle(
    ctx: VADriverContextP,
    surface: VASurfaceID,
    mem_type: u32,
    flags: u32,
    descriptor: *mut c_void,
) -> VAStatus {
    call(ctx, |d| {
        let desc = d.export(surface, mem_type, flags)?;
        out(descriptor.cast::<VADRMPRIMESurfaceDescriptor>(), desc)
    })
}

/// Entry points of what a decoder does not do (presentation, subpictures, display
/// attributes): each returns VA_STATUS_ERROR_UNIMPLEMENTED.
macro_rules! unimplemented_entry {
    ($($name:ident($($arg:ident: $t:ty),*);)*) => { $(
        extern "C" fn $name(_ctx: VADriverContextP, $($arg: $t),*) -> VAStatus {
            $(let _ = $arg;)*
            VA_STATUS_ERROR_UNIMPLEMENTED as VAStatus
        }
    )* };
}

unimplemented_entry! {
    put_surface(a: VASurfaceID, b: *mut c_void, c: i16, d: i16, e: u16, f: u16, g: i16, h: i16, i: u16, j: u16, k: *mut VARectangle, l: c_uint, m: c_uint);
    set_image_palette(a: VAImageID, b: *mut u8);
    put_image(a: VASurfaceID, b: VAImageID, c: c_int, d: c_int, e: c_uint, f: c_uint, g: c_int, h: c_int, i: c_uint, j: c_uint);
    create_subpicture(a: VAImageID, b: *mut VASubpictureID);
    destroy_subpicture(a: VASubpictureID);
    set_subpicture_image(a: VASubpictureID, b: VAImageID);
    set_subpicture_chromakey(a: VASubpictureID, b: c_uint, c: c_uint, d: c_uint);
    set_subpicture_global_alpha(a: VASubpictureID, b: f32);
    associate_subpicture(a: VASubpictureID, b: *mut VASurfaceID, c: c_int, d: i16, e: i16, f: u16, g: u16, h: i16, i: i16, j: u16, k: u16, l: c_uint);
    deassociate_subpicture(a: VASubpictureID, b: *mut VASurfaceID, c: c_int);
    get_display_attributes(a: *mut VADisplayAttribute, b: c_int);
    set_display_attributes(a: *mut VADisplayAttribute, b: c_int);
    lock_surface(a: VASurfaceID, b: *mut c_uint, c: *mut c_uint, d: *mut c_uint, e: *mut c_uint, f: *mut c_uint, g: *mut c_uint, h: *mut c_uint, i: *mut c_uint, j: *mut *mut c_void);
    unlock_surface(a: VASurfaceID);
}

extern "C" fn query_subpicture_formats(
    _ctx: VADriverContextP,
    _list: *mut VAImageFormat,
    _flags: *mut c_uint,
    n: *mut c_uint,
) -> VAStatus {
    match out(n, 0) {
        Ok(()) => SUCCESS,
        Err(e) => e.status,
    }
}

extern "C" fn query_display_attributes(
    _ctx: VADriverContextP,
    _list: *mut VADisplayAttribute,
    n: *mut c_int,
) -> VAStatus {
    match out(n, 0) {
        Ok(()) => SUCCESS,
        Err(e) => e.status,
    }
}
