#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Replay, step by step, what a real client does to accept a V4L2 decoder, so that a change
that would make a client silently fall back to software decoding fails a test.

usage: probe.py CLIENT [DEVICE]

CLIENT (the rules are read from each client's sources; see ../shared/FACTS.md in the project):
  chromium-stateless  upstream Chromium's V4L2 stateless decoder: /dev/video-dec0..9 (DEVICE
                      overrides), MPLANE M2M, stateless coded formats on OUTPUT with NV12 on
                      CAPTURE, a profile menu control per coded format, ENUM_FRAMESIZES from
                      16x16, paired with /dev/media-decN by bus_info
  ffmpeg-request      FFmpeg's v4l2-request hwaccel: every media device's topology, the video
                      interface's node, M2M + streaming, CREATE_BUFS(count=0) on OUTPUT
                      reporting requests, one contiguous CAPTURE buffer whose chroma plane
                      starts at bytesperline x height (visible size from G_SELECTION), the
                      H.264 decode-mode and start-code controls
  rpi-ffmpeg          Raspberry Pi's FFmpeg fork: ffmpeg-request, plus S_FMT OUTPUT at 720x480
                      and REQBUFS capabilities DMABUF | REQUESTS | M2M_HOLD_CAPTURE_BUF
  rpi-chromium        Raspberry Pi OS's Chromium (stateful decoder only): /dev/video10 (DEVICE
                      overrides), M2M, stateful H264/VP90 on OUTPUT, and REQBUFS capabilities
                      without SUPPORTS_REQUESTS (it skips devices that have them)
  firefox             Firefox's v4l2test (arm64 builds): /dev/video*, M2M, stateful H264, VP90
                      or AV01 on OUTPUT with NV12 or YV12 on CAPTURE

Prints each step; the last line says whether the client would use the device. Exit 0 when it
would, 1 when it would not (with the rule that failed), 2 on bad usage.
"""
import ctypes
import errno
import glob
import os
import sys

from v4l2uapi import (BUF_CAP_SUPPORTS_DMABUF, BUF_CAP_SUPPORTS_M2M_HOLD_CAPTURE_BUF,
                      BUF_CAP_SUPPORTS_REQUESTS, CAP_DEVICE_CAPS, CAP_STREAMING,
                      CAP_VIDEO_M2M, CAP_VIDEO_M2M_MPLANE, CAPTURE, CAPTURE_MPLANE,
                      CID_AV1_PROFILE,
                      CID_H264_PROFILE, CID_STATELESS_H264_DECODE_MODE,
                      CID_STATELESS_H264_START_CODE, CID_VP9_PROFILE, MEDIA_INTF_T_V4L_VIDEO,
                      MEDIA_IOC_DEVICE_INFO, MEDIA_IOC_G_TOPOLOGY, MEMORY_MMAP, OUTPUT,
                      OUTPUT_MPLANE,
                      SEL_TGT_COMPOSE, VIDIOC_CREATE_BUFS, VIDIOC_ENUM_FMT,
                      VIDIOC_ENUM_FRAMESIZES, VIDIOC_G_FMT, VIDIOC_G_SELECTION,
                      VIDIOC_QUERYCAP, VIDIOC_QUERYCTRL, VIDIOC_QUERYMENU, VIDIOC_REQBUFS,
                      VIDIOC_S_FMT, Capability, CreateBuffers, FmtDesc, Format, FrmSizeEnum,
                      MediaDeviceInfo, MediaInterface, MediaTopology, QueryCtrl, QueryMenu,
                      RequestBuffers, Selection, fourcc, fourcc_str, ioctl)

STATELESS_PROFILE_CIDS = {"S264": CID_H264_PROFILE, "VP9F": CID_VP9_PROFILE,
                          "AV1F": CID_AV1_PROFILE}


class Refused(Exception):
    """The client would not use this device; the message says which rule failed."""


def step(text: str) -> None:
    print(f"  {text}")


def require(cond: bool, rule: str) -> None:
    if not cond:
        raise Refused(rule)


def querycap(fd: int) -> tuple:
    cap = ioctl(fd, VIDIOC_QUERYCAP, Capability())
    caps = cap.device_caps if cap.capabilities & CAP_DEVICE_CAPS else cap.capabilities
    step(f"QUERYCAP: driver {cap.driver.decode()}, bus_info {cap.bus_info.decode()}, "
         f"device caps {caps:#010x}")
    return cap, caps


def enum_fmt(fd: int, qtype: int) -> list:
    out = []
    while True:
        desc = FmtDesc(index=len(out), type=qtype)
        try:
            ioctl(fd, VIDIOC_ENUM_FMT, desc)
        except OSError as e:
            if e.errno == errno.EINVAL:
                return out
            raise
        out.append(fourcc_str(desc.pixelformat))


def menu(fd: int, cid: int) -> list:
    """The names of a menu control's entries the driver offers ([] if there is no control)."""
    ctrl = QueryCtrl(id=cid)
    try:
        ioctl(fd, VIDIOC_QUERYCTRL, ctrl)
    except OSError:
        return []
    names = []
    for index in range(ctrl.minimum, ctrl.maximum + 1):
        entry = QueryMenu(id=cid, index=index)
        try:
            ioctl(fd, VIDIOC_QUERYMENU, entry)
            names.append(entry.name.decode())
        except OSError:
            pass    # skipped by the driver's menu_skip_mask
    return names


