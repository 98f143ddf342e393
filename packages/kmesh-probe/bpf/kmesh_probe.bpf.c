// SPDX-License-Identifier: Apache-2.0
/*
 * kmesh-probe: connection lifecycle of mesh sockets from the
 * sock:inet_sock_set_state tracepoint (tp_btf: typed struct sock pointer, no
 * tracefs needed), into a ring buffer the daemon reads.
 *
 * Counting is exact by construction: one OPEN per SYN_SENT -> ESTABLISHED,
 * one CLOSE or FAIL per socket reaching CLOSE; the byte and retransmit counts
 * are the kernel's own per-socket totals read at CLOSE, not a sum of samples.
 */
#include "vmlinux.h"
#define __KMESH_TYPES_DEFINED
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "kmesh_abi.h"
#include "kmesh_probe.h"

#define KM_AF_INET 2
#define KM_AF_INET6 10
#define KM_IPPROTO_TCP 6

/* The L4 program's per-socket VIP, reused from the instance's pin path
 * (same definition as kernel/include/kmesh_maps.h). Its presence marks a mesh
 * connection of this instance. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct km_orig_dst);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} km_orig_dst SEC(".maps");

/* When the connection started; the probe's own storage (not pinned: a
 * restarted daemon reports start 0 for connections it did not see start). */
struct km_probe_sock {
	__u64 start_ns;
	/* The local address as of ESTABLISHED: by CLOSE the kernel has already
	 * released the local port (inet_num reads 0). */
	__u16 source_port; /* network byte order */
	__u16 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct km_probe_sock);
} km_probe_sk SEC(".maps");

/* 1 MiB: about 8,700 records of 120 bytes before the daemon must read. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} km_probe_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KM_PROBE_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} km_probe_stats SEC(".maps");

static __always_inline void km_probe_count(enum km_probe_stat stat)
{
	__u32 key = stat;
	__u64 *count = bpf_map_lookup_elem(&km_probe_stats, &key);

	if (count)
		*count += 1;
}

static __always_inline void km_probe_addrs(const struct sock *sk, struct km_probe_event *e)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	/* skc_num is host order, skc_dport network order; km_addr wants network order. */
	e->source.port = bpf_htons(BPF_CORE_READ(sk, __sk_common.skc_num));
	e->endpoint.port = BPF_CORE_READ(sk, __sk_common.skc_dport);
	if (family == KM_AF_INET6) {
		e->source.family = KM_AF_INET6;
		e->endpoint.family = KM_AF_INET6;
		BPF_CORE_READ_INTO(&e->source.ip, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32);
		BPF_CORE_READ_INTO(&e->endpoint.ip, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr32);
		return;
	}
	e->source.family = KM_AF_INET;
	e->endpoint.family = KM_AF_INET;
	e->source.ip[0] = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
	e->endpoint.ip[0] = BPF_CORE_READ(sk, __sk_common.skc_daddr);
}

static __always_inline void km_probe_submit(struct sock *sk, const struct km_orig_dst *orig,
					    __u32 kind, int oldstate)
{
	struct tcp_sock *tp = (struct tcp_sock *)sk;
	struct km_probe_sock *ps;
	struct km_probe_event *e;

	e = bpf_ringbuf_reserve(&km_probe_events, sizeof(*e), 0);
	if (!e) {
		km_probe_count(KM_PROBE_STAT_RING_FULL);
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	ps = bpf_sk_storage_get(&km_probe_sk, sk, 0, 0);
	e->start_ns = ps ? ps->start_ns : 0;
	e->end_ns = bpf_ktime_get_ns();
	e->cookie = bpf_get_socket_cookie(sk);
	e->kind = kind;
	e->old_state = oldstate;
	e->sk_err = BPF_CORE_READ(sk, sk_err);
	e->bytes_acked = BPF_CORE_READ(tp, bytes_acked);
	e->bytes_received = BPF_CORE_READ(tp, bytes_received);
	e->total_retrans = BPF_CORE_READ(tp, total_retrans);
	/* The sequence space counts SYN and FIN; report whether a FIN is inside
	 * each total so user space can give payload bytes. A queued FIN advanced
	 * write_seq; it is acked when snd_una reached it. tcp_fin() sets
	 * SOCK_DONE when the peer's FIN arrives. */
	e->fin_acked = (BPF_CORE_READ(sk, sk_shutdown) & 2 /* SEND_SHUTDOWN */) &&
		       BPF_CORE_READ(tp, snd_una) == BPF_CORE_READ(tp, write_seq);
	e->fin_received = (BPF_CORE_READ(sk, __sk_common.skc_flags) >> SOCK_DONE) & 1;
	e->vip = orig->vip;
	km_probe_addrs(sk, e);
	if (ps && ps->source_port)
		e->source.port = ps->source_port;
	bpf_ringbuf_submit(e, 0);
	km_probe_count(KM_PROBE_STAT_SUBMITTED);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(kmesh_probe_state, struct sock *sk, int oldstate, int newstate)
{
	const struct km_orig_dst *orig;
	struct km_probe_sock *ps;

	km_probe_count(KM_PROBE_STAT_RUNS);
	if (BPF_CORE_READ(sk, sk_protocol) != KM_IPPROTO_TCP)
		return 0;
	/* Cheap state test first: most transitions of the host are not ours. */
	if (newstate != TCP_SYN_SENT && newstate != TCP_ESTABLISHED && newstate != TCP_CLOSE)
		return 0;
	orig = bpf_sk_storage_get(&km_orig_dst, sk, 0, 0);
	if (!orig)
		return 0; /* not a connection rewritten by this instance */

	if (newstate == TCP_SYN_SENT) {
		ps = bpf_sk_storage_get(&km_probe_sk, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (ps)
			ps->start_ns = bpf_ktime_get_ns();
		else
			km_probe_count(KM_PROBE_STAT_NO_STORAGE);
		return 0;
	}
	if (newstate == TCP_ESTABLISHED) {
		if (oldstate != TCP_SYN_SENT)
			return 0;
		ps = bpf_sk_storage_get(&km_probe_sk, sk, 0, 0);
		if (ps)
			ps->source_port = bpf_htons(BPF_CORE_READ(sk, __sk_common.skc_num));
		km_probe_submit(sk, orig, KM_PROBE_OPEN, oldstate);
		return 0;
	}
	/* TCP_CLOSE */
	if (oldstate == TCP_SYN_SENT)
		km_probe_submit(sk, orig, KM_PROBE_FAIL, oldstate);
	else if (oldstate != TCP_CLOSE)
		km_probe_submit(sk, orig, KM_PROBE_CLOSE, oldstate);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
