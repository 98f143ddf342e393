/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kmesh sockmap acceleration: same-node mesh connections skip the TCP/IP stack.
 *
 *   sock_ops (cgroup, ACTIVE/PASSIVE_ESTABLISHED)
 *       -> km_sock[{netns, local, remote}] = this socket
 *   sk_msg (msg_verdict of km_sock), on every sendmsg of a socket in km_sock
 *       -> km_sock[{netns, remote, local}] (the peer) found: redirect the
 *          payload into the peer's receive queue (BPF_F_INGRESS)
 *       -> not found: pass, the bytes take the normal TCP path
 *
 * Only the payload moves: the handshake, FIN and RST still travel through TCP,
 * so half-close and reset behave as without sockmap. A socket leaves km_sock
 * by itself when it closes (the kernel unlinks it), so nothing here deletes.
 * Insertion can fail (a socket that is already half-closed cannot join a
 * sockhash: EOPNOTSUPP); such a connection keeps the normal path.
 *
 * Every outcome increments one km_sock_stats counter (enum kmesh_sock_stat).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "kmesh_abi.h"
#include "kmesh_sockmap.h"
#include "kmesh_l7_sk_map.h"
#include "kmesh_l7_expect_map.h"

/* bpf_sock_hash_update and bpf_msg_redirect_hash are not GPL-only. */
char LICENSE[] SEC("license") = "Apache-2.0";

/* Pinned by name next to the L4 maps, so the sockets stay accelerated while
 * the daemon restarts, and `kmesh cleanup` removes it with the rest. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, KMESH_MAX_SOCKETS);
	__type(key, struct km_sock_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} km_sock SEC(".maps");

/* Per CPU: the sendmsg path never contends on a shared cache line. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KMESH_SOCK_STAT_MAX);
	__type(key, __u32);
	__type(value, struct km_sock_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} km_sock_stats SEC(".maps");

static __always_inline void km_sock_stat(enum kmesh_sock_stat reason, __u64 bytes)
{
	__u32 key = reason;
	struct km_sock_counter *c = bpf_map_lookup_elem(&km_sock_stats, &key);

	if (c) {
		c->count += 1;
		c->bytes += bytes;
	}
}

/* ::ffff:0:0/96 (RFC 4291 2.5.5.2). */
static __always_inline int km_v4_mapped(const __u32 ip6[4])
{
	return ip6[0] == 0 && ip6[1] == 0 && ip6[2] == bpf_htonl(0x0000ffff);
}

/* Fill the address part of a key from a context's fields. `swap` builds the
 * peer's key (its local is our remote). Ports arrive as the kernel hands them:
 * local in host order, remote as the network-order 16 bits in the upper half
 * of a u32 on little endian, which bpf_ntohl turns into host order.
 * Returns 0, or -1 for a family this object does not accelerate. */
static __always_inline int km_sock_key_fill(struct km_sock_key *key, __u32 family,
					    __u32 local4, __u32 remote4,
					    const __u32 local6[4], const __u32 remote6[4],
					    __u32 local_port, __u32 remote_port_raw, int swap)
{
	__u32 *mine = swap ? key->remote_ip : key->local_ip;
	__u32 *theirs = swap ? key->local_ip : key->remote_ip;
	__u16 lport = (__u16)local_port;
	__u16 rport = (__u16)bpf_ntohl(remote_port_raw);

	if (family == KMESH_AF_INET) {
		key->family = KMESH_AF_INET;
		mine[0] = local4;
		theirs[0] = remote4;
	} else if (family == KMESH_AF_INET6) {
		if (km_v4_mapped(local6) && km_v4_mapped(remote6)) {
			/* dual-stack socket talking IPv4: key it as IPv4 so an
			 * AF_INET peer finds it */
			key->family = KMESH_AF_INET;
			mine[0] = local6[3];
			theirs[0] = remote6[3];
		} else {
			key->family = KMESH_AF_INET6;
			mine[0] = local6[0];
			mine[1] = local6[1];
			mine[2] = local6[2];
			mine[3] = local6[3];
			theirs[0] = remote6[0];
			theirs[1] = remote6[1];
			theirs[2] = remote6[2];
			theirs[3] = remote6[3];
		}
	} else {
		return -1;
	}
	key->local_port = swap ? rport : lport;
	key->remote_port = swap ? lport : rport;
	return 0;
}

/* A peer in this namespace: a loopback address, or our own address (a pod
 * calling itself through its pod IP). Addresses are in network order. */
static __always_inline int km_sock_peer_is_local(const struct km_sock_key *key)
{
	if (key->family == KMESH_AF_INET)
		return (bpf_ntohl(key->remote_ip[0]) >> 24) == 127 ||
		       key->remote_ip[0] == key->local_ip[0];
	if (key->remote_ip[0] == 0 && key->remote_ip[1] == 0 && key->remote_ip[2] == 0 &&
	    key->remote_ip[3] == bpf_htonl(1))
		return 1; /* ::1 */
	return key->remote_ip[0] == key->local_ip[0] && key->remote_ip[1] == key->local_ip[1] &&
	       key->remote_ip[2] == key->local_ip[2] && key->remote_ip[3] == key->local_ip[3];
}

