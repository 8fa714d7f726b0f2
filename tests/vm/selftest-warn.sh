# SPDX-License-Identifier: GPL-2.0
# Runner self-test: a kernel WARN must fail the run even though this script succeeds
# (tests/test-runner.sh). LKDTM provokes a real WARN_ON in the kernel.
modprobe lkdtm
echo WARNING >/sys/kernel/debug/provoke-crash/DIRECT
echo "selftest: provoked a WARN, exiting 0"
