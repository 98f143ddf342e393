/* SPDX-License-Identifier: Apache-2.0 */
/*
 * km_l7_sk alone, for objects that only need to recognise a socket of the L7
 * path (the sockmap object leaves those sockets to the L7 sock_ops). Part of
 * kmesh_l7_maps.h; pinned by name, so every object shares one instance.
 */
#ifndef KMESH_L7_SK_MAP_H
#define KMESH_L7_SK_MAP_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "kmesh_l7.h"

/* Per client socket: route config, generation and state (written by connect4). */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct km_l7_sk);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} km_l7_sk SEC(".maps");

#endif /* KMESH_L7_SK_MAP_H */