/* An accepted socket whose connection the L7 relay announced (km_l7_expect). */
static __always_inline int km_l7_announced(const struct bpf_sock_ops *ctx)
{
	struct km_l7_expect_key ek = {}; /* zeroed: the hash compares padding too */

	return km_l7_expect_key_of(ctx, &ek) == 0 && bpf_map_lookup_elem(&km_l7_expect, &ek) != NULL;
}

SEC("sockops")
int kmesh_sockops(struct bpf_sock_ops *ctx)
{
	struct km_sock_key key = {}; /* zeroed: the hash compares padding too */
	__u32 local6[4], remote6[4];

	if (ctx->op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB &&
	    ctx->op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
		return 1;
	/* A client socket of the L7 path belongs to km_l7_client (its sk_msg
	 * parses the request); a socket can be in one sockhash with an sk_msg
	 * only, so whichever sock_ops ran first would win. Leave it to L7. */
	if (ctx->sk && bpf_sk_storage_get(&km_l7_sk, ctx->sk, 0, 0)) {
		km_sock_stat(KMESH_SOCK_STAT_L7_CLIENT, 0);
		return 1;
	}
	/* Likewise the endpoint side of an L7 connection the relay announced:
	 * the direct path takes it into km_l7_server (its sock_ops runs after
	 * this one). */
	if (ctx->op == BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB && km_l7_announced(ctx)) {
		km_sock_stat(KMESH_SOCK_STAT_L7_ENDPOINT, 0);
		return 1;
	}

	/* Copy the IPv6 arrays field by field: sock_ops context reads must be
	 * 4-byte loads at known offsets. */
	local6[0] = ctx->local_ip6[0];
	local6[1] = ctx->local_ip6[1];
	local6[2] = ctx->local_ip6[2];
	local6[3] = ctx->local_ip6[3];
	remote6[0] = ctx->remote_ip6[0];
	remote6[1] = ctx->remote_ip6[1];
	remote6[2] = ctx->remote_ip6[2];
	remote6[3] = ctx->remote_ip6[3];
	if (km_sock_key_fill(&key, ctx->family, ctx->local_ip4, ctx->remote_ip4, local6, remote6,
			     ctx->local_port, ctx->remote_port, 0) < 0) {
		km_sock_stat(KMESH_SOCK_STAT_NOT_TCP_FAMILY, 0);
		return 1;
	}
	/* The key carries the netns cookie, so only a peer in this namespace can
	 * ever be found. Sockets whose peer is elsewhere (another pod over veth, a
	 * remote host) would only slow every send down with a psock and an sk_msg
	 * run: leave them on the normal path. */
	if (!km_sock_peer_is_local(&key)) {
		km_sock_stat(KMESH_SOCK_STAT_NOT_LOCAL_PEER, 0);
		return 1;
	}
	key.netns = bpf_get_netns_cookie(ctx);

	if (bpf_sock_hash_update(ctx, &km_sock, &key, BPF_NOEXIST) == 0)
		km_sock_stat(KMESH_SOCK_STAT_INSERTED, 0);
	else
		km_sock_stat(KMESH_SOCK_STAT_INSERT_FAILED, 0);
	return 1;
}

SEC("sk_msg")
int kmesh_sk_msg(struct sk_msg_md *msg)
{
	struct km_sock_key peer = {};
	__u32 local6[4], remote6[4];
	__u64 bytes = msg->size;

	local6[0] = msg->local_ip6[0];
	local6[1] = msg->local_ip6[1];
	local6[2] = msg->local_ip6[2];
	local6[3] = msg->local_ip6[3];
	remote6[0] = msg->remote_ip6[0];
	remote6[1] = msg->remote_ip6[1];
	remote6[2] = msg->remote_ip6[2];
	remote6[3] = msg->remote_ip6[3];
	/* Only sockets sock_ops inserted run this program, so the family is
	 * one km_sock_key_fill accepts; a failure would still just pass. */
	if (km_sock_key_fill(&peer, msg->family, msg->local_ip4, msg->remote_ip4, local6, remote6,
			     msg->local_port, msg->remote_port, 1) < 0) {
		km_sock_stat(KMESH_SOCK_STAT_NO_PEER, bytes);
		return SK_PASS;
	}
	peer.netns = bpf_get_netns_cookie(msg);

	if (bpf_msg_redirect_hash(msg, &km_sock, &peer, BPF_F_INGRESS) == SK_PASS) {
		km_sock_stat(KMESH_SOCK_STAT_REDIRECTED, bytes);
		return SK_PASS;
	}
	/* Peer not in km_sock: the other end is remote, in another namespace,
	 * outside the mesh cgroup, or could not be inserted. */
	km_sock_stat(KMESH_SOCK_STAT_NO_PEER, bytes);
	return SK_PASS;
}
