# SPDX-License-Identifier: GPL-2.0
# v4l2-compliance (trixie's 1.30, with its stateless decoder tests) on our media device, with
# the daemon attached (CAPTURE buffers are the daemon's), then streaming tests on the video node.
. /src/tests/vm/lib.sh

load_daedalus
start_daemon
media=$(media_dev daedalus-v4l2) || fail "no daedalus media device"
step "v4l2-compliance -m $media"
compliance -m "$media"
stop_daemon
