/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kmesh kernel ABI: the one definition of every map key and value that the
 * daemon writes and the BPF programs read.
 *
 * The TypeScript encoders in packages/kmesh-api/src/abi/ mirror these layouts;
 * a test compares them field by field against the BTF of the compiled objects,
 * so a drift fails the build rather than production.
 *
 * Conventions
 *  - Addresses and ports are stored in network byte order, exactly as the
 *    kernel hands them to cgroup/connect programs (ctx->user_ip4, user_port).
 *    An IPv4 address uses ip[0]; ip[1..3] are zero.
 *  - Every configuration record is keyed by a generation number. The daemon
 *    writes a whole new generation, then flips km_active in one update, then
 *    (after a grace period) deletes the old generation. A connect() therefore
 *    sees either the old or the new configuration, never a mix.
 *  - Endpoints are keyed by an endpoint set number instead, named by their
 *    cluster record (km_cluster_value.ep_set). A full push writes every
 *    cluster with ep_set = gen. An endpoint-only change of one cluster writes
 *    that cluster's endpoints under a fresh set number (high bit set, so it
 *    never equals a generation), then replaces the cluster record in one map
 *    update: a connect() sees the old record and old set, or the new record
 *    and new set, both complete. The old set is deleted after the grace
 *    period.
 *  - Structs are padded explicitly: no implicit holes, so the layout is the
 *    same for clang -target bpf and for the encoders.
 */
#ifndef KMESH_ABI_H
#define KMESH_ABI_H

#ifndef __KMESH_TYPES_DEFINED
#include <linux/types.h>
#endif

/* Capacities. The translator checks a config against these before writing. */
#define KMESH_MAX_WEIGHTED_CLUSTERS 16     /* clusters in one weighted_clusters action */
#define KMESH_MAX_ENDPOINTS_PER_CLUSTER 1024
#define KMESH_ENDPOINT_SEARCH_STEPS 11     /* ceil(log2(1024)) + 1: bounded binary search */
#define KMESH_MAX_LISTENERS 65536          /* per map, across two live generations */
#define KMESH_MAX_CLUSTERS 65536
#define KMESH_MAX_ENDPOINTS 524288
#define KMESH_MAX_CHAINS 65536             /* km_chain entries (one per prefix range), two generations */

/* Endpoint set numbers of in-place endpoint changes have this bit set;
 * generations never do (they wrap below it). */
#define KMESH_EP_SET_INPLACE_BIT 0x80000000u

/* Address families as the kernel spells them (AF_INET, AF_INET6). */
#define KMESH_AF_INET 2
#define KMESH_AF_INET6 10

/* Cluster load-balancing policies. */
enum kmesh_lb_policy {
	KMESH_LB_ROUND_ROBIN = 0,
	KMESH_LB_RANDOM = 1,
	KMESH_LB_LEAST_REQUEST = 2, /* fewest active connections of two random picks */
	KMESH_LB_RING_HASH = 3,     /* consistent hashing of the client on a ring */
	KMESH_LB_MAGLEV = 4,        /* consistent hashing of the client through a Maglev table */
};

