#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Lint what neither the compilers nor checkpatch see: every shell script (shellcheck, warnings
# and up, following what each sources) and every Python program (pyflakes). The C and Rust
# lints run with their builds (tools/build-module.sh --check, tools/build-daemon.sh --check).
. "$(dirname "$0")/lib.sh"

in_buildenv /bin/bash -euo pipefail -c '
	cd /src
	shell=(daedalus .ci/run tools/*.sh tests/*.sh tests/vm/*.sh)
	python=(tests/*.py tools/*.py tools/vm-run)
	rc=0
	shellcheck --external-sources --shell=bash --severity=warning "${shell[@]}" || rc=1
	pyflakes3 "${python[@]}" || rc=1
	[ "$rc" = 0 ] && echo "lint: ${#shell[@]} shell scripts, ${#python[@]} Python programs: clean"
	exit "$rc"
' lint
