/* SPDX-License-Identifier: Apache-2.0 */
/*
 * L7 route evaluation for the sk_msg program: virtual host by Host, then the
 * vhost's routes in order (path prefix / exact / regex DFA, header matchers).
 * The route-table maps are declared here (pinned by name; the daemon writes
 * them with every generation, see kernel/include/kmesh_l7_routes.h).
 */
#ifndef KMESH_HTTP_ROUTE_H
#define KMESH_HTTP_ROUTE_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "kmesh_l7_routes.h"
#include "http_head.h"

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, KMESH_MAX_L7_VHOST_KEYS);
	__type(key, struct km_l7_vhost_key);
	__type(value, struct km_l7_vhost);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} km_l7_vhost SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, KMESH_MAX_L7_ROUTES);
	__type(key, struct km_l7_index_key);
	__type(value, struct km_l7_route);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} km_l7_route SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, KMESH_MAX_L7_HEADER_MATCHES);
	__type(key, struct km_l7_index_key);
	__type(value, struct km_l7_header_match);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} km_l7_hmatch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, KMESH_MAX_L7_ROUTE_CONFIGS);
	__type(key, struct km_l7_rc_key);
	__type(value, struct km_l7_header_names);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} km_l7_hnames SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 2 * KMESH_MAX_L7_DFA_STATES);
	__type(key, struct km_l7_index_key);
	__type(value, struct km_l7_dfa_state);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} km_l7_dfa SEC(".maps");

/* --- virtual host -------------------------------------------------------- */

struct km_key_fill_ctx {
	struct km_l7_scratch *s;
	__u32 len;     /* host bytes to consider */
	__u32 reverse; /* write host[len - 1 - j] at j */
};

static long km_key_fill_byte(__u32 j, void *arg)
{
	struct km_key_fill_ctx *c = arg;
	struct km_l7_scratch *s = c->s;
	__u32 from;

	if (j >= c->len || j >= KMESH_L7_DOMAIN_BYTES)
		return 1;
	from = c->reverse ? c->len - 1 - j : j;
	s->key.host[j] = s->host[from & KM_HOST_MASK];
	return 0;
}

static __always_inline void km_key_fill(struct km_l7_scratch *s, __u32 len, __u32 reverse)
{
	struct km_key_fill_ctx c = { .s = s, .len = len, .reverse = reverse };

	bpf_loop(KMESH_L7_DOMAIN_BYTES, km_key_fill_byte, &c, 0);
}

static __always_inline __u32 km_min(__u32 a, __u32 b)
{
	return a < b ? a : b;
}

/* Exact, then longest `*.suffix`, then longest `prefix.*`, for the first
 * `len` bytes of host[]. A wildcard matches at least one byte, so the lookup
 * is limited to len - 1 bytes. */
static __always_inline const struct km_l7_vhost *
km_vhost_try(struct km_l7_scratch *s, __u32 len)
{
	const struct km_l7_vhost *vh;
	__u32 lim;

	if (len == 0 || len > KMESH_L7_HOST_MAX)
		return NULL;
	if (len < KMESH_L7_DOMAIN_BYTES) {
		km_key_fill(s, len, 0);
		s->key.host[len] = 0; /* terminator */
		s->key.kind = KMESH_L7_HOST_EXACT;
		s->key.prefixlen = KMESH_L7_VHOST_KEY_HEADER_BITS + (len + 1) * 8;
		vh = bpf_map_lookup_elem(&km_l7_vhost, &s->key);
		if (vh)
			return vh;
	}
	if (len < 2)
		return NULL;
	lim = km_min(len - 1, KMESH_L7_DOMAIN_BYTES);
	km_key_fill(s, len, 1);
	s->key.kind = KMESH_L7_HOST_SUFFIX;
	s->key.prefixlen = KMESH_L7_VHOST_KEY_HEADER_BITS + lim * 8;
	vh = bpf_map_lookup_elem(&km_l7_vhost, &s->key);
	if (vh)
		return vh;
	km_key_fill(s, lim, 0);
	s->key.kind = KMESH_L7_HOST_PREFIX;
	s->key.prefixlen = KMESH_L7_VHOST_KEY_HEADER_BITS + lim * 8;
	return bpf_map_lookup_elem(&km_l7_vhost, &s->key);
}

/* The virtual host for the parsed Host, as Envoy orders it: exact, longest
 * `*.suffix`, longest `prefix.*`, then `*`, all with the Host as sent; only
 * when none matches and the Host has a ":port", the first three again
 * without it (docs/l7.md: with a `*` vhost, "exact.test:80" lands on `*`). */