def reqbufs_caps(fd: int, qtype: int) -> int:
    req = ioctl(fd, VIDIOC_REQBUFS, RequestBuffers(count=0, type=qtype, memory=MEMORY_MMAP))
    return req.capabilities


def media_devnodes(media: str) -> list:
    """The device nodes of a media device's V4L video interfaces, through its topology."""
    fd = os.open(media, os.O_RDWR)
    try:
        topo = ioctl(fd, MEDIA_IOC_G_TOPOLOGY, MediaTopology())
        intfs = (MediaInterface * max(topo.num_interfaces, 1))()
        topo = MediaTopology(num_interfaces=topo.num_interfaces,
                             ptr_interfaces=ctypes.addressof(intfs))
        ioctl(fd, MEDIA_IOC_G_TOPOLOGY, topo)
    finally:
        os.close(fd)
    nodes = []
    for intf in intfs[:topo.num_interfaces]:
        if intf.intf_type != MEDIA_INTF_T_V4L_VIDEO:
            continue
        with open(f"/sys/dev/char/{intf.major}:{intf.minor}/uevent") as uevent:
            for line in uevent:
                if line.startswith("DEVNAME="):
                    nodes.append("/dev/" + line.strip().split("=", 1)[1])
    return nodes


def chromium_stateless(dev: str) -> None:
    fd = os.open(dev, os.O_RDWR)
    try:
        cap, caps = querycap(fd)
        require(caps & CAP_VIDEO_M2M_MPLANE and caps & CAP_STREAMING,
                "not an MPLANE mem2mem device with streaming (Chromium requires MPLANE)")
        coded = [f for f in enum_fmt(fd, OUTPUT_MPLANE) if f in STATELESS_PROFILE_CIDS]
        step(f"OUTPUT stateless formats: {' '.join(coded) or 'none'}")
        require(coded, "no stateless coded format it knows (S264, VP9F, AV1F)")
        raw = enum_fmt(fd, CAPTURE_MPLANE)
        step(f"CAPTURE formats: {' '.join(raw)}")
        require("NV12" in raw, "no NV12 on CAPTURE")
        for f in coded:
            profiles = menu(fd, STATELESS_PROFILE_CIDS[f])
            step(f"{f}: profiles {', '.join(profiles) or 'none'}")
            require(profiles, f"{f}: no profile menu control: Chromium lists no profile")
            size = FrmSizeEnum(index=0, pixel_format=fourcc(f))
            ioctl(fd, VIDIOC_ENUM_FRAMESIZES, size)
            sw = size.stepwise
            step(f"{f}: frame sizes {sw.min_width}x{sw.min_height} to "
                 f"{sw.max_width}x{sw.max_height}")
            require(sw.min_width <= 16 and sw.min_height <= 16,
                    f"{f}: minimum frame size above 16x16")
        media = dev.replace("/video-dec", "/media-dec")
        require(os.path.exists(media), f"no {media} to pair with")
        mfd = os.open(media, os.O_RDWR)
        try:
            info = ioctl(mfd, MEDIA_IOC_DEVICE_INFO, MediaDeviceInfo())
        finally:
            os.close(mfd)
        step(f"{media}: bus_info {info.bus_info.decode()}")
        require(info.bus_info == cap.bus_info,
                f"{media}'s bus_info differs from {dev}'s: the nodes do not pair")
    finally:
        os.close(fd)


