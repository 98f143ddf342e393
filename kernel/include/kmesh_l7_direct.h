/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Same-node direct path of the L7 relay: the ABI between the relay (user
 * space) and the direct-path BPF programs (bpf/l7_direct.h, inlined in the
 * parser's sk_msg, and kmesh_l7_direct.bpf.c).
 *
 *   relay: FORWARD decision K (client key) -> upstream socket U bound to port 0,
 *          km_l7_expect[{endpoint, U's port}] = K, then connect()
 *   sock_ops (endpoint's accepted socket S, mesh cgroup, passive established):
 *          expect hit -> S into km_l7_server[K], km_l7_peer[S] = K, ready = 1
 *   relay: connected and ready -> km_l7_peer[U] = K, U into km_l7_upstream[K],
 *          km_l7_direct[K] = {forwarded 0, active 1}; relay the first bytes
 *          client -> U (U's sk_msg redirects them into S's ingress), counting
 *          them in km_l7_direct[K].forwarded
 *   client's later sends: redirected into S's ingress once every byte the
 *          client passed to the anchor (km_l7_passed on the client socket) was
 *          forwarded; S's sends are redirected into the client's ingress.
 *   FIN and RST keep travelling on the TCP legs (client<->anchor, U<->S) and
 *   the relay propagates them.
 */
#ifndef KMESH_L7_DIRECT_ABI_H
#define KMESH_L7_DIRECT_ABI_H

#include "kmesh_l7.h"

/* km_l7_expect (HASH) key: the endpoint's accepted socket as its sock_ops
 * sees it: its own address (= the endpoint) and its peer's port (= U's). */
struct km_l7_expect_key {
	__u32 ip[4];          /* endpoint address, network byte order */
	__u16 port;           /* endpoint port, network byte order */
	__u16 upstream_port;  /* U's local port, network byte order */
	__u8 family;          /* KMESH_AF_INET or KMESH_AF_INET6 */
	__u8 pad[3];
};

struct km_l7_expect {
	struct km_l7_conn_key client; /* K: the client connection U serves */
	__u32 ready;                  /* set by sock_ops once S is in km_l7_server */
	__u32 pad;
};

/* km_l7_direct (HASH K -> this): written only by the relay. */
struct km_l7_direct {
	__u64 forwarded; /* bytes the relay read from the anchor side and wrote to U */
	__u32 active;    /* 1: S and U are in their sockhashes, redirect allowed */
	__u32 pad;
};

/* km_l7_passed (SK_STORAGE on the client socket): written only by the
 * parser's sk_msg (under the client socket's lock). */
struct km_l7_passed {
	__u64 passed;     /* bytes passed to the anchor (not redirected) */
	__u64 redirected; /* messages redirected straight into S */
	__u64 held;       /* messages passed while forwarded != passed */
};

#define KMESH_MAX_L7_DIRECT 65536

#endif /* KMESH_L7_DIRECT_ABI_H */
