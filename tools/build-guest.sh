#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the x86_64 guest: a trixie root with the real clients (GStreamer with v4l2codecs,
# FFmpeg, v4l-utils, fluster, Mesa's GBM) and the test kernel's modules, packed into an ext4
# image that the VM runner boots through a throwaway qcow2 overlay (the image itself stays clean).
#
# Output: $BUILD/guest/root/ (the tree) and $BUILD/guest/root.img (ext4).
. "$(dirname "$0")/lib.sh"

GUEST=$BUILD/guest
ROOT=$GUEST/root
PACKAGES=(
	# init and device management (systemd is PID 1 for the packaging tests; the quick test
	# init starts systemd-udevd itself)
	systemd systemd-sysv udev kmod procps util-linux
	# the clients that drive /dev/videoN and /dev/mediaN
	v4l-utils gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
	gstreamer1.0-plugins-bad ffmpeg fluster
	# VA-API clients of our libva driver (gstreamer1.0-plugins-bad has the va decoders)
	vainfo mpv
	python3 python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0
	# what the daemon links and allocates with at run time
	libavcodec61 libgbm1 libgl1-mesa-dri libdrm2 libsystemd0
	# building kernel modules in the guest against the test kernel's headers, and DKMS for our
	# package (tests/vm/packages.sh installs the .debs as a user would)
	build-essential kmod dkms
	# profiling in the guest (perf record -e cpu-clock: docs/debugging.md)
	linux-perf
)

build_root() {
	local stamp=$ROOT/.daedalus-stamp want
	want=$(printf '%s\n' "${PACKAGES[@]}" "$DEBIAN_SUITE" "$(cat "$TOP/vm/guest-init" "$TOP/vm/daedalus-test.service" | sha256sum)" |
		sha256sum | cut -c1-16)
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
		log "guest root up to date"
		return
	fi
	[ -x "$ROOT/usr/bin/apt-get" ] || { log "debootstrap guest root"; debootstrap_root "$ROOT"; }
	log "installing guest packages"
	in_chroot "$ROOT" /bin/sh -ec '
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "$@" >/dev/null
		apt-get clean
		rm -rf /var/lib/apt/lists/*
	' sh "${PACKAGES[@]}"
	guest_configure "$ROOT"
	echo "$want" >"$stamp"
}

build_image() {
	local rel img=$GUEST/root.img want
	rel=$(cat "$BUILD/kernel/release")
	want=$(cat "$ROOT/.daedalus-stamp" "$BUILD/kernel/.stamp" | sha256sum | cut -c1-16)
	if [ -f "$img" ] && [ -f "$GUEST/.img-stamp" ] && [ "$(cat "$GUEST/.img-stamp")" = "$want" ]; then
		log "guest image up to date"
		return
	fi
	log "guest image for kernel $rel"
	rm -rf "$ROOT/usr/lib/modules"
	mkdir -p "$ROOT/usr/lib/modules"
	cp -a "$BUILD/kernel/modroot/lib/modules/$rel" "$ROOT/usr/lib/modules/"
	in_chroot "$ROOT" depmod -a "$rel"
	# the test kernel's headers package: /lib/modules/$rel/build, as on a Debian system
	cp "$BUILD/kernel/linux-headers.deb" "$ROOT/root/"
	in_chroot "$ROOT" /bin/sh -c 'dpkg -i /root/linux-headers.deb >/dev/null && rm /root/linux-headers.deb'
	in_chroot "$ROOT" test -e "/usr/lib/modules/$rel/build/Makefile" ||
		die "headers not installed in the guest"
	local mb
	mb=$(($(du -sm "$ROOT" | cut -f1) + 1536))
	rm -f "$img.tmp"
	in_buildenv mkfs.ext4 -q -L daedalus-root -d "/build/guest/root" "/build/guest/root.img.tmp" "${mb}M"
	mv "$img.tmp" "$img"
	echo "$want" >"$GUEST/.img-stamp"
}

build_root
[ "${1:-}" = --root-only ] && exit 0
[ -f "$BUILD/kernel/release" ] || die "build the kernel first (tools/build-kernel.sh)"
build_image
