#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the module W=1, warning-free, against Debian's own kernel headers for every kernel and
# flavour in vm/pins.env (XHDR_KERNELS x XHDR_FLAVOURS: 6.12 and 7.3; amd64, arm64 with 4K and
# with 16K pages), cross-compiling for arm64. The header packages are downloaded with apt and
# unpacked with dpkg-deb -x under $BUILD/xhdr, never installed: installing arm64 headers on an
# amd64 system would make apt replace the compilers.
. "$(dirname "$0")/lib.sh"

in_buildenv /bin/bash -euo pipefail -c '
	kernels=$1 flavours=$2
	X=/build/xhdr A=/build/xhdr/apt R=/build/xhdr/root
	mkdir -p "$A/lists/partial" "$A/cache/archives/partial" "$R"
	cat >"$A/sources.list" <<-SRC
		deb http://deb.debian.org/debian trixie main
		deb http://deb.debian.org/debian-security trixie-security main
		deb http://deb.debian.org/debian trixie-backports main
	SRC
	apt() {
		command apt-get -q -o Dir::Etc::SourceList="$A/sources.list" \
			-o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$A/lists" \
			-o Dir::Cache="$A/cache" -o APT::Architectures::=amd64 \
			-o APT::Architectures::=arm64 "$@"
	}
	want=()
	for k in $kernels; do
		want+=("linux-headers-$k-common" "linux-kbuild-$k:amd64")
		for f in $flavours; do
			case $f in amd64) arch=amd64 ;; *) arch=arm64 ;; esac
			want+=("linux-headers-$k-$f:$arch")
		done
	done
	stamp=$(printf "%s\n" "${want[@]}")
	if [ "$(cat "$X/.unpacked" 2>/dev/null)" != "$stamp" ]; then
		apt update -qq >/dev/null
		chown _apt "$X" 2>/dev/null || true
		rm -rf "$R" "$X/debs"
		mkdir -p "$R" "$X/debs"
		(cd "$X/debs" && apt download -qq "${want[@]}" >/dev/null)
		for deb in "$X"/debs/*.deb; do dpkg-deb -x "$deb" "$R"; done
		# the packages refer to /usr/src and /usr/lib absolutely (symbolic links, the flavour
		# Makefiles): make that $R
		find "$R" -type l -lname "/*" | while read -r l; do
			ln -sfn "$R$(readlink "$l")" "$l"
		done
		sed -i "s|/usr/src/|$R/usr/src/|g" "$R"/usr/src/linux-headers-*/Makefile
		echo "$stamp" >"$X/.unpacked"
	fi
	fail=0
	for k in $kernels; do
		for f in $flavours; do
			case $f in
			amd64) make_args=() ;;
			*) make_args=(ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-) ;;
			esac
			hdr=$R/usr/src/linux-headers-$k-$f
			out=$X/build/$k-$f
			rm -rf "$out"
			mkdir -p "$out"
			cp -a /src/kernel/. "$out/"
			page=$(sed -n "s/^CONFIG_ARM64_\\([0-9]*K\\)_PAGES=y/\\1/p" "$hdr/.config")
			# Debian'"'"'s amd64 kernels have no v4l2-mem2mem (the DKMS package does not build
			# there, BUILD_EXCLUSIVE_CONFIG): compile all the same, link-check nothing
			note=
			if ! grep -q "^CONFIG_V4L2_MEM2MEM_DEV=[ym]" "$hdr/.config"; then
				make_args+=(KBUILD_MODPOST_WARN=1)
				note=", compiled only: this kernel has no V4L2_MEM2MEM_DEV"
			fi
			if make -s -C "$hdr" M="$out" W=1 "${make_args[@]}" modules \
				>"$out/build.log" 2>&1 && ! grep -qE "warning:|error:" "$out/build.log"; then
				echo "  $k $f${page:+ ($page pages)}: W=1 clean$note"
			else
				echo "  $k $f${page:+ ($page pages)}: FAILED"
				sed "s|^|    |" "$out/build.log" | head -40
				fail=1
			fi
		done
	done
	exit $fail
' cross-module "$XHDR_KERNELS" "$XHDR_FLAVOURS"
