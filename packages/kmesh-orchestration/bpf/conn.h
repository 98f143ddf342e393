/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Connection accounting and protection (kernel/include/kmesh_resilience.h):
 * the maps and the helpers that connect(), sock_ops and sock_release use.
 *
 *   connect()   listener token bucket -> cluster active count vs
 *               max_connections -> (endpoint choice in lb.h skips ejected
 *               endpoints) -> endpoint active count -> km_conn on the socket
 *   sock_ops    TCP_CONNECT: ask for state callbacks; ESTABLISHED: the
 *               endpoint answered (consecutive failures reset); CLOSE from
 *               SYN_SENT: a connect failure (refused or timed out), which may
 *               eject the endpoint; CLOSE: release the counts
 *   release     close() of the socket: release the counts
 *
 * Every release goes through one compare-and-swap on km_conn.counted, so a
 * connection is uncounted exactly once whichever hook sees it first.
 * Everything is O(1): a few hash lookups and atomics, no loops.
 * Include after kmesh_maps.h and kmesh_common.h.
 */
#ifndef KMESH_CONN_H
#define KMESH_CONN_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "kmesh_abi.h"
#include "kmesh_resilience.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KMESH_MAX_CLUSTERS);
	__type(key, struct km_cluster_key);
	__type(value, struct km_cluster_limits);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} km_cl_limits SEC(".maps");

/* Live state is created by the kernel on first use and never preallocated:
 * most clusters and endpoints of a large mesh never see a connection here. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, KMESH_MAX_CLUSTER_LOADS);
	__type(key, __u64);
	__type(value, struct km_cluster_load);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} km_cl_load SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, KMESH_MAX_ENDPOINTS);
	__type(key, struct km_endpoint_load_key);
	__type(value, struct km_endpoint_load);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} km_ep_load SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KMESH_MAX_RATE_LIMITS);
	__type(key, struct km_listener_key);
	__type(value, struct km_rate_limit);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} km_lsn_limit SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, KMESH_MAX_BUCKETS);
	__type(key, __u64);
	__type(value, struct km_token_bucket);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} km_bucket SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct km_conn);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} km_conn SEC(".maps");

/* TCP states (include/net/tcp_states.h, not UAPI). */
#define KM_TCP_ESTABLISHED 1
#define KM_TCP_SYN_SENT 2
#define KM_TCP_CLOSE 7

/* ------------------------------------------------------------------------
 * Lookups of configuration and live state
 * ------------------------------------------------------------------------ */

static __always_inline const struct km_cluster_limits *
km_cluster_limits_lookup(__u32 gen, __u32 cluster_id)
{
	struct km_cluster_key key = { .gen = gen, .cluster_id = cluster_id };

	return bpf_map_lookup_elem(&km_cl_limits, &key);
}

/* The cluster's live counts, created (zero) on first use. NULL only when the
 * map is full: the connection is then not counted (and not limited). */
static __always_inline struct km_cluster_load *km_cluster_load_get(__u64 load_key)
{
	struct km_cluster_load zero = {};
	struct km_cluster_load *load = bpf_map_lookup_elem(&km_cl_load, &load_key);

	if (load)
		return load;
	/* NOEXIST: two CPUs creating it at once both end up on the same entry. */
	bpf_map_update_elem(&km_cl_load, &load_key, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&km_cl_load, &load_key);
}

static __always_inline void
km_endpoint_load_key_init(struct km_endpoint_load_key *key, __u64 load_key, const struct km_addr *addr)
{
	key->load_key = load_key;
	key->addr = *addr;
	key->addr.pad = 0;
	key->pad = 0;
}

static __always_inline struct km_endpoint_load *
km_endpoint_load_lookup(__u64 load_key, const struct km_addr *addr)
{
	struct km_endpoint_load_key key;

	km_endpoint_load_key_init(&key, load_key, addr);
	return bpf_map_lookup_elem(&km_ep_load, &key);
}

static __always_inline struct km_endpoint_load *
km_endpoint_load_get(__u64 load_key, const struct km_addr *addr)
{
	struct km_endpoint_load zero = {};
	struct km_endpoint_load_key key;
	struct km_endpoint_load *load;

	km_endpoint_load_key_init(&key, load_key, addr);
	load = bpf_map_lookup_elem(&km_ep_load, &key);
	if (load)
		return load;
	bpf_map_update_elem(&km_ep_load, &key, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&km_ep_load, &key);
}

