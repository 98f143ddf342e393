/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Consistent hashing of the client (issue 6): MAGLEV and RING_HASH, and the
 * client hash the L4 hooks feed them.
 *
 * The client is what Envoy's tcp_proxy hash_policy source_ip hashes: the
 * connecting socket's source address when it has one at connect() time (it
 * was bound: curl --interface, a bind() before connect()); otherwise, since a
 * cgroup connect hook runs before the kernel picks a source address, the
 * socket's network namespace (one pod = one client), by its netns cookie.
 * Either is finished with the splitmix64 mixer (km_lb_mix64, mirrored by
 * packages/kmesh-api/src/lb/hash.ts).
 *
 * The tables are computed by the daemon (packages/kmesh-api/src/lb/) and
 * stored in km_endpoint after the cluster's endpoints: see "Consistent-hashing
 * tables" in kmesh_abi.h. Included by lb.h.
 */
#ifndef KMESH_LB_HASH_H
#define KMESH_LB_HASH_H

#include "kmesh_abi.h"
#include "kmesh_maps.h"

static __always_inline __u64 km_lb_mix64(__u64 z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* The client hash of a connect4/connect6 context (see the header comment).
 * family: the socket's address family (KMESH_AF_INET for connect4). */
static __always_inline __u64 km_lb_client_hash(struct bpf_sock_addr *ctx, __u32 family)
{
	struct bpf_sock *sk = ctx->sk;
	__u64 hi, lo;

	if (sk && family == KMESH_AF_INET) {
		__u32 src = sk->src_ip4;

		if (src != 0)
			return km_lb_mix64(src);
	} else if (sk) {
		__u32 a = sk->src_ip6[0], b = sk->src_ip6[1], c = sk->src_ip6[2], d = sk->src_ip6[3];

		/* A v4-mapped bound address hashes as the IPv4 address, so a
		 * client keeps its endpoint whichever socket family it uses. */
		if (a == 0 && b == 0 && c == bpf_htonl(0x0000ffff) && d != 0)
			return km_lb_mix64(d);
		if (a | b | c | d) {
			hi = ((__u64)a << 32) | b;
			lo = ((__u64)c << 32) | d;
			return km_lb_mix64(hi ^ km_lb_mix64(lo));
		}
	}
	return km_lb_mix64(bpf_get_netns_cookie(ctx));
}

/* MAGLEV: slot client_hash % table_size of the table after the endpoints.
 * One lookup: O(1). */
static __always_inline const struct km_endpoint_value *
km_lb_pick_maglev(const struct km_cluster_value *snap, __u32 cluster_id, __u64 client_hash)
{
	struct km_endpoint_key key = { .set = snap->ep_set, .cluster_id = cluster_id };

	if (snap->lb_table_size == 0 || snap->lb_table_size > KMESH_MAX_LB_TABLE_SIZE)
		return NULL;
	key.index = snap->endpoint_count + (__u32)(client_hash % snap->lb_table_size);
	return bpf_map_lookup_elem(&km_endpoint, &key);
}

/* RING_HASH: the first ring point >= the client's 32-bit position (wrapping
 * to the first point), by bisection over the sorted entries after the
 * endpoints: at most KMESH_LB_RING_SEARCH_STEPS lookups, O(log n). */
static __always_inline const struct km_endpoint_value *
km_lb_pick_ring(const struct km_cluster_value *snap, __u32 cluster_id, __u64 client_hash)
{
	struct km_endpoint_key key = { .set = snap->ep_set, .cluster_id = cluster_id };
	const struct km_endpoint_value *point;
	__u32 base = snap->endpoint_count, size = snap->lb_table_size;
	__u32 h = (__u32)client_hash, lo = 0, hi, mid, step;

	if (size == 0 || size > KMESH_MAX_LB_TABLE_SIZE)
		return NULL;
	hi = size; /* search [lo, hi) for the first point >= h */
	for (step = 0; step < KMESH_LB_RING_SEARCH_STEPS; step++) {
		if (lo >= hi)
			break;
		mid = lo + (hi - lo) / 2;
		key.index = base + mid;
		point = bpf_map_lookup_elem(&km_endpoint, &key);
		if (!point)
			return NULL;
		if (point->cum_weight < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo != hi)
		return NULL;
	key.index = base + (lo == size ? 0 : lo);
	return bpf_map_lookup_elem(&km_endpoint, &key);
}

/* The endpoint of a hashing cluster, or NULL (no table, or a record that is
 * not consistent): the caller refuses as for no endpoint. */
static __always_inline const struct km_endpoint_value *
km_lb_select_hashed(const struct km_cluster_value *snap, __u32 cluster_id, __u64 client_hash)
{
	if (snap->lb_policy == KMESH_LB_MAGLEV)
		return km_lb_pick_maglev(snap, cluster_id, client_hash);
	return km_lb_pick_ring(snap, cluster_id, client_hash);
}

#endif /* KMESH_LB_HASH_H */
