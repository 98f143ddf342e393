/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Maps of the L7 path shared between BPF objects (the L4 object's connect4,
 * the L7 parser object, the L7 direct-path object) and the relay. Pinned by
 * name next to the L4 maps, so every object that declares them shares one
 * instance. Route-table maps private to the parser live in its own header.
 * Include after kmesh_l7.h and <bpf/bpf_helpers.h>.
 */
#ifndef KMESH_L7_MAPS_H
#define KMESH_L7_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "kmesh_l7.h"

/* netns cookie -> anchor of that namespace (written by the relay). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KMESH_MAX_L7_ANCHORS);
	__type(key, __u64);
	__type(value, struct km_l7_anchor);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} km_l7_anchor SEC(".maps");

/* Client socket -> routing decision of its first request (written by sk_msg,
 * taken and deleted by the relay). LRU: a decision the relay never takes
 * (client gone) ages out instead of filling the map. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, KMESH_MAX_L7_PENDING);
	__type(key, struct km_l7_conn_key);
	__type(value, struct km_l7_decision);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} km_l7_decision SEC(".maps");

/* Direct-response bodies and redirect locations (written by the daemon). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KMESH_MAX_L7_TEXTS);
	__type(key, __u32);
	__type(value, struct km_l7_text);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} km_l7_text SEC(".maps");

#include "kmesh_l7_sk_map.h"

/* Client sockets sent to an anchor, keyed by struct km_l7_conn_key (the
 * client's own address in its netns). Inserted by the parser object's
 * sock_ops; the parser's sk_msg is attached here. The direct-path object
 * redirects server replies into these sockets' ingress. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, KMESH_MAX_L7_PENDING);
	__type(key, struct km_l7_conn_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} km_l7_client SEC(".maps");

#endif /* KMESH_L7_MAPS_H */
