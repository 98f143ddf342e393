/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kmesh L4 path: cgroup/connect4 and connect6 rewrite a connect() to a
 * listener (service VIP:port) into a connect() to one endpoint of one of the
 * listener's clusters; cgroup/getpeername4 and getpeername6 hand the VIP back
 * to the application, so the rewrite is invisible to it.
 *
 * The decision for one connect():
 *   km_active (generation, read once)
 *     -> km_listener {gen, VIP}          exact listener; not found:
 *     -> km_chain {gen, port, dst}/LPM   wildcard listener's filter chain,
 *                                        longest destination prefix; not found: untouched
 *     -> route action                    passthrough/http/no chain: untouched;
 *                                        blackhole: ECONNREFUSED; tcp_proxy:
 *     -> weighted cluster choice         (route's cum_weights)
 *     -> km_cluster {gen, cluster id}    not found: ECONNREFUSED
 *     -> endpoint target n               (round robin cursor or random)
 *     -> km_endpoint {ep_set, cluster, i} bisection on cum_weight; none: ECONNREFUSED
 *                                        (ep_set from the cluster record: = gen after a
 *                                        full push, fresh after an in-place endpoint change)
 *     -> rewrite, remember VIP in km_orig_dst
 *
 * Every outcome increments exactly one km_stats counter (enum kmesh_stat).
 * Every loop has a constant bound; map lookups are O(1) and at most
 * 1 + 2 + 1 + KMESH_ENDPOINT_SEARCH_STEPS + 1 per connect().
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "kmesh_abi.h"
#include "kmesh_maps.h"
#include "kmesh_common.h"
#include "route.h"
#include "lb.h"
#include "l7_anchor.h" /* issue 4: http listeners -> the L7 anchor */

/* No GPL-only helper is used (map ops, prandom, sk_storage, set_retval), so
 * the kernel accepts the project's own license. */
char LICENSE[] SEC("license") = "Apache-2.0";

/* The whole routing decision for one destination. Returns the endpoint, or
 * NULL with *stat saying why (which also says whether to refuse, see
 * km_stat_refuses). */
static __always_inline const struct km_endpoint_value *
km_route_connect(const struct km_addr *dst, const struct km_lb_input *in, enum kmesh_stat *stat,
		 struct km_conn_acct *acct)
{
	const struct km_route *route;
	__u32 gen, cluster_id;

	gen = km_active_generation();
	if (gen == 0) {
		*stat = KMESH_STAT_CONNECT_NO_CONFIG;
		return NULL;
	}

	/* An exact listener wins over the wildcard listener of its port. */
	route = km_listener_lookup(gen, dst);
	if (!route)
		route = km_chain_lookup(gen, dst);
	if (!route) {
		*stat = KMESH_STAT_CONNECT_NOT_LISTENER;
		return NULL;
	}
	*stat = km_route_action_stat(route->action);
	if (*stat != KMESH_STAT_CONNECT_REWRITTEN && *stat != KMESH_STAT_CONNECT_HTTP)
		return NULL;
	/* issue 6 part A: the listener's local rate limit comes first (a
	 * network filter before tcp_proxy or http_connection_manager in
	 * Envoy): an HTTP listener's connection is refused before it is sent
	 * to the L7 anchor. */
	if (km_listener_rate_limited(gen, dst)) {
		*stat = KMESH_STAT_CONNECT_RATE_LIMITED;
		return NULL;
	}
	if (*stat == KMESH_STAT_CONNECT_HTTP)
		return NULL; /* the caller sends it to the L7 anchor */

	if (km_cluster_pick_weighted(route, &cluster_id) < 0) {
		*stat = KMESH_STAT_CONNECT_NO_CLUSTER;
		return NULL;
	}
	return km_lb_select_endpoint_counted(gen, cluster_id, in, stat, acct);
}

/* ------------------------------------------------------------------------
 * Verdicts and the original destination
 * ------------------------------------------------------------------------ */

/* Outcomes where the destination is ours but cannot be served. Refusing
 * (rather than letting the connect through to the VIP) gives the application
 * an immediate, truthful error instead of a timeout. */
static __always_inline int km_stat_refuses(enum kmesh_stat stat)
{
	return stat == KMESH_STAT_CONNECT_NO_CLUSTER ||
	       stat == KMESH_STAT_CONNECT_CIRCUIT_OPEN ||
	       stat == KMESH_STAT_CONNECT_RATE_LIMITED ||
	       stat == KMESH_STAT_CONNECT_NO_ENDPOINT ||
	       stat == KMESH_STAT_CONNECT_BLACKHOLE ||
	       stat == KMESH_STAT_CONNECT_FAMILY_MISMATCH;
}

/* A socket may connect() again after a failed attempt (non-blocking connect,
 * refused connect). A VIP remembered from an earlier attempt must not be
 * reported by getpeername() for a later, untouched destination. */
static __always_inline void km_orig_dst_forget(struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk = ctx->sk;

	if (sk && bpf_sk_storage_get(&km_orig_dst, sk, 0, 0))
		bpf_sk_storage_delete(&km_orig_dst, sk);
}

/* Remember the VIP for getpeername(). Returns 0 on success. Failure (no
 * memory) does not undo the rewrite: the connection works, only
 * getpeername() shows the endpoint; counted as CONNECT_NO_STORAGE. */
static __always_inline int
km_orig_dst_remember(struct bpf_sock_addr *ctx, const struct km_addr *vip)
{
	struct bpf_sock *sk = ctx->sk;
	struct km_orig_dst *orig;

	if (!sk)
		return -1;
	orig = bpf_sk_storage_get(&km_orig_dst, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!orig)
		return -1;
	orig->vip = *vip;
	return 0;
}

/* Finish a connect() that will not be rewritten: count it, then either let it
 * through untouched or refuse it with ECONNREFUSED. Returning 0 alone would
 * make the kernel report EPERM; bpf_set_retval picks the errno. */
static __always_inline int
km_connect_without_endpoint(struct bpf_sock_addr *ctx, enum kmesh_stat stat)
{
	km_stat_inc(stat);
	km_orig_dst_forget(ctx);
	if (!km_stat_refuses(stat))
		return KM_SOCK_ADDR_ALLOW;
	bpf_set_retval(-ECONNREFUSED);
	return KM_SOCK_ADDR_REJECT;
}

/* Count a successful rewrite, remembering the VIP. */
static __always_inline int
km_connect_rewritten(struct bpf_sock_addr *ctx, const struct km_addr *vip)
{
	if (km_orig_dst_remember(ctx, vip) < 0)
		km_stat_inc(KMESH_STAT_CONNECT_NO_STORAGE);
	else
		km_stat_inc(KMESH_STAT_CONNECT_REWRITTEN);
	return KM_SOCK_ADDR_ALLOW;
}

/* ------------------------------------------------------------------------
 * Address conversion between the hook context and struct km_addr
 * ------------------------------------------------------------------------ */

/* The destination of an IPv6 connect(). A v4-mapped destination
 * (::ffff:a.b.c.d, a dual-stack socket reaching an IPv4 service) is looked
 * up as the IPv4 listener: that is the service the application asked for.
 * ctx->user_ip6 is read word by word: the verifier only allows aligned
 * 4-byte context loads there. */
static __always_inline void km_addr_from_ctx6(struct bpf_sock_addr *ctx, struct km_addr *a)
{
	__u32 ip6[4];

	ip6[0] = ctx->user_ip6[0];
	ip6[1] = ctx->user_ip6[1];
	ip6[2] = ctx->user_ip6[2];
	ip6[3] = ctx->user_ip6[3];
	a->port = (__u16)ctx->user_port;
	if (km_ip6_is_v4_mapped(ip6)) {
		a->family = KMESH_AF_INET;
		a->ip[0] = ip6[3];
		return;
	}
	a->family = KMESH_AF_INET6;
	a->ip[0] = ip6[0];
	a->ip[1] = ip6[1];
	a->ip[2] = ip6[2];
	a->ip[3] = ip6[3];
}

/* Write an address into an IPv6 context; an IPv4 address becomes v4-mapped
 * (the only way an AF_INET6 socket can reach an IPv4 peer). */
static __always_inline void km_addr_to_ctx6(struct bpf_sock_addr *ctx, const struct km_addr *a)
{
	if (a->family == KMESH_AF_INET) {
		ctx->user_ip6[0] = 0;
		ctx->user_ip6[1] = 0;
		ctx->user_ip6[2] = bpf_htonl(0x0000ffff);
		ctx->user_ip6[3] = a->ip[0];
	} else {
		ctx->user_ip6[0] = a->ip[0];
		ctx->user_ip6[1] = a->ip[1];
		ctx->user_ip6[2] = a->ip[2];
		ctx->user_ip6[3] = a->ip[3];
	}
	ctx->user_port = a->port;
}

/* ------------------------------------------------------------------------
 * Hooks
 * ------------------------------------------------------------------------ */

SEC("cgroup/connect4")
int kmesh_connect4(struct bpf_sock_addr *ctx)
{
	const struct km_endpoint_value *ep;
	struct km_conn_acct acct = {};
	struct km_lb_input lb_in = {};
	struct km_addr dst = {};
	enum kmesh_stat stat;

	/* Listeners are TCP (tcp_proxy); UDP to a VIP keeps its destination. */
	if (ctx->type != SOCK_STREAM) {
		km_stat_inc(KMESH_STAT_CONNECT_NOT_TCP);
		return KM_SOCK_ADDR_ALLOW;
	}

	dst.family = KMESH_AF_INET;
	dst.ip[0] = ctx->user_ip4;
	dst.port = (__u16)ctx->user_port;
	lb_in.client_hash = km_lb_client_hash(ctx, KMESH_AF_INET); /* MAGLEV, RING_HASH */

	km_l7_forget_socket(ctx);
	ep = km_route_connect(&dst, &lb_in, &stat, &acct);
	/* issue 4: an http listener goes to the L7 anchor of this netns, if any. */
	if (!ep && stat == KMESH_STAT_CONNECT_HTTP && km_l7_to_anchor4(ctx, &dst) == 0)
		return KM_SOCK_ADDR_ALLOW;
	if (!ep)
		return km_connect_without_endpoint(ctx, stat);
	/* An AF_INET socket cannot reach an IPv6 endpoint. */
	if (ep->addr.family != KMESH_AF_INET) {
		km_circuit_return(&acct);
		return km_connect_without_endpoint(ctx, KMESH_STAT_CONNECT_FAMILY_MISMATCH);
	}

	ctx->user_ip4 = ep->addr.ip[0];
	ctx->user_port = ep->addr.port;
	km_conn_track(ctx->sk, &acct, &ep->addr, acct.endpoint_count);
	return km_connect_rewritten(ctx, &dst);
}

SEC("cgroup/connect6")
int kmesh_connect6(struct bpf_sock_addr *ctx)
{
	const struct km_endpoint_value *ep;
	struct km_conn_acct acct = {};
	struct km_lb_input lb_in = {};
	struct km_addr dst = {};
	enum kmesh_stat stat;

	if (ctx->type != SOCK_STREAM) {
		km_stat_inc(KMESH_STAT_CONNECT_NOT_TCP);
		return KM_SOCK_ADDR_ALLOW;
	}

	km_addr_from_ctx6(ctx, &dst);
	lb_in.client_hash = km_lb_client_hash(ctx, KMESH_AF_INET6); /* MAGLEV, RING_HASH */
	km_l7_forget_socket(ctx);
	ep = km_route_connect(&dst, &lb_in, &stat, &acct);
	/* issue 4: an http listener goes to the L7 anchor of this netns, if any. */
	if (!ep && stat == KMESH_STAT_CONNECT_HTTP && km_l7_to_anchor6(ctx, &dst) == 0)
		return KM_SOCK_ADDR_ALLOW;
	if (!ep)
		return km_connect_without_endpoint(ctx, stat);

	km_addr_to_ctx6(ctx, &ep->addr);
	km_conn_track(ctx->sk, &acct, &ep->addr, acct.endpoint_count);
	return km_connect_rewritten(ctx, &dst);
}

/* The VIP this socket connected to, or NULL when it was not rewritten.
 * No create flag: a getpeername() must never allocate storage. */
static __always_inline const struct km_orig_dst *
km_orig_dst_lookup(struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk = ctx->sk;

	if (!sk)
		return NULL;
	return bpf_sk_storage_get(&km_orig_dst, sk, 0, 0);
}

SEC("cgroup/getpeername4")
int kmesh_getpeername4(struct bpf_sock_addr *ctx)
{
	const struct km_orig_dst *orig = km_orig_dst_lookup(ctx);

	/* An AF_INET socket only ever stores an IPv4 VIP; the family check
	 * keeps a corrupted record from being half-copied. */
	if (!orig || orig->vip.family != KMESH_AF_INET) {
		km_stat_inc(KMESH_STAT_PEERNAME_UNTOUCHED);
		return KM_SOCK_ADDR_ALLOW;
	}
	ctx->user_ip4 = orig->vip.ip[0];
	ctx->user_port = orig->vip.port;
	km_stat_inc(KMESH_STAT_PEERNAME_RESTORED);
	return KM_SOCK_ADDR_ALLOW;
}

SEC("cgroup/getpeername6")
int kmesh_getpeername6(struct bpf_sock_addr *ctx)
{
	const struct km_orig_dst *orig = km_orig_dst_lookup(ctx);

	if (!orig) {
		km_stat_inc(KMESH_STAT_PEERNAME_UNTOUCHED);
		return KM_SOCK_ADDR_ALLOW;
	}
	/* An IPv4 VIP reached through a dual-stack socket is shown v4-mapped,
	 * as the application wrote it. */
	km_addr_to_ctx6(ctx, &orig->vip);
	km_stat_inc(KMESH_STAT_PEERNAME_RESTORED);
	return KM_SOCK_ADDR_ALLOW;
}

/* ------------------------------------------------------------------------
 * issue 6 part A: connection outcomes and closes (conn.h)
 * ------------------------------------------------------------------------ */

/* Connect failures (outlier detection), established connections, and the
 * close that gives a counted connection back to its cluster and endpoint. */
SEC("sockops")
int kmesh_conn_sockops(struct bpf_sock_ops *skops)
{
	km_conn_sock_ops(skops);
	return 1;
}

/* close() of a socket: capacity returns at once, not after the TCP close
 * handshake (the release happens once, whichever hook is first). */
SEC("cgroup/sock_release")
int kmesh_conn_release(struct bpf_sock *sk)
{
	km_conn_sock_release(sk);
	return 1;
}
