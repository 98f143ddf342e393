/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kmesh L7 route tables: how a RouteConfiguration is laid out for the sk_msg
 * parser (kmesh_l7.bpf.o). Written by the daemon with every generation (same
 * atomic flip as the L4 records: every key starts with the generation, after
 * the LPM prefix length for the virtual-host trie), read only by sk_msg.
 *
 *   request head -> Host (lower-cased), :path, values of the route config's
 *                   header names (first occurrence)
 *   km_l7_vhost   LPM trie {gen, route config, kind, domain bytes}:
 *                   EXACT   domain + '\0' terminator (the terminator makes the
 *                           match exact: "foo" never matches "foobar")
 *                   SUFFIX  `*.suffix`: the suffix reversed; looked up with the
 *                           reversed Host limited to len-1 bytes (the `*`
 *                           matches at least one byte), longest wins
 *                   PREFIX  `prefix.*`: the prefix; same length limit
 *                   ANY     `*`: no bytes
 *                 -> struct km_l7_vhost {route_first, route_count}
 *   km_l7_route   HASH {gen, index} -> struct km_l7_route (routes of a vhost
 *                 are indexes route_first .. route_first + route_count - 1, in
 *                 order; first match wins)
 *   km_l7_hmatch  HASH {gen, index} -> struct km_l7_header_match (a route's
 *                 header matchers are header_first .. + header_count - 1)
 *   km_l7_hnames  HASH {gen, route config} -> the header names the route
 *                 config's matchers use (lower-cased, at most 8)
 *   km_l7_dfa     HASH {gen, state} -> struct km_l7_dfa_state (regex subset
 *                 compiled to a DFA over bytes; one lookup per byte)
 *   km_l7_stats   PERCPU_ARRAY[KMESH_L7_STAT_MAX]: one counter per outcome
 *
 * Matching is exact everywhere: hash and trie keys compare every byte, no
 * digest of a string ever stands in for the string.
 */
#ifndef KMESH_L7_ROUTES_H
#define KMESH_L7_ROUTES_H

#ifndef __KMESH_TYPES_DEFINED
#include <linux/types.h>
#endif
#include "kmesh_abi.h"

/* Parse limits (docs/l7.md). A head over KMESH_L7_HEAD_MAX, a Host over
 * KMESH_L7_HOST_MAX or a path over KMESH_L7_PATH_MAX is a bad request. */
#define KMESH_L7_HEAD_MAX 4096
#define KMESH_L7_MAX_HEADER_LINES 32       /* header lines the matchers see; later ones are skipped */
#define KMESH_L7_HOST_MAX 255
#define KMESH_L7_PATH_MAX 1024

/* Route-table limits the translator checks before anything is written. */
#define KMESH_L7_MAX_ROUTES_PER_VHOST 64
#define KMESH_L7_MAX_HEADER_MATCHERS 8     /* per route */
#define KMESH_L7_MAX_HEADER_NAMES 8        /* distinct header names per route config */
#define KMESH_L7_HEADER_NAME_MAX 64        /* bytes of one header name */
#define KMESH_L7_MATCH_VALUE_MAX 128       /* bytes of one header matcher value */
#define KMESH_L7_DOMAIN_BYTES 248          /* domain bytes a trie key holds (LPM data <= 256) */
#define KMESH_L7_DOMAIN_MAX 240            /* longest domain accepted (the terminator fits) */
#define KMESH_L7_DFA_MAX_STATES 256        /* per regex */
#define KMESH_L7_DFA_DEAD 0xffff           /* km_l7_dfa_state.next: no way to accept */

/* Map capacities (entries across two live generations). */
#define KMESH_MAX_L7_VHOST_KEYS 65536
#define KMESH_MAX_L7_ROUTES 65536
#define KMESH_MAX_L7_HEADER_MATCHES 65536
#define KMESH_MAX_L7_ROUTE_CONFIGS 16384
#define KMESH_MAX_L7_DFA_STATES 65535      /* per generation: next[] is a u16 (0xffff = dead) */

/* Bits of a km_l7_vhost_key after prefixlen that every entry matches whole:
 * gen + route_config_id + kind + pad. */
#define KMESH_L7_VHOST_KEY_HEADER_BITS 64

enum kmesh_l7_host_kind {
	KMESH_L7_HOST_EXACT = 1,
	KMESH_L7_HOST_SUFFIX = 2, /* `*.suffix` (stored reversed) */
	KMESH_L7_HOST_PREFIX = 3, /* `prefix.*` */
	KMESH_L7_HOST_ANY = 4,    /* `*` */
};

/* km_l7_vhost (LPM_TRIE) key. prefixlen = 64 + 8 * bytes of host used. */
struct km_l7_vhost_key {
	__u32 prefixlen;
	__u32 gen;
	__u16 route_config_id;
	__u8 kind;        /* enum kmesh_l7_host_kind */
	__u8 pad;
	__u8 host[KMESH_L7_DOMAIN_BYTES];
};

struct km_l7_vhost {
	__u32 route_first;  /* km_l7_route index of the vhost's first route */
	__u32 route_count;  /* 0..KMESH_L7_MAX_ROUTES_PER_VHOST */
	__u32 vhost_index;  /* position in the route config (diagnostics) */
	__u32 pad;
};

/* Key of km_l7_route, km_l7_hmatch and km_l7_dfa: (generation, index). */
struct km_l7_index_key {
	__u32 gen;
	__u32 index;
};

/* Key of km_l7_hnames: (generation, route config). */
struct km_l7_rc_key {
	__u32 gen;
	__u32 route_config_id;
};

