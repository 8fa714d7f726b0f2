#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Create (or update) the trixie build environment: a chroot with the compilers, kernel source,
# Rust toolchain, FFmpeg and QEMU that every later stage uses. Debian builds packages for a
# release inside that release; we do the same, so our userspace links against trixie's FFmpeg and
# the test kernel is built with trixie's gcc, the compiler DKMS will use inside the guest.
#
# Idempotent: a stamp records the package list; re-running with an unchanged list does nothing.
. "$(dirname "$0")/lib.sh"

PACKAGES=(
	# kernel and module builds, checkpatch, sparse
	build-essential bc bison flex libssl-dev libelf-dev cpio kmod rsync xz-utils python3
	perl sparse python3-yaml python3-jsonschema "$LINUX_SOURCE_PKG=$LINUX_SOURCE_VERSION"
	# the test kernel's .debs (bindeb-pkg), later our own packages
	dpkg-dev debhelper dh-dkms gcc-x86-64-linux-gnu lintian liblzma-dev
	# the module cross-checked against arm64 kernels (tools/cross-module.sh)
	gcc-aarch64-linux-gnu dwarves
	# Rust daemon (Debian's toolchain, as Debian would build the package)
	rustc cargo rustfmt rust-clippy clang libclang-dev pkgconf
	libavcodec-dev libavformat-dev libavutil-dev libswresample-dev libswscale-dev
	libdrm-dev libgbm-dev libsystemd-dev libdav1d-dev
	# the VA-API driver (vaapi/): libva's driver interface, bound with bindgen
	libva-dev libva-dev:arm64
	# lints of the shell scripts and Python programs (tools/lint.sh)
	shellcheck pyflakes3
	# instructions per picture of the decode loop and of FFmpeg alone (tools/bench-native.sh)
	valgrind
	# test clips and reference output (fluster scores FFmpeg's software decoders on our suites)
	ffmpeg fluster dav1d
	# libvpx's own encoder: VP9 frames resized between key frames (FFmpeg's wrapper cannot)
	vpx-tools
	# the daemon cross-built for arm64 (Raspberry Pi OS): multiarch libraries and Rust std
	libstd-rust-dev:arm64 libc6-dev:arm64 pkgconf:arm64
	libavcodec-dev:arm64 libavformat-dev:arm64 libavutil-dev:arm64 libswresample-dev:arm64
	libswscale-dev:arm64 libdrm-dev:arm64 libgbm-dev:arm64 libsystemd-dev:arm64
	libdav1d-dev:arm64
	# guest images and the VMs; the aarch64 guest's root is made under qemu-user (binfmt)
	debootstrap e2fsprogs qemu-system-x86 qemu-utils
	mmdebstrap arch-test qemu-user qemu-user-binfmt qemu-system-arm
	ca-certificates
)

# The host needs little: debootstrap for the chroots, unshare/chroot, and python3 for the VM
# runner. Everything else runs inside the trixie build environment.
host_setup() {
	command -v debootstrap >/dev/null && command -v unshare >/dev/null &&
		command -v python3 >/dev/null && return
	log "installing host tools (debootstrap, python3)"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap util-linux python3 >/dev/null
}

# Extra CA certificates of this machine (a TLS-intercepting proxy) must be trusted inside the
# chroot too, or cargo cannot reach crates.io from there.
copy_ca() {
	local dst=$BUILDENV/usr/local/share/ca-certificates
	mkdir -p "$dst"
	if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
		cp /usr/local/share/ca-certificates/*.crt "$dst/"
	fi
}

main() {
	host_setup
	local stamp=$BUILDENV/.daedalus-stamp want
	want=$(printf '%s\n' "${PACKAGES[@]}" "$DEBIAN_SUITE" | sha256sum | cut -c1-16)
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
		log "build environment up to date ($BUILDENV)"
		return
	fi
	if [ ! -x "$BUILDENV/usr/bin/apt-get" ]; then
		log "debootstrap $DEBIAN_SUITE -> $BUILDENV"
		debootstrap_root "$BUILDENV"
	fi
	copy_ca
	log "installing build packages"
	in_buildenv /bin/sh -ec '
		export DEBIAN_FRONTEND=noninteractive
		dpkg --add-architecture arm64
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "$@" >/dev/null
		update-ca-certificates >/dev/null
		apt-get clean
	' sh "${PACKAGES[@]}"
	echo "$want" >"$stamp"
}

# cargo-deb (the daemon's .deb) is not in Debian; build the pinned version from crates.io.
cargo_deb() {
	if in_buildenv cargo-deb --version 2>/dev/null | grep -qx "cargo-deb $CARGO_DEB_VERSION"; then
		return
	fi
	log "building cargo-deb $CARGO_DEB_VERSION"
	in_buildenv cargo install --quiet --locked --root /usr/local cargo-deb \
		--version "$CARGO_DEB_VERSION" ||
		die "cargo install cargo-deb failed"
}

main "$@"
cargo_deb
