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
#include "conn.h" /* issue 6 part A: endpoint load and ejections */
#include "lb_hash.h" /* issue 6 part B: MAGLEV, RING_HASH and the client hash */

/* What a policy may use besides the cluster record: a hash of the client
 * (consistent-hashing policies), and the cluster's km_cl_limits record when
 * the caller has already looked it up (connect4's circuit breaker does), so a
 * connect() reads it once. */
struct km_lb_input {
	__u64 client_hash;
	const struct km_cluster_limits *limits; /* meaningful when limits_known */
	__u32 limits_known;                     /* 0: km_lb_select_endpoint looks it up */
};

static __always_inline struct km_cluster_value *
km_cluster_lookup(__u32 gen, __u32 cluster_id)
{
	struct km_cluster_key key = { .gen = gen, .cluster_id = cluster_id };

	return bpf_map_lookup_elem(&km_cluster, &key);
}

/* ROUND_ROBIN: a shared cursor advanced atomically by every connect() on any
 * CPU, stepped through the weight space by the cluster's rr_stride:
 * point = cursor * stride % total_weight. The daemon picks a stride coprime
 * with total_weight (every point once per cycle: exact weights) near
 * total_weight * 0.382, so consecutive connections spread over the endpoints
 * in proportion instead of an endpoint of weight w taking w turns in a row;
 * with equal weights w the stride is w, a plain rotation. O(1), no
 * per-endpoint state. A record without a stride (0) steps by 1. */
