#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build kernel/ (W=1) against the test kernel tree, in a copy under $BUILD/module so the
# repository stays free of build products. Output: $BUILD/module/daedalus-v4l2.ko.
# With --check, also run checkpatch.pl --strict and sparse (C=1) and fail on any finding, and
# fail if two files of the module call into each other (tools/kernel-deps.py).
# With --kasan or --release, the module alone against that variant of the kernel
# (tools/build-kernel.sh --kasan, --release), into $BUILD/module-kasan, $BUILD/module-release.
. "$(dirname "$0")/lib.sh"

# what to build against, and the builds: DIR:KUNIT, the module and its KUnit build
# (tests/vm/kunit.sh); a variant of the kernel (KASAN, release) gets the module only
kernel=kernel variants="module:n module-kunit:y" check=0 flag=
case ${1:-} in
--check) check=1 ;;
--kasan | --release)
	kernel=kernel-${1#--} variants="module-${1#--}:n" flag=" $1"
	;;
esac
[ -f "$BUILD/$kernel/src/Module.symvers" ] ||
	die "build the test kernel first (tools/build-kernel.sh$flag)"
for variant in $variants; do
	rm -rf "${BUILD:?}/${variant%:*}"
	mkdir -p "$BUILD/${variant%:*}"
	cp -a "$TOP/kernel/." "$BUILD/${variant%:*}/"
done
in_buildenv /bin/bash -euo pipefail -c '
	check=$1 kernel=$2 variants=$3
	extra=
	[ "$check" = 1 ] && extra="C=1"
	# each W=1 (and sparse) clean
	for variant in $variants; do
		cd "/build/${variant%:*}"
		make -s -C "/build/$kernel/src" M="$PWD" W=1 $extra DAEDALUS_KUNIT="${variant#*:}" \
			modules 2>&1 | tee build.log
		if grep -qE "warning:|error:" build.log; then
			echo "${variant%:*} build has warnings"; exit 1
		fi
	done
	cd /build/module
	if [ "$check" = 1 ]; then
		# generated files are the kernel generator'"'"'s style; the compat header is the one
		# place allowed to test LINUX_VERSION_CODE
		cp=/build/kernel/src/scripts/checkpatch.pl
		files=$(ls daedalus*.[ch] | grep -vE "^daedalus-genl\.|\.mod\.c$|^daedalus-compat\.h$")
		$cp --strict --no-tree --terse --ignore FILE_PATH_CHANGES -f $files
		$cp --strict --no-tree --terse --ignore FILE_PATH_CHANGES,LINUX_VERSION_CODE \
			-f daedalus-compat.h
		echo "which file calls into which:"
		python3 /src/tools/kernel-deps.py /build/module
	fi
' build-module "$check" "$kernel" "$variants"
log "module: $BUILD/${variants%%:*}/daedalus-v4l2.ko"
