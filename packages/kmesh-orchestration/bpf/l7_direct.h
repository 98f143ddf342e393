/* SPDX-License-Identifier: Apache-2.0 */
/*
 * L7 path after the routing decision: what a client socket's later sends do.
 * The parser's sk_msg calls km_l7_after_decision() for every message of a
 * client socket whose decision is stored (the first request included) and
 * returns its verdict.
 *
 * Relay mode (default): every byte passes to the anchor, where the relay
 * forwards it. Direct mode (same-node endpoint, see kernel/include/
 * kmesh_l7_direct.h): once the relay has set km_l7_direct[K].active and has
 * forwarded every byte this socket passed to the anchor, later messages are
 * redirected straight into the endpoint socket's ingress (km_l7_server[K]).
 * The equality check keeps the byte order: a byte is redirected only when all
 * earlier bytes already are in the endpoint socket's queue.
 *
 * The maps below are shared (pinned by name) with kmesh_l7_direct.bpf.c and
 * the relay.
 */
#ifndef KMESH_L7_DIRECT_H
#define KMESH_L7_DIRECT_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "kmesh_l7.h"
#include "kmesh_l7_direct.h"
#include "kmesh_l7_expect_map.h" /* km_l7_expect */

/* Endpoint accepted sockets S, keyed by the client connection they serve. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, KMESH_MAX_L7_DIRECT);
	__type(key, struct km_l7_conn_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} km_l7_server SEC(".maps");

/* The relay's upstream sockets U, keyed by the client connection they serve. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, KMESH_MAX_L7_DIRECT);
	__type(key, struct km_l7_conn_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} km_l7_upstream SEC(".maps");

/* Client connection -> direct-mode state (written only by the relay). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KMESH_MAX_L7_DIRECT);
	__type(key, struct km_l7_conn_key);
	__type(value, struct km_l7_direct);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} km_l7_direct SEC(".maps");

/* On the client socket: bytes passed to the anchor (written only here). */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct km_l7_passed);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} km_l7_passed SEC(".maps");

/* The accounting record of a counted decision (km_l7_decision.conn), by
 * client connection: written by the parser with the decision, taken by
 * kmesh_l7_server_msg when the endpoint's first response goes by on the
 * direct path (outlier detection; sk_msg cannot reach the client socket's
 * own record). Relayed connections never take theirs: LRU. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, KMESH_MAX_L7_DIRECT);
	__type(key, struct km_l7_conn_key);
	__type(value, struct km_conn);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} km_l7_account SEC(".maps");

/* On S (written by sock_ops) and U (written by the relay): the client key. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct km_l7_conn_key);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} km_l7_peer SEC(".maps");

static __always_inline int
km_l7_after_decision(struct sk_msg_md *msg, const struct km_l7_conn_key *client)
{
	struct bpf_sock *sk = msg->sk;
	struct km_l7_passed *passed;
	struct km_l7_direct *direct;
	struct km_l7_conn_key key;

	if (!sk)
		return SK_PASS;
	passed = bpf_sk_storage_get(&km_l7_passed, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!passed)
		return SK_PASS;
	__builtin_memcpy(&key, client, sizeof(key));
	direct = bpf_map_lookup_elem(&km_l7_direct, &key);
	if (direct && direct->active) {
		/* Redirect only when the relay caught up: nothing of ours is still
		 * in flight through the anchor. */
		if (direct->forwarded == passed->passed &&
		    bpf_msg_redirect_hash(msg, &km_l7_server, &key, BPF_F_INGRESS) == SK_PASS) {
			passed->redirected++;
			return SK_PASS;
		}
		passed->held++;
	}
	passed->passed += msg->size;
	return SK_PASS;
}

#endif /* KMESH_L7_DIRECT_H */