static __always_inline __u32
km_endpoint_pick_round_robin(struct km_cluster_value *cluster, __u32 total_weight, __u32 stride)
{
	__u64 cursor = __sync_fetch_and_add(&cluster->rr_cursor, 1);

	return (__u32)((cursor * (stride ? stride : 1)) % total_weight);
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
		return km_endpoint_pick_round_robin(cluster, snap->total_weight, snap->rr_stride);
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

/* ---- issue 6 part A: LEAST_REQUEST and outlier ejection (state in conn.h) ---- */

/* The index of the endpoint that point n of the weight space selects (the
 * bisection of km_endpoint_search_weight), or -1. A global function: the
 * verifier checks it once, not once per unrolled re-pick, which keeps the
 * bounded re-pick loops below far from the instruction limit. */
__noinline int km_endpoint_index_at(__u32 set, __u32 cluster_id, __u32 count, __u32 n)
{
	struct km_endpoint_key key = { .set = set, .cluster_id = cluster_id };
	const struct km_endpoint_value *ep;
	__u32 lo = 0, hi, mid, step;

	if (count == 0 || count > KMESH_MAX_ENDPOINTS_PER_CLUSTER)
		return -1;
	hi = count - 1;
	for (step = 0; step < KMESH_ENDPOINT_SEARCH_STEPS; step++) {
		if (lo >= hi)
			break;
		mid = lo + (hi - lo) / 2;
		key.index = mid;
		ep = bpf_map_lookup_elem(&km_endpoint, &key);
		if (!ep)
			return -1;
		if (n < ep->cum_weight)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo == hi ? (int)lo : -1;
}

/* A weighted-random endpoint of the cluster, or NULL. */
static __always_inline const struct km_endpoint_value *
km_endpoint_pick_random_endpoint(__u32 cluster_id, const struct km_cluster_value *snap)
{
	struct km_endpoint_key key = { .set = snap->ep_set, .cluster_id = cluster_id };
	int index = km_endpoint_index_at(snap->ep_set, cluster_id, snap->endpoint_count,
					 km_endpoint_pick_random(snap->total_weight));

	if (index < 0)
		return NULL;
	key.index = (__u32)index;
	return bpf_map_lookup_elem(&km_endpoint, &key);
}

/* LEAST_REQUEST: the endpoint with the fewest active connections among
 * choice_count weighted-random picks (power of two choices by default).
 * Bounded: at most KMESH_LR_MAX_CHOICES bisections. */
static __always_inline const struct km_endpoint_value *
km_endpoint_pick_least_request(__u32 cluster_id, const struct km_cluster_value *snap,
			       const struct km_cluster_limits *limits)
{
	const struct km_endpoint_value *best = NULL, *ep;
	__s64 best_active = 0, active;
	__u32 i;

	for (i = 0; i < KMESH_LR_MAX_CHOICES; i++) {
		if (i >= limits->choice_count && best)
			break;
		ep = km_endpoint_pick_random_endpoint(cluster_id, snap);
		if (!ep)
			continue;
		active = km_endpoint_active(limits->load_key, &ep->addr);
		if (!best || active < best_active) {
			best = ep;
			best_active = active;
		}
	}
	return best;
}

/* The policy's pick, adjusted for connection state: LEAST_REQUEST replaces it
 * by the least loaded of choice_count picks; an ejected endpoint is replaced
 * by the first endpoint not ejected among KMESH_OUTLIER_REPICKS consecutive
 * indexes from a weighted-random start (random, so hash policies do not land
 * on the same endpoint again and the ejected endpoint's share spreads over the
 * others; consecutive, so a few ejected endpoints can never exhaust the
 * tries). When every try is ejected the last one is used: a connection to a
 * suspect endpoint beats a refusal. */
static __always_inline const struct km_endpoint_value *
km_endpoint_adjust_pick(__u32 cluster_id, const struct km_cluster_value *snap,
			const struct km_cluster_limits *limits, const struct km_endpoint_value *ep)
{
	struct km_endpoint_key key = { .set = snap->ep_set, .cluster_id = cluster_id };
	const struct km_endpoint_value *next;
	__u32 i, count = snap->endpoint_count;
	__u64 now;
	int start;

	if (snap->lb_policy == KMESH_LB_LEAST_REQUEST) {
		next = km_endpoint_pick_least_request(cluster_id, snap, limits);
		if (next)
			ep = next;
	}
	if (!limits->outlier_failures)
		return ep;
	now = bpf_ktime_get_ns();
	if (!km_endpoint_is_ejected(limits->load_key, &ep->addr, now) || count == 0)
		return ep;
	start = km_endpoint_index_at(snap->ep_set, cluster_id, count, km_endpoint_pick_random(snap->total_weight));
	if (start < 0)
		return ep;
	for (i = 0; i < KMESH_OUTLIER_REPICKS; i++) {
		key.index = ((__u32)start + i) % count;
		next = bpf_map_lookup_elem(&km_endpoint, &key);
		if (!next)
			break;
		ep = next;
		if (!km_endpoint_is_ejected(limits->load_key, &ep->addr, now))
			return ep;
	}
	return ep;
}

/* One endpoint of cluster cluster_id in generation gen, chosen by the
 * cluster's policy, or NULL with *stat saying why (NO_CLUSTER, NO_ENDPOINT).
 * *endpoint_count (when not NULL) gets the cluster's endpoint count the choice
 * saw, for the caller's accounting. */
static __always_inline const struct km_endpoint_value *
km_lb_select_endpoint(__u32 gen, __u32 cluster_id, const struct km_lb_input *in,
		      enum kmesh_stat *stat, __u32 *endpoint_count)
{
	const struct km_cluster_limits *limits;
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
	if (snap.lb_policy == KMESH_LB_MAGLEV || snap.lb_policy == KMESH_LB_RING_HASH) {
		/* issue 6 part B: consistent hashing of the client (lb_hash.h) */
		ep = km_lb_select_hashed(&snap, cluster_id, in->client_hash);
	} else {
		n = km_endpoint_pick_target(cluster, &snap);
		ep = km_endpoint_search_weight(snap.ep_set, cluster_id, snap.endpoint_count, n);
	}
	if (!ep) {
		*stat = KMESH_STAT_CONNECT_NO_ENDPOINT;
		return NULL;
	}
	limits = in->limits_known ? in->limits : km_cluster_limits_lookup(gen, cluster_id);
	if (limits)
		ep = km_endpoint_adjust_pick(cluster_id, &snap, limits, ep);
	if (endpoint_count)
		*endpoint_count = snap.endpoint_count;
	*stat = KMESH_STAT_CONNECT_REWRITTEN;
	return ep;
}

/* The endpoint choice under the cluster's circuit breaker.
 * The connection is counted against the cluster before the choice (so
 * concurrent connects cannot overshoot max_connections) and given back when
 * no endpoint is chosen. The limits record the breaker read is handed to the
 * choice (read once per connect); acct->endpoint_count is filled for
 * km_conn_track. Used by connect4/6 and by the L7 decision. */
static __always_inline const struct km_endpoint_value *
km_lb_select_endpoint_counted(__u32 gen, __u32 cluster_id, const struct km_lb_input *in,
			      enum kmesh_stat *stat, struct km_conn_acct *acct)
{
	const struct km_endpoint_value *ep;
	struct km_lb_input lb = *in;

	if (km_circuit_take(gen, cluster_id, acct)) {
		*stat = KMESH_STAT_CONNECT_CIRCUIT_OPEN;
		return NULL;
	}
	lb.limits = acct->looked_up;
	lb.limits_known = 1;
	ep = km_lb_select_endpoint(gen, cluster_id, &lb, stat, &acct->endpoint_count);
	if (!ep)
		km_circuit_return(acct);
	return ep;
}

#endif /* KMESH_LB_H */
