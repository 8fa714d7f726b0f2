# SPDX-License-Identifier: GPL-2.0
"""The V4L2 and media controller uAPI that the test clients use, as ctypes structures (the
layouts of <linux/videodev2.h> and <linux/media.h>; ctypes lays them out as the C compiler
does, on 64-bit x86 and arm64 alike) and ioctl numbers computed from their sizes."""
import ctypes
import fcntl
import mmap
import os
import struct

OUTPUT_MPLANE, CAPTURE_MPLANE = 10, 9
OUTPUT, CAPTURE = 2, 1    # the single-plane types (also what G_SELECTION takes for MPLANE)
MEMORY_MMAP = 1
BUF_FLAG_ERROR = 0x40

CAP_VIDEO_M2M_MPLANE = 0x00004000
CAP_VIDEO_M2M = 0x00008000
CAP_STREAMING = 0x04000000
CAP_DEVICE_CAPS = 0x80000000

BUF_CAP_SUPPORTS_MMAP = 1 << 0
BUF_CAP_SUPPORTS_DMABUF = 1 << 2
BUF_CAP_SUPPORTS_REQUESTS = 1 << 3
BUF_CAP_SUPPORTS_M2M_HOLD_CAPTURE_BUF = 1 << 5

CID_CODEC_BASE = 0x00990900
CID_H264_LEVEL = CID_CODEC_BASE + 359
CID_H264_PROFILE = CID_CODEC_BASE + 363
CID_VP9_PROFILE = CID_CODEC_BASE + 512
CID_VP9_LEVEL = CID_CODEC_BASE + 513
CID_AV1_PROFILE = CID_CODEC_BASE + 655
CID_AV1_LEVEL = CID_CODEC_BASE + 656
CID_STATELESS_BASE = 0x00a40900
CID_STATELESS_H264_DECODE_MODE = CID_STATELESS_BASE + 0
CID_STATELESS_H264_START_CODE = CID_STATELESS_BASE + 1

SEL_TGT_CROP, SEL_TGT_COMPOSE = 0x0000, 0x0100
FRMSIZE_TYPE_DISCRETE = 1
MEDIA_INTF_T_V4L_VIDEO = 0x00000200


def fourcc(s: str) -> int:
    return int.from_bytes(s.encode(), "little")


def fourcc_str(v: int) -> str:
    return v.to_bytes(4, "little").decode(errors="replace")


class PlanePix(ctypes.Structure):
    _fields_ = [("sizeimage", ctypes.c_uint32), ("bytesperline", ctypes.c_uint32),
                ("reserved", ctypes.c_uint16 * 6)]


class PixMp(ctypes.Structure):
    _fields_ = [("width", ctypes.c_uint32), ("height", ctypes.c_uint32),
                ("pixelformat", ctypes.c_uint32), ("field", ctypes.c_uint32),
                ("colorspace", ctypes.c_uint32), ("plane_fmt", PlanePix * 8),
                ("num_planes", ctypes.c_uint8), ("flags", ctypes.c_uint8),
                ("ycbcr_enc", ctypes.c_uint8), ("quantization", ctypes.c_uint8),
                ("xfer_func", ctypes.c_uint8), ("reserved", ctypes.c_uint8 * 7)]


class FmtUnion(ctypes.Union):
    # raw_data[200], aligned as the pointers in struct v4l2_window
    _fields_ = [("pix_mp", PixMp), ("raw", ctypes.c_uint8 * 200), ("_align", ctypes.c_void_p)]


class Format(ctypes.Structure):
    _fields_ = [("type", ctypes.c_uint32), ("fmt", FmtUnion)]


class RequestBuffers(ctypes.Structure):
    _fields_ = [("count", ctypes.c_uint32), ("type", ctypes.c_uint32),
                ("memory", ctypes.c_uint32), ("capabilities", ctypes.c_uint32),
                ("flags", ctypes.c_uint8), ("reserved", ctypes.c_uint8 * 3)]


class PlaneM(ctypes.Union):
    _fields_ = [("mem_offset", ctypes.c_uint32), ("userptr", ctypes.c_ulong),
                ("fd", ctypes.c_int32)]


