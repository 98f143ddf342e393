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
#include "kmesh_common.h"
#include "conn.h" /* outlier detection of the endpoint by its first response */

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
	if (km_l7_expect_key_of(ctx, &ek) < 0)
		return 1;
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

/* The client connection this socket serves (km_l7_peer), into *key; -1 when
 * it has none. */
static __always_inline int km_l7_peer_key(struct sk_msg_md *msg, struct km_l7_conn_key *key)
{
	struct km_l7_conn_key *peer;

	if (!msg->sk)
		return -1;
	peer = bpf_sk_storage_get(&km_l7_peer, msg->sk, 0, 0);
	if (!peer)
		return -1;
	__builtin_memcpy(key, peer, sizeof(*key));
	return 0;
}

/* Redirects the message into the ingress of map[key]. When the target is gone
 * the bytes take the TCP leg. */
static __always_inline int km_l7_redirect(struct sk_msg_md *msg, void *map, struct km_l7_conn_key *key)
{
	bpf_msg_redirect_hash(msg, map, key, BPF_F_INGRESS);
	return SK_PASS;
}

SEC("sk_msg")
int kmesh_l7_upstream_msg(struct sk_msg_md *msg)
{
	struct km_l7_conn_key key;

	if (km_l7_peer_key(msg, &key) < 0)
		return SK_PASS;
	return km_l7_redirect(msg, &km_l7_server, &key);
}

/* On S: its first response has been looked at. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u32);
} km_l7_answered SEC(".maps");

/* The class (1-5) of the status line at the start of msg, or 0 when the
 * message does not start with one. */
static __always_inline int km_http_status_class(struct sk_msg_md *msg)
{
	char *data, *end;

	if (bpf_msg_pull_data(msg, 0, 10, 0) != 0)
		return 0; /* shorter than "HTTP/1.x N" */
	data = msg->data;
	end = msg->data_end;
	if (data + 10 > end)
		return 0;
	if (data[0] != 'H' || data[1] != 'T' || data[2] != 'T' || data[3] != 'P' || data[4] != '/' ||
	    data[5] != '1' || data[6] != '.' || data[8] != ' ')
		return 0;
	if (data[9] < '1' || data[9] > '5')
		return 0;
	return data[9] - '0';
}

/* The endpoint's first response on a direct connection, for outlier
 * detection (consecutive_5xx): a 5xx is one more failure of the endpoint,
 * anything else ends its run. Reported against the accounting record the
 * decision left in km_l7_account; the relay, which never sees these bytes,
 * reports nothing for such a connection. Once per connection. */
static __always_inline void km_l7_first_response(struct sk_msg_md *msg, const struct km_l7_conn_key *client_key)
{
	struct bpf_sock *sk = msg->sk;
	struct km_conn *account, record;
	__u32 *answered;
	int class;

	if (!sk)
		return;
	answered = bpf_sk_storage_get(&km_l7_answered, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!answered || *answered)
		return;
	*answered = 1;
	account = bpf_map_lookup_elem(&km_l7_account, client_key);
	if (!account)
		return; /* an uncounted cluster */
	record = *account;
	bpf_map_delete_elem(&km_l7_account, client_key);
	class = km_http_status_class(msg);
	if (!class || !record.counted)
		return;
	if (class == 5)
		km_conn_failed(&record);
	else
		km_conn_established(&record);
}

SEC("sk_msg")
int kmesh_l7_server_msg(struct sk_msg_md *msg)
{
	struct km_l7_conn_key key;

	/* One peer lookup per message serves both the outlier check and the
	 * redirect. */
	if (km_l7_peer_key(msg, &key) < 0)
		return SK_PASS;
	km_l7_first_response(msg, &key);
	return km_l7_redirect(msg, &km_l7_client, &key);
}
