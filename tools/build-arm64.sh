#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the aarch64 guest: a minimal arm64 trixie root made with mmdebstrap under qemu-user
# (binfmt_misc), with Debian's stock arm64-16k kernels -- 16 KiB pages, as on a Raspberry Pi 5 --
# for every kernel in XHDR_KERNELS (vm/pins.env: trixie's 6.12 and trixie-backports' 7.3), the
# first one's headers (DKMS builds our module natively in the guest), and what the installed system test
# (tests/vm/packages.sh) needs: systemd, GStreamer's v4l2codecs, v4l-utils, the daemon's
# libraries. No kernel is built: the guest boots Debian's vmlinuz and initrd.
#
# Output under $BUILD/arm64: root.img (ext4), vmlinuz-K and initrd.img-K per kernel K of
# XHDR_KERNELS.
# Emulated dpkg is the slow part: keep the package list short.
. "$(dirname "$0")/lib.sh"

A64=$BUILD/arm64
FLAVOUR=arm64-16k
PACKAGES=(
	systemd systemd-sysv udev kmod procps util-linux passwd initramfs-tools
	# the clients: GStreamer's stateless decoders, v4l2-compliance; python3 for the test helpers
	v4l-utils gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-bad
	python3 python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0
	# VA-API: vainfo (GStreamer's va decoders are in plugins-bad)
	vainfo
	# DKMS builds the module natively against the running kernel's headers
	gcc make libc6-dev
)
# What our packages depend on, as they say it (apt in the guest has no network): the daemon's
# run-time libraries, dkms.
debs=("$BUILD"/debs/daedalus-v4l2d_*_arm64.deb "$BUILD"/debs/daedalus-v4l2-dkms_*_all.deb
	"$BUILD"/debs/daedalus-v4l2-va_*_arm64.deb)
[ -f "${debs[0]}" ] && [ -f "${debs[1]}" ] && [ -f "${debs[2]}" ] ||
	die "build the arm64 packages first (tools/build-packages.sh --arm64)"
mapfile -t deps < <(for deb in "${debs[@]}"; do dpkg-deb -f "$deb" Depends; done |
	tr ',' '\n' | sed 's/[|(].*//; s/ //g' | grep -v '^daedalus-' | sort -u)
PACKAGES+=("${deps[@]}")
# Headers for the first kernel only, the one the guest boots by default (trixie's): DKMS builds
# the module for it in tests/vm/packages.sh, as for any installed kernel with headers. The
# module for the other is cross-built against its headers (tools/cross-module.sh, the same
# Kbuild build) and loaded in that kernel's stage; a second emulated build proved nothing more.
for k in $XHDR_KERNELS; do
	PACKAGES+=("linux-image-$k-$FLAVOUR")
done
PACKAGES+=("linux-headers-${XHDR_KERNELS%% *}-$FLAVOUR")
# trixie-backports' kernels pre-depend on its newer linux-base (the 6.12 kernel takes it too)
PACKAGES+=("linux-base/$DEBIAN_SUITE-backports")

# qemu-user runs the arm64 programs (dpkg, maintainer scripts) while the root is made
export DAEDALUS_BINFMT=aarch64

# trim_modules ROOT: the kernels' modules for hardware the VM does not have (networking, sound,
# USB, other GPUs, DVB and remote controls, SoC clocks and PHYs, sensors) are left out of the
# image, then depmod. Debian's arm64 kernels have ~4400 modules, and each depmod reads them all:
# under emulation DKMS's depmod took ~50 s at install and again at removal. What the tests load
# stays: media (mc, v4l2-core, videobuf2, visl), DRM with vgem, udmabuf, virtio, 9p, ext4.
trim_modules() {
	local root=$1 k dir d n=0
	for k in $XHDR_KERNELS; do
		dir=$root/usr/lib/modules/$k-$FLAVOUR/kernel
		[ -d "$dir" ] || die "no modules for $k-$FLAVOUR"
		for d in sound drivers/net drivers/usb drivers/hid drivers/iio drivers/hwmon \
			drivers/staging drivers/infiniband drivers/bluetooth drivers/nfc drivers/isdn \
			drivers/mmc drivers/phy drivers/clk drivers/media/rc drivers/media/usb \
			drivers/media/dvb-frontends drivers/media/dvb-core drivers/media/pci \
			drivers/media/i2c drivers/media/tuners drivers/media/radio \
			drivers/media/platform drivers/media/firewire drivers/media/mmc \
			drivers/media/spi drivers/gpu/drm/amd drivers/gpu/drm/nouveau \
			drivers/gpu/drm/radeon drivers/gpu/drm/msm drivers/gpu/drm/tegra \
			drivers/gpu/drm/mediatek drivers/gpu/drm/rockchip drivers/gpu/drm/sun4i \
			drivers/gpu/drm/imx drivers/gpu/drm/meson drivers/gpu/drm/hisilicon \
			drivers/gpu/drm/etnaviv drivers/gpu/drm/lima drivers/gpu/drm/panfrost \
			drivers/gpu/drm/panthor drivers/gpu/drm/nova drivers/gpu/drm/xe; do
			[ -d "$dir/$d" ] || continue
			n=$((n + $(find "$dir/$d" -name '*.ko*' | wc -l)))
			rm -rf "${dir:?}/$d"
		done
		# of the network stack, only 9p (the guest's /build and /src)
		for d in "$dir"/net/*; do
			[ "${d##*/}" = 9p ] && continue
			n=$((n + $(find "$d" -name '*.ko*' | wc -l)))
			rm -rf "$d"
		done
		in_chroot "$root" depmod "$k-$FLAVOUR"
	done
	log "arm64 guest: $n modules left out ($(find "$root/usr/lib/modules" -name '*.ko*' | wc -l) kept)"
}

