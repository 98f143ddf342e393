/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.x request head parsing for the L7 sk_msg program: copy the head into
 * a per-CPU scratch buffer, find the request line, the header lines and the
 * end of the head, then pull out what routing needs (target, Host, the values
 * of the route config's header names).
 *
 * Every loop is a bpf_loop() (its callback is verified once, whatever the
 * number of iterations) or a short constant-bound loop. Indexes into the
 * scratch buffers are masked to the buffer size, and the buffers carry
 * KM_SLACK bytes after the masked range so an 8-byte load at the last masked
 * offset stays inside the map value.
 */
#ifndef KMESH_HTTP_HEAD_H
#define KMESH_HTTP_HEAD_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "kmesh_l7_routes.h"

#define KM_SLACK 64
#define KM_HEAD_MASK (KMESH_L7_HEAD_MAX - 1)      /* 4095 */
#define KM_PATH_MASK (KMESH_L7_PATH_MAX - 1)      /* 1023 */
#define KM_HOST_BUF 256
#define KM_HOST_MASK (KM_HOST_BUF - 1)
#define KM_LINES_MAX (KMESH_L7_MAX_HEADER_LINES + 1) /* request line + headers */
#define KM_LINES_MASK 63

/* What the byte scan and the line pass found. Offsets are into head[]. */
struct km_http_parse {
	__u32 len;          /* bytes copied into head[] */
	__u32 line_start;   /* start of the line being scanned */
	__u32 lines;        /* complete lines so far (request line included) */
	__u32 sp1, sp2;     /* the two spaces of the request line (0 = not seen) */
	__u32 rl_end;       /* end of the request line (before CR LF) */
	__u32 colon;        /* first ':' of the header line being scanned (0 = none) */
	__u32 vstart, vend; /* value of that line without leading/trailing SP/HTAB (vstart 0 = empty) */
	__u32 head_end;     /* offset after the empty line (0 = head incomplete) */
	__u32 bad;          /* enum km_http_fault */
	__u32 target_len;   /* request target bytes (query included) */
	__u32 path_len;     /* target bytes before the first '?' */
	__u32 host_off, host_len, host_seen;
	__u32 host_port_cut; /* Host length without ":port" (= host_len when no port) */
	__u32 slot_off[KMESH_L7_MAX_HEADER_NAMES];
	__u32 slot_len[KMESH_L7_MAX_HEADER_NAMES];
	__u32 slot_seen;    /* bit i: header name i was found */
	__u16 hl_start[KM_LINES_MAX + 1];
	__u16 hl_colon[KM_LINES_MAX + 1];
	__u16 hl_vstart[KM_LINES_MAX + 1];
	__u16 hl_vend[KM_LINES_MAX + 1];
};

enum km_http_fault {
	KM_HTTP_OK = 0,
	KM_HTTP_MALFORMED = 1,  /* request line or header line not HTTP/1.x: 400 */
};

/* The per-CPU work area of one parse (one map value, so every index is
 * checked against its size; far too big for the 512-byte stack). */
struct km_l7_scratch {
	__u8 head[KMESH_L7_HEAD_MAX + KM_SLACK];
	__u8 path[KMESH_L7_PATH_MAX + KM_SLACK];       /* target as sent */
	__u8 path_lower[KMESH_L7_PATH_MAX + KM_SLACK]; /* target ASCII-lower-cased */
	__u8 host[KM_HOST_BUF + KM_SLACK];             /* Host value lower-cased */
	struct km_l7_vhost_key key;                    /* virtual-host lookup key */
	struct km_http_parse p;
	struct km_l7_decision d;                       /* what the parse decides (off the stack:
	                                                * the endpoint choice needs the room) */
	__u32 busy;                                    /* a parse is running on this slot */
	__u32 pad;
};

static __always_inline __u8 km_lower(__u8 c)
{
	return (c >= 'A' && c <= 'Z') ? c | 0x20 : c;
}

/* --- copy: msg bytes [0, n) -> head[], 8 bytes per iteration ------------- */

struct km_copy_ctx {
	struct sk_msg_md *msg;
	struct km_l7_scratch *s;
	__u32 n;
};

static long km_copy_word(__u32 w, void *arg)
{
	struct km_copy_ctx *c = arg;
	struct km_l7_scratch *s = c->s;
	__u32 off = (w * 8) & KM_HEAD_MASK;
	void *data, *end;
	__u8 *p;
	int k;

	if (w * 8 >= c->n)
		return 1;
	data = (void *)(long)c->msg->data;
	end = (void *)(long)c->msg->data_end;
	p = data + off;
	if ((void *)(p + 8) <= end) {
		*(__u64 *)&s->head[off] = *(__u64 *)p;
		return 0;
	}
	/* The last, partial word. */
	for (k = 0; k < 8; k++) {
		if ((void *)(p + k + 1) > end)
			break;
		s->head[(off + k) & KM_HEAD_MASK] = p[k];
	}
	return 1;
}

/* --- scan: every byte once; finds lines, spaces, colons, the head's end --- */

struct km_scan_ctx {
	struct km_l7_scratch *s;
};

/* Records the header line that ends at `end` (exclusive, CR stripped).
 * Returns 1 to stop the scan. */
static __always_inline int km_scan_line_end(struct km_l7_scratch *s, __u32 i, __u32 end)
{
	struct km_http_parse *p = &s->p;
	__u32 n = p->lines;

	if (n == 0) {
		p->rl_end = end;
	} else if (end == p->line_start) {
		p->head_end = i + 1; /* the empty line: end of the head */
		return 1;
	} else {
		/* A header line needs "name:"; an empty name or a folded
		 * continuation line (starts with SP/HTAB) is malformed. */
		if (p->colon == 0 || p->colon == p->line_start) {
			p->bad = KM_HTTP_MALFORMED;
			return 1;
		}
		/* Lines after the first 32 headers are checked and skipped:
		 * the matchers (and the Host lookup) do not see them. */
		if (n > KMESH_L7_MAX_HEADER_LINES)
			goto next_line;
		p->hl_start[n & KM_LINES_MASK] = p->line_start;
		p->hl_colon[n & KM_LINES_MASK] = p->colon;
		p->hl_vstart[n & KM_LINES_MASK] = p->vstart ? p->vstart : end;
		p->hl_vend[n & KM_LINES_MASK] = p->vstart ? p->vend : end;
	}
next_line:
	p->lines = n + 1;
	p->line_start = i + 1;
	p->colon = 0;
	p->vstart = 0;
	p->vend = 0;
	return 0;
}

static long km_scan_byte(__u32 i, void *arg)
{
	struct km_scan_ctx *c = arg;
	struct km_l7_scratch *s = c->s;
	struct km_http_parse *p = &s->p;
	__u32 end;
	__u8 ch;

	if (i >= p->len)
		return 1;
	ch = s->head[i & KM_HEAD_MASK];
	if (ch == '\n') {
		end = i;
		if (end > p->line_start && s->head[(end - 1) & KM_HEAD_MASK] == '\r')
			end--;
		return km_scan_line_end(s, i, end);
	}
	if (ch == '\r')
		return 0; /* only meaningful before LF (checked there) */
	if (p->lines == 0) {
		/* Request line: exactly two spaces, no control bytes. */
		if (ch == ' ') {
			if (p->sp1 == 0 && i > 0)
				p->sp1 = i;
			else if (p->sp2 == 0 && p->sp1 != 0 && i > p->sp1 + 1)
				p->sp2 = i;
			else
				goto malformed;
			return 0;
		}
		if (ch < 0x21 || ch == 0x7f)
			goto malformed;
		return 0;
	}
	if (p->colon == 0) {
		/* Header name: a token, lower-cased in place for the name match. */
		if (ch == ':') {
			p->colon = i;
			return 0;
		}
		if (ch <= 0x20 || ch == 0x7f)
			goto malformed; /* also rejects obs-fold (line starting with SP) */
		s->head[i & KM_HEAD_MASK] = km_lower(ch);
		return 0;
	}
	/* Header value: any byte but NUL and other controls except HTAB;
	 * the value span skips leading and trailing SP/HTAB (OWS). */
	if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
		goto malformed;
	if (ch != ' ' && ch != '\t') {
		if (p->vstart == 0)
			p->vstart = i;
		p->vend = i + 1;
	}
	return 0;
malformed:
	p->bad = KM_HTTP_MALFORMED;
	return 1;
}

/* --- request line ---------------------------------------------------------- */

/* "HTTP/1.0" or "HTTP/1.1" at [sp2 + 1, rl_end). Returns 0 when it is. */
static __always_inline int km_check_version(struct km_l7_scratch *s)
{
	struct km_http_parse *p = &s->p;
	__u32 v = p->sp2 + 1;
	__u8 minor;

	if (p->rl_end != v + 8)
		return -1;
	if (s->head[v & KM_HEAD_MASK] != 'H' || s->head[(v + 1) & KM_HEAD_MASK] != 'T' ||
	    s->head[(v + 2) & KM_HEAD_MASK] != 'T' || s->head[(v + 3) & KM_HEAD_MASK] != 'P' ||
	    s->head[(v + 4) & KM_HEAD_MASK] != '/' || s->head[(v + 5) & KM_HEAD_MASK] != '1' ||
	    s->head[(v + 6) & KM_HEAD_MASK] != '.')
		return -1;
	minor = s->head[(v + 7) & KM_HEAD_MASK];
	return (minor == '0' || minor == '1') ? 0 : -1;
}

/* Copy the target into path[] and path_lower[]; path_len stops at '?'. */
static long km_copy_target_byte(__u32 i, void *arg)
{
	struct km_scan_ctx *c = arg;
	struct km_l7_scratch *s = c->s;
	struct km_http_parse *p = &s->p;
	__u8 ch;

	if (i >= p->target_len)
		return 1;
	ch = s->head[(p->sp1 + 1 + i) & KM_HEAD_MASK];
	s->path[i & KM_PATH_MASK] = ch;
	s->path_lower[i & KM_PATH_MASK] = km_lower(ch);
	if (ch == '?' && p->path_len == p->target_len)
		p->path_len = i;
	return 0;
}

/* --- header lines ------------------------------------------------------------ */

/* The u64 at head[off] with only its first `len` bytes (len 1..8) kept. */
static __always_inline __u64 km_head_word(struct km_l7_scratch *s, __u32 off, __u32 len)
{
	__u64 w = *(__u64 *)&s->head[off & KM_HEAD_MASK];

	if (len < 8)
		w &= (1ULL << (len * 8)) - 1;
	return w;
}

/* head[off, off + len) == name[0, len) for len <= KMESH_L7_HEADER_NAME_MAX;
 * name is zero-padded to 64 bytes. */
static __always_inline int km_name_equal(struct km_l7_scratch *s, __u32 off, const __u8 *name, __u32 len)
{
	int k;

	if (len == 0 || len > KMESH_L7_HEADER_NAME_MAX)
		return 0;
#pragma unroll
	for (k = 0; k < KMESH_L7_HEADER_NAME_MAX / 8; k++) {
		__u32 at = k * 8;

		if (at >= len)
			break;
		if (km_head_word(s, off + at, len - at) != *(const __u64 *)&name[at])
			return 0;
	}
	return 1;
}

struct km_name_ctx {
	struct km_l7_scratch *s;
	const struct km_l7_header_names *names;
	__u32 start, name_len, vstart, vend;
};

/* Is this header line the route config's header name k? Records the value
 * of the first occurrence only. */
static long km_header_name_try(__u32 k, void *arg)
{
	struct km_name_ctx *c = arg;
	const struct km_l7_header_names *names = c->names;
	struct km_http_parse *p = &c->s->p;
	__u32 slot = k & (KMESH_L7_MAX_HEADER_NAMES - 1);

	if (k >= names->count || k >= KMESH_L7_MAX_HEADER_NAMES)
		return 1;
	if (p->slot_seen & (1u << slot))
		return 0;
	if (names->name_len[slot] != c->name_len)
		return 0;
	if (!km_name_equal(c->s, c->start, &names->names[slot * KMESH_L7_HEADER_NAME_MAX], c->name_len))
		return 0;
	p->slot_seen |= 1u << slot;
	p->slot_off[slot] = c->vstart;
	p->slot_len[slot] = c->vend - c->vstart;
	return 0;
}

struct km_lines_ctx {
	struct km_l7_scratch *s;
	const struct km_l7_header_names *names; /* NULL: the route config matches no header */
};

/* One header line: Host, or one of the route config's header names. The
 * value is the line after ':' with leading and trailing SP/HTAB removed. */
static long km_header_line(__u32 j, void *arg)
{
	struct km_lines_ctx *c = arg;
	struct km_l7_scratch *s = c->s;
	struct km_http_parse *p = &s->p;
	const struct km_l7_header_names *names = c->names;
	__u32 n = j + 1, start, colon, vstart, vend, name_len;
	struct km_name_ctx nc;

	if (n >= p->lines || n > KMESH_L7_MAX_HEADER_LINES)
		return 1;
	start = p->hl_start[n & KM_LINES_MASK];
	colon = p->hl_colon[n & KM_LINES_MASK];
	vstart = p->hl_vstart[n & KM_LINES_MASK];
	vend = p->hl_vend[n & KM_LINES_MASK];
	name_len = colon - start;

	if (name_len == 4 && km_head_word(s, start, 4) == 0x74736f68ULL /* "host" LE */) {
		if (!p->host_seen) {
			p->host_seen = 1;
			p->host_off = vstart;
			p->host_len = vend - vstart;
		}
	}
	if (!names)
		return 0;
	nc.s = s;
	nc.names = names;
	nc.start = start;
	nc.name_len = name_len;
	nc.vstart = vstart;
	nc.vend = vend;
	bpf_loop(KMESH_L7_MAX_HEADER_NAMES, km_header_name_try, &nc, 0);
	return 0;
}

/* --- Host ------------------------------------------------------------------- */

/* Copy the Host value lower-cased into host[]; find ":port". Returns 1 (stop)
 * on a byte a host name cannot hold. */
static long km_copy_host_byte(__u32 i, void *arg)
{
	struct km_scan_ctx *c = arg;
	struct km_l7_scratch *s = c->s;
	struct km_http_parse *p = &s->p;
	__u8 ch;

	if (i >= p->host_len)
		return 1;
	ch = km_lower(s->head[(p->host_off + i) & KM_HEAD_MASK]);
	if (ch <= 0x20 || ch == 0x7f || ch == '/') {
		p->bad = KM_HTTP_MALFORMED;
		return 1;
	}
	s->host[i & KM_HOST_MASK] = ch;
	/* ":port" = the last ':' followed by digits only; inside "[v6]" a ':'
	 * is part of the address, so a ':' counts only outside brackets. */
	if (ch == ':') {
		if (s->host[0] != '[' || (i > 0 && s->host[(i - 1) & KM_HOST_MASK] == ']'))
			p->host_port_cut = i;
		else
			p->host_port_cut = p->host_len;
	} else if (ch < '0' || ch > '9') {
		p->host_port_cut = p->host_len;
	}
	return 0;
}

#endif /* KMESH_HTTP_HEAD_H */
