// SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause)
/* Do not edit directly, auto-generated from: */
/*	Documentation/netlink/specs/daedalus.yaml */
/* YNL-GEN kernel source */

#include <net/netlink.h>
#include <net/genetlink.h>

#include "daedalus-genl.h"

#include <uapi/linux/daedalus.h>
#include <linux/err.h>

/* DAEDALUS_CMD_ATTACH - do */
static const struct nla_policy daedalus_attach_nl_policy[DAEDALUS_A_ATTACH_VERSION + 1] = {
	[DAEDALUS_A_ATTACH_VERSION] = { .type = NLA_U32, },
};

/* DAEDALUS_CMD_JOB_DONE - do */
static const struct nla_policy daedalus_job_done_nl_policy[DAEDALUS_A_DONE_META + 1] = {
	[DAEDALUS_A_DONE_ID] = { .type = NLA_U64, },
	[DAEDALUS_A_DONE_STATUS] = NLA_POLICY_MAX(NLA_U32, MAX_ERRNO),
	[DAEDALUS_A_DONE_FD] = { .type = NLA_S32, },
	[DAEDALUS_A_DONE_FLAGS] = NLA_POLICY_MASK(NLA_U32, 0x3f),
	[DAEDALUS_A_DONE_TIMESTAMP] = { .type = NLA_U64, },
	[DAEDALUS_A_DONE_WIDTH] = { .type = NLA_U32, },
	[DAEDALUS_A_DONE_HEIGHT] = { .type = NLA_U32, },
	[DAEDALUS_A_DONE_PIXFMT] = { .type = NLA_U32, },
	[DAEDALUS_A_DONE_MIN_BUFFERS] = { .type = NLA_U32, },
	[DAEDALUS_A_DONE_PENDING] = { .type = NLA_U32, },
	[DAEDALUS_A_DONE_META] = { .type = NLA_BINARY, },
};

/* Ops table for daedalus */
static const struct genl_split_ops daedalus_nl_ops[] = {
	{
		.cmd		= DAEDALUS_CMD_ATTACH,
		.doit		= daedalus_nl_attach_doit,
		.policy		= daedalus_attach_nl_policy,
		.maxattr	= DAEDALUS_A_ATTACH_VERSION,
		.flags		= GENL_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
	{
		.cmd	= DAEDALUS_CMD_JOB_GET,
		.doit	= daedalus_nl_job_get_doit,
		.flags	= GENL_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
	{
		.cmd		= DAEDALUS_CMD_JOB_DONE,
		.doit		= daedalus_nl_job_done_doit,
		.policy		= daedalus_job_done_nl_policy,
		.maxattr	= DAEDALUS_A_DONE_META,
		.flags		= GENL_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
};

static const struct genl_multicast_group daedalus_nl_mcgrps[] = {
	[DAEDALUS_NLGRP_JOBS] = { "jobs", },
};

struct genl_family daedalus_nl_family __ro_after_init = {
	.name		= DAEDALUS_FAMILY_NAME,
	.version	= DAEDALUS_FAMILY_VERSION,
	.netnsok	= true,
	.parallel_ops	= true,
	.module		= THIS_MODULE,
	.split_ops	= daedalus_nl_ops,
	.n_split_ops	= ARRAY_SIZE(daedalus_nl_ops),
	.mcgrps		= daedalus_nl_mcgrps,
	.n_mcgrps	= ARRAY_SIZE(daedalus_nl_mcgrps),
};
