/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kmesh sockmap acceleration (kmesh_sockmap.bpf.o): the ABI of its two maps.
 *
 * sock_ops puts every established TCP socket of the mesh cgroup into km_sock,
 * keyed by its own 4-tuple; sk_msg (attached to km_sock as msg_verdict) looks
 * up the reversed tuple, which is the peer socket when both ends are local, and
 * redirects the payload into the peer's receive queue, skipping the TCP/IP
 * stack. A message whose peer is not in km_sock takes the normal path.
 *
 * The key carries the network namespace cookie: a TCP 4-tuple names one
 * connection only inside one network namespace (two namespaces may use the
 * same addresses), so a redirect never crosses namespaces. Pairs whose ends
 * live in different namespaces (veth) are therefore not accelerated.
 *
 * Same conventions as kmesh_abi.h: explicit padding, IPv4 in ip[0]. A
 * v4-mapped IPv6 socket (::ffff:a.b.c.d on both ends) is keyed as IPv4, so a
 * dual-stack server socket finds its IPv4 client and the other way round.
 */
#ifndef KMESH_SOCKMAP_H
#define KMESH_SOCKMAP_H

#ifndef __KMESH_TYPES_DEFINED
#include <linux/types.h>
#endif

/* Sockets km_sock can hold: established mesh connections on this node, two
 * per local connection. A socket that does not fit is simply not accelerated. */
#define KMESH_MAX_SOCKETS 65536

/* Counters in km_sock_stats, one reason code per outcome. Tracepoints do not
 * see redirected bytes, so these are the only byte counts of that path. */
enum kmesh_sock_stat {
	KMESH_SOCK_STAT_INSERTED = 0,        /* socket added to km_sock (count only) */
	KMESH_SOCK_STAT_INSERT_FAILED = 1,   /* socket could not be added (e.g. already half-closed): normal path */
	KMESH_SOCK_STAT_REDIRECTED = 2,      /* message redirected to the peer socket (count, bytes) */
	KMESH_SOCK_STAT_NO_PEER = 3,         /* peer not in km_sock (remote or unaccelerated): normal path (count, bytes) */
	KMESH_SOCK_STAT_NOT_TCP_FAMILY = 4,  /* socket family neither IPv4 nor IPv6: not added (count only) */
	KMESH_SOCK_STAT_NOT_LOCAL_PEER = 5,  /* peer is not in this namespace (not loopback, not our own address):
	                                      * it can never be found in km_sock, so the socket is not added and
	                                      * its sends do not pay for an sk_msg run (count only) */
	KMESH_SOCK_STAT_L7_CLIENT = 6,       /* client socket of the L7 path: left to its own sockhash (count only) */
	KMESH_SOCK_STAT_L7_ENDPOINT = 7,     /* endpoint socket of an announced L7 connection: left to the direct path */
	KMESH_SOCK_STAT_MAX = 8,
};

/* km_sock (SOCKHASH): a socket by its own connection tuple. */
struct km_sock_key {
	__u64 netns;          /* bpf_get_netns_cookie() of the socket's namespace */
	__u32 local_ip[4];    /* network byte order; IPv4 in local_ip[0] */
	__u32 remote_ip[4];   /* network byte order; IPv4 in remote_ip[0] */
	__u16 local_port;     /* host byte order */
	__u16 remote_port;    /* host byte order */
	__u8 family;          /* KMESH_AF_INET or KMESH_AF_INET6 */
	__u8 pad[3];
};

/* km_sock_stats (PERCPU_ARRAY[KMESH_SOCK_STAT_MAX]): one counter per reason. */
struct km_sock_counter {
	__u64 count;          /* sockets or messages */
	__u64 bytes;          /* payload bytes (messages only) */
};

#endif /* KMESH_SOCKMAP_H */