/* Counters in km_stats, one reason code per outcome of every hook. */
enum kmesh_stat {
	KMESH_STAT_CONNECT_REWRITTEN = 0,   /* destination rewritten to an endpoint */
	KMESH_STAT_CONNECT_NOT_LISTENER = 1,/* destination is not a listener: untouched */
	KMESH_STAT_CONNECT_NO_CONFIG = 2,   /* no active generation yet: untouched */
	KMESH_STAT_CONNECT_NO_CLUSTER = 3,  /* listener's cluster missing: refused */
	KMESH_STAT_CONNECT_NO_ENDPOINT = 4, /* cluster has no healthy endpoint: refused */
	KMESH_STAT_CONNECT_NO_STORAGE = 5,  /* rewritten, but the VIP could not be remembered */
	KMESH_STAT_PEERNAME_RESTORED = 6,   /* getpeername() answered with the VIP */
	KMESH_STAT_CONNECT_NOT_TCP = 7,     /* not a stream socket: untouched */
	KMESH_STAT_CONNECT_FAMILY_MISMATCH = 8, /* IPv6 endpoint for an IPv4 socket: refused */
	KMESH_STAT_PEERNAME_UNTOUCHED = 9,  /* getpeername() of a socket that was not rewritten */
	KMESH_STAT_CONNECT_PASSTHROUGH = 10,/* route action passthrough (original destination): untouched */
	KMESH_STAT_CONNECT_HTTP = 11,       /* route action http (no L7 path yet): untouched */
	KMESH_STAT_CONNECT_BLACKHOLE = 12,  /* route action blackhole: refused */
	KMESH_STAT_CONNECT_NO_CHAIN = 13,   /* port has a wildcard listener, no filter chain matches: untouched */
	KMESH_STAT_CONNECT_UNKNOWN_ACTION = 14, /* route action this object does not know: untouched */
	KMESH_STAT_CONNECT_L7_ANCHOR = 15,  /* http listener: sent to the L7 anchor (the request picks the route) */
	KMESH_STAT_CONNECT_CIRCUIT_OPEN = 16, /* cluster at circuit_breakers max_connections: refused */
	KMESH_STAT_CONNECT_RATE_LIMITED = 17, /* listener local rate limit out of tokens: refused */
	KMESH_STAT_MAX = 18,
};

/* What a route (an exact listener, or one filter chain of a wildcard
 * listener) does with a connect(). */
enum kmesh_route_action {
	KMESH_ACTION_TCP_PROXY = 0,   /* weighted clusters -> endpoint: rewritten */
	KMESH_ACTION_PASSTHROUGH = 1, /* PassthroughCluster / ORIGINAL_DST: left as dialled */
	KMESH_ACTION_HTTP = 2,        /* http_connection_manager: left as dialled until the L7 path exists */
	KMESH_ACTION_BLACKHOLE = 3,   /* BlackHoleCluster: ECONNREFUSED */
	KMESH_ACTION_NO_CHAIN = 4,    /* km_chain sentinel {gen, port}/48: a wildcard port where no chain matched */
};

struct km_addr {
	__u32 ip[4];   /* network byte order; IPv4 in ip[0] */
	__u16 port;    /* network byte order */
	__u8 family;   /* KMESH_AF_INET or KMESH_AF_INET6 */
	__u8 pad;
};

/* km_active (ARRAY, one entry): which generation connect() reads. */
struct km_active {
	__u32 gen;     /* 0 = no configuration applied yet */
	__u32 version; /* config version counter, for diagnostics */
};

/* The value of km_listener and of km_chain: what to do with a connect().
 * The cluster fields are meaningful for KMESH_ACTION_TCP_PROXY only (zero
 * otherwise). */
struct km_route {
	__u32 action;                                       /* enum kmesh_route_action */
	__u32 cluster_count;                                /* 1..KMESH_MAX_WEIGHTED_CLUSTERS */
	__u32 total_weight;                                 /* = cum_weights[cluster_count - 1] */
	__u32 cluster_ids[KMESH_MAX_WEIGHTED_CLUSTERS];
	__u32 cum_weights[KMESH_MAX_WEIGHTED_CLUSTERS];     /* running sum of weights */
	__u32 route_config_id;                              /* KMESH_ACTION_HTTP: the RouteConfiguration (L7 route tables), 0 = none */
};

/* km_listener (HASH): (generation, VIP, port) -> struct km_route.
 * Exact-address listeners only; they win over any wildcard listener. */
struct km_listener_key {
	__u32 gen;
	struct km_addr addr;
};