build_root() {
	local want stamp=$A64/root/.daedalus-stamp
	want=$(printf '%s\n' "${PACKAGES[@]}" "$DEBIAN_SUITE" "$(cat "$TOP/vm/guest-init" \
		"$TOP/vm/daedalus-test.service" "$0" | sha256sum)" | sha256sum | cut -c1-16)
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
		log "arm64 guest root up to date"
		return
	fi
	log "mmdebstrap --arch=arm64 (${#PACKAGES[@]} packages, under qemu-user)"
	rm -rf "$A64/root" "$A64/root.tmp"
	mkdir -p "$A64"
	local include
	include=$(IFS=,; echo "${PACKAGES[*]}")
	# The initrds hold only what mounts the root (virtio-blk, ext4): generating Debian's
	# default ones (MODULES=most) under qemu-user takes minutes per kernel.
	in_buildenv mmdebstrap --arch=arm64 --variant=apt --mode=root \
		--aptopt='APT::Install-Recommends "false"' \
		--setup-hook='mkdir -p "$1/etc/initramfs-tools/conf.d" "$1/usr/share/initramfs-tools/modules.d"' \
		--setup-hook='echo MODULES=list >"$1/etc/initramfs-tools/conf.d/daedalus-vm"' \
		--setup-hook='printf "virtio_blk\next4\n" >"$1/usr/share/initramfs-tools/modules.d/daedalus-vm"' \
		--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
		--dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
		--include="$include" "$DEBIAN_SUITE" /build/arm64/root.tmp \
		"deb $DEBIAN_MIRROR $DEBIAN_SUITE main" \
		"deb $DEBIAN_MIRROR $DEBIAN_SUITE-updates main" \
		"deb $DEBIAN_SECURITY_MIRROR $DEBIAN_SUITE-security main" \
		"deb $DEBIAN_MIRROR $DEBIAN_SUITE-backports main" >"$A64/mmdebstrap.log" 2>&1 ||
		{ tail -30 "$A64/mmdebstrap.log"; die "mmdebstrap failed"; }
	trim_modules "$A64/root.tmp"
	mv "$A64/root.tmp" "$A64/root"
	guest_configure "$A64/root"
	echo "$want" >"$stamp"
}

build_image() {
	local want img=$A64/root.img k ver f
	want=$(cat "$A64/root/.daedalus-stamp")
	if [ -f "$img" ] && [ "$(cat "$A64/.img-stamp" 2>/dev/null)" = "$want" ]; then
		log "arm64 guest image up to date"
		return
	fi
	# Named as vm/pins.env names the kernels (tools/vm-run --kernel): the flavour is this file's.
	for k in $XHDR_KERNELS; do
		ver=$k-$FLAVOUR
		[ "$k" != "${XHDR_KERNELS%% *}" ] || [ -e "$A64/root/usr/lib/modules/$ver/build/Makefile" ] ||
			die "no headers for $ver"
		cp "$A64/root/boot/initrd.img-$ver" "$A64/initrd.img-$k" || die "no initrd for $ver"
		# 6.12 keeps vmlinuz in /boot; from 7.x Debian's linux-binary package has it in
		# /usr/lib/modules/VER
		f=$A64/root/boot/vmlinuz-$ver
		[ -f "$f" ] || f=$A64/root/usr/lib/modules/$ver/vmlinuz
		cp "$f" "$A64/vmlinuz-$k" || die "no vmlinuz for $ver"
	done
	local mb
	mb=$(($(du -sm "$A64/root" | cut -f1) + 1024))
	rm -f "$img.tmp"
	in_buildenv mkfs.ext4 -q -L daedalus-root -d /build/arm64/root /build/arm64/root.img.tmp "${mb}M"
	mv "$img.tmp" "$img"
	echo "$want" >"$A64/.img-stamp"
	log "arm64 guest: $(du -sh "$A64/root" | cut -f1) root, kernels: $XHDR_KERNELS ($FLAVOUR)"
}

build_root
build_image
