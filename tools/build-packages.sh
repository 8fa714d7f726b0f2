#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the three Debian packages in the trixie build environment and check them with lintian:
#   daedalus-v4l2-dkms_<ver>_all.deb   debian/ (debhelper, dh-sequence-dkms): module source, DKMS
#   daedalus-v4l2d_<ver>_amd64.deb     daemon/Cargo.toml (cargo-deb): daemon, ctl, units, rules
#   daedalus-v4l2-va_<ver>_amd64.deb   vaapi/Cargo.toml (cargo-deb): the VA-API driver
#   daedalus-v4l2d, -va _<ver>_arm64   the same, cross-built for arm64 (Raspberry Pi OS) with
#                                      Debian's multiarch toolchain and arm64 libraries
# Output: $BUILD/debs/. lintian fails the build on any error or warning that debian/ does not
# override with a reason. Without arguments: the amd64 ones and the DKMS package; with --arm64:
# the arm64 ones, beside them (./daedalus test builds those after setup, for the arm64 guest).
. "$(dirname "$0")/lib.sh"
arch=amd64
[ "${1:-}" = --arm64 ] && arch=arm64

# One version, three places that must agree: the Cargo.tomls (daemon, VA driver) and
# debian/changelog.
deb_version=$(sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' "$TOP/debian/changelog")
for crate in daemon vaapi; do
	cargo_version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$TOP/$crate/Cargo.toml" | head -1)
	[ "${deb_version%-*}" = "$cargo_version" ] ||
		die "debian/changelog says $deb_version, $crate/Cargo.toml $cargo_version"
done

if [ "$arch" = amd64 ]; then
	rm -rf "$BUILD/pkg" "$BUILD/debs"
	mkdir -p "$BUILD/pkg/daedalus-v4l2" "$BUILD/debs"
	# dpkg-buildpackage works in (and writes next to) a source tree: a copy, not the repository.
	cp -a "$TOP/debian" "$TOP/kernel" "$TOP/COPYING" "$BUILD/pkg/daedalus-v4l2/"
else
	compgen -G "$BUILD/debs/daedalus-v4l2-dkms_*_all.deb" >/dev/null ||
		die "build the amd64 packages first (tools/build-packages.sh)"
	rm -f "$BUILD"/debs/*_arm64.deb
fi
in_buildenv /bin/bash -euo pipefail -c '
	export CARGO_TARGET_DIR=/build/target
	# the VA driver goes to /usr/lib/<triplet>/dri: Multi-Arch: same, as libva'"'"'s drivers
	multiarch() { [ "$1" = /src/vaapi ] && echo --multiarch=same || true; }
	# cargo_deb ARGS...: the crate of the current directory, into /build/debs
	cargo_deb() {
		cargo deb --locked --strip $(multiarch "$PWD") --output /build/debs/ \
			--deb-revision "${1##*-}" "${@:2}"
	}
	if [ "$2" = amd64 ]; then
		cd /build/pkg/daedalus-v4l2
		dpkg-buildpackage --build=binary --no-sign >../dpkg-buildpackage.log 2>&1 ||
			{ tail -30 ../dpkg-buildpackage.log; exit 1; }
		mv ../*.deb /build/debs/
		for crate in /src/daemon /src/vaapi; do
			cd "$crate"
			cargo_deb "$1"
		done
		cd /build/debs
		debs=(*_all.deb *_amd64.deb)
	else
		# arm64: linker and pkg-config of the target triplet. ffmpeg-sys-next compiles a
		# check program against FFMPEG_DIR/include with the host compiler: give it a
		# directory holding only the arm64 FFmpeg headers (and the arm64 libraries as lib/).
		ff=/build/arm64-ffmpeg
		rm -rf "$ff"
		mkdir -p "$ff/include"
		ln -s /usr/include/aarch64-linux-gnu/lib{avcodec,avformat,avutil,swresample,swscale} \
			"$ff/include/"
		ln -s /usr/lib/aarch64-linux-gnu "$ff/lib"
		for crate in /src/daemon /src/vaapi; do
			cd "$crate"
			FFMPEG_DIR=$ff CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
			PKG_CONFIG_aarch64_unknown_linux_gnu=aarch64-linux-gnu-pkg-config \
				cargo_deb "$1" --target aarch64-unknown-linux-gnu
		done
		cd /build/debs
		debs=(*_arm64.deb)
	fi
	for deb in "${debs[@]}"; do
		echo "== $deb"
		dpkg-deb --info "$deb" | sed -n "/Package:/,\$p"
		dpkg-deb --contents "$deb" | awk "{ print \$1, \$6 }"
	done
	echo "== lintian"
	lintian --fail-on error,warning --info --display-info "${debs[@]}"
' build-packages "$deb_version" "$arch"
ls -l "$BUILD"/debs/*_{all,$arch}.deb
