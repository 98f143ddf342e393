/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by every Kmesh BPF program: counters, address helpers.
 * Everything here is static __always_inline: BPF-to-BPF calls would cost a
 * frame and complicate the verifier's view for no benefit at this size.
 */
#ifndef KMESH_COMMON_H
#define KMESH_COMMON_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "kmesh_abi.h"
#include "kmesh_maps.h"

/* Program verdicts for cgroup/sock_addr hooks. */
#define KM_SOCK_ADDR_ALLOW 1
#define KM_SOCK_ADDR_REJECT 0

/* errno values, spelled here because <errno.h> is a libc header that the BPF
 * target does not have. Linux values, identical on every architecture we
 * build for. */
#ifndef ECONNREFUSED
#define ECONNREFUSED 111
#endif

/* SOCK_STREAM from <linux/net.h> (not a UAPI header on every distro). */
#ifndef SOCK_STREAM
#define SOCK_STREAM 1
#endif

/* Count one outcome. Every return path of every hook calls this exactly once,
 * so km_stats answers "what happened to my connect()" without tracing. */
static __always_inline void km_stat_inc(enum kmesh_stat reason)
{
	__u32 key = reason;
	__u64 *count = bpf_map_lookup_elem(&km_stats, &key);

	/* Per-CPU slot: a plain increment is race-free. */
	if (count)
		*count += 1;
}

/* The active generation, read once per connect(): every later lookup uses
 * this value, so a concurrent flip cannot mix two configurations.
 * Returns 0 when no configuration has been applied yet. */
static __always_inline __u32 km_active_generation(void)
{
	__u32 key = 0;
	struct km_active *active = bpf_map_lookup_elem(&km_active, &key);

	if (!active)
		return 0;
	/* READ_ONCE semantics: the daemon rewrites the slot in place. */
	return *(volatile __u32 *)&active->gen;
}

/* ::ffff:0:0/96, the IPv4-mapped IPv6 prefix (RFC 4291 2.5.5.2). */
static __always_inline int km_ip6_is_v4_mapped(const __u32 ip6[4])
{
	return ip6[0] == 0 && ip6[1] == 0 && ip6[2] == bpf_htonl(0x0000ffff);
}

#endif /* KMESH_COMMON_H */
