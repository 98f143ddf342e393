/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Load balancing shared by the L4 hooks and the L7 path: cluster -> one
 * endpoint, by the cluster's policy. km_lb_select_endpoint() is the one entry
 * point; each policy is a helper named for what it does. Every policy is O(1)
 * map lookups or a loop with a constant bound.
 * Include after kmesh_maps.h.
 */
#ifndef KMESH_LB_H
#define KMESH_LB_H

#include "kmesh_abi.h"
#include "kmesh_maps.h"
#include "kmesh_common.h"

/* What a policy may use besides the cluster record: a hash of the client
 * (consistent-hashing policies). */
struct km_lb_input {
	__u64 client_hash;
};

static __always_inline struct km_cluster_value *
km_cluster_lookup(__u32 gen, __u32 cluster_id)
{
	struct km_cluster_key key = { .gen = gen, .cluster_id = cluster_id };

	return bpf_map_lookup_elem(&km_cluster, &key);
}

/* ROUND_ROBIN: a shared cursor advanced atomically by every connect() on any
 * CPU. Taken modulo total_weight, an endpoint of weight w gets w consecutive
 * turns per cycle: weighted round robin without per-endpoint state. */
static __always_inline __u32
km_endpoint_pick_round_robin(struct km_cluster_value *cluster, __u32 total_weight)
{
	return __sync_fetch_and_add(&cluster->rr_cursor, 1) % total_weight;
}

/* RANDOM: uniform over the weight space, so weighted random. */
static __always_inline __u32
km_endpoint_pick_random(__u32 total_weight)
{
	return bpf_get_prandom_u32() % total_weight;
}

/* The point in [0, total_weight) that selects the endpoint, by policy.
 * An unknown code (a newer daemon than this object) falls back to round robin:
 * traffic keeps flowing with a fair spread rather than being refused. */
static __always_inline __u32
km_endpoint_pick_target(struct km_cluster_value *cluster, const struct km_cluster_value *snap)
{
	switch (snap->lb_policy) {
	case KMESH_LB_RANDOM:
		return km_endpoint_pick_random(snap->total_weight);
	case KMESH_LB_ROUND_ROBIN:
	default:
		return km_endpoint_pick_round_robin(cluster, snap->total_weight);
	}
}

/* The first endpoint i with n < cum_weight[i], by bisection over the dense
 * indexes 0..count-1 (cum_weight is non-decreasing). KMESH_ENDPOINT_SEARCH_STEPS
 * covers KMESH_MAX_ENDPOINTS_PER_CLUSTER with one step of headroom, so the
 * loop always converges for a valid record; a record that does not (missing
 * index, inconsistent sums) yields NULL rather than a wrong endpoint. */
static __always_inline const struct km_endpoint_value *
km_endpoint_search_weight(__u32 set, __u32 cluster_id, __u32 count, __u32 n)
{
	struct km_endpoint_key key = { .set = set, .cluster_id = cluster_id };
	const struct km_endpoint_value *ep;
	__u32 lo = 0, hi, mid, step;

	if (count == 0 || count > KMESH_MAX_ENDPOINTS_PER_CLUSTER)
		return NULL;
	hi = count - 1;

	for (step = 0; step < KMESH_ENDPOINT_SEARCH_STEPS; step++) {
		if (lo >= hi)
			break;
		mid = lo + (hi - lo) / 2;
		key.index = mid;
		ep = bpf_map_lookup_elem(&km_endpoint, &key);
		if (!ep)
			return NULL;
		if (n < ep->cum_weight)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (lo != hi)
		return NULL;

	key.index = lo;
	ep = bpf_map_lookup_elem(&km_endpoint, &key);
	if (!ep || n >= ep->cum_weight)
		return NULL;
	return ep;
}

/* One endpoint of cluster cluster_id in generation gen, chosen by the
 * cluster's policy, or NULL with *stat saying why (NO_CLUSTER, NO_ENDPOINT). */
static __always_inline const struct km_endpoint_value *
km_lb_select_endpoint(__u32 gen, __u32 cluster_id, const struct km_lb_input *in,
		      enum kmesh_stat *stat)
{
	const struct km_endpoint_value *ep;
	struct km_cluster_value *cluster, snap;
	__u32 n;

	cluster = km_cluster_lookup(gen, cluster_id);
	if (!cluster) {
		*stat = KMESH_STAT_CONNECT_NO_CLUSTER;
		return NULL;
	}

	/* An endpoint-only change replaces this record in place (new ep_set,
	 * count and weight together). Hash map elements are type-stable memory
	 * that an update may recycle, so the fields are read once, at once,
	 * into a snapshot: the search then uses one consistent record. */
	snap = *cluster;

	/* A cluster whose endpoints are all unhealthy is written with count 0;
	 * the listener is still ours, so the connect is refused, not leaked to
	 * the VIP (which has no route). */
	if (snap.endpoint_count == 0 || snap.total_weight == 0) {
		*stat = KMESH_STAT_CONNECT_NO_ENDPOINT;
		return NULL;
	}
	n = km_endpoint_pick_target(cluster, &snap);
	ep = km_endpoint_search_weight(snap.ep_set, cluster_id, snap.endpoint_count, n);
	if (!ep) {
		*stat = KMESH_STAT_CONNECT_NO_ENDPOINT;
		return NULL;
	}
	*stat = KMESH_STAT_CONNECT_REWRITTEN;
	return ep;
}

#endif /* KMESH_LB_H */
