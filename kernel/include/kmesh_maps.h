/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kmesh BPF maps: the one definition of every map the L4 programs share with
 * the daemon. Names, types and sizes follow docs/architecture.md exactly; the
 * daemon opens them by these names under its pin path.
 *
 * Every map is pinned by name (LIBBPF_PIN_BY_NAME) so that configuration and
 * per-socket state outlive the daemon (DESIGN constraint 3) and a reloaded
 * object reuses the maps already pinned instead of starting empty.
 *
 * Include this once per object, after kmesh_abi.h and <bpf/bpf_helpers.h>.
 */
#ifndef KMESH_MAPS_H
#define KMESH_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "kmesh_abi.h"

/* km_active: the generation connect() reads. One entry, flipped in a single
 * 8-byte update by the daemon after a whole new generation is written. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct km_active);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} km_active SEC(".maps");

/* km_listener: (gen, VIP, port) -> route (weighted clusters or an action). Sized for two live
 * generations (old and new) during an update. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KMESH_MAX_LISTENERS);
	__type(key, struct km_listener_key);
	__type(value, struct km_route);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} km_listener SEC(".maps");

/* km_chain: filter chains of wildcard listeners, by longest destination
 * prefix. LPM tries are never preallocated (the kernel requires
 * BPF_F_NO_PREALLOC); sized for two live generations like the others. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, KMESH_MAX_CHAINS);
	__type(key, struct km_chain_key);
	__type(value, struct km_route);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} km_chain SEC(".maps");

/* km_cluster: (gen, cluster id) -> policy and round-robin cursor. The cursor
 * is advanced in place with an atomic add, so it lives in the value. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KMESH_MAX_CLUSTERS);
	__type(key, struct km_cluster_key);
	__type(value, struct km_cluster_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} km_cluster SEC(".maps");

/* km_endpoint: (endpoint set, cluster id, dense index) -> endpoint with running
 * weight sum, searched by bisection. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KMESH_MAX_ENDPOINTS);
	__type(key, struct km_endpoint_key);
	__type(value, struct km_endpoint_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} km_endpoint SEC(".maps");

/* km_orig_dst: per-socket VIP, so getpeername() can hide the rewrite.
 * Socket storage is freed with the socket: no cleanup, no leak.
 * The kernel requires BPF_F_NO_PREALLOC and max_entries 0 for SK_STORAGE. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct km_orig_dst);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} km_orig_dst SEC(".maps");

/* km_stats: one u64 per enum kmesh_stat reason, per CPU so the hot path never
 * contends on a shared cache line. Readers sum across CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KMESH_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} km_stats SEC(".maps");

#endif /* KMESH_MAPS_H */
