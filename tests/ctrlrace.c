// SPDX-License-Identifier: GPL-2.0
/*
 * Set a control while the driver reads it (#20 defect 3).
 *
 * One thread keeps AV1 requests going through the stateless node (each picture a media request:
 * an OUTPUT buffer, into CAPTURE buffers of its own, udmabufs). With no daemon attached each
 * request fails at once, after the driver has snapshotted its controls for the daemon, so
 * thousands go by. Another thread of the same file sets AV1's tile group entries outside any
 * request (VIDIOC_S_EXT_CTRLS on the current value), one entry more each time, so that the
 * control core reallocates the array at every call. A snapshot taken without the handler's lock
 * reads the array just freed: KASAN reports it, and tools/vm-run fails the run. The array grows
 * to its largest (512 entries) in each file; FILES files start it small again.
 *
 * In C (built in the guest by tests/vm/hostile.sh): the race needs both loops fast.
 *
 * usage: ctrlrace STATELESS_NODE MEDIA_DEVICE FILES   (no daemon attached)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/media.h>
#include <linux/udmabuf.h>
#include <linux/videodev2.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define NBUF 4
#define MAX_TILES 512 /* V4L2_AV1_MAX_TILE_COUNT */

static void xioctl(int fd, unsigned long req, void *arg, const char *what)
{
	if (ioctl(fd, req, arg) < 0) {
		fprintf(stderr, "ctrlrace: %s: %s\n", what, strerror(errno));
		exit(1);
	}
}

/* A dmabuf of @size bytes: a sealed memfd through /dev/udmabuf. */
static int udmabuf(unsigned int size)
{
	struct udmabuf_create create = { .flags = UDMABUF_FLAGS_CLOEXEC, .size = size };
	int dev = open("/dev/udmabuf", O_RDWR), memfd, fd;

	memfd = memfd_create("ctrlrace", MFD_ALLOW_SEALING);
	if (dev < 0 || memfd < 0 || ftruncate(memfd, size) < 0 ||
	    fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK) < 0) {
		perror("ctrlrace: udmabuf");
		exit(1);
	}
	create.memfd = memfd;
	fd = ioctl(dev, UDMABUF_CREATE, &create);
	if (fd < 0) {
		perror("ctrlrace: UDMABUF_CREATE");
		exit(1);
	}
	close(memfd);
	close(dev);
	return fd;
}

struct file {
	int fd, reqs[NBUF], dmabufs[NBUF];
	unsigned int cap_size;
	atomic_int done;
	unsigned long sets;
};

/* The other thread: the tile array set outside a request, one entry more each time. */
static void *racer(void *arg)
{
	static struct v4l2_ctrl_av1_tile_group_entry tiles[MAX_TILES];
	struct file *f = arg;
	unsigned int n;

	for (n = 1; n <= MAX_TILES; n++) {
		struct v4l2_ext_control c = {
			.id = V4L2_CID_STATELESS_AV1_TILE_GROUP_ENTRY,
			.size = n * sizeof(tiles[0]),
			.ptr = tiles,
		};
		struct v4l2_ext_controls cs = {
			.which = V4L2_CTRL_WHICH_CUR_VAL, .count = 1, .controls = &c,
		};

		xioctl(f->fd, VIDIOC_S_EXT_CTRLS, &cs, "S_EXT_CTRLS");
		f->sets++;
	}
	atomic_store(&f->done, 1);
	return NULL;
}

static void qbuf(struct file *f, unsigned int type, unsigned int index)
{
	struct v4l2_plane plane = { 0 };
	struct v4l2_buffer buf = {
		.index = index, .type = type, .length = 1, .m.planes = &plane,
	};

	if (type == V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE) {
		buf.memory = V4L2_MEMORY_DMABUF;
		plane.m.fd = f->dmabufs[index];
		plane.length = f->cap_size;
	} else {
		buf.memory = V4L2_MEMORY_MMAP;
		buf.flags = V4L2_BUF_FLAG_REQUEST_FD;
		buf.request_fd = f->reqs[index];
		plane.bytesused = 64; /* garbage: the picture fails anyway */
	}
	xioctl(f->fd, VIDIOC_QBUF, &buf, "QBUF");
	if (type == V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE)
		xioctl(f->reqs[index], MEDIA_REQUEST_IOC_QUEUE, NULL, "REQUEST_IOC_QUEUE");
}

