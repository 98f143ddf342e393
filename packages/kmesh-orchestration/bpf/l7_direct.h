/* SPDX-License-Identifier: Apache-2.0 */
/*
 * L7 path after the routing decision: what a client socket's later sends do.
 * Owned by the direct-path work (relay + kmesh_l7_direct.bpf.c). The parser's
 * sk_msg calls km_l7_after_decision() for every message of a client socket
 * whose decision is stored (the first request included) and returns its verdict.
 *
 * Stub until the direct path lands: every byte passes to the anchor, where
 * the relay forwards it.
 */
#ifndef KMESH_L7_DIRECT_H
#define KMESH_L7_DIRECT_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "kmesh_l7.h"

static __always_inline int
km_l7_after_decision(struct sk_msg_md *msg, const struct km_l7_conn_key *client)
{
	(void)msg;
	(void)client;
	return SK_PASS;
}

#endif /* KMESH_L7_DIRECT_H */
