# SPDX-License-Identifier: GPL-2.0
# The browsers' zero-copy step in the VM (tests/eglimport.py): frames our decoders export as
# dmabufs, imported into EGL through Mesa plane by plane (R8 luma, GR88 chroma, linear), drawn
# into a renderbuffer, read back and compared with FFmpeg's decode, for an 8-bit clip of each
# codec through the stateless node and of H.264 and VP9 through the stateful one. Mesa: the
# surfaceless platform with llvmpipe (software; the guest has no GPU).
#
# NOT in the suite yet. With Mesa 25.0.7's llvmpipe on the surfaceless platform:
# - luma, DRM_FORMAT_R8 at offset 0: eglCreateImageKHR and glEGLImageTargetTexture2DOES
#   succeed; reading the imported texture back (glReadPixels on a framebuffer holding it) gives
#   GL_OUT_OF_MEMORY, and drawing from it into a target of ours (glBlitFramebuffer, or
#   eglimport.py --draw: glCopyTexSubImage2D) kills the process with SIGSEGV inside Mesa: llvmpipe
#   cannot get at the memory of the dmabuf it imported (a GBM buffer of vkms here);
# - chroma, DRM_FORMAT_GR88 at the V4L2 offset (bytesperline x height: 76800 at 320x240, not a
#   whole number of pages): glEGLImageTargetTexture2DOES fails with GL_OUT_OF_MEMORY (llvmpipe
#   maps an imported plane at its offset). eglimport.py then imports the same bytes from
#   offset 0 and takes the chroma rows from there.
# A GPU driver (V3D on a Pi) imports without either limit. By hand: ./daedalus vm-run
# tests/vm/egl.sh

. /src/tests/vm/lib.sh

load_daedalus
start_daemon
export LIBGL_ALWAYS_SOFTWARE=1
for run in "vp9-320x240.ivf:ivfparse ! vp9parse ! v4l2slvp9dec" \
	   "h264-320x240.h264:h264parse ! v4l2slh264dec" \
	   "av1-320x240.ivf:ivfparse ! av1parse ! v4l2slav1dec" \
	   "vp9-320x240.ivf:ivfparse ! vp9parse ! v4l2vp9dec" \
	   "h264-320x240.h264:h264parse ! v4l2h264dec"; do
	clip=${run%%:*} pipeline=${run#*:}
	step "EGL import: $clip through ${pipeline##* }"
	GST_REGISTRY=/tmp/gst-registry.bin timeout -k 5 300 python3 /src/tests/eglimport.py \
		"$pipeline" "$CLIPS/$clip" "$CLIPS/${clip%.*}.framemd5"
done
stop_daemon
rmmod daedalus-v4l2
