/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kmesh L7 (HTTP/1.1) parser and router: the kernel half of the L7 path.
 *
 *   connect4/6 (kmesh_l4.bpf.o) sent an http listener's connection to the
 *   relay's anchor and put km_l7_sk on the client socket.
 *   sock_ops (ACTIVE_ESTABLISHED, km_l7_sk present)
 *       -> km_l7_client[{netns, client's own addr}] = the client socket
 *   sk_msg (msg_verdict of km_l7_client), state NEW:
 *       head incomplete (< 4096 bytes) -> cork until the next write
 *       parse request line + headers -> virtual host -> route -> cluster
 *       -> endpoint (lb.h) -> km_l7_decision[key], state DECIDED
 *   every message once decided: km_l7_after_decision() (l7_direct.h).
 *
 * The decision uses the generation active when the request is parsed and
 * re-resolves the dialled VIP's listener in it (km_l7_sk.gen may have been
 * swept if the client waited before sending).
 *
 * Every decision increments exactly one km_l7_stats outcome counter.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "kmesh_abi.h"
#include "kmesh_maps.h"
#include "kmesh_common.h"
#include "kmesh_l7.h"
#include "kmesh_l7_maps.h"
#include "kmesh_l7_routes.h"
#include "route.h"
#include "lb.h"
#include "http_head.h"
#include "http_route.h"
#include "l7_direct.h"

/* Map ops, bpf_loop, sockhash, sk_storage, cork/pull: no GPL-only helper. */
char LICENSE[] SEC("license") = "Apache-2.0";

/* Two slots per CPU: a parse preempted by another one on the same CPU (the
 * kernel is preemptible) takes the second slot instead of corrupting the
 * first. */
#define KM_SCRATCH_SLOTS 2

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KM_SCRATCH_SLOTS);
	__type(key, __u32);
	__type(value, struct km_l7_scratch);
} km_l7_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KMESH_L7_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} km_l7_stats SEC(".maps");

static __always_inline void km_l7_stat(enum kmesh_l7_stat reason)
{
	__u32 key = reason;
	__u64 *count = bpf_map_lookup_elem(&km_l7_stats, &key);

	if (count)
		*count += 1;
}

/* The client socket's key: its own address in its netns, network order.
 * A dual-stack socket on v4-mapped addresses is keyed as IPv4 (the anchor
 * sees an IPv4 peer). local_port arrives in host order in both contexts. */
static __always_inline int km_l7_key_fill(struct km_l7_conn_key *key, __u32 family, __u32 ip4,
					  const __u32 ip6[4], __u32 local_port_host)
{
	if (family == KMESH_AF_INET) {
		key->family = KMESH_AF_INET;
		key->client_ip[0] = ip4;
	} else if (family == KMESH_AF_INET6) {
		if (km_ip6_is_v4_mapped(ip6)) {
			key->family = KMESH_AF_INET;
			key->client_ip[0] = ip6[3];
		} else {
			key->family = KMESH_AF_INET6;
			key->client_ip[0] = ip6[0];
			key->client_ip[1] = ip6[1];
			key->client_ip[2] = ip6[2];
			key->client_ip[3] = ip6[3];
		}
	} else {
		return -1;
	}
	key->client_port = bpf_htons((__u16)local_port_host);
	return 0;
}