/* km_chain (LPM_TRIE): filter chains of wildcard listeners (0.0.0.0:port,
 * [::]:port), (generation, port, family, destination prefix) -> struct km_route.
 * Consulted only when km_listener has no exact match.
 *
 * prefixlen counts the bits after itself: 64 for gen + port + family + pad
 * (always matched whole), plus the chain's prefix length (0..32 for IPv4,
 * 0..128 for IPv6). A lookup uses 64 + 128 with the destination, so the
 * longest matching prefix range of the right generation, port and family
 * wins. One entry per prefix range; a chain without prefix ranges is one
 * entry of prefix length 0. Each wildcard port also has a sentinel entry of
 * prefixlen 48 (gen + port only; family 0, ip 0) with KMESH_ACTION_NO_CHAIN,
 * which only matches when no chain does. Addresses are masked to the prefix. */
struct km_chain_key {
	__u32 prefixlen;
	__u32 gen;
	__u16 port;    /* network byte order */
	__u8 family;   /* KMESH_AF_INET or KMESH_AF_INET6 (0 in the sentinel) */
	__u8 pad;
	__u32 ip[4];   /* network byte order; IPv4 in ip[0] */
};

/* km_cluster (HASH): (generation, cluster id) -> load-balancing state. */
struct km_cluster_key {
	__u32 gen;
	__u32 cluster_id;
};

struct km_cluster_value {
	__u32 lb_policy;      /* enum kmesh_lb_policy */
	__u32 endpoint_count; /* endpoints that may take new connections */
	__u32 total_weight;   /* sum of their weights */
	__u32 rr_cursor;      /* round-robin position, advanced by connect() */
	__u32 ep_set;         /* km_endpoint_key.set of this cluster's endpoints */
	/* Load-balancing tables (issue 6, see "Consistent-hashing tables" below). */
	__u32 lb_table_size;  /* MAGLEV: table slots; RING_HASH: ring entries; 0 otherwise */
	__u32 rr_stride;      /* ROUND_ROBIN: step through the weight space, coprime with total_weight */
};

/* km_endpoint (HASH): (endpoint set, cluster id, index) -> endpoint.
 * The set is the cluster record's ep_set (= the generation after a full
 * push). Indexes 0..endpoint_count-1 are dense; cum_weight is non-decreasing
 * so a weighted pick is a bounded binary search. */
struct km_endpoint_key {
	__u32 set;
	__u32 cluster_id;
	__u32 index;
};

struct km_endpoint_value {
	struct km_addr addr;
	__u32 weight;
	__u32 cum_weight;     /* sum of weights of endpoints 0..index */
};

/* Consistent-hashing tables (MAGLEV, RING_HASH), issue 6.
 * A hashing cluster's table lives in km_endpoint, under the cluster's own
 * endpoint set, right after its endpoints: indexes endpoint_count ..
 * endpoint_count + lb_table_size - 1. Each entry is a copy of the chosen
 * endpoint (addr, weight), so it is written, replaced in place and deleted
 * together with the endpoints, and a connect() sees one complete table.
 *  - MAGLEV: entry i is slot i of the Maglev lookup table; a connect() reads
 *    slot client_hash % lb_table_size: one lookup, O(1). cum_weight holds the
 *    endpoint's index (diagnostics only).
 *  - RING_HASH: entries are the ring's points sorted by cum_weight (the 32-bit
 *    ring position); a connect() takes the first point >= the low 32 bits of
 *    client_hash (wrapping to the first), by bounded bisection: O(log n).
 * The daemon computes both (packages/kmesh-api/src/lb/). */
#define KMESH_MAX_LB_TABLE_SIZE 65537     /* largest MAGLEV table_size / stored ring */
#define KMESH_LB_RING_SEARCH_STEPS 18     /* ceil(log2(65537)) + 1 */

/* km_orig_dst (SK_STORAGE): the VIP a socket connected to, for getpeername(). */
struct km_orig_dst {
	struct km_addr vip;
};

#endif /* KMESH_ABI_H */