enum kmesh_l7_path_kind {
	KMESH_L7_PATH_PREFIX = 0, /* the request target (query included) starts with path */
	KMESH_L7_PATH_EXACT = 1,  /* the target without its query equals path */
	KMESH_L7_PATH_REGEX = 2,  /* the DFA at dfa_start accepts the target without its query */
};

enum kmesh_l7_route_action {
	KMESH_L7_ACTION_CLUSTERS = 0,        /* weighted clusters in `clusters` -> FORWARD */
	KMESH_L7_ACTION_DIRECT_RESPONSE = 1, /* status + body_id */
	KMESH_L7_ACTION_REDIRECT = 2,        /* status + body_id (Location) */
};

struct km_l7_route {
	__u8 path_kind;          /* enum kmesh_l7_path_kind */
	__u8 case_insensitive;   /* prefix/exact: compare ASCII-case-insensitively (path is stored lower-cased) */
	__u16 path_len;
	__u32 dfa_start;         /* REGEX: km_l7_dfa index of the start state */
	__u32 header_first;      /* km_l7_hmatch index of the first header matcher */
	__u32 header_count;      /* 0..KMESH_L7_MAX_HEADER_MATCHERS, all must match */
	__u32 action;            /* enum kmesh_l7_route_action */
	__u32 status;            /* DIRECT_RESPONSE / REDIRECT */
	__u32 body_id;           /* km_l7_text index, 0 = none */
	__u32 pad;
	__u32 connect_timeout_ms[KMESH_MAX_WEIGHTED_CLUSTERS]; /* per clusters.cluster_ids[i]; 0 = relay default */
	struct km_route clusters; /* CLUSTERS: weighted choice, as for L4 */
	__u8 path[KMESH_L7_PATH_MAX];
};

enum kmesh_l7_header_kind {
	KMESH_L7_HEADER_EXACT = 0,
	KMESH_L7_HEADER_PREFIX = 1,
	KMESH_L7_HEADER_SUFFIX = 2,
	KMESH_L7_HEADER_CONTAINS = 3,
	KMESH_L7_HEADER_PRESENT = 4,
	KMESH_L7_HEADER_REGEX = 5,
};

/* One header matcher. An absent header fails every kind except PRESENT
 * (which then is false); invert flips the result in every case. */
struct km_l7_header_match {
	__u8 slot;        /* index in the route config's km_l7_header_names */
	__u8 kind;        /* enum kmesh_l7_header_kind */
	__u8 invert;
	__u8 pad;
	__u32 value_len;
	__u32 dfa_start;  /* REGEX */
	__u32 pad2;
	__u8 value[KMESH_L7_MATCH_VALUE_MAX];
};

/* The header names a route config's matchers use, lower-cased. names[i * 64]
 * holds name i (name_len[i] bytes, zero padded). */
struct km_l7_header_names {
	__u32 count;
	__u32 name_len[KMESH_L7_MAX_HEADER_NAMES];
	__u8 names[KMESH_L7_MAX_HEADER_NAMES * KMESH_L7_HEADER_NAME_MAX];
};

/* One DFA state: the next state per input byte (absolute km_l7_dfa index in
 * the same generation, KMESH_L7_DFA_DEAD when no match is possible any more)
 * and whether the input may end here. */
struct km_l7_dfa_state {
	__u16 next[256];
	__u32 accept;
};

/* Counters in km_l7_stats. Every first request ends in exactly one of the
 * decision outcomes (no_listener .. forward); the others count events. */
enum kmesh_l7_stat {
	KMESH_L7_STAT_PARSED = 0,          /* a complete request head was parsed */
	KMESH_L7_STAT_CORKED = 1,          /* head incomplete: held until more bytes arrive */
	KMESH_L7_STAT_NO_ROUTE = 2,        /* vhost found, no route matched: 404 */
	KMESH_L7_STAT_BAD_REQUEST = 3,     /* not METHOD SP target SP HTTP/1.x, no Host, Host/path too long: 400 */
	KMESH_L7_STAT_NO_ENDPOINT = 4,     /* route's cluster missing or without endpoint: 503 */
	KMESH_L7_STAT_FORWARD = 5,         /* endpoint chosen */
	KMESH_L7_STAT_DIRECT_RESPONSE = 6,
	KMESH_L7_STAT_REDIRECT = 7,
	KMESH_L7_STAT_TOO_LARGE = 8,       /* head over KMESH_L7_HEAD_MAX bytes: 400 */
	KMESH_L7_STAT_NO_VHOST = 9,        /* no virtual host for the Host: 404 */
	KMESH_L7_STAT_NO_LISTENER = 10,    /* the dialled VIP is no http listener in the active generation: 404 */
	KMESH_L7_STAT_NO_STATE = 11,       /* sk_msg on a socket without km_l7_sk: passed untouched */
	KMESH_L7_STAT_DECISION_FAILED = 12,/* km_l7_decision update failed: the relay answers 503 */
	KMESH_L7_STAT_SOCK_INSERTED = 13,  /* sock_ops put a client socket in km_l7_client */
	KMESH_L7_STAT_SOCK_INSERT_FAILED = 14, /* ... and could not (the relay still answers: no decision -> 503) */
	KMESH_L7_STAT_SCRATCH_BUSY = 15,   /* per-CPU parse buffers in use (preempted parse): 503 */
	KMESH_L7_STAT_LATER_MESSAGE = 16,  /* a message after the decision (handed to km_l7_after_decision) */
	KMESH_L7_STAT_CIRCUIT_OPEN = 17,   /* the chosen cluster is at max_connections: 503 */
	KMESH_L7_STAT_MAX = 18,
};

#endif /* KMESH_L7_ROUTES_H */
