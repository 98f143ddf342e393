/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Route lookup shared by the L4 hooks (connect4/6) and the L7 path (sk_msg):
 * destination -> listener or filter chain -> route action -> weighted cluster.
 * Include after kmesh_maps.h.
 */
#ifndef KMESH_ROUTE_H
#define KMESH_ROUTE_H

#include "kmesh_abi.h"
#include "kmesh_maps.h"
#include "kmesh_common.h"

/* The listener for a destination in generation gen, or NULL. The key is
 * zeroed first: the hash compares every byte, padding included. */
static __always_inline const struct km_route *
km_listener_lookup(__u32 gen, const struct km_addr *dst)
{
	struct km_listener_key key = {};

	key.gen = gen;
	key.addr = *dst;
	return bpf_map_lookup_elem(&km_listener, &key);
}

/* Bits of a km_chain_key after prefixlen: gen + port + family + pad (64),
 * then the whole address (128). A lookup always asks for all of them; an
 * IPv4 destination has ip[1..3] zero, and IPv4 entries stop at 64 + 32. */
#define KM_CHAIN_LOOKUP_PREFIXLEN (64 + 128)

/* The filter chain of the wildcard listener on dst's port whose prefix range
 * is the longest match of dst, or the port's NO_CHAIN sentinel, or NULL when
 * the port has no wildcard listener. One LPM lookup whatever the number of
 * chains. */
static __always_inline const struct km_route *
km_chain_lookup(__u32 gen, const struct km_addr *dst)
{
	struct km_chain_key key = {};

	key.prefixlen = KM_CHAIN_LOOKUP_PREFIXLEN;
	key.gen = gen;
	key.port = dst->port;
	key.family = dst->family;
	key.ip[0] = dst->ip[0];
	key.ip[1] = dst->ip[1];
	key.ip[2] = dst->ip[2];
	key.ip[3] = dst->ip[3];
	return bpf_map_lookup_elem(&km_chain, &key);
}

/* The stat of a route action that leaves the connect() without an endpoint,
 * or KMESH_STAT_CONNECT_REWRITTEN for tcp_proxy (go on choosing a cluster).
 * An unknown code (a newer daemon than this object) leaves the connect
 * untouched: never refuse on a guess. */
static __always_inline enum kmesh_stat km_route_action_stat(__u32 action)
{
	switch (action) {
	case KMESH_ACTION_TCP_PROXY:
		return KMESH_STAT_CONNECT_REWRITTEN;
	case KMESH_ACTION_PASSTHROUGH:
		return KMESH_STAT_CONNECT_PASSTHROUGH;
	case KMESH_ACTION_HTTP:
		return KMESH_STAT_CONNECT_HTTP;
	case KMESH_ACTION_BLACKHOLE:
		return KMESH_STAT_CONNECT_BLACKHOLE;
	case KMESH_ACTION_NO_CHAIN:
		return KMESH_STAT_CONNECT_NO_CHAIN;
	default:
		return KMESH_STAT_CONNECT_UNKNOWN_ACTION;
	}
}

/* Canary split: pick the cluster whose slice of [0, total_weight) holds a
 * random draw. cum_weights is a running sum, so the first i with
 * r < cum_weights[i] is the pick. Returns 0 and sets *cluster_id, or -1 when
 * the listener record is malformed (no clusters, zero weight). */
static __always_inline int
km_cluster_pick_weighted(const struct km_route *route, __u32 *cluster_id)
{
	__u32 count = route->cluster_count;
	__u32 total = route->total_weight;
	__u32 r, i;

	if (count == 0 || count > KMESH_MAX_WEIGHTED_CLUSTERS || total == 0)
		return -1;
	/* The common case (one cluster) costs no random draw. */
	if (count == 1) {
		*cluster_id = route->cluster_ids[0];
		return 0;
	}

	r = bpf_get_prandom_u32() % total;
	for (i = 0; i < KMESH_MAX_WEIGHTED_CLUSTERS; i++) {
		if (i >= count)
			break;
		if (r < route->cum_weights[i]) {
			*cluster_id = route->cluster_ids[i];
			return 0;
		}
	}
	return -1; /* cum_weights inconsistent with total_weight */
}

#endif /* KMESH_ROUTE_H */
