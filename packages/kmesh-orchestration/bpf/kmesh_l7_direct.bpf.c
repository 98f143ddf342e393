/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Same-node direct path of the L7 relay (see kernel/include/kmesh_l7_direct.h).
 *
 *   kmesh_l7_direct_sockops (mesh cgroup): an endpoint's accepted socket S
 *     whose connection the relay announced in km_l7_expect -> S into
 *     km_l7_server[K], km_l7_peer[S] = K, expect.ready = 1.
 *   kmesh_l7_upstream_msg (msg_verdict of km_l7_upstream): the relay's sends
 *     on U go straight into S's ingress, the queue the client's redirected
 *     bytes join later: one queue, one order.
 *   kmesh_l7_server_msg (msg_verdict of km_l7_server): S's sends go straight
 *     into the client socket's ingress (km_l7_client[K]).
 * A redirect whose target socket is gone falls back to the TCP leg (SK_PASS).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "kmesh_l7_maps.h"
#include "l7_direct.h"

char LICENSE[] SEC("license") = "Apache-2.0";

SEC("sockops")
int kmesh_l7_direct_sockops(struct bpf_sock_ops *ctx)
{
	struct km_l7_expect_key ek = {};
	struct km_l7_conn_key client;
	struct km_l7_conn_key *peer;
	struct km_l7_expect *expect;
	struct bpf_sock *sk;

	if (ctx->op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
		return 1;
	if (ctx->family == 2) {
		ek.ip[0] = ctx->local_ip4;
		ek.family = KMESH_AF_INET;
	} else if (ctx->family == 10) {
		ek.ip[0] = ctx->local_ip6[0];
		ek.ip[1] = ctx->local_ip6[1];
		ek.ip[2] = ctx->local_ip6[2];
		ek.ip[3] = ctx->local_ip6[3];
		ek.family = KMESH_AF_INET6;
	} else {
		return 1;
	}
	ek.port = bpf_htons((__u16)ctx->local_port); /* local_port: host order */
	ek.upstream_port = (__u16)(ctx->remote_port >> 16); /* remote_port: network order, high half */
	expect = bpf_map_lookup_elem(&km_l7_expect, &ek);
	if (!expect)
		return 1;
	sk = ctx->sk;
	if (!sk)
		return 1;
	__builtin_memcpy(&client, &expect->client, sizeof(client));
	peer = bpf_sk_storage_get(&km_l7_peer, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!peer)
		return 1;
	__builtin_memcpy(peer, &client, sizeof(client));
	if (bpf_sock_hash_update(ctx, &km_l7_server, &client, BPF_ANY) == 0)
		expect->ready = 1;
	return 1;
}

/* Redirects this socket's message into the ingress of map[its peer key]. */
static __always_inline int km_l7_redirect_to_peer(struct sk_msg_md *msg, void *map)
{
	struct km_l7_conn_key key;
	struct km_l7_conn_key *peer;
	struct bpf_sock *sk = msg->sk;

	if (!sk)
		return SK_PASS;
	peer = bpf_sk_storage_get(&km_l7_peer, sk, 0, 0);
	if (!peer)
		return SK_PASS;
	__builtin_memcpy(&key, peer, sizeof(key));
	if (bpf_msg_redirect_hash(msg, map, &key, BPF_F_INGRESS) == SK_PASS)
		return SK_PASS;
	return SK_PASS; /* target gone: the bytes take the TCP leg */
}

SEC("sk_msg")
int kmesh_l7_upstream_msg(struct sk_msg_md *msg)
{
	return km_l7_redirect_to_peer(msg, &km_l7_server);
}

SEC("sk_msg")
int kmesh_l7_server_msg(struct sk_msg_md *msg)
{
	return km_l7_redirect_to_peer(msg, &km_l7_client);
}
