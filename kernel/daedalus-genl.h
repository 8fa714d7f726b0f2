/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause) */
/* Do not edit directly, auto-generated from: */
/*	Documentation/netlink/specs/daedalus.yaml */
/* YNL-GEN kernel header */

#ifndef _LINUX_DAEDALUS_GEN_H
#define _LINUX_DAEDALUS_GEN_H

#include <net/netlink.h>
#include <net/genetlink.h>

#include <uapi/linux/daedalus.h>
#include <linux/err.h>

int daedalus_nl_attach_doit(struct sk_buff *skb, struct genl_info *info);
int daedalus_nl_job_get_doit(struct sk_buff *skb, struct genl_info *info);
int daedalus_nl_job_done_doit(struct sk_buff *skb, struct genl_info *info);

enum {
	DAEDALUS_NLGRP_JOBS,
};

extern struct genl_family daedalus_nl_family;

#endif /* _LINUX_DAEDALUS_GEN_H */
