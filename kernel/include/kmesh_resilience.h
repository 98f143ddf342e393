/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kmesh connection accounting and protection (issue 6, part A): circuit
 * breaking (max_connections), listener local rate limiting, outlier detection
 * by consecutive connect failures, and the load that LEAST_REQUEST reads.
 *
 * Two kinds of maps:
 *  - configuration, per generation like every other record (written before
 *    the flip, deleted with the generation): km_cl_limits by
 *    {gen, cluster id} (struct km_cluster_key), km_lsn_limit by
 *    {gen, listener address} (struct km_listener_key);
 *  - live state, which must survive configuration changes, keyed by a
 *    stable 64-bit key the daemon computes (FNV-1a of the cluster name, of
 *    the listener name and address) and writes into the configuration:
 *    km_cl_load, km_ep_load, km_bucket. The kernel creates these entries;
 *    the daemon only reads them (and deletes those of removed clusters).
 *
 * Per socket, km_conn (SK_STORAGE) remembers which cluster and endpoint a
 * connection was counted against, so sock_ops (connect failures, close) and
 * cgroup/sock_release (close) can undo exactly what connect() counted, once.
 * Layouts are mirrored in packages/kmesh-api/src/abi/resilience.ts.
 */
#ifndef KMESH_RESILIENCE_H
#define KMESH_RESILIENCE_H

#include "kmesh_abi.h"

#define KMESH_MAX_CLUSTER_LOADS 65536      /* clusters with live counts (stable keys) */
#define KMESH_MAX_RATE_LIMITS 65536        /* listener rate limit records, two generations */
#define KMESH_MAX_BUCKETS 32768            /* token buckets (stable keys) */
#define KMESH_OUTLIER_REPICKS 8            /* endpoints tried before an ejected one is used anyway */
#define KMESH_LR_MAX_CHOICES 8             /* LEAST_REQUEST choice_count upper bound */
#define KMESH_MAX_EJECTED 16               /* endpoints of one cluster ejected at once (a power of 2) */

/* km_conn.counted: the connection is counted in km_cl_load/km_ep_load. */
#define KMESH_CONN_COUNTED 1

/* km_cl_limits (HASH): struct km_cluster_key {gen, cluster id} -> the
 * cluster's limits in that generation. Absent: nothing is counted. */
struct km_cluster_limits {
	__u64 load_key;             /* stable key of km_cl_load / km_ep_load */
	__u64 base_ejection_ns;     /* outlier_detection.base_ejection_time */
	__u64 max_ejection_ns;      /* outlier_detection.max_ejection_time */
	__u64 interval_ns;          /* outlier_detection.interval: each one not ejected lowers the multiplier */
	__u32 max_connections;      /* circuit_breakers DEFAULT max_connections (0: refuse all; 0xffffffff: never reached) */
	__u32 outlier_failures;     /* consecutive connect failures that eject; 0 = off */
	__u32 max_ejection_percent; /* at least one endpoint may always be ejected */
	__u32 choice_count;         /* LEAST_REQUEST: endpoints compared per pick */
};

/* km_cl_load (HASH): load_key -> live counts of one cluster, across generations.
 * Ejections in progress are slots holding their end time: an ejection ends by
 * time alone, so an endpoint removed while ejected never leaks a count. */
struct km_cluster_load {
	__s64 active;        /* connections counted and not yet closed */
	__u64 circuit_open;  /* connects refused at max_connections */
	__u64 ejections;     /* endpoints ejected, total */
	__u64 ejected_until[KMESH_MAX_EJECTED]; /* bpf_ktime_get_ns end of each ejection; past = free */
};

/* km_ep_load (HASH): {load_key, endpoint address} -> live state of one endpoint. */
struct km_endpoint_load_key {
	__u64 load_key;
	struct km_addr addr;
	__u32 pad;
};

struct km_endpoint_load {
	__s64 active;               /* connections counted and not yet closed */
	__u64 ejected_until_ns;     /* bpf_ktime_get_ns() clock; meaningful while ejected */
	__u64 connect_failures;     /* total */
	__u32 consecutive_failures; /* reset by an established connection and by an ejection */
	__u32 ejections;            /* times ejected, total */
	__u32 ejected;              /* 1 while ejected */
	__u32 multiplier;           /* Envoy's ejection multiplier: +1 per ejection, -1 per interval not ejected */
};

/* km_lsn_limit (HASH): struct km_listener_key {gen, listener address} ->
 * the listener's local_ratelimit token bucket configuration. */
struct km_rate_limit {
	__u64 bucket_key;        /* stable key of km_bucket */
	__u64 fill_interval_ns;
	__u32 max_tokens;
	__u32 tokens_per_fill;
};

/* km_bucket (HASH): bucket_key -> token bucket, refilled lazily by connect(). */
struct km_token_bucket {
	struct bpf_spin_lock lock;
	__u32 tokens;
	__u64 last_fill_ns;      /* start of the current fill interval */
	__u64 admitted;
	__u64 limited;
};

/* km_conn (SK_STORAGE): what connect() counted for this socket. */
struct km_conn {
	__u64 load_key;
	struct km_addr endpoint;
	__u32 counted;           /* KMESH_CONN_COUNTED until released (exactly once) */
	__u64 base_ejection_ns;  /* copies of the cluster's outlier settings at connect() */
	__u64 max_ejection_ns;
	__u32 outlier_failures;
	__u32 max_ejection_percent;
	__u32 endpoint_count;    /* endpoints of the cluster at connect(), for the ejection percent */
	__u32 interval_ms;       /* outlier_detection.interval */
};

#endif /* KMESH_RESILIENCE_H */