class Plane(ctypes.Structure):
    _fields_ = [("bytesused", ctypes.c_uint32), ("length", ctypes.c_uint32), ("m", PlaneM),
                ("data_offset", ctypes.c_uint32), ("reserved", ctypes.c_uint32 * 11)]


class Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class Timecode(ctypes.Structure):
    _fields_ = [("type", ctypes.c_uint32), ("flags", ctypes.c_uint32),
                ("frames", ctypes.c_uint8), ("seconds", ctypes.c_uint8),
                ("minutes", ctypes.c_uint8), ("hours", ctypes.c_uint8),
                ("userbits", ctypes.c_uint8 * 4)]


class BufM(ctypes.Union):
    _fields_ = [("offset", ctypes.c_uint32), ("userptr", ctypes.c_ulong),
                ("planes", ctypes.POINTER(Plane)), ("fd", ctypes.c_int32)]


class Buffer(ctypes.Structure):
    _fields_ = [("index", ctypes.c_uint32), ("type", ctypes.c_uint32),
                ("bytesused", ctypes.c_uint32), ("flags", ctypes.c_uint32),
                ("field", ctypes.c_uint32), ("timestamp", Timeval), ("timecode", Timecode),
                ("sequence", ctypes.c_uint32), ("memory", ctypes.c_uint32), ("m", BufM),
                ("length", ctypes.c_uint32), ("reserved2", ctypes.c_uint32),
                ("request_fd", ctypes.c_int32)]


class ExportBuffer(ctypes.Structure):
    _fields_ = [("type", ctypes.c_uint32), ("index", ctypes.c_uint32),
                ("plane", ctypes.c_uint32), ("flags", ctypes.c_uint32),
                ("fd", ctypes.c_int32), ("reserved", ctypes.c_uint32 * 11)]


class Capability(ctypes.Structure):
    _fields_ = [("driver", ctypes.c_char * 16), ("card", ctypes.c_char * 32),
                ("bus_info", ctypes.c_char * 32), ("version", ctypes.c_uint32),
                ("capabilities", ctypes.c_uint32), ("device_caps", ctypes.c_uint32),
                ("reserved", ctypes.c_uint32 * 3)]


class FmtDesc(ctypes.Structure):
    _fields_ = [("index", ctypes.c_uint32), ("type", ctypes.c_uint32),
                ("flags", ctypes.c_uint32), ("description", ctypes.c_char * 32),
                ("pixelformat", ctypes.c_uint32), ("mbus_code", ctypes.c_uint32),
                ("reserved", ctypes.c_uint32 * 3)]


class QueryCtrl(ctypes.Structure):
    _fields_ = [("id", ctypes.c_uint32), ("type", ctypes.c_uint32),
                ("name", ctypes.c_char * 32), ("minimum", ctypes.c_int32),
                ("maximum", ctypes.c_int32), ("step", ctypes.c_int32),
                ("default_value", ctypes.c_int32), ("flags", ctypes.c_uint32),
                ("reserved", ctypes.c_uint32 * 2)]


class QueryMenu(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("id", ctypes.c_uint32), ("index", ctypes.c_uint32),
                ("name", ctypes.c_char * 32), ("reserved", ctypes.c_uint32)]


class FrmSizeStepwise(ctypes.Structure):
    _fields_ = [("min_width", ctypes.c_uint32), ("max_width", ctypes.c_uint32),
                ("step_width", ctypes.c_uint32), ("min_height", ctypes.c_uint32),
                ("max_height", ctypes.c_uint32), ("step_height", ctypes.c_uint32)]


class FrmSizeEnum(ctypes.Structure):
    _fields_ = [("index", ctypes.c_uint32), ("pixel_format", ctypes.c_uint32),
                ("type", ctypes.c_uint32), ("stepwise", FrmSizeStepwise),
                ("reserved", ctypes.c_uint32 * 2)]


class CreateBuffers(ctypes.Structure):
    _fields_ = [("index", ctypes.c_uint32), ("count", ctypes.c_uint32),
                ("memory", ctypes.c_uint32), ("format", Format),
                ("capabilities", ctypes.c_uint32), ("flags", ctypes.c_uint32),
                ("max_num_buffers", ctypes.c_uint32), ("reserved", ctypes.c_uint32 * 5)]