static __always_inline const struct km_l7_vhost *
km_vhost_lookup(struct km_l7_scratch *s, __u32 gen, __u32 route_config_id)
{
	struct km_http_parse *p = &s->p;
	const struct km_l7_vhost *vh;

	s->key.gen = gen;
	s->key.route_config_id = (__u16)route_config_id;
	s->key.pad = 0;
	vh = km_vhost_try(s, p->host_len);
	if (vh)
		return vh;
	s->key.kind = KMESH_L7_HOST_ANY;
	s->key.prefixlen = KMESH_L7_VHOST_KEY_HEADER_BITS;
	vh = bpf_map_lookup_elem(&km_l7_vhost, &s->key);
	if (vh)
		return vh;
	if (p->host_port_cut < p->host_len)
		return km_vhost_try(s, p->host_port_cut);
	return NULL;
}

/* --- string comparisons ---------------------------------------------------- */

struct km_path_cmp_ctx {
	const __u8 *req;           /* scratch path[] or path_lower[] */
	const struct km_l7_route *r;
	__u32 len;
	__u32 equal;
};

static long km_path_cmp_word(__u32 w, void *arg)
{
	struct km_path_cmp_ctx *c = arg;
	__u32 at = (w * 8) & KM_PATH_MASK;
	__u64 a, b;

	if (w * 8 >= c->len)
		return 1;
	a = *(const __u64 *)&c->req[at];
	b = *(const __u64 *)&c->r->path[at & (KMESH_L7_PATH_MAX - 8)];
	if (c->len - w * 8 < 8)
		a &= (1ULL << ((c->len - w * 8) * 8)) - 1;
	if (a != b) {
		c->equal = 0;
		return 1;
	}
	return 0;
}

/* The first r->path_len bytes of the request target equal r->path. */
static __always_inline int km_path_equal(struct km_l7_scratch *s, const struct km_l7_route *r)
{
	struct km_path_cmp_ctx c = {
		.req = r->case_insensitive ? s->path_lower : s->path,
		.r = r,
		.len = r->path_len,
		.equal = 1,
	};

	if (c.len > KMESH_L7_PATH_MAX)
		return 0;
	bpf_loop(KMESH_L7_PATH_MAX / 8, km_path_cmp_word, &c, 0);
	return c.equal;
}

/* --- regex DFA --------------------------------------------------------------- */

struct km_dfa_ctx {
	struct km_l7_scratch *s;
	__u32 gen;
	__u32 state;
	__u32 from_head; /* 1: bytes are head[off ..], 0: path[off ..] */
	__u32 off;
	__u32 len;
};

static long km_dfa_step(__u32 i, void *arg)
{
	struct km_dfa_ctx *c = arg;
	struct km_l7_index_key key = { .gen = c->gen, .index = c->state };
	const struct km_l7_dfa_state *st;
	__u8 ch;

	if (i >= c->len)
		return 1;
	if (c->from_head)
		ch = c->s->head[(c->off + i) & KM_HEAD_MASK];
	else
		ch = c->s->path[(c->off + i) & KM_PATH_MASK];
	st = bpf_map_lookup_elem(&km_l7_dfa, &key);
	if (!st) {
		c->state = KMESH_L7_DFA_DEAD;
		return 1;
	}
	c->state = st->next[ch];
	return c->state == KMESH_L7_DFA_DEAD;
}

/* Whole-string match of len bytes by the DFA starting at `start`. */
static __always_inline int
km_dfa_match(struct km_l7_scratch *s, __u32 gen, __u32 start, __u32 from_head, __u32 off, __u32 len)
{
	struct km_dfa_ctx c = { .s = s, .gen = gen, .state = start, .from_head = from_head, .off = off, .len = len };
	struct km_l7_index_key key = { .gen = gen };
	const struct km_l7_dfa_state *st;

	bpf_loop(KMESH_L7_HEAD_MAX, km_dfa_step, &c, 0);
	if (c.state == KMESH_L7_DFA_DEAD)
		return 0;
	key.index = c.state;
	st = bpf_map_lookup_elem(&km_l7_dfa, &key);
	return st && st->accept;
}

/* --- header matchers ------------------------------------------------------------ */

/* head[off, off + len) == value[0, len), len <= KMESH_L7_MATCH_VALUE_MAX. */
static __always_inline int
km_value_equal(struct km_l7_scratch *s, __u32 off, const struct km_l7_header_match *m, __u32 len)
{
	int k;

#pragma unroll
	for (k = 0; k < KMESH_L7_MATCH_VALUE_MAX / 8; k++) {
		__u32 at = k * 8;

		if (at >= len)
			break;
		if (km_head_word(s, off + at, len - at) != *(const __u64 *)&m->value[at])
			return 0;
	}
	return 1;
}

struct km_contains_ctx {
	struct km_l7_scratch *s;
	const struct km_l7_header_match *m;
	__u32 off;
	__u32 last;  /* last start position to try */
	__u32 found;
};

static long km_contains_at(__u32 i, void *arg)
{
	struct km_contains_ctx *c = arg;

	if (i > c->last)
		return 1;
	if (km_value_equal(c->s, c->off + i, c->m, c->m->value_len)) {
		c->found = 1;
		return 1;
	}
	return 0;
}

