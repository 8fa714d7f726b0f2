# SPDX-License-Identifier: GPL-2.0
# Helpers for test scripts that run inside the guest (see tools/vm-run). Source, do not execute.
set -euo pipefail
CLIPS=/build/clips
OUT=/out

step() { printf '\n### %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*"; exit 1; }

# media_dev DRIVER: the /dev/mediaN whose driver is DRIVER
media_dev() {
	local m
	for m in /dev/media*; do
		if media-ctl -d "$m" -p 2>/dev/null | grep -q "^driver *$1\$"; then
			echo "$m"; return 0
		fi
	done
	return 1
}

# video_dev DRIVER: the decoder's /dev/videoN, through the media topology's interface
video_dev() {
	local m
	m=$(media_dev "$1") || return 1
	media-ctl -d "$m" -p | sed -n 's/.*device node name \(\/dev\/video[0-9]*\).*/\1/p' | head -n1
}

# compliance ARGS...: run v4l2-compliance, print its summary, fail unless 0 failed
compliance() {
	local log=$OUT/compliance-$(basename "${@: -1}").log
	v4l2-compliance "$@" >"$log" 2>&1 || true
	grep -E "^(Total|Grand Total)" "$log" || { tail -20 "$log"; fail "v4l2-compliance gave no total"; }
	if grep -E "^(Total|Grand Total).*Failed: [1-9]" "$log" >/dev/null; then
		grep -E "fail:|FAIL" "$log" | head -30
		fail "v4l2-compliance $*"
	fi
}

# gst ARGS...: run gst-launch-1.0 with a fresh registry (devices are found at registry scan)
gst() {
	GST_REGISTRY=/tmp/gst-registry.bin gst-launch-1.0 -q "$@"
}
