/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kmesh-probe ABI: the ring buffer record the tracepoint programs submit and
 * the daemon decodes (packages/kmesh-probe/src/event.ts mirrors it; a test
 * checks the layout against the BTF of the compiled object).
 *
 * One record when a mesh connection is established (OPEN), one when it ends
 * (CLOSE after ESTABLISHED, FAIL when the connect never completed). A mesh
 * connection is a socket whose connect() the L4 program rewrote: it carries a
 * km_orig_dst socket storage entry of this instance. The tracepoints are
 * host-wide; that entry is the filter, so nothing outside the instance's
 * cgroup (or of another instance) is ever reported.
 */
#ifndef KMESH_PROBE_H
#define KMESH_PROBE_H

enum km_probe_kind {
	KM_PROBE_OPEN = 1,   /* SYN_SENT -> ESTABLISHED */
	KM_PROBE_CLOSE = 2,  /* an established connection reached CLOSE */
	KM_PROBE_FAIL = 3,   /* SYN_SENT -> CLOSE: refused, timed out, reset or aborted */
};

/* Counters in km_probe_stats (per CPU). */
enum km_probe_stat {
	KM_PROBE_STAT_SUBMITTED = 0,     /* records written to the ring */
	KM_PROBE_STAT_RING_FULL = 1,     /* records lost: the ring was full (the daemon fell behind) */
	KM_PROBE_STAT_NO_STORAGE = 2,    /* connection start time could not be stored */
	KM_PROBE_STAT_RUNS = 3,          /* state-change program runs on any socket of the host */
	KM_PROBE_STAT_MAX = 4,
};

struct km_probe_event {
	__u64 start_ns;       /* CLOCK_MONOTONIC at connect() (SYN_SENT); 0 when unknown */
	__u64 end_ns;         /* CLOCK_MONOTONIC at this state change */
	__u64 cookie;         /* socket cookie: pairs OPEN with CLOSE */
	__u64 bytes_acked;    /* tcp_sock.bytes_acked: payload acked + 1 (SYN) + fin_acked */
	__u64 bytes_received; /* tcp_sock.bytes_received: payload received + fin_received */
	__u32 kind;           /* enum km_probe_kind */
	__u32 old_state;      /* TCP state before this change */
	__u32 sk_err;         /* sk->sk_err: ECONNRESET, ECONNREFUSED, ETIMEDOUT, or 0 */
	__u32 total_retrans;  /* tcp_sock.total_retrans: segments retransmitted */
	struct km_addr vip;      /* original destination (the listener) */
	struct km_addr source;   /* local address of the client socket */
	struct km_addr endpoint; /* the endpoint the connect was rewritten to */
	__u8 fin_acked;       /* our FIN was acked (it is in bytes_acked) */
	__u8 fin_received;    /* the peer's FIN arrived (it is in bytes_received) */
	__u16 pad;
};

#endif /* KMESH_PROBE_H */
