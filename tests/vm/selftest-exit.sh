# SPDX-License-Identifier: GPL-2.0
# Runner self-test: a guest script that fails must fail the run (tests/test-runner.sh).
echo "selftest: exiting with status 3 on purpose"
exit 3
