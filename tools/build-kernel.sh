#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the x86_64 test kernel from Debian's linux-source-6.12 (pinned in vm/pins.env) inside the
# build environment: x86_64_defconfig + kvm_guest.config + vm/kernel-x86_64.config +
# vm/kernel-debug.config. Two variants, each into a directory of its own, without a headers
# package (nothing installs them): --kasan (+ vm/kernel-kasan.config) into $BUILD/kernel-kasan,
# --release (without the debug options, as a distribution's kernel; the bench's) into
# $BUILD/kernel-release.
#
# Output in $BUILD/kernel/:
#   src/            the configured, built tree (out-of-tree modules build with M= against it)
#   bzImage         the kernel the VM runner boots
#   modroot/        modules_install tree, copied into the guest root
#   linux-headers.deb  the kernel's headers package (bindeb-pkg), installed in the guest so that
#                   out-of-tree modules and DKMS build there as on a Debian system
#   release         `make kernelrelease`
# Skips the build when the source version and config fragment are unchanged.
. "$(dirname "$0")/lib.sh"

KOUT=$BUILD/kernel
fragments="vm/kernel-x86_64.config vm/kernel-debug.config"
case ${1:-} in
--kasan) KOUT=$BUILD/kernel-kasan fragments="$fragments vm/kernel-kasan.config" ;;
--release) KOUT=$BUILD/kernel-release fragments=vm/kernel-x86_64.config ;;
esac
# shellcheck disable=SC2086 # the fragments are separate words
want=$(cd "$TOP" && cat vm/pins.env $fragments "$0" | sha256sum | cut -c1-16)
if [ -f "$KOUT/.stamp" ] && [ "$(cat "$KOUT/.stamp")" = "$want" ] && [ -f "$KOUT/bzImage" ]; then
	log "test kernel up to date ($(cat "$KOUT/release"))"
	exit 0
fi
mkdir -p "$KOUT"
rm -f "$KOUT/.stamp"

in_buildenv /bin/bash -euo pipefail -c '
	jobs=$(( $(nproc) + 1 ))
	kout=$2
	fragments=$3
	cd "/build/$kout"
	if [ ! -f src/Makefile ]; then
		rm -rf src src.tmp
		mkdir src.tmp
		tar -C src.tmp --strip-components=1 -xaf /usr/src/linux-source-6.12.tar.xz
		mv src.tmp src
	fi
	cd src
	make -s x86_64_defconfig
	(cd /src && cat $fragments) > /tmp/fragments.config
	scripts/kconfig/merge_config.sh -m -O . .config kernel/configs/kvm_guest.config \
		/tmp/fragments.config >/dev/null
	make -s olddefconfig
	# Every line of our fragment must have survived olddefconfig (a typo or an unmet
	# dependency would silently drop an option we rely on).
	bad=0
	while IFS= read -r line; do
		case "$line" in
		CONFIG_*=*) grep -qxF -- "$line" .config || { echo "config: wanted $line, got: $(grep -E "^(# )?${line%%=*}[= ]" .config || echo unset)"; bad=1; } ;;
		"# CONFIG_"*" is not set") sym=${line#\# }; sym=${sym%% *}
			grep -qE "^$sym=[ym]" .config && { echo "config: wanted $sym off"; bad=1; } ;;
		esac
	done < /tmp/fragments.config
	[ $bad = 0 ] || exit 1
	make -s -j$jobs bzImage modules
	rm -rf ../modroot
	make -s INSTALL_MOD_PATH=../modroot INSTALL_MOD_STRIP=1 modules_install
	# Debian packages of this kernel (not of a variant); we keep the headers
	# (KDEB_PKGVERSION pinned so that rebuilds give the same package version). Runs before the
	# copy of bzImage: packaging may relink vmlinux, and the kernel we boot must be the one
	# packaged.
	if [ "$kout" = kernel ]; then
		rm -f ../*.deb ../*.buildinfo ../*.changes
		make -s -j$jobs KBUILD_PKG_ROOTCMD= KDEB_PKGVERSION="$(make -s kernelversion)-1" \
			KDEB_CHANGELOG_DIST="$1" bindeb-pkg >/tmp/bindeb-pkg.log 2>&1 ||
			{ tail -30 /tmp/bindeb-pkg.log; exit 1; }
		mv ../linux-headers-*.deb ../linux-headers.deb
		rm -f ../linux-image-*.deb ../linux-libc-dev_*.deb ../*.buildinfo ../*.changes
	fi
	cp arch/x86/boot/bzImage ../bzImage
	make -s kernelrelease > ../release
' build-kernel "$DEBIAN_SUITE" "${KOUT##*/}" "$fragments"
echo "$want" >"$KOUT/.stamp"
log "test kernel $(cat "$KOUT/release") built"
