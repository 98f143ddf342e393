/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kmesh L7 (HTTP/1.1) path: the ABI between the kernel side (connect4 sends an
 * http listener's connection to the anchor; sk_msg parses the first request
 * and stores a decision) and the relay (a native thread in kmesh-runtime that
 * accepts on the anchor, reads the decision, connects to the endpoint and
 * joins the two connections).
 *
 *   client connect(VIP:80)
 *     connect4: route action HTTP and this netns has an anchor (km_l7_anchor)
 *       -> rewritten to the anchor (127.0.0.1:port), km_l7_sk on the socket
 *     sock_ops (active established, km_l7_sk present) -> km_l7_client sockhash
 *     sk_msg on the first request -> parse, route, pick endpoint
 *       -> km_l7_decision[{netns, client addr}] = decision; bytes pass to anchor
 *   relay: accept on the anchor, first bytes readable -> lookup + delete the
 *     decision by (anchor netns cookie, peer address) -> connect / 404 / 503 / 400
 *
 * Same conventions as kmesh_abi.h: explicit padding, network byte order for
 * addresses and ports, IPv4 in ip[0].
 */
#ifndef KMESH_L7_H
#define KMESH_L7_H

#ifndef __KMESH_TYPES_DEFINED
#include <linux/types.h>
#endif
#include "kmesh_abi.h"
#include "kmesh_resilience.h"

#define KMESH_MAX_L7_ANCHORS 1024       /* network namespaces served by the relay */
#define KMESH_MAX_L7_PENDING 65536      /* decisions not yet taken by the relay */
#define KMESH_L7_TEXT_MAX 1020          /* bytes of one direct-response body / redirect location */
#define KMESH_MAX_L7_TEXTS 4096

/* km_l7_anchor (HASH): netns cookie -> where that namespace's relay listens.
 * Written by the relay when it opens an anchor, deleted when it closes it.
 * A namespace without an entry keeps the L4 behaviour for http listeners
 * (left as dialled, KMESH_STAT_CONNECT_HTTP). */
struct km_l7_anchor {
	struct km_addr addr;  /* 127.0.0.1:port (IPv4 sockets), ::1 for IPv6 in addr6 */
	struct km_addr addr6; /* ::1:port, or family 0 when the anchor has no IPv6 socket */
};

/* km_l7_sk (SK_STORAGE) on a client socket sent to the anchor: what the
 * first request is routed by. Written by connect4, read by sock_ops/sk_msg. */
struct km_l7_sk {
	__u32 gen;             /* generation the connect() saw */
	__u32 route_config_id; /* km_route.route_config_id of the http listener */
	__u32 state;           /* enum kmesh_l7_sk_state */
	__u32 pad;
	struct km_addr vip;    /* what the client dialled */
};

enum kmesh_l7_sk_state {
	KMESH_L7_SK_NEW = 0,      /* no request seen yet */
	KMESH_L7_SK_DECIDED = 1,  /* decision stored; later bytes pass untouched to the relay */
};

/* km_l7_decision (LRU_HASH) key: the client socket as the anchor sees it. */
struct km_l7_conn_key {
	__u64 netns;          /* netns cookie of the client (= the anchor's) */
	__u32 client_ip[4];   /* network byte order; IPv4 in client_ip[0] */
	__u16 client_port;    /* network byte order */
	__u8 family;          /* KMESH_AF_INET or KMESH_AF_INET6 */
	__u8 pad[5];
};

enum kmesh_l7_verdict {
	KMESH_L7_FORWARD = 0,         /* connect to endpoint, send the bytes on */
	KMESH_L7_NO_ROUTE = 1,        /* HTTP 404: no virtual host or no route matched */
	KMESH_L7_BAD_REQUEST = 2,     /* HTTP 400: not HTTP/1.x, or head over the parse limit */
	KMESH_L7_NO_ENDPOINT = 3,     /* HTTP 503: route's cluster has no endpoint (or is missing) */
	KMESH_L7_DIRECT_RESPONSE = 4, /* route's direct_response: status + text body_id */
	KMESH_L7_REDIRECT = 5,        /* route's redirect: status + text body_id = Location */
	KMESH_L7_CIRCUIT_OPEN = 6,    /* HTTP 503: the cluster is at its max_connections */
};
#define KMESH_L7_VERDICT_MAX 7        /* verdicts above, for counters indexed by verdict */

struct km_l7_decision {
	__u32 verdict;            /* enum kmesh_l7_verdict */
	__u32 status;             /* HTTP status for DIRECT_RESPONSE / REDIRECT */
	__u32 cluster_id;         /* FORWARD: the chosen cluster */
	__u32 route_index;        /* which route matched (diagnostics; ~0 when none) */
	__u32 connect_timeout_ms; /* FORWARD: the cluster's connect_timeout; 0 = relay default */
	__u32 body_id;            /* km_l7_text index (0 = none) */
	struct km_addr endpoint;  /* FORWARD: where to connect */
	struct km_addr vip;       /* what the client dialled */
	/* FORWARD to a counted cluster (conn.counted != 0): the connection as the
	 * circuit breaker counted it on the client socket. The upstream's outcome
	 * is reported against it for outlier detection: a failed connect by the
	 * relay, the first response's status by the relay (relayed) or by
	 * kmesh_l7_server_msg (direct path). */
	struct km_conn conn;
};

/* The relay's report of an upstream connection: the ctx of the syscall
 * program kmesh_l7_connect_outcome (run with BPF_PROG_RUN), which feeds
 * outlier detection like a counted L4 connect. An HTTP connection reports
 * once: the connect when it fails, else the status of the first response. */
enum kmesh_l7_outcome {
	KMESH_L7_OUTCOME_OK = 0,     /* first response not 5xx: the run of failures ends */
	KMESH_L7_OUTCOME_FAILED = 1, /* connect refused / timed out / unreachable, or a 5xx response */
};

struct km_l7_connect_report {
	__u32 outcome; /* enum kmesh_l7_outcome */
	__u32 pad;
	struct km_conn conn;
};

/* km_l7_text (ARRAY[KMESH_MAX_L7_TEXTS]): direct-response bodies and redirect
 * locations, written by the daemon; index 0 is never used. */
struct km_l7_text {
	__u32 len;
	char text[KMESH_L7_TEXT_MAX];
};

#endif /* KMESH_L7_H */
