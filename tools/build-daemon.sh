#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the daemon with Debian trixie's Rust toolchain inside the build environment (it links
# trixie's FFmpeg, as the guest and Raspberry Pi OS have it). Output: $BUILD/target/release/.
# Also our stateful test client (tests/sfclient, on the v4l2r crate) and the VA-API driver
# (vaapi/, libdaedalus_drv_video.so) and the C test clients tests/ctrlrace.c and tests/vasync.c.
# With --arm64, instead: the client, the VA driver and the C test clients cross-built for the
# arm64 guest ($BUILD/target/aarch64-unknown-linux-gnu/release/; the arm64 daemon is built by
# tools/build-packages.sh --arm64). ./daedalus test runs both after setup.
# With --check, instead: cargo fmt --check, clippy -D warnings and the unit tests, for each
# crate. It writes none of the built programs: ./daedalus test runs it while VM tests run them.
. "$(dirname "$0")/lib.sh"
mode=build
case ${1:-} in --check) mode=check ;; --arm64) mode=arm64 ;; esac
in_buildenv /bin/bash -euo pipefail -c '
	export CARGO_TARGET_DIR=/build/target
	# the C test clients, beside the daemon: tests/ctrlrace.c (two threads racing on one file
	# need C speed), tests/vasync.c (libva calls on the surfaces of FFmpeg'"'"'s vaapi hwaccel)
	c_clients() { # CC OUTDIR
		"$1" -O2 -Wall -Wextra -Werror -pthread -o "/build/target/$2/ctrlrace" \
			/src/tests/ctrlrace.c
		"$1" -O2 -Wall -Wextra -Werror -o "/build/target/$2/vasync" \
			/src/tests/vasync.c -lavcodec -lavutil -lva
	}
	case $1 in
	check | build)
		for crate in /src/daemon /src/tests/sfclient /src/vaapi; do
			cd "$crate"
			if [ "$1" = check ]; then
				cargo fmt --check
				cargo clippy --release --locked --all-targets -- -D warnings
				# the tests that decode the project'"'"'s clips must find them here
				DAEDALUS_REQUIRE_CLIPS=1 cargo test --release --locked
			else
				cargo build --release --locked
			fi
		done
		[ "$1" = check ] || c_clients gcc release ;;
	arm64)
		# the client and the VA driver link only the C library: the target triplet'"'"'s
		# linker is all they need (the driver'"'"'s bindgen reads the arm64 headers:
		# vaapi/build.rs)
		for crate in /src/tests/sfclient /src/vaapi; do
			cd "$crate"
			CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
				cargo build --release --locked --target aarch64-unknown-linux-gnu
		done
		c_clients aarch64-linux-gnu-gcc aarch64-unknown-linux-gnu/release ;;
	esac
' build-daemon "$mode"