struct km_headers_ctx {
	struct km_l7_scratch *s;
	__u32 gen;
	__u32 first;
	__u32 count;
	__u32 matched; /* cleared by the first matcher that fails */
};

/* One matcher, before invert. */
static __always_inline int
km_header_match_raw(struct km_l7_scratch *s, __u32 gen, const struct km_l7_header_match *m)
{
	struct km_http_parse *p = &s->p;
	__u32 slot = m->slot & (KMESH_L7_MAX_HEADER_NAMES - 1);
	__u32 off, len, want = m->value_len;

	if (!(p->slot_seen & (1u << slot)))
		return 0; /* absent: fails every kind (present included) */
	off = p->slot_off[slot];
	len = p->slot_len[slot];
	switch (m->kind) {
	case KMESH_L7_HEADER_PRESENT:
		return 1;
	case KMESH_L7_HEADER_EXACT:
		return len == want && km_value_equal(s, off, m, want);
	case KMESH_L7_HEADER_PREFIX:
		return len >= want && km_value_equal(s, off, m, want);
	case KMESH_L7_HEADER_SUFFIX:
		return len >= want && km_value_equal(s, off + len - want, m, want);
	case KMESH_L7_HEADER_CONTAINS: {
		struct km_contains_ctx c = { .s = s, .m = m, .off = off, .last = len - want, .found = 0 };

		if (len < want)
			return 0;
		bpf_loop(KMESH_L7_HEAD_MAX, km_contains_at, &c, 0);
		return c.found;
	}
	case KMESH_L7_HEADER_REGEX:
		return km_dfa_match(s, gen, m->dfa_start, 1, off, len);
	default:
		return 0; /* unknown kind (newer daemon): never a false match */
	}
}

static long km_header_matcher(__u32 i, void *arg)
{
	struct km_headers_ctx *c = arg;
	struct km_l7_index_key key = { .gen = c->gen, .index = c->first + i };
	const struct km_l7_header_match *m;
	int ok;

	if (i >= c->count)
		return 1;
	m = bpf_map_lookup_elem(&km_l7_hmatch, &key);
	/* A missing or malformed record never matches (invert does not apply). */
	if (!m || m->value_len > KMESH_L7_MATCH_VALUE_MAX)
		ok = 0;
	else
		ok = km_header_match_raw(c->s, c->gen, m) != !!m->invert;
	if (!ok) {
		c->matched = 0;
		return 1;
	}
	return 0;
}

/* --- routes ------------------------------------------------------------------------- */

struct km_routes_ctx {
	struct km_l7_scratch *s;
	__u32 gen;
	__u32 first;
	__u32 count;
	__u32 chosen; /* index of the first route that matched, ~0 when none */
};

static __always_inline int km_route_path_match(struct km_l7_scratch *s, __u32 gen, const struct km_l7_route *r)
{
	struct km_http_parse *p = &s->p;

	switch (r->path_kind) {
	case KMESH_L7_PATH_PREFIX:
		return r->path_len <= p->target_len && km_path_equal(s, r);
	case KMESH_L7_PATH_EXACT:
		return r->path_len == p->path_len && km_path_equal(s, r);
	case KMESH_L7_PATH_REGEX:
		return km_dfa_match(s, gen, r->dfa_start, 0, 0, p->path_len);
	default:
		return 0;
	}
}

static long km_route_try(__u32 i, void *arg)
{
	struct km_routes_ctx *c = arg;
	struct km_l7_index_key key = { .gen = c->gen, .index = c->first + i };
	const struct km_l7_route *r;
	struct km_headers_ctx h;

	if (i >= c->count)
		return 1;
	r = bpf_map_lookup_elem(&km_l7_route, &key);
	if (!r)
		return 0;
	if (!km_route_path_match(c->s, c->gen, r))
		return 0;
	if (r->header_count > 0) {
		h.s = c->s;
		h.gen = c->gen;
		h.first = r->header_first;
		h.count = r->header_count;
		h.matched = 1;
		bpf_loop(KMESH_L7_MAX_HEADER_MATCHERS, km_header_matcher, &h, 0);
		if (!h.matched)
			return 0;
	}
	c->chosen = c->first + i;
	return 1;
}

/* Index (km_l7_route) of the first matching route of the vhost, or ~0. */
static __always_inline __u32
km_route_choose(struct km_l7_scratch *s, __u32 gen, const struct km_l7_vhost *vh)
{
	struct km_routes_ctx c = { .s = s, .gen = gen, .first = vh->route_first, .count = vh->route_count, .chosen = ~0u };

	bpf_loop(KMESH_L7_MAX_ROUTES_PER_VHOST, km_route_try, &c, 0);
	return c.chosen;
}

#endif /* KMESH_HTTP_ROUTE_H */