SEC("sockops")
int kmesh_l7_sockops(struct bpf_sock_ops *ctx)
{
	struct km_l7_conn_key key = {}; /* zeroed: the hash compares padding */
	struct bpf_sock *sk;
	__u32 ip6[4];

	if (ctx->op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB)
		return 1;
	sk = ctx->sk;
	if (!sk || !bpf_sk_storage_get(&km_l7_sk, sk, 0, 0))
		return 1; /* not a connection connect4 sent to an anchor */
	/* The decision will count this connection against its cluster's
	 * circuit breaker (km_l7_pick_endpoint): state callbacks let the
	 * connection sock_ops (conn.h) give it back when the connection ends,
	 * not only when the socket is closed. */
	bpf_sock_ops_cb_flags_set(ctx, ctx->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
	ip6[0] = ctx->local_ip6[0];
	ip6[1] = ctx->local_ip6[1];
	ip6[2] = ctx->local_ip6[2];
	ip6[3] = ctx->local_ip6[3];
	if (km_l7_key_fill(&key, ctx->family, ctx->local_ip4, ip6, ctx->local_port) < 0)
		return 1;
	key.netns = bpf_get_netns_cookie(ctx);
	if (bpf_sock_hash_update(ctx, &km_l7_client, &key, BPF_NOEXIST) == 0)
		km_l7_stat(KMESH_L7_STAT_SOCK_INSERTED);
	else
		km_l7_stat(KMESH_L7_STAT_SOCK_INSERT_FAILED);
	return 1;
}

/* What parsing a message led to. */
enum km_l7_step {
	KM_L7_DECIDED = 0, /* d is filled */
	KM_L7_CORK = 1,    /* head incomplete: wait for more bytes */
};

/* Claim a scratch slot of this CPU, or NULL when both are in use. */
static __always_inline struct km_l7_scratch *km_scratch_claim(void)
{
	struct km_l7_scratch *s;
	__u32 slot;

	for (slot = 0; slot < KM_SCRATCH_SLOTS; slot++) {
		__u32 k = slot;

		s = bpf_map_lookup_elem(&km_l7_scratch, &k);
		if (s && __sync_val_compare_and_swap(&s->busy, 0, 1) == 0)
			return s;
	}
	return NULL;
}

static __always_inline void km_decide(struct km_l7_decision *d, __u32 verdict, enum kmesh_l7_stat stat)
{
	d->verdict = verdict;
	km_l7_stat(stat);
}

/* The client of an L7 connection, for MAGLEV / RING_HASH: its own address when
 * it is not loopback (a client that bound one), else its network namespace
 * (one pod = one client), as connect4 does for unbound sockets. A connection to
 * the anchor normally comes from loopback and its port changes per connection,
 * so neither says who the client is. */
static __always_inline __u64 km_l7_client_hash(struct sk_msg_md *msg)
{
	__u32 ip6[4];
	int mapped;

	if (msg->family == KMESH_AF_INET) {
		if ((bpf_ntohl(msg->local_ip4) >> 24) != 127)
			return km_lb_mix64(msg->local_ip4);
		return km_lb_mix64(bpf_get_netns_cookie(msg));
	}
	ip6[0] = msg->local_ip6[0];
	ip6[1] = msg->local_ip6[1];
	ip6[2] = msg->local_ip6[2];
	ip6[3] = msg->local_ip6[3];
	mapped = km_ip6_is_v4_mapped(ip6);
	if (mapped && (bpf_ntohl(ip6[3]) >> 24) != 127)
		return km_lb_mix64(ip6[3]);
	if (!mapped && (ip6[0] | ip6[1] | ip6[2]) != 0) /* not ::1 */
		return km_lb_mix64((((__u64)ip6[0] << 32) | ip6[1]) ^ km_lb_mix64(((__u64)ip6[2] << 32) | ip6[3]));
	return km_lb_mix64(bpf_get_netns_cookie(msg));
}

/* One endpoint of cluster_id by the cluster's policy, under its circuit
 * breaker, counted on the client socket as connect4 counts an L4 connection
 * (given back when the client socket closes: conn.h). A global function: the
 * verifier checks it once, on its own, instead of once per path of the parser
 * that reaches it. Returns the verdict: FORWARD (d->endpoint and, for a
 * counted cluster, d->conn filled), NO_ENDPOINT or CIRCUIT_OPEN. */
__attribute__((noinline)) int km_l7_pick_endpoint(struct sk_msg_md *msg, __u32 gen, __u32 cluster_id,
						  __u64 client_hash, struct km_l7_decision *d)
{
	const struct km_endpoint_value *ep;
	struct km_lb_input lb_in = { .client_hash = client_hash };
	struct km_conn_acct acct = {};
	enum kmesh_stat lb_stat = KMESH_STAT_CONNECT_NO_ENDPOINT;
	struct bpf_sock *sk;
	struct km_conn *conn;

	if (!d)
		return KMESH_L7_NO_ENDPOINT;
	ep = km_lb_select_endpoint_counted(gen, cluster_id, &lb_in, &lb_stat, &acct);
	if (!ep)
		return lb_stat == KMESH_STAT_CONNECT_CIRCUIT_OPEN ? KMESH_L7_CIRCUIT_OPEN : KMESH_L7_NO_ENDPOINT;
	d->endpoint = ep->addr;
	sk = msg->sk;
	if (!sk) {
		km_circuit_return(&acct);
		return KMESH_L7_FORWARD;
	}
	conn = km_conn_track(sk, &acct, &ep->addr, acct.endpoint_count);
	if (conn)
		d->conn = *conn;
	return KMESH_L7_FORWARD;
}

/* Which km_l7_stats outcome each verdict of the endpoint choice counts. */
static __always_inline enum kmesh_l7_stat km_l7_pick_stat(int verdict)
{
	switch (verdict) {
	case KMESH_L7_FORWARD:
		return KMESH_L7_STAT_FORWARD;
	case KMESH_L7_CIRCUIT_OPEN:
		return KMESH_L7_STAT_CIRCUIT_OPEN;
	default:
		return KMESH_L7_STAT_NO_ENDPOINT;
	}
}

/* The route's action -> decision. */
static __always_inline void
km_route_act(struct km_l7_decision *d, __u32 gen, const struct km_l7_route *r, struct sk_msg_md *msg)
{
	__u32 cluster_id, i;
	__u64 hash;
	int verdict;

	switch (r->action) {
	case KMESH_L7_ACTION_DIRECT_RESPONSE:
		d->status = r->status;
		d->body_id = r->body_id;
		km_decide(d, KMESH_L7_DIRECT_RESPONSE, KMESH_L7_STAT_DIRECT_RESPONSE);
		return;
	case KMESH_L7_ACTION_REDIRECT:
		d->status = r->status;
		d->body_id = r->body_id;
		km_decide(d, KMESH_L7_REDIRECT, KMESH_L7_STAT_REDIRECT);
		return;
	case KMESH_L7_ACTION_CLUSTERS:
		break;
	default:
		km_decide(d, KMESH_L7_NO_ROUTE, KMESH_L7_STAT_NO_ROUTE);
		return;
	}
	if (km_cluster_pick_weighted(&r->clusters, &cluster_id) < 0) {
		km_decide(d, KMESH_L7_NO_ENDPOINT, KMESH_L7_STAT_NO_ENDPOINT);
		return;
	}
	d->cluster_id = cluster_id;
	for (i = 0; i < KMESH_MAX_WEIGHTED_CLUSTERS; i++) {
		if (r->clusters.cluster_ids[i] == cluster_id) {
			d->connect_timeout_ms = r->connect_timeout_ms[i];
			break;
		}
	}
	hash = km_l7_client_hash(msg);
	verdict = km_l7_pick_endpoint(msg, gen, cluster_id, hash, d);
	km_decide(d, verdict, km_l7_pick_stat(verdict));
}

/* Route the parsed head (s->p) for the socket whose VIP is st->vip. */
static __always_inline void
km_route_request(struct km_l7_scratch *s, const struct km_l7_sk *st, struct km_l7_decision *d,
		 struct sk_msg_md *msg)
{
	struct km_l7_index_key rkey = {};
	const struct km_l7_vhost *vh;
	const struct km_l7_route *r;
	const struct km_route *lr;
	__u32 gen, rc, chosen;

	gen = km_active_generation();
	lr = gen ? km_listener_lookup(gen, &st->vip) : NULL;
	if (gen && !lr)
		lr = km_chain_lookup(gen, &st->vip);
	if (!lr || lr->action != KMESH_ACTION_HTTP || lr->route_config_id == 0) {
		km_decide(d, KMESH_L7_NO_ROUTE, KMESH_L7_STAT_NO_LISTENER);
		return;
	}
	rc = lr->route_config_id;
	vh = km_vhost_lookup(s, gen, rc);
	if (!vh) {
		km_decide(d, KMESH_L7_NO_ROUTE, KMESH_L7_STAT_NO_VHOST);
		return;
	}
	chosen = km_route_choose(s, gen, vh);
	d->route_index = chosen;
	if (chosen == ~0u) {
		km_decide(d, KMESH_L7_NO_ROUTE, KMESH_L7_STAT_NO_ROUTE);
		return;
	}
	rkey.gen = gen;
	rkey.index = chosen;
	r = bpf_map_lookup_elem(&km_l7_route, &rkey);
	if (!r) {
		km_decide(d, KMESH_L7_NO_ROUTE, KMESH_L7_STAT_NO_ROUTE);
		return;
	}
	km_route_act(d, gen, r, msg);
}

/* Parse the head in msg (bytes from offset 0: a corked message is handed
 * back whole) and decide. */
static __always_inline enum km_l7_step
km_parse_and_route(struct sk_msg_md *msg, struct km_l7_scratch *s, const struct km_l7_sk *st,
		   struct km_l7_decision *d)
{
	struct km_http_parse *p = &s->p;
	struct km_copy_ctx copy = { .msg = msg, .s = s };
	struct km_scan_ctx scan = { .s = s };
	struct km_lines_ctx lines = { .s = s };
	struct km_l7_rc_key nkey = {};
	const struct km_route *lr;
	__u32 size = msg->size, n, gen;

	n = size < KMESH_L7_HEAD_MAX ? size : KMESH_L7_HEAD_MAX;
	if (n == 0)
		return KM_L7_CORK;
	__builtin_memset(p, 0, sizeof(*p));
	if (bpf_msg_pull_data(msg, 0, n, 0) != 0) {
		km_decide(d, KMESH_L7_BAD_REQUEST, KMESH_L7_STAT_BAD_REQUEST);
		return KM_L7_DECIDED;
	}
	copy.n = n;
	bpf_loop(KMESH_L7_HEAD_MAX / 8, km_copy_word, &copy, 0);
	p->len = n;
	bpf_loop(KMESH_L7_HEAD_MAX, km_scan_byte, &scan, 0);

	if (p->bad != KM_HTTP_OK) {
		km_decide(d, KMESH_L7_BAD_REQUEST, KMESH_L7_STAT_BAD_REQUEST);
		return KM_L7_DECIDED;
	}
	/* A request line that is already wrong needs no more bytes to say so. */
	if (p->lines >= 1 && (p->sp2 == 0 || km_check_version(s) < 0)) {
		km_decide(d, KMESH_L7_BAD_REQUEST, KMESH_L7_STAT_BAD_REQUEST);
		return KM_L7_DECIDED;
	}
	if (p->head_end == 0) {
		if (size >= KMESH_L7_HEAD_MAX) {
			km_decide(d, KMESH_L7_BAD_REQUEST, KMESH_L7_STAT_TOO_LARGE);
			return KM_L7_DECIDED;
		}
		return KM_L7_CORK;
	}
	km_l7_stat(KMESH_L7_STAT_PARSED);

	/* Origin-form target only ("/..."); absolute-form and "*" are 400. */
	p->target_len = p->sp2 - p->sp1 - 1;
	if (p->target_len > KMESH_L7_PATH_MAX || s->head[(p->sp1 + 1) & KM_HEAD_MASK] != '/') {
		km_decide(d, KMESH_L7_BAD_REQUEST, KMESH_L7_STAT_BAD_REQUEST);
		return KM_L7_DECIDED;
	}
	p->path_len = p->target_len;
	bpf_loop(KMESH_L7_PATH_MAX, km_copy_target_byte, &scan, 0);

	/* The header names the route config matches on. */
	gen = km_active_generation();
	lr = gen ? km_listener_lookup(gen, &st->vip) : NULL;
	if (gen && !lr)
		lr = km_chain_lookup(gen, &st->vip);
	if (lr && lr->action == KMESH_ACTION_HTTP) {
		nkey.gen = gen;
		nkey.route_config_id = lr->route_config_id;
		lines.names = bpf_map_lookup_elem(&km_l7_hnames, &nkey);
	}
	bpf_loop(KMESH_L7_MAX_HEADER_LINES, km_header_line, &lines, 0);

	/* HTTP/1.1 requires Host; so do we (the vhost is chosen by it). */
	if (!p->host_seen || p->host_len == 0 || p->host_len > KMESH_L7_HOST_MAX) {
		km_decide(d, KMESH_L7_BAD_REQUEST, KMESH_L7_STAT_BAD_REQUEST);
		return KM_L7_DECIDED;
	}
	p->host_port_cut = p->host_len;
	bpf_loop(KMESH_L7_HOST_MAX, km_copy_host_byte, &scan, 0);
	if (p->bad != KM_HTTP_OK) {
		km_decide(d, KMESH_L7_BAD_REQUEST, KMESH_L7_STAT_BAD_REQUEST);
		return KM_L7_DECIDED;
	}
	if (p->host_port_cut + 1 >= p->host_len)
		p->host_port_cut = p->host_len; /* "host:" has no port */

	km_route_request(s, st, d, msg);
	return KM_L7_DECIDED;
}

/* Both scratch slots of this CPU are in use (a parse preempted twice): the
 * relay answers 503. A global function: its decision lives in its own frame,
 * not on the parser's stack. */
__attribute__((noinline)) int km_l7_decide_busy(struct km_l7_conn_key *key, struct km_l7_sk *st)
{
	struct km_l7_decision d = {};

	if (!key || !st)
		return -1;
	d.route_index = ~0u;
	d.vip = st->vip;
	km_decide(&d, KMESH_L7_NO_ENDPOINT, KMESH_L7_STAT_SCRATCH_BUSY);
	return bpf_map_update_elem(&km_l7_decision, key, &d, BPF_ANY);
}

SEC("sk_msg")
int kmesh_l7_sk_msg(struct sk_msg_md *msg)
{
	struct km_l7_conn_key key = {};
	struct km_l7_decision *d;
	struct km_l7_scratch *s;
	struct km_l7_sk *st;
	struct bpf_sock *sk = msg->sk;
	__u32 ip6[4];
	int stored;

	ip6[0] = msg->local_ip6[0];
	ip6[1] = msg->local_ip6[1];
	ip6[2] = msg->local_ip6[2];
	ip6[3] = msg->local_ip6[3];
	if (km_l7_key_fill(&key, msg->family, msg->local_ip4, ip6, msg->local_port) < 0)
		return SK_PASS;
	key.netns = bpf_get_netns_cookie(msg);

	st = sk ? bpf_sk_storage_get(&km_l7_sk, sk, 0, 0) : NULL;
	if (!st) {
		km_l7_stat(KMESH_L7_STAT_NO_STATE);
		return SK_PASS;
	}
	if (st->state != KMESH_L7_SK_NEW) {
		km_l7_stat(KMESH_L7_STAT_LATER_MESSAGE);
		return km_l7_after_decision(msg, &key);
	}

	s = km_scratch_claim();
	if (!s) {
		stored = km_l7_decide_busy(&key, st);
	} else {
		d = &s->d;
		__builtin_memset(d, 0, sizeof(*d));
		d->route_index = ~0u;
		d->vip = st->vip;
		if (km_parse_and_route(msg, s, st, d) == KM_L7_CORK) {
			s->busy = 0;
			/* Hold the bytes; the program runs again on the whole
			 * message once at least one more byte is written. */
			bpf_msg_cork_bytes(msg, msg->size + 1);
			km_l7_stat(KMESH_L7_STAT_CORKED);
			return SK_PASS;
		}
		stored = bpf_map_update_elem(&km_l7_decision, &key, d, BPF_ANY);
		if (stored == 0 && d->verdict == KMESH_L7_FORWARD && d->conn.counted)
			bpf_map_update_elem(&km_l7_account, &key, &d->conn, BPF_ANY);
		s->busy = 0;
	}
	if (stored != 0)
		km_l7_stat(KMESH_L7_STAT_DECISION_FAILED);
	st->state = KMESH_L7_SK_DECIDED;
	return km_l7_after_decision(msg, &key);
}

/* The relay's report of its upstream connect for a counted decision (run by
 * the relay with BPF_PROG_RUN): the same outlier bookkeeping sock_ops does
 * for a counted L4 connect, so L7 traffic ejects failing endpoints too. The
 * relay's own socket is outside the mesh cgroup, so no sock_ops sees it. */
SEC("syscall")
int kmesh_l7_connect_outcome(struct km_l7_connect_report *report)
{
	struct km_conn conn = report->conn;

	if (!conn.counted)
		return 0;
	if (report->outcome == KMESH_L7_OUTCOME_FAILED)
		km_conn_failed(&conn);
	else
		km_conn_established(&conn);
	return 0;
}