/* ------------------------------------------------------------------------
 * Outlier ejection state
 * ------------------------------------------------------------------------ */

/* km_endpoint_load.ejected: KM_EJECTING while one CPU sets an ejection up
 * (its end time is not written yet: readers must not take it as expired). */
#define KM_EJECTED 1
#define KM_EJECTING 2

/* End an expired ejection of the endpoint (its cluster slot frees itself by
 * time): its failures start from zero again. */
static __always_inline void km_endpoint_unject(struct km_endpoint_load *ep)
{
	if (__sync_val_compare_and_swap(&ep->ejected, KM_EJECTED, 0) == KM_EJECTED)
		ep->consecutive_failures = 0;
}

/* True while the endpoint is ejected. An ejection that has expired ends here,
 * lazily, the first time the endpoint is considered again. */
static __always_inline int km_endpoint_is_ejected(__u64 load_key, const struct km_addr *addr, __u64 now)
{
	struct km_endpoint_load *ep = km_endpoint_load_lookup(load_key, addr);

	if (!ep || ep->ejected != KM_EJECTED)
		return 0;
	if (now < ep->ejected_until_ns)
		return 1;
	km_endpoint_unject(ep);
	return 0;
}

/* Active connections of an endpoint (LEAST_REQUEST). */
static __always_inline __s64 km_endpoint_active(__u64 load_key, const struct km_addr *addr)
{
	struct km_endpoint_load *ep = km_endpoint_load_lookup(load_key, addr);

	return ep ? ep->active : 0;
}

/* Eject after outlier_failures consecutive connect failures, unless the
 * cluster already has max_ejection_percent of its endpoints ejected (one may
 * always be) or KMESH_MAX_EJECTED ejections in progress. The cluster's slot is
 * claimed with a compare-and-swap of its end time, so a slot is never given
 * twice. Duration: base x multiplier, capped at max. */
static __always_inline void
km_endpoint_maybe_eject(const struct km_conn *conn, struct km_endpoint_load *ep, __u64 now)
{
	struct km_cluster_load *cl;
	__u64 duration, until, old = 0, interval, healthy;
	__u32 i, n, ejected = 0, free = KMESH_MAX_EJECTED;

	cl = bpf_map_lookup_elem(&km_cl_load, &conn->load_key);
	if (!cl)
		return;
	for (i = 0; i < KMESH_MAX_EJECTED; i++) {
		until = cl->ejected_until[i];
		if (until > now) {
			ejected++;
		} else if (free == KMESH_MAX_EJECTED) {
			free = i;
			old = until;
		}
	}
	if (free >= KMESH_MAX_EJECTED)
		return;
	if (ejected > 0 && (__u64)ejected * 100 >= (__u64)conn->max_ejection_percent * conn->endpoint_count)
		return;

	/* Envoy lowers the multiplier by one for every interval the endpoint
	 * spends not ejected; here counted at the next ejection, from the end
	 * of the previous one. */
	n = ep->multiplier;
	interval = (__u64)conn->interval_ms * 1000000;
	if (n && interval && now > ep->ejected_until_ns) {
		healthy = (now - ep->ejected_until_ns) / interval;
		n = healthy >= n ? 0 : n - (__u32)healthy;
	}
	n += 1;
	duration = conn->base_ejection_ns * n;
	if (conn->max_ejection_ns && duration > conn->max_ejection_ns)
		duration = conn->max_ejection_ns;
	until = now + duration;
	if (__sync_val_compare_and_swap(&ep->ejected, 0, KM_EJECTING) != 0)
		return; /* another CPU is ejecting it, or did */
	if (__sync_val_compare_and_swap(&cl->ejected_until[free & (KMESH_MAX_EJECTED - 1)], old, until) != old) {
		ep->ejected = 0; /* the slot went to another endpoint: no ejection this time */
		return;
	}
	ep->ejected_until_ns = until;
	ep->multiplier = n;
	ep->consecutive_failures = 0;
	/* An atomic (a full barrier where it is JITed) publishes the end time first. */
	__sync_val_compare_and_swap(&ep->ejected, KM_EJECTING, KM_EJECTED);
	__sync_fetch_and_add(&ep->ejections, 1);
	__sync_fetch_and_add(&cl->ejections, 1);
}

/* ------------------------------------------------------------------------
 * Counting a connection at connect() and releasing it once
 * ------------------------------------------------------------------------ */

