#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the daemon with Debian trixie's Rust toolchain inside the build environment (it links
# trixie's FFmpeg, as the guest and Raspberry Pi OS have it). Output: $BUILD/target/release/.
# With --check, also cargo fmt --check, clippy -D warnings and the unit tests.
. "$(dirname "$0")/lib.sh"
check=0
[ "${1:-}" = --check ] && check=1
in_buildenv /bin/bash -euo pipefail -c '
	cd /src/daemon
	export CARGO_TARGET_DIR=/build/target
	cargo build --release --locked
	if [ "$1" = 1 ]; then
		cargo fmt --check
		cargo clippy --release --locked --all-targets -- -D warnings
		cargo test --release --locked
	fi
' build-daemon "$check"
