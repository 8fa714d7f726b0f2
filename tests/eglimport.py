#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The browsers' zero-copy step, done for real: decoded frames imported into EGL as dmabufs.

usage: eglimport.py [--draw] PIPELINE CLIP REFERENCE.framemd5

GStreamer decodes CLIP through `filesrc ! PIPELINE ! appsink` (PIPELINE ends in one of our
decoders); every frame arrives as the dmabuf our device exported (VIDIOC_EXPBUF). Each frame is
imported into EGL through Mesa with EGL_EXT_image_dma_buf_import, plane by plane as Firefox
does: DRM_FORMAT_R8 for luma, DRM_FORMAT_GR88 for the interleaved chroma, offsets and pitches
from the V4L2 format (GStreamer's video meta), the linear modifier. Each plane's texture is
read back through GL (glReadPixels on a framebuffer holding it), or with --draw first drawn
(glCopyTexSubImage2D) into an offscreen texture of ours and read back from there (llvmpipe
dies of SIGSEGV on that, see tests/vm/egl.sh); the planes, packed as NV12, are hashed and
compared with FFmpeg's framemd5 of the clip. Mesa's platform and driver are printed (surfaceless, llvmpipe, in the VM).
Exit 0 when every frame matches, 1 otherwise (naming what refused, if EGL or GL did).
"""
import ctypes
import hashlib
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstAllocators", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import Gst, GstAllocators, GstVideo  # noqa: E402

EGL_NONE = 0x3038
EGL_PLATFORM_SURFACELESS_MESA = 0x31DD
EGL_OPENGL_API = 0x30A2
EGL_WIDTH, EGL_HEIGHT = 0x3057, 0x3056
EGL_LINUX_DMA_BUF_EXT = 0x3270
EGL_LINUX_DRM_FOURCC_EXT = 0x3271
EGL_DMA_BUF_PLANE0_FD_EXT = 0x3272
EGL_DMA_BUF_PLANE0_OFFSET_EXT = 0x3273
EGL_DMA_BUF_PLANE0_PITCH_EXT = 0x3274
EGL_DMA_BUF_PLANE0_MODIFIER_LO_EXT = 0x3443
EGL_DMA_BUF_PLANE0_MODIFIER_HI_EXT = 0x3444
EGL_EXTENSIONS, EGL_VENDOR = 0x3055, 0x3053
GL_TEXTURE_2D = 0x0DE1
GL_READ_FRAMEBUFFER, GL_DRAW_FRAMEBUFFER = 0x8CA8, 0x8CA9
GL_COLOR_ATTACHMENT0 = 0x8CE0
GL_RGBA8, GL_RGBA, GL_UNSIGNED_BYTE = 0x8058, 0x1908, 0x1401
GL_COLOR_BUFFER_BIT, GL_NEAREST = 0x4000, 0x2600
GL_PACK_ALIGNMENT = 0x0D05
GL_FRAMEBUFFER_COMPLETE = 0x8CD5
GL_RENDERER = 0x1F01


def drm_fourcc(s: str) -> int:
    return int.from_bytes(s.encode(), "little")


class Refused(Exception):
    pass


class Egl:
    """A surfaceless EGL display with a desktop GL context current, and the calls we need."""

    def __init__(self, draw: bool):
        self.draw = draw
        egl = ctypes.CDLL("libEGL.so.1")
        self.egl = egl
        proc = egl.eglGetProcAddress
        proc.restype, proc.argtypes = ctypes.c_void_p, [ctypes.c_char_p]

        def fn(name, restype, *args):
            addr = proc(name.encode())
            if not addr:
                raise Refused(f"{name}: not found")
            return ctypes.CFUNCTYPE(restype, *args)(addr)

        vp, i32, u32 = ctypes.c_void_p, ctypes.c_int32, ctypes.c_uint32
        get_display = fn("eglGetPlatformDisplayEXT", vp, u32, vp, vp)
        self.dpy = get_display(EGL_PLATFORM_SURFACELESS_MESA, None, None)
        if not self.dpy:
            raise Refused("eglGetPlatformDisplayEXT(EGL_PLATFORM_SURFACELESS_MESA) failed")
        egl.eglInitialize.argtypes = [vp, vp, vp]
        if not egl.eglInitialize(self.dpy, None, None):
            raise Refused(f"eglInitialize failed: {egl.eglGetError():#x}")
        egl.eglQueryString.restype, egl.eglQueryString.argtypes = ctypes.c_char_p, [vp, i32]
        exts = egl.eglQueryString(self.dpy, EGL_EXTENSIONS).decode().split()
        for need in ("EGL_EXT_image_dma_buf_import", "EGL_KHR_surfaceless_context",
                     "EGL_KHR_no_config_context"):
            if need not in exts:
                raise Refused(f"Mesa's surfaceless EGL lacks {need}")
        self.modifiers = "EGL_EXT_image_dma_buf_import_modifiers" in exts
        egl.eglBindAPI(EGL_OPENGL_API)
        egl.eglCreateContext.restype = vp
        egl.eglCreateContext.argtypes = [vp, vp, vp, vp]
        ctx = egl.eglCreateContext(self.dpy, None, None, None)
        if not ctx:
            raise Refused(f"eglCreateContext failed: {egl.eglGetError():#x}")
        egl.eglMakeCurrent.argtypes = [vp, vp, vp, vp]
        if not egl.eglMakeCurrent(self.dpy, None, None, ctx):
            raise Refused(f"eglMakeCurrent failed: {egl.eglGetError():#x}")
        self.create_image = fn("eglCreateImageKHR", vp, vp, vp, u32, vp,
                               ctypes.POINTER(i32))
        self.destroy_image = fn("eglDestroyImageKHR", u32, vp, vp)
        gl = {}
        for name, restype, args in (
                ("glGetString", ctypes.c_char_p, [u32]),
                ("glGetError", u32, []),
                ("glGenTextures", None, [i32, ctypes.POINTER(u32)]),
                ("glDeleteTextures", None, [i32, ctypes.POINTER(u32)]),
                ("glBindTexture", None, [u32, u32]),
                ("glEGLImageTargetTexture2DOES", None, [u32, vp]),
                ("glGenFramebuffers", None, [i32, ctypes.POINTER(u32)]),
                ("glBindFramebuffer", None, [u32, u32]),
                ("glFramebufferTexture2D", None, [u32, u32, u32, u32, i32]),
                ("glCheckFramebufferStatus", u32, [u32]),
                ("glBlitFramebuffer", None, [i32] * 8 + [u32, u32]),
                ("glPixelStorei", None, [u32, i32]),
                ("glTexImage2D", None, [u32, i32, i32, i32, i32, i32, u32, u32, vp]),
                ("glGetTexImage", None, [u32, i32, u32, u32, vp]),
                ("glReadPixels", None, [i32, i32, i32, i32, u32, u32, vp]),
                ("glCopyTexSubImage2D", None, [u32, i32, i32, i32, i32, i32, i32, i32])):
            gl[name] = fn(name, restype, *args)
        self.gl = gl
        vendor = egl.eglQueryString(self.dpy, EGL_VENDOR).decode()
        print(f"eglimport: EGL {vendor}, surfaceless platform, GL renderer "
              f"{gl['glGetString'](GL_RENDERER).decode()}")
        self.fbo = {}

    def check(self, what: str) -> None:
        err = self.gl["glGetError"]()
        if err:
            raise Refused(f"{what}: GL error {err:#x}")

    def plane(self, fd: int, fourcc: str, w: int, h: int, offset: int, pitch: int) -> bytes:
        """Import one plane of a dmabuf, draw it into our renderbuffer, read it back (RGBA)."""
        attrs = [EGL_WIDTH, w, EGL_HEIGHT, h, EGL_LINUX_DRM_FOURCC_EXT, drm_fourcc(fourcc),
                 EGL_DMA_BUF_PLANE0_FD_EXT, fd, EGL_DMA_BUF_PLANE0_OFFSET_EXT, offset,
                 EGL_DMA_BUF_PLANE0_PITCH_EXT, pitch]
        if self.modifiers:  # DRM_FORMAT_MOD_LINEAR
            attrs += [EGL_DMA_BUF_PLANE0_MODIFIER_LO_EXT, 0, EGL_DMA_BUF_PLANE0_MODIFIER_HI_EXT, 0]
        attrs.append(EGL_NONE)
        image = self.create_image(self.dpy, None, EGL_LINUX_DMA_BUF_EXT, None,
                                  (ctypes.c_int32 * len(attrs))(*attrs))
        if not image:
            raise Refused(f"eglCreateImageKHR({fourcc} {w}x{h}, pitch {pitch}) refused: "
                          f"EGL error {self.egl.eglGetError():#x}")
        gl = self.gl
        tex = ctypes.c_uint32()
        gl["glGenTextures"](1, ctypes.byref(tex))
        gl["glBindTexture"](GL_TEXTURE_2D, tex.value)
        gl["glEGLImageTargetTexture2DOES"](GL_TEXTURE_2D, image)
        try:
            self.check(f"glEGLImageTargetTexture2DOES({fourcc} at offset {offset})")
        except Refused:
            gl["glDeleteTextures"](1, ctypes.byref(tex))
            self.destroy_image(self.dpy, image)
            raise
        src, dst, target = self.targets(w, h)
        gl["glBindFramebuffer"](GL_READ_FRAMEBUFFER, src)
        gl["glFramebufferTexture2D"](GL_READ_FRAMEBUFFER, GL_COLOR_ATTACHMENT0, GL_TEXTURE_2D,
                                     tex.value, 0)
        if gl["glCheckFramebufferStatus"](GL_READ_FRAMEBUFFER) != GL_FRAMEBUFFER_COMPLETE:
            raise Refused(f"a {fourcc} texture from a dmabuf is no complete framebuffer")
        gl["glPixelStorei"](GL_PACK_ALIGNMENT, 1)
        out = ctypes.create_string_buffer(w * h * 4)
        if self.draw:
            # the plane's pixels copied by GL into a texture of ours, read back from there
            gl["glBindTexture"](GL_TEXTURE_2D, target)
            gl["glCopyTexSubImage2D"](GL_TEXTURE_2D, 0, 0, 0, 0, 0, w, h)
            self.check(f"drawing the {fourcc} plane")
            gl["glGetTexImage"](GL_TEXTURE_2D, 0, GL_RGBA, GL_UNSIGNED_BYTE,
                                ctypes.cast(out, ctypes.c_void_p))
        else:
            # the imported texture itself, read back through its framebuffer
            gl["glReadPixels"](0, 0, w, h, GL_RGBA, GL_UNSIGNED_BYTE,
                               ctypes.cast(out, ctypes.c_void_p))
        self.check(f"drawing and reading the {fourcc} plane")
        gl["glDeleteTextures"](1, ctypes.byref(tex))
        self.destroy_image(self.dpy, image)
        return out.raw

    def targets(self, w: int, h: int):
        """A framebuffer to read from and one with our own renderbuffer, per size."""
        if (w, h) not in self.fbo:
            gl = self.gl
            fbos, tex = (ctypes.c_uint32 * 2)(), ctypes.c_uint32()
            gl["glGenFramebuffers"](2, fbos)
            gl["glGenTextures"](1, ctypes.byref(tex))
            gl["glBindTexture"](GL_TEXTURE_2D, tex.value)
            gl["glTexImage2D"](GL_TEXTURE_2D, 0, GL_RGBA8, w, h, 0, GL_RGBA, GL_UNSIGNED_BYTE,
                               None)
            gl["glBindFramebuffer"](GL_DRAW_FRAMEBUFFER, fbos[1])
            gl["glFramebufferTexture2D"](GL_DRAW_FRAMEBUFFER, GL_COLOR_ATTACHMENT0,
                                         GL_TEXTURE_2D, tex.value, 0)
            self.check("our target texture")
            self.fbo[(w, h)] = (fbos[0], fbos[1], tex.value)
        return self.fbo[(w, h)]


def main() -> int:
    draw = "--draw" in sys.argv
    args = [a for a in sys.argv[1:] if a != "--draw"]
    if len(args) != 3:
        print(__doc__)
        return 2
    pipeline, clip, ref = args
    want = [line.split(",")[-1].strip() for line in open(ref) if not line.startswith("#")]
    try:
        egl = Egl(draw)
    except Refused as e:
        print(f"eglimport: {e}")
        return 1
    Gst.init(None)
    pipe = Gst.parse_launch(f"filesrc location={clip} ! {pipeline} ! appsink name=sink "
                            "sync=false max-buffers=2 caps=video/x-raw,format=NV12")
    sink = pipe.get_by_name("sink")
    pipe.set_state(Gst.State.PLAYING)
    frames = 0
    try:
        while (sample := sink.emit("pull-sample")) is not None:
            buf = sample.get_buffer()
            vinfo = GstVideo.VideoInfo.new_from_caps(sample.get_caps())
            w, h = vinfo.width, vinfo.height
            meta = GstVideo.buffer_get_video_meta(buf) or vinfo
            mem = buf.peek_memory(0)
            if buf.n_memory() != 1 or not GstAllocators.is_dmabuf_memory(mem):
                print(f"eglimport: frame {frames} is not one dmabuf")
                return 1
            fd = GstAllocators.dmabuf_memory_get_fd(mem)
            cw, ch = (w + 1) // 2, (h + 1) // 2
            luma = egl.plane(fd, "R8  ", w, h, meta.offset[0], meta.stride[0])
            try:
                chroma = egl.plane(fd, "GR88", cw, ch, meta.offset[1], meta.stride[1])
            except Refused as e:
                # llvmpipe maps an imported plane at its offset, which must then be a whole
                # number of pages: the same bytes as one GR88 image from offset 0, chroma rows
                # taken from where the plane starts
                rows = meta.offset[1] // meta.stride[1]
                if frames == 0:
                    print(f"eglimport: {e}; importing the chroma as rows {rows}.. of one "
                          f"GR88 image at offset 0 instead")
                whole = egl.plane(fd, "GR88", cw, rows + ch, 0, meta.stride[1])
                chroma = whole[rows * cw * 4:]
            # R8 reads back as (Y, 0, 0, 255), GR88 as (U, V, 0, 255): NV12, packed
            nv12 = luma[0::4] + bytes(b for i in range(0, len(chroma), 4)
                                      for b in chroma[i:i + 2])
            got = hashlib.md5(nv12).hexdigest()
            if frames >= len(want) or got != want[frames]:
                print(f"eglimport: frame {frames} read back through EGL differs from FFmpeg's")
                return 1
            frames += 1
    except Refused as e:
        print(f"eglimport: {e}")
        return 1
    finally:
        pipe.set_state(Gst.State.NULL)
    if frames != len(want):
        print(f"eglimport: {frames} frames, the reference has {len(want)}")
        return 1
    how = "drawn into a texture of ours and read back" if draw else "read back through GL"
    print(f"eglimport: all {frames} frames imported into EGL plane by plane (R8 + GR88, "
          f"linear), {how}: byte-exact")
    return 0


if __name__ == "__main__":
    sys.exit(main())