/* What connect() has counted so far, before the socket's km_conn exists. */
struct km_conn_acct {
	const struct km_cluster_limits *limits; /* NULL: the cluster is not counted */
	const struct km_cluster_limits *looked_up; /* the cluster's record, counted or not (NULL: none) */
	struct km_cluster_load *cluster;
	__u64 load_key;
	__u32 endpoint_count; /* of the cluster at the choice (max_ejection_percent) */
};

/* Circuit breaker: take one of the cluster's max_connections. Returns 1 when
 * the circuit is open (nothing taken, the connect must be refused). The
 * increment comes first, so concurrent connects never overshoot: exactly the
 * excess is refused. */
static __always_inline int
km_circuit_take(__u32 gen, __u32 cluster_id, struct km_conn_acct *acct)
{
	const struct km_cluster_limits *limits = km_cluster_limits_lookup(gen, cluster_id);
	struct km_cluster_load *cl;
	__s64 before;

	acct->limits = NULL;
	acct->cluster = NULL;
	acct->looked_up = limits;
	if (!limits)
		return 0;
	cl = km_cluster_load_get(limits->load_key);
	if (!cl)
		return 0;
	before = __sync_fetch_and_add(&cl->active, 1);
	if (before >= (__s64)limits->max_connections) {
		__sync_fetch_and_add(&cl->active, -1);
		__sync_fetch_and_add(&cl->circuit_open, 1);
		return 1;
	}
	acct->limits = limits;
	acct->cluster = cl;
	acct->load_key = limits->load_key;
	return 0;
}

/* Give back what km_circuit_take took when the connect is not rewritten after all. */
static __always_inline void km_circuit_return(struct km_conn_acct *acct)
{
	if (acct->cluster)
		__sync_fetch_and_add(&acct->cluster->active, -1);
	acct->cluster = NULL;
}

/* Uncount a socket's connection: once, whoever calls first. */
static __always_inline void km_conn_release(struct km_conn *conn)
{
	struct km_cluster_load *cl;
	struct km_endpoint_load *ep;

	if (__sync_val_compare_and_swap(&conn->counted, KMESH_CONN_COUNTED, 0) != KMESH_CONN_COUNTED)
		return;
	cl = bpf_map_lookup_elem(&km_cl_load, &conn->load_key);
	if (cl)
		__sync_fetch_and_add(&cl->active, -1);
	ep = km_endpoint_load_lookup(conn->load_key, &conn->endpoint);
	if (ep)
		__sync_fetch_and_add(&ep->active, -1);
}

/* The connect is rewritten to ep: count it on the endpoint and remember both
 * counts on the socket. Without socket storage nothing could release them,
 * so they are given back at once (the connection is then simply uncounted).
 * Returns the socket's record when the connection is counted, else NULL. */
static __always_inline struct km_conn *
km_conn_track(struct bpf_sock *sk, struct km_conn_acct *acct, const struct km_addr *endpoint, __u32 endpoint_count)
{
	const struct km_cluster_limits *limits = acct->limits;
	struct km_endpoint_load *ep;
	struct km_conn *conn;

	if (!acct->cluster || !limits)
		return NULL;
	conn = sk ? bpf_sk_storage_get(&km_conn, sk, 0, BPF_SK_STORAGE_GET_F_CREATE) : NULL;
	if (!conn) {
		km_circuit_return(acct);
		return NULL;
	}
	/* A socket connecting again (its earlier attempt failed before any TCP
	 * state change) still holds the earlier counts: release them first. */
	km_conn_release(conn);
	ep = km_endpoint_load_get(acct->load_key, endpoint);
	if (ep)
		__sync_fetch_and_add(&ep->active, 1);
	conn->load_key = acct->load_key;
	conn->endpoint = *endpoint;
	conn->endpoint.pad = 0;
	conn->base_ejection_ns = limits->base_ejection_ns;
	conn->max_ejection_ns = limits->max_ejection_ns;
	conn->outlier_failures = limits->outlier_failures;
	conn->max_ejection_percent = limits->max_ejection_percent;
	conn->endpoint_count = endpoint_count;
	conn->interval_ms = (__u32)(limits->interval_ns / 1000000);
	/* The endpoint count was taken above even when ep is NULL (map full):
	 * km_conn_release tolerates a missing entry. */
	conn->counted = KMESH_CONN_COUNTED;
	return conn;
}

/* ------------------------------------------------------------------------
 * Listener local rate limit (token bucket)
 * ------------------------------------------------------------------------ */

