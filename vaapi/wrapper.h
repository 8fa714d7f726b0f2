/* SPDX-License-Identifier: GPL-2.0 */
/* What build.rs binds with bindgen: libva's driver interface and the V4L2 uAPI it drives. */
#include <va/va_backend.h>
#include <va/va_drmcommon.h>
#include <va/va_dec_vp9.h>
#include <va/va_dec_av1.h>
#include <linux/videodev2.h>
#include <linux/v4l2-controls.h>
#include <linux/media.h>
#include <linux/dma-buf.h>