static void dqbuf(struct file *f, unsigned int type, unsigned int memory)
{
	struct v4l2_plane plane = { 0 };
	struct v4l2_buffer buf = { .type = type, .memory = memory, .length = 1, .m.planes = &plane };

	xioctl(f->fd, VIDIOC_DQBUF, &buf, "DQBUF");
	if (type == V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE)
		qbuf(f, type, buf.index);
}

/* One file: requests go through while the racer grows the array; returns the requests done. */
static unsigned long one_file(const char *node, const char *media, unsigned long *sets)
{
	struct file f = { .fd = open(node, O_RDWR) };
	struct v4l2_format fmt = { .type = V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE };
	struct v4l2_requestbuffers rb = { .count = NBUF };
	unsigned long completed = 0;
	unsigned int i, oldest = 0;
	int type, mfd = open(media, O_RDWR);
	pthread_t thread;

	if (f.fd < 0 || mfd < 0) {
		perror("ctrlrace: open");
		exit(1);
	}
	fmt.fmt.pix_mp.width = 320;
	fmt.fmt.pix_mp.height = 240;
	fmt.fmt.pix_mp.pixelformat = V4L2_PIX_FMT_AV1_FRAME;
	fmt.fmt.pix_mp.num_planes = 1;
	xioctl(f.fd, VIDIOC_S_FMT, &fmt, "S_FMT(OUTPUT)");
	rb.type = V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE;
	rb.memory = V4L2_MEMORY_MMAP;
	xioctl(f.fd, VIDIOC_REQBUFS, &rb, "REQBUFS(OUTPUT)");
	rb.type = V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
	rb.memory = V4L2_MEMORY_DMABUF;
	xioctl(f.fd, VIDIOC_REQBUFS, &rb, "REQBUFS(CAPTURE)");
	fmt.type = V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
	xioctl(f.fd, VIDIOC_G_FMT, &fmt, "G_FMT(CAPTURE)");
	f.cap_size = (fmt.fmt.pix_mp.plane_fmt[0].sizeimage + 65535) & ~65535u;
	for (i = 0; i < NBUF; i++) {
		f.dmabufs[i] = udmabuf(f.cap_size);
		xioctl(mfd, MEDIA_IOC_REQUEST_ALLOC, &f.reqs[i], "REQUEST_ALLOC");
		qbuf(&f, V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE, i);
	}
	close(mfd);
	type = V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE;
	xioctl(f.fd, VIDIOC_STREAMON, &type, "STREAMON(OUTPUT)");
	type = V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
	xioctl(f.fd, VIDIOC_STREAMON, &type, "STREAMON(CAPTURE)");
	for (i = 0; i < NBUF; i++)
		qbuf(&f, V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE, i);

	pthread_create(&thread, NULL, racer, &f);
	while (!atomic_load(&f.done)) {
		/* one stream's requests complete in the order they were queued */
		struct pollfd p = { .fd = f.reqs[oldest], .events = POLLPRI };

		if (poll(&p, 1, 10000) != 1) {
			fprintf(stderr, "ctrlrace: a request did not complete within 10 s\n");
			exit(1);
		}
		dqbuf(&f, V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE, V4L2_MEMORY_MMAP);
		dqbuf(&f, V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE, V4L2_MEMORY_DMABUF);
		xioctl(f.reqs[oldest], MEDIA_REQUEST_IOC_REINIT, NULL, "REQUEST_IOC_REINIT");
		qbuf(&f, V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE, oldest);
		oldest = (oldest + 1) % NBUF;
		completed++;
	}
	pthread_join(thread, NULL);
	for (i = 0; i < NBUF; i++) {
		close(f.reqs[i]);
		close(f.dmabufs[i]);
	}
	close(f.fd);
	*sets += f.sets;
	return completed;
}

int main(int argc, char **argv)
{
	unsigned long completed = 0, sets = 0;
	int i, files;

	if (argc != 4) {
		fprintf(stderr, "usage: ctrlrace STATELESS_NODE MEDIA_DEVICE FILES\n");
		return 2;
	}
	files = atoi(argv[3]);
	for (i = 0; i < files; i++)
		completed += one_file(argv[1], argv[2], &sets);
	printf("ctrlrace: %d files, %lu requests went through while %lu tile arrays (1..%d entries) were set beside them\n",
	       files, completed, sets, MAX_TILES);
	return completed >= (unsigned long)files ? 0 : 1;
}