/* One token for a new connection to listener dst, or 1 when the bucket is
 * empty (the connect must be refused). A listener without a record is not
 * limited. The bucket starts full (as Envoy's) and is refilled lazily:
 * tokens_per_fill for every whole fill_interval since the last fill, up to
 * max_tokens. The spin lock makes refill-and-take one step. */
static __always_inline int km_listener_rate_limited(__u32 gen, const struct km_addr *dst)
{
	struct km_listener_key key = { .gen = gen, .addr = *dst };
	const struct km_rate_limit *limit;
	struct km_token_bucket *bucket, fresh = {};
	__u64 now, intervals, tokens;
	__u64 bucket_key;
	int limited;

	key.addr.pad = 0;
	limit = bpf_map_lookup_elem(&km_lsn_limit, &key);
	if (!limit || limit->fill_interval_ns == 0)
		return 0;
	bucket_key = limit->bucket_key;
	now = bpf_ktime_get_ns();
	bucket = bpf_map_lookup_elem(&km_bucket, &bucket_key);
	if (!bucket) {
		fresh.tokens = limit->max_tokens;
		fresh.last_fill_ns = now;
		bpf_map_update_elem(&km_bucket, &bucket_key, &fresh, BPF_NOEXIST);
		bucket = bpf_map_lookup_elem(&km_bucket, &bucket_key);
		if (!bucket)
			return 0; /* map full: fail open, the limit is a protection not a gate */
	}

	bpf_spin_lock(&bucket->lock);
	if (now > bucket->last_fill_ns) {
		intervals = (now - bucket->last_fill_ns) / limit->fill_interval_ns;
		if (intervals > 0) {
			tokens = bucket->tokens + intervals * limit->tokens_per_fill;
			bucket->tokens = tokens > limit->max_tokens ? limit->max_tokens : (__u32)tokens;
			bucket->last_fill_ns += intervals * limit->fill_interval_ns;
		}
	}
	limited = bucket->tokens == 0;
	if (limited) {
		bucket->limited++;
	} else {
		bucket->tokens--;
		bucket->admitted++;
	}
	bpf_spin_unlock(&bucket->lock);
	return limited;
}

/* ------------------------------------------------------------------------
 * sock_ops and sock_release: outcomes and closes
 * ------------------------------------------------------------------------ */

/* A connect failure of a counted socket: one more consecutive failure of its
 * endpoint, which may eject it. */
static __always_inline void km_conn_failed(const struct km_conn *conn)
{
	struct km_endpoint_load *ep = km_endpoint_load_lookup(conn->load_key, &conn->endpoint);
	__u64 now = bpf_ktime_get_ns();
	__u32 failures;

	if (!ep)
		return;
	__sync_fetch_and_add(&ep->connect_failures, 1);
	/* An endpoint tried again after its ejection expired fails: its old
	 * ejection ends here so the new one can begin. */
	if (ep->ejected == KM_EJECTED && now >= ep->ejected_until_ns)
		km_endpoint_unject(ep);
	failures = __sync_fetch_and_add(&ep->consecutive_failures, 1) + 1;
	if (conn->outlier_failures && failures >= conn->outlier_failures && !ep->ejected)
		km_endpoint_maybe_eject(conn, ep, now);
}

/* The endpoint accepted the connection: its run of failures is over. */
static __always_inline void km_conn_established(const struct km_conn *conn)
{
	struct km_endpoint_load *ep = km_endpoint_load_lookup(conn->load_key, &conn->endpoint);

	if (ep && ep->consecutive_failures)
		ep->consecutive_failures = 0;
}

static __always_inline void km_conn_sock_ops(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk;
	struct km_conn *conn;

	if (!sk)
		return;
	conn = bpf_sk_storage_get(&km_conn, sk, 0, 0);
	if (!conn || !conn->counted)
		return;
	switch (skops->op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
		/* Only counted sockets pay for state callbacks. */
		bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
		break;
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		km_conn_established(conn);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		if (skops->args[1] != KM_TCP_CLOSE)
			break;
		if (skops->args[0] == KM_TCP_SYN_SENT)
			km_conn_failed(conn);
		km_conn_release(conn);
		break;
	default:
		break;
	}
}

static __always_inline void km_conn_sock_release(struct bpf_sock *sk)
{
	struct km_conn *conn = bpf_sk_storage_get(&km_conn, sk, 0, 0);

	if (conn)
		km_conn_release(conn);
}

#endif /* KMESH_CONN_H */