def ffmpeg_request(dev: str, rpi: bool = False) -> None:
    fd = os.open(dev, os.O_RDWR)
    try:
        _, caps = querycap(fd)
        require(caps & (CAP_VIDEO_M2M_MPLANE | CAP_VIDEO_M2M) and caps & CAP_STREAMING,
                "not a mem2mem device with streaming")
        coded = [f for f in enum_fmt(fd, OUTPUT_MPLANE) if f in STATELESS_PROFILE_CIDS]
        step(f"OUTPUT stateless formats: {' '.join(coded) or 'none'}")
        require(coded, "no stateless coded format")
        for f in coded:
            fmt = Format(type=OUTPUT_MPLANE)
            pix = fmt.fmt.pix_mp
            pix.pixelformat, pix.num_planes = fourcc(f), 1
            pix.width, pix.height = (720, 480) if rpi else (1920, 1080)
            ioctl(fd, VIDIOC_S_FMT, fmt)
            step(f"{f}: S_FMT OUTPUT {pix.width}x{pix.height}: ok")
            create = CreateBuffers(count=0, memory=MEMORY_MMAP)
            create.format.type = OUTPUT_MPLANE
            ioctl(fd, VIDIOC_G_FMT, create.format)
            ioctl(fd, VIDIOC_CREATE_BUFS, create)
            step(f"{f}: CREATE_BUFS(count=0) OUTPUT: capabilities {create.capabilities:#x}")
            require(create.capabilities & BUF_CAP_SUPPORTS_REQUESTS,
                    f"{f}: OUTPUT does not support requests")
            if rpi:
                need = (BUF_CAP_SUPPORTS_DMABUF | BUF_CAP_SUPPORTS_REQUESTS |
                        BUF_CAP_SUPPORTS_M2M_HOLD_CAPTURE_BUF)
                got = reqbufs_caps(fd, OUTPUT_MPLANE)
                step(f"{f}: REQBUFS OUTPUT capabilities {got:#x}")
                require(got & need == need,
                        f"{f}: REQBUFS capabilities lack DMABUF, REQUESTS or HOLD_CAPTURE_BUF")
            out = ioctl(fd, VIDIOC_G_FMT, Format(type=CAPTURE_MPLANE)).fmt.pix_mp
            plane = out.plane_fmt[0]
            sel = ioctl(fd, VIDIOC_G_SELECTION,
                        Selection(type=CAPTURE, target=SEL_TGT_COMPOSE)).r
            step(f"{f}: CAPTURE {fourcc_str(out.pixelformat)} {out.width}x{out.height}, "
                 f"{out.num_planes} buffer(s), bytesperline {plane.bytesperline}, "
                 f"sizeimage {plane.sizeimage}; visible {sel.width}x{sel.height}")
            require(out.num_planes == 1,
                    f"{f}: CAPTURE is not one contiguous buffer (FFmpeg needs NV12, not NV12M)")
            require(plane.sizeimage >= plane.bytesperline * out.height * 3 // 2,
                    f"{f}: the chroma plane does not fit at bytesperline x height")
            require(0 < sel.width <= out.width and 0 < sel.height <= out.height,
                    f"{f}: G_SELECTION does not give the visible size within the buffer")
            if f == "S264":
                for cid, name in ((CID_STATELESS_H264_DECODE_MODE, "decode mode"),
                                  (CID_STATELESS_H264_START_CODE, "start code")):
                    ctrl = ioctl(fd, VIDIOC_QUERYCTRL, QueryCtrl(id=cid))
                    step(f"S264: {name} control, default {ctrl.default_value}")
    finally:
        os.close(fd)