class Rect(ctypes.Structure):
    _fields_ = [("left", ctypes.c_int32), ("top", ctypes.c_int32),
                ("width", ctypes.c_uint32), ("height", ctypes.c_uint32)]


class Selection(ctypes.Structure):
    _fields_ = [("type", ctypes.c_uint32), ("target", ctypes.c_uint32),
                ("flags", ctypes.c_uint32), ("r", Rect), ("reserved", ctypes.c_uint32 * 9)]


class ExtControl(ctypes.Structure):
    _pack_ = 1  # struct v4l2_ext_control is packed
    _fields_ = [("id", ctypes.c_uint32), ("size", ctypes.c_uint32),
                ("reserved2", ctypes.c_uint32), ("ptr", ctypes.c_void_p)]


class ExtControls(ctypes.Structure):
    _fields_ = [("which", ctypes.c_uint32), ("count", ctypes.c_uint32),
                ("error_idx", ctypes.c_uint32), ("request_fd", ctypes.c_int32),
                ("reserved", ctypes.c_uint32), ("controls", ctypes.POINTER(ExtControl))]


class MediaDeviceInfo(ctypes.Structure):
    _fields_ = [("driver", ctypes.c_char * 16), ("model", ctypes.c_char * 32),
                ("serial", ctypes.c_char * 40), ("bus_info", ctypes.c_char * 32),
                ("media_version", ctypes.c_uint32), ("hw_revision", ctypes.c_uint32),
                ("driver_version", ctypes.c_uint32), ("reserved", ctypes.c_uint32 * 31)]


class MediaTopology(ctypes.Structure):
    _fields_ = [("topology_version", ctypes.c_uint64),
                ("num_entities", ctypes.c_uint32), ("reserved1", ctypes.c_uint32),
                ("ptr_entities", ctypes.c_uint64),
                ("num_interfaces", ctypes.c_uint32), ("reserved2", ctypes.c_uint32),
                ("ptr_interfaces", ctypes.c_uint64),
                ("num_pads", ctypes.c_uint32), ("reserved3", ctypes.c_uint32),
                ("ptr_pads", ctypes.c_uint64),
                ("num_links", ctypes.c_uint32), ("reserved4", ctypes.c_uint32),
                ("ptr_links", ctypes.c_uint64)]


class MediaInterface(ctypes.Structure):
    _fields_ = [("id", ctypes.c_uint32), ("intf_type", ctypes.c_uint32),
                ("flags", ctypes.c_uint32), ("reserved", ctypes.c_uint32 * 9),
                ("major", ctypes.c_uint32), ("minor", ctypes.c_uint32),
                ("raw", ctypes.c_uint32 * 14)]


class EventSubscription(ctypes.Structure):
    _fields_ = [("type", ctypes.c_uint32), ("id", ctypes.c_uint32),
                ("flags", ctypes.c_uint32), ("reserved", ctypes.c_uint32 * 5)]


V4L2_EVENT_CTRL = 3
V4L2_EVENT_SOURCE_CHANGE = 5


def _ioc(direction: int, group: str, nr: int, struct) -> int:
    return (direction << 30) | (ctypes.sizeof(struct) << 16) | (ord(group) << 8) | nr


def _iowr(nr: int, struct, group: str = "V") -> int:
    return _ioc(3, group, nr, struct)


VIDIOC_QUERYCAP = _ioc(2, "V", 0, Capability)
VIDIOC_ENUM_FMT = _iowr(2, FmtDesc)
VIDIOC_G_FMT = _iowr(4, Format)
VIDIOC_S_FMT = _iowr(5, Format)
VIDIOC_REQBUFS = _iowr(8, RequestBuffers)
VIDIOC_QUERYBUF = _iowr(9, Buffer)
VIDIOC_EXPBUF = _iowr(16, ExportBuffer)
VIDIOC_QBUF = _iowr(15, Buffer)
VIDIOC_DQBUF = _iowr(17, Buffer)
VIDIOC_STREAMON = _ioc(1, "V", 18, ctypes.c_int)
VIDIOC_QUERYCTRL = _iowr(36, QueryCtrl)
VIDIOC_QUERYMENU = _iowr(37, QueryMenu)
VIDIOC_TRY_EXT_CTRLS = _iowr(73, ExtControls)
VIDIOC_ENUM_FRAMESIZES = _iowr(74, FrmSizeEnum)
VIDIOC_SUBSCRIBE_EVENT = _ioc(1, "V", 90, EventSubscription)
VIDIOC_CREATE_BUFS = _iowr(92, CreateBuffers)
VIDIOC_G_SELECTION = _iowr(94, Selection)
MEDIA_IOC_DEVICE_INFO = _iowr(0, MediaDeviceInfo, "|")
MEDIA_IOC_G_TOPOLOGY = _iowr(4, MediaTopology, "|")


