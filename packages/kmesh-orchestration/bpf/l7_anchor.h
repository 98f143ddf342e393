/* SPDX-License-Identifier: Apache-2.0 */
/*
 * connect4/connect6 side of the L7 path: a connect() to an http listener
 * (route action KMESH_ACTION_HTTP) goes to the relay's anchor in the
 * client's network namespace, when that namespace has one (km_l7_anchor).
 * The socket gets km_l7_sk (what the parser routes by) and km_orig_dst (so
 * getpeername() shows the VIP). No anchor: the caller keeps the L4
 * behaviour (untouched, KMESH_STAT_CONNECT_HTTP).
 * Include in kmesh_l4.bpf.c after kmesh_maps.h, route.h and kmesh_common.h.
 */
#ifndef KMESH_L7_ANCHOR_H
#define KMESH_L7_ANCHOR_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "kmesh_abi.h"
#include "kmesh_maps.h"
#include "kmesh_common.h"
#include "kmesh_l7.h"
#include "kmesh_l7_maps.h"
#include "route.h"

/* The http route of dst in the active generation and that generation, or
 * NULL. The L4 decision already found action HTTP; this repeats the two
 * O(1) lookups rather than threading the record through its code. */
static __always_inline const struct km_route *
km_l7_http_route(const struct km_addr *dst, __u32 *gen)
{
	const struct km_route *route;

	*gen = km_active_generation();
	if (*gen == 0)
		return NULL;
	route = km_listener_lookup(*gen, dst);
	if (!route)
		route = km_chain_lookup(*gen, dst);
	if (!route || route->action != KMESH_ACTION_HTTP)
		return NULL;
	return route;
}

/* Mark the socket for the parser and remember the VIP. Returns 0, or -1
 * when socket storage cannot be had (then the connect is left alone). */
static __always_inline int
km_l7_mark_socket(struct bpf_sock_addr *ctx, const struct km_route *route, __u32 gen, const struct km_addr *vip)
{
	struct bpf_sock *sk = ctx->sk;
	struct km_orig_dst *orig;
	struct km_l7_sk *l7;

	if (!sk)
		return -1;
	l7 = bpf_sk_storage_get(&km_l7_sk, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	orig = bpf_sk_storage_get(&km_orig_dst, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!l7 || !orig) {
		if (l7)
			bpf_sk_storage_delete(&km_l7_sk, sk);
		return -1;
	}
	l7->gen = gen;
	l7->route_config_id = route->route_config_id;
	l7->state = KMESH_L7_SK_NEW;
	l7->pad = 0;
	l7->vip = *vip;
	orig->vip = *vip;
	return 0;
}

/* A socket may connect() again after a failure: an earlier attempt's L7
 * mark must not make a later, different connection look like an L7 one. */
static __always_inline void km_l7_forget_socket(struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk = ctx->sk;

	if (sk && bpf_sk_storage_get(&km_l7_sk, sk, 0, 0))
		bpf_sk_storage_delete(&km_l7_sk, sk);
}

/* connect4: rewrite to the anchor's IPv4 address. Returns 0 when done. */
static __always_inline int km_l7_to_anchor4(struct bpf_sock_addr *ctx, const struct km_addr *dst)
{
	const struct km_l7_anchor *anchor;
	const struct km_route *route;
	__u64 netns;
	__u32 gen;

	route = km_l7_http_route(dst, &gen);
	if (!route)
		return -1;
	netns = bpf_get_netns_cookie(ctx);
	anchor = bpf_map_lookup_elem(&km_l7_anchor, &netns);
	if (!anchor || anchor->addr.family != KMESH_AF_INET)
		return -1;
	if (km_l7_mark_socket(ctx, route, gen, dst) < 0)
		return -1;
	ctx->user_ip4 = anchor->addr.ip[0];
	ctx->user_port = anchor->addr.port;
	km_stat_inc(KMESH_STAT_CONNECT_L7_ANCHOR);
	return 0;
}

/* connect6: the anchor's IPv6 address when it has one, else its IPv4
 * address v4-mapped (a dual-stack socket can reach it). */
static __always_inline int km_l7_to_anchor6(struct bpf_sock_addr *ctx, const struct km_addr *dst)
{
	const struct km_l7_anchor *anchor;
	const struct km_route *route;
	__u64 netns;
	__u32 gen;

	route = km_l7_http_route(dst, &gen);
	if (!route)
		return -1;
	netns = bpf_get_netns_cookie(ctx);
	anchor = bpf_map_lookup_elem(&km_l7_anchor, &netns);
	if (!anchor)
		return -1;
	if (anchor->addr6.family != KMESH_AF_INET6 && anchor->addr.family != KMESH_AF_INET)
		return -1;
	if (km_l7_mark_socket(ctx, route, gen, dst) < 0)
		return -1;
	if (anchor->addr6.family == KMESH_AF_INET6) {
		ctx->user_ip6[0] = anchor->addr6.ip[0];
		ctx->user_ip6[1] = anchor->addr6.ip[1];
		ctx->user_ip6[2] = anchor->addr6.ip[2];
		ctx->user_ip6[3] = anchor->addr6.ip[3];
		ctx->user_port = anchor->addr6.port;
	} else {
		ctx->user_ip6[0] = 0;
		ctx->user_ip6[1] = 0;
		ctx->user_ip6[2] = bpf_htonl(0x0000ffff);
		ctx->user_ip6[3] = anchor->addr.ip[0];
		ctx->user_port = anchor->addr.port;
	}
	km_stat_inc(KMESH_STAT_CONNECT_L7_ANCHOR);
	return 0;
}

#endif /* KMESH_L7_ANCHOR_H */
