// SPDX-License-Identifier: GPL-2.0
/*
 * vasync: vaSyncSurface2's timeout, through our VA driver, with FFmpeg's own vaapi hwaccel.
 *
 * Decodes the first frames of a VP9 IVF clip with libavcodec's vp9 decoder and its vaapi hwaccel,
 * which hands back a VA surface as soon as its picture is queued (vaEndPicture), before it is
 * decoded. The first 20 frames are synced and checked. For the next, the daemon is stopped
 * (SIGSTOP) first: vaSyncSurface2 with a 200 ms timeout must answer VA_STATUS_ERROR_TIMEDOUT
 * after about that long, vaQuerySurfaceStatus VASurfaceRendering; once the daemon goes on
 * (SIGCONT), vaSyncSurface2 with VA_TIMEOUT_INFINITE succeeds and the frame is byte-exact.
 * Frames are checked against the clip's framemd5 (FFmpeg's software decode, NV12).
 *
 * usage: vasync CLIP.ivf CLIP.framemd5 RENDER-NODE DAEMON-PID
 * C and libavcodec, not Python: the surface's id comes from an AVFrame, and libva is called
 * on the display FFmpeg opened.
 */
#include <errno.h>
#include <stdarg.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/types.h>

#include <libavcodec/avcodec.h>
#include <libavutil/hwcontext.h>
#include <libavutil/hwcontext_vaapi.h>
#include <libavutil/imgutils.h>
#include <libavutil/md5.h>
#include <va/va.h>

#define SYNC_TIMEOUT_NS 200000000ull
#define WARM_FRAMES 20

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("vasync: FAIL: ", stdout);
	vprintf(fmt, ap);
	putchar('\n');
	va_end(ap);
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* the next frame of an IVF file: its size, or 0 at the end */
static size_t ivf_frame(FILE *f, uint8_t **data)
{
	uint8_t hdr[12];
	uint32_t size;

	if (fread(hdr, 1, sizeof(hdr), f) != sizeof(hdr))
		return 0;
	size = hdr[0] | hdr[1] << 8 | hdr[2] << 16 | (uint32_t)hdr[3] << 24;
	if (!size || size > (64u << 20))
		die("IVF frame of %u bytes", size);
	*data = av_malloc(size + AV_INPUT_BUFFER_PADDING_SIZE);
	if (!*data || fread(*data, 1, size, f) != size)
		die("short IVF frame");
	memset(*data + size, 0, AV_INPUT_BUFFER_PADDING_SIZE);
	return size;
}

/* the MD5 of frame N in a framemd5 file (its Nth line that is not a comment), in hex */
static void framemd5(const char *path, int n, char hex[33])
{
	char line[512], *h;
	FILE *f = fopen(path, "r");
	int frame = n;

	if (!f)
		die("%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		if (line[0] == '#' || n--)
			continue;
		h = strrchr(line, ',');
		if (!h || sscanf(h + 1, " %32s", hex) != 1)
			break;
		fclose(f);
		return;
	}
	die("%s: no frame %d", path, frame);
}

static enum AVPixelFormat pick_vaapi(AVCodecContext *ctx, const enum AVPixelFormat *fmts)
{
	(void)ctx;
	for (; *fmts != AV_PIX_FMT_NONE; fmts++)
		if (*fmts == AV_PIX_FMT_VAAPI)
			return *fmts;
	die("the decoder offers no VA-API surfaces");
}

/* frame N (a VA surface) downloaded and compared with the reference */
static void check_frame(AVFrame *hw, const char *ref, int n)
{
	AVFrame *sw = av_frame_alloc();
	uint8_t digest[16], *buf;
	char want[33], got[33];
	int size, i;

	if (!sw || av_hwframe_transfer_data(sw, hw, 0) < 0)
		die("frame %d: download failed", n);
	size = av_image_get_buffer_size(sw->format, sw->width, sw->height, 1);
	buf = av_malloc(size);
	if (size <= 0 || !buf ||
	    av_image_copy_to_buffer(buf, size, (const uint8_t *const *)sw->data, sw->linesize,
				    sw->format, sw->width, sw->height, 1) < 0)
		die("frame %d: copy failed", n);
	av_md5_sum(digest, buf, size);
	for (i = 0; i < 16; i++)
		sprintf(got + 2 * i, "%02x", digest[i]);
	framemd5(ref, n, want);
	if (strcmp(want, got))
		die("frame %d: md5 %s, reference %s", n, got, want);
	printf("frame %d byte-exact (%s %dx%d)\n", n, av_get_pix_fmt_name(sw->format), sw->width,
	       sw->height);
	av_free(buf);
	av_frame_free(&sw);
}