def ioctl(fd: int, request: int, arg):
    """ioctl on a ctypes structure, filled in place; OSError on failure."""
    fcntl.ioctl(fd, request, arg)
    return arg


def set_output(fd: int, fourcc_name: str, width: int = 320, height: int = 240) -> Format:
    """S_FMT on the OUTPUT queue: one plane of `fourcc_name` at `width` x `height`."""
    fmt = Format(type=OUTPUT_MPLANE)
    fmt.fmt.pix_mp.width, fmt.fmt.pix_mp.height = width, height
    fmt.fmt.pix_mp.pixelformat = fourcc(fourcc_name)
    fmt.fmt.pix_mp.num_planes = 1
    return ioctl(fd, VIDIOC_S_FMT, fmt)


def try_compound_ctrl(fd: int, cid: int, payload: bytes) -> None:
    """VIDIOC_TRY_EXT_CTRLS of one compound control holding `payload`; OSError if refused."""
    buf = ctypes.create_string_buffer(payload, len(payload))
    ctrl = ExtControl(id=cid, size=len(payload), ptr=ctypes.cast(buf, ctypes.c_void_p))
    ioctl(fd, VIDIOC_TRY_EXT_CTRLS, ExtControls(count=1, controls=ctypes.pointer(ctrl)))


def queue_bitstream(fd: int, data: bytes) -> None:
    """One MMAP OUTPUT buffer holding (the start of) `data`, queued, and OUTPUT streaming: on
    the stateful node a feed job goes to the daemon."""
    ioctl(fd, VIDIOC_REQBUFS, RequestBuffers(count=1, type=OUTPUT_MPLANE, memory=MEMORY_MMAP))
    planes = (Plane * 1)()
    buf = Buffer(index=0, type=OUTPUT_MPLANE, memory=MEMORY_MMAP, length=1)
    buf.m.planes = planes
    ioctl(fd, VIDIOC_QUERYBUF, buf)
    n = min(len(data), planes[0].length)
    with mmap.mmap(fd, planes[0].length, offset=planes[0].m.mem_offset) as m:
        m[:n] = data[:n]
    planes[0].bytesused = n
    ioctl(fd, VIDIOC_QBUF, buf)
    ioctl(fd, VIDIOC_STREAMON, ctypes.c_int(OUTPUT_MPLANE))


LIBC = ctypes.CDLL(None, use_errno=True)


def udmabuf(size):
    """A dmabuf of `size` bytes: a sealed memfd through /dev/udmabuf (UDMABUF_CREATE returns
    the new fd as the ioctl's result, which fcntl.ioctl does not give back: libc's ioctl)."""
    memfd = os.memfd_create("udmabuf", os.MFD_ALLOW_SEALING)
    os.ftruncate(memfd, size)
    fcntl.fcntl(memfd, 1033, 0x0002)                # F_ADD_SEALS, F_SEAL_SHRINK
    dev = os.open("/dev/udmabuf", os.O_RDWR)
    try:
        req = struct.pack("IIQQ", memfd, 0x01, 0, size)     # UDMABUF_FLAGS_CLOEXEC
        arg = ctypes.create_string_buffer(req, len(req))
        nr = (1 << 30) | (len(req) << 16) | (ord("u") << 8) | 0x42  # _IOW('u', 0x42, ...)
        fd = LIBC.ioctl(dev, ctypes.c_ulong(nr), arg)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "UDMABUF_CREATE")
        return fd
    finally:
        os.close(dev)
        os.close(memfd)
