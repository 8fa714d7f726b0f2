#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The daemon's decode loop natively, on this machine with no VM and no kernel round trip, against
# FFmpeg alone: frames/s, CPU and instructions per picture (tools/bench-native.py says how;
# docs/testing.md has a table of it). Runs in the build environment: trixie's FFmpeg and
# libdav1d, as the guest and Raspberry Pi OS have them.
# Usage: tools/bench-native.sh [--threads N] [--runs N] [CLIP...]
. "$(dirname "$0")/lib.sh"
[ -x "$BUILD/target/release/daedalus-v4l2d" ] || die "build the daemon first (tools/build-daemon.sh)"
[ -f "$BUILD/clips/bench/.stamp" ] || die "make the bench clips first (tools/make-clips.sh --bench)"
in_buildenv python3 /src/tools/bench-native.py "$@"
