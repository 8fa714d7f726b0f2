#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Generate the netlink uapi header and the kernel's policy/ops tables from the one protocol
# definition, kernel/Documentation/netlink/specs/daedalus.yaml, with the kernel's own
# ynl-gen-c.py (from the pinned linux-source). `--check` fails if a committed file differs.
. "$(dirname "$0")/lib.sh"
mode=${1:-write}
in_buildenv /bin/bash -euo pipefail -c '
	mode=$1
	ynl=/build/kernel/src/tools/net/ynl
	t=$(mktemp -d)
	mkdir -p "$t/Documentation/netlink/specs"
	cp /src/kernel/MAINTAINERS "$t/"
	cp /build/kernel/src/Documentation/netlink/genetlink.yaml "$t/Documentation/netlink/"
	cp /src/kernel/Documentation/netlink/specs/daedalus.yaml "$t/Documentation/netlink/specs/"
	spec=$t/Documentation/netlink/specs/daedalus.yaml
	gen() { python3 "$ynl/ynl-gen-c.py" --mode "$1" "$2" --spec "$spec" -o "$t/$3"; }
	gen uapi --header daedalus-uapi.h
	gen kernel --header daedalus-genl.h
	gen kernel --source daedalus-genl.c
	rc=0
	for pair in daedalus-uapi.h:include/uapi/linux/daedalus.h daedalus-genl.h:daedalus-genl.h \
		    daedalus-genl.c:daedalus-genl.c; do
		from=$t/${pair%%:*} to=/src/kernel/${pair#*:}
		if [ "$mode" = --check ]; then
			diff -u "$to" "$from" || { echo "$to is stale: run tools/genl-gen.sh"; rc=1; }
		else
			mkdir -p "$(dirname "$to")"; cp "$from" "$to"
		fi
	done
	rm -rf "$t"
	exit $rc
' genl-gen "$mode"