/* decode the next frame of the clip: the VA surface it is queued into */
static VASurfaceID next_surface(AVCodecContext *ctx, FILE *clip, AVPacket *pkt, AVFrame *frame)
{
	uint8_t *data;
	size_t size = ivf_frame(clip, &data);
	int ret;

	if (!size)
		die("the clip ended");
	if (av_packet_from_data(pkt, data, size) < 0)
		die("packet");
	ret = avcodec_send_packet(ctx, pkt);
	av_packet_unref(pkt);
	if (ret < 0)
		die("avcodec_send_packet: %s", av_err2str(ret));
	av_frame_unref(frame);
	ret = avcodec_receive_frame(ctx, frame);
	if (ret < 0)
		die("avcodec_receive_frame: %s (a shown frame per packet expected)", av_err2str(ret));
	if (frame->format != AV_PIX_FMT_VAAPI)
		die("not a VA surface: %s", av_get_pix_fmt_name(frame->format));
	return (VASurfaceID)(uintptr_t)frame->data[3];
}

int main(int argc, char **argv)
{
	AVBufferRef *device = NULL;
	AVCodecContext *ctx;
	AVPacket *pkt = av_packet_alloc();
	AVFrame *frame = av_frame_alloc();
	VASurfaceStatus status;
	VASurfaceID surface;
	VADisplay dpy;
	VAStatus st;
	pid_t daemon;
	double t0, waited;
	FILE *clip;
	int ret, n;

	if (argc != 5)
		die("usage: vasync CLIP.ivf CLIP.framemd5 RENDER-NODE DAEMON-PID");
	daemon = atoi(argv[4]);
	clip = fopen(argv[1], "rb");
	if (!clip || fseek(clip, 32, SEEK_SET))
		die("%s: not an IVF file", argv[1]);
	ret = av_hwdevice_ctx_create(&device, AV_HWDEVICE_TYPE_VAAPI, argv[3], NULL, 0);
	if (ret < 0)
		die("VA-API device %s: %s", argv[3], av_err2str(ret));
	dpy = ((AVVAAPIDeviceContext *)((AVHWDeviceContext *)device->data)->hwctx)->display;
	ctx = avcodec_alloc_context3(avcodec_find_decoder(AV_CODEC_ID_VP9));
	if (!ctx || !pkt || !frame)
		die("out of memory");
	ctx->hw_device_ctx = av_buffer_ref(device);
	ctx->get_format = pick_vaapi;
	ctx->thread_count = 1;	/* no frame threads: each packet's frame comes back at once */
	ret = avcodec_open2(ctx, NULL, NULL);
	if (ret < 0)
		die("avcodec_open2: %s", av_err2str(ret));

	/*
	 * The driver gives a surface its CAPTURE buffer at its first picture, and the daemon
	 * allocates it: with the daemon stopped that would fail. The first frames bind the
	 * surfaces FFmpeg's pool keeps handing out (its references and one to decode into).
	 */
	for (n = 0; n < WARM_FRAMES; n++) {
		surface = next_surface(ctx, clip, pkt, frame);
		st = vaSyncSurface2(dpy, surface, VA_TIMEOUT_INFINITE);
		if (st != VA_STATUS_SUCCESS)
			die("frame %d: vaSyncSurface2: %s", n, vaErrorStr(st));
		check_frame(frame, argv[2], n);
	}

	if (kill(daemon, SIGSTOP))
		die("SIGSTOP %d: %s", daemon, strerror(errno));
	surface = next_surface(ctx, clip, pkt, frame);
	t0 = now();
	st = vaSyncSurface2(dpy, surface, SYNC_TIMEOUT_NS);
	waited = now() - t0;
	if (vaQuerySurfaceStatus(dpy, surface, &status) != VA_STATUS_SUCCESS)
		status = 0;
	kill(daemon, SIGCONT);
	/* (libva's vaErrorStr has no text for VA_STATUS_ERROR_TIMEDOUT) */
	printf("daemon stopped: vaSyncSurface2(200 ms): %s after %.0f ms, surface status %d\n",
	       st == VA_STATUS_ERROR_TIMEDOUT ? "VA_STATUS_ERROR_TIMEDOUT" : vaErrorStr(st),
	       waited * 1e3, status);
	if (st != VA_STATUS_ERROR_TIMEDOUT)
		die("vaSyncSurface2 with a 200 ms timeout answered %s, not a timeout", vaErrorStr(st));
	/* not early; late by at most the scheduling of an emulated machine */
	if (waited < 0.19 || waited > 2.0)
		die("vaSyncSurface2's 200 ms timeout took %.0f ms", waited * 1e3);
	if (status != VASurfaceRendering)
		die("vaQuerySurfaceStatus: %d, not VASurfaceRendering", status);

	t0 = now();
	st = vaSyncSurface2(dpy, surface, VA_TIMEOUT_INFINITE);
	if (st != VA_STATUS_SUCCESS)
		die("frame %d after SIGCONT: vaSyncSurface2: %s", n, vaErrorStr(st));
	printf("daemon going on: frame %d ready %.0f ms later\n", n, (now() - t0) * 1e3);
	check_frame(frame, argv[2], n);

	av_frame_free(&frame);
	av_packet_free(&pkt);
	avcodec_free_context(&ctx);
	av_buffer_unref(&device);
	fclose(clip);
	printf("vasync: vaSyncSurface2 timed out while the daemon was stopped, then succeeded\n");
	return 0;
}
