#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The VM runner fails a run whose guest script exits non-zero, and a run whose kernel log has a
# WARN although the script succeeded. Each must fail for the right reason.
. "$(dirname "$0")/../tools/lib.sh"
rc=0
expect_fail() { # SCRIPT PATTERN
	local out
	if out=$("$TOP/tools/vm-run" --quiet "$1" 2>&1); then
		echo "FAIL: vm-run passed $1"; rc=1; return
	fi
	if ! grep -q "$2" <<<"$out"; then
		echo "FAIL: vm-run failed $1 for another reason:"; tail -5 <<<"$out"; rc=1; return
	fi
	echo "ok: vm-run failed $1: $(grep -o "FAIL: .*" <<<"$out" | head -1)"
}
expect_fail tests/vm/selftest-exit.sh "guest script exited 3"
expect_fail tests/vm/selftest-warn.sh "kernel log has"
exit $rc
