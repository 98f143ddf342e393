/* SPDX-License-Identifier: Apache-2.0 */
/*
 * km_l7_expect alone, and the key an endpoint's accepted socket has in it: for
 * the objects that must recognise the endpoint side of an L7 connection the
 * relay announced (the direct path takes that socket into km_l7_server; the
 * sockmap object leaves it alone, since a socket takes the sk_msg of one
 * sockhash only). Part of the direct path's maps (bpf/l7_direct.h); pinned by
 * name, so every object shares one instance.
 */
#ifndef KMESH_L7_EXPECT_MAP_H
#define KMESH_L7_EXPECT_MAP_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "kmesh_l7_direct.h"

/* Upstream connects the relay announced before connect() (see kmesh_l7_direct.h). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, KMESH_MAX_L7_DIRECT);
	__type(key, struct km_l7_expect_key);
	__type(value, struct km_l7_expect);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} km_l7_expect SEC(".maps");

/* The expect key of an accepted socket (sock_ops PASSIVE_ESTABLISHED): its own
 * address and port, and the relay's port it was connected from. Returns -1
 * for a family that is neither IPv4 nor IPv6. */
static __always_inline int km_l7_expect_key_of(const struct bpf_sock_ops *ctx, struct km_l7_expect_key *ek)
{
	if (ctx->family == 2) {
		ek->ip[0] = ctx->local_ip4;
		ek->family = KMESH_AF_INET;
	} else if (ctx->family == 10) {
		ek->ip[0] = ctx->local_ip6[0];
		ek->ip[1] = ctx->local_ip6[1];
		ek->ip[2] = ctx->local_ip6[2];
		ek->ip[3] = ctx->local_ip6[3];
		ek->family = KMESH_AF_INET6;
	} else {
		return -1;
	}
	ek->port = bpf_htons((__u16)ctx->local_port); /* local_port: host order */
	ek->upstream_port = (__u16)(ctx->remote_port >> 16); /* remote_port: network order, high half */
	return 0;
}

#endif /* KMESH_L7_EXPECT_MAP_H */
