# SPDX-License-Identifier: GPL-2.0
# Shared shell helpers for the build and test scripts. Source, do not execute.
#
# Layout of generated files (all under $BUILD, never committed):
#   $BUILD/buildenv/        trixie chroot with compilers, QEMU, FFmpeg (the build environment)
#   $BUILD/kernel/          x86_64 test kernel: bzImage, config, headers tree
#   $BUILD/guest/           guest root directory and its ext4 image
#   $BUILD/clips/           generated test clips and their reference output
#   $BUILD/stage-times.tsv  wall-clock seconds of each stage of the last run

set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${DAEDALUS_BUILD:-$TOP/build}
BUILDENV=$BUILD/buildenv
# shellcheck source=../vm/pins.env
. "$TOP/vm/pins.env"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# stage NAME CMD...: run a stage, record how long it took.
stage() {
	local name=$1 t0 rc=0
	shift
	t0=$(date +%s)
	log "stage $name"
	"$@" || rc=$?
	mkdir -p "$BUILD"
	printf '%s\t%s\t%s\n' "$name" "$(($(date +%s) - t0))" "$rc" >>"$BUILD/stage-times.tsv"
	log "stage $name: $(($(date +%s) - t0)) s (exit $rc)"
	return "$rc"
}

# in_chroot ROOT CMD...: run CMD as root inside the chroot ROOT. With ROOT = the build
# environment, the repository is mounted at /src and $BUILD at /build. Mounts live in a private
# mount namespace, so they vanish when CMD exits and nothing is left mounted under $BUILD.
# DAEDALUS_BINFMT=aarch64: arm64 programs run there through the build environment's qemu-user,
# registered with binfmt_misc for as long as CMD runs (an instance mounted in that namespace:
# nothing is left registered on the host).
in_chroot() {
	local root=$1 binds=0
	shift
	[ -x "$root/usr/bin/env" ] || die "no chroot at $root"
	if [ "$root" = "$BUILDENV" ]; then
		binds=1
		mkdir -p "$root/src" "$root/build"
	fi
	unshare --mount --propagation private -- /bin/bash -euc '
		root=$1; top=$2; build=$3; binds=$4; binfmt=$5; buildenv=$6; shift 6
		if [ -n "$binfmt" ]; then
			# F: the kernel opens the interpreter now, so its path is the host'"'"'s
			mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
			sed "s|:/usr/libexec/|:$buildenv/usr/libexec/|" \
				"$buildenv/usr/lib/binfmt.d/qemu-$binfmt.conf" >/proc/sys/fs/binfmt_misc/register
		fi
		# a mount point of its own, as / is for tools that remount it (mmdebstrap)
		mount --bind "$root" "$root"
		mount -t proc proc "$root/proc"
		mount --rbind /sys "$root/sys"
		mount --rbind /dev "$root/dev"
		mount -t tmpfs tmpfs "$root/tmp"
		if [ "$binds" = 1 ]; then
			mount --bind "$top" "$root/src"
			mount --bind "$build" "$root/build"
		fi
		exec chroot "$root" /usr/bin/env -i HOME=/root TERM="${TERM:-dumb}" \
			PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			LANG=C.UTF-8 CI="${CI:-}" "$@"
	' in_chroot "$root" "$TOP" "$BUILD" "$binds" "${DAEDALUS_BINFMT:-}" "$BUILDENV" "$@"
}

# in_buildenv CMD...: in_chroot in the build environment (see tools/buildenv.sh).
in_buildenv() { in_chroot "$BUILDENV" "$@"; }

# debootstrap_root DIR INCLUDES: a minimal trixie root in DIR (atomically: DIR.tmp first).
debootstrap_root() {
	local dir=$1
	rm -rf "$dir.tmp"
	mkdir -p "$(dirname "$dir")"
	debootstrap --variant=minbase "$DEBIAN_SUITE" "$dir.tmp" "$DEBIAN_MIRROR" >"$dir.debootstrap.log" 2>&1 ||
		{ tail -20 "$dir.debootstrap.log"; die "debootstrap $dir failed"; }
	cat >"$dir.tmp/etc/apt/sources.list" <<-EOF
		deb $DEBIAN_MIRROR $DEBIAN_SUITE main
		deb $DEBIAN_MIRROR $DEBIAN_SUITE-updates main
		deb $DEBIAN_SECURITY_MIRROR $DEBIAN_SUITE-security main
	EOF
	rm -rf "$dir"
	mv "$dir.tmp" "$dir"
}

# guest_configure ROOT: what both test guests (x86_64 and aarch64) need besides packages: names,
# fstab, a passwordless root, the unprivileged user the tests run clients as (group video, as a
# desktop user), and the test runner (vm/guest-init as init, or as a unit under systemd).
guest_configure() {
	local root=$1
	in_chroot "$root" /bin/sh -ec '
		echo daedalus-vm > /etc/hostname
		printf "127.0.0.1 localhost\n127.0.1.1 daedalus-vm\n" > /etc/hosts
		printf "/dev/vda / ext4 rw,errors=remount-ro 0 1\n" > /etc/fstab
		passwd -d root >/dev/null
		id tester >/dev/null 2>&1 || useradd -m -u 1000 -G video,render tester
	'
	# GStreamer's plugin registry, made once here: each boot starts its tests' registries from
	# it (vm/guest-init) instead of scanning every plugin again (~10 s a boot on x86_64, more
	# emulated). Plugins that probe devices (v4l2codecs, video4linux2, va) declare them as
	# dependencies, and GStreamer rescans those alone when the devices differ.
	in_chroot "$root" /bin/sh -ec '
		mkdir -p /var/cache/daedalus-test
		GST_REGISTRY=/var/cache/daedalus-test/gst-registry.bin gst-inspect-1.0 >/dev/null 2>&1
		test -s /var/cache/daedalus-test/gst-registry.bin
	'
	install -m 0755 "$TOP/vm/guest-init" "$root/usr/local/sbin/daedalus-test-init"
	install -m 0644 "$TOP/vm/daedalus-test.service" "$root/etc/systemd/system/"
	in_chroot "$root" systemctl enable --quiet daedalus-test.service
}