def stateful(dev: str, want: tuple, raw_ok: tuple, no_requests: bool) -> None:
    fd = os.open(dev, os.O_RDWR)
    try:
        _, caps = querycap(fd)
        require(caps & (CAP_VIDEO_M2M_MPLANE | CAP_VIDEO_M2M) and caps & CAP_STREAMING,
                "not a mem2mem device with streaming")
        qout, qcap = ((OUTPUT_MPLANE, CAPTURE_MPLANE) if caps & CAP_VIDEO_M2M_MPLANE
                      else (OUTPUT, CAPTURE))
        if no_requests:
            got = reqbufs_caps(fd, qout)
            step(f"REQBUFS OUTPUT capabilities {got:#x}")
            require(not got & BUF_CAP_SUPPORTS_REQUESTS,
                    "advertises SUPPORTS_REQUESTS: Raspberry Pi OS's Chromium skips it")
        coded = [f for f in enum_fmt(fd, qout) if f in want]
        step(f"OUTPUT stateful formats: {' '.join(coded) or 'none'}")
        require(coded, f"no stateful coded format among {' '.join(want)}")
        raw = enum_fmt(fd, qcap)
        step(f"CAPTURE formats: {' '.join(raw)}")
        require(any(f in raw for f in raw_ok), f"no {' or '.join(raw_ok)} on CAPTURE")
    finally:
        os.close(fd)


def candidates(client: str, dev: str) -> list:
    if dev:
        return [dev]
    if client == "chromium-stateless":
        return sorted(glob.glob("/dev/video-dec[0-9]"))
    if client in ("ffmpeg-request", "rpi-ffmpeg"):
        nodes = []
        for media in sorted(glob.glob("/dev/media[0-9]*")):
            found = media_devnodes(media)
            step(f"{media}: video interfaces {' '.join(found) or 'none'}")
            nodes += found
        return nodes
    if client == "rpi-chromium":
        return ["/dev/video10"]
    return sorted(glob.glob("/dev/video[0-9]*"), key=lambda p: int(p[len("/dev/video"):]))


CLIENTS = {
    "chromium-stateless": chromium_stateless,
    "ffmpeg-request": ffmpeg_request,
    "rpi-ffmpeg": lambda dev: ffmpeg_request(dev, rpi=True),
    "rpi-chromium": lambda dev: stateful(dev, ("H264", "VP90", "VP80"), ("NV12", "YU12"),
                                         no_requests=True),
    "firefox": lambda dev: stateful(dev, ("H264", "VP90", "AV01"), ("NV12", "YV12"),
                                    no_requests=False),
}


def main() -> int:
    if len(sys.argv) not in (2, 3) or sys.argv[1] not in CLIENTS:
        print(__doc__)
        return 2
    client, dev = sys.argv[1], sys.argv[2] if len(sys.argv) == 3 else ""
    print(f"{client}:")
    found = candidates(client, dev)
    refusals = []
    for node in found:
        print(f" {node}")
        if not os.path.exists(node):
            refusals.append(f"{node}: no such device")
            step("no such device")
            continue
        try:
            CLIENTS[client](node)
        except Refused as e:
            refusals.append(f"{node}: {e}")
            step(f"refused: {e}")
            continue
        except OSError as e:
            refusals.append(f"{node}: {os.strerror(e.errno)} in a step the client needs")
            step(f"refused: {os.strerror(e.errno)}")
            continue
        print(f"{client}: would use {node}")
        return 0
    print(f"{client}: would use no device ({'; '.join(refusals) or 'none found'})")
    return 1


if __name__ == "__main__":
    sys.exit(main())
