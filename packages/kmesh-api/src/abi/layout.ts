/**
 * Byte layouts of the kernel ABI structs in kernel/include/kmesh_abi.h.
 *
 * This table is the TypeScript mirror of the C header. It is checked against
 * the BTF of the compiled BPF objects by packages/kmesh-orchestration's
 * abi test, so an edit to one side without the other fails the build.
 */

/** How a field is stored. Arrays of u32 hold addresses (raw network-order bytes) or counters. */
export type FieldKind = 'u8' | 'u16' | 'u32' | 'u32[]' | 'struct';

export interface FieldSpec {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
  readonly kind: FieldKind;
  /** Element count for arrays. */
  readonly count?: number;
  /** C struct name for nested structs. */
  readonly struct?: string;
}

export interface StructSpec {
  readonly cName: string;
  readonly size: number;
  readonly fields: readonly FieldSpec[];
}

/** Capacities, identical to the KMESH_MAX_* defines. */
export const Limits = {
  weightedClusters: 16,
  endpointsPerCluster: 1024,
  listeners: 65536,
  clusters: 65536,
  endpoints: 524288,
  chains: 65536,
} as const;

/** Consistent-hashing tables (KMESH_MAX_LB_TABLE_SIZE, KMESH_LB_RING_SEARCH_STEPS), issue 6. */
export const LbTableLimits = { maxTableSize: 65537, ringSearchSteps: 18 } as const;

/**
 * KMESH_EP_SET_INPLACE_BIT: endpoint set numbers of in-place endpoint changes have it set;
 * generations stay below it, so a set number never equals a generation.
 */
export const EndpointSet = { inPlaceBit: 0x8000_0000 } as const;

export const AddressFamily = { inet: 2, inet6: 10 } as const;

/** enum kmesh_lb_policy */
export const LbPolicyCode = { ROUND_ROBIN: 0, RANDOM: 1, LEAST_REQUEST: 2, RING_HASH: 3, MAGLEV: 4 } as const;

/** enum kmesh_route_action (KMESH_ACTION_*): what a km_route does with a connect(). */
export const RouteActionCode = { TCP_PROXY: 0, PASSTHROUGH: 1, HTTP: 2, BLACKHOLE: 3, NO_CHAIN: 4 } as const;
export type RouteAction = keyof typeof RouteActionCode;

/**
 * km_chain_key.prefixlen counts the bits after it: gen + port + family + pad are
 * always matched whole (64 bits), then the destination prefix. The sentinel of a
 * wildcard port matches gen + port only (48 bits).
 */
export const ChainPrefix = { header: 64, portSentinel: 48 } as const;

/** enum kmesh_stat, in index order. */
export const StatNames = [
  'connect_rewritten',
  'connect_not_listener',
  'connect_no_config',
  'connect_no_cluster',
  'connect_no_endpoint',
  'connect_no_storage',
  'peername_restored',
  'connect_not_tcp',
  'connect_family_mismatch',
  'peername_untouched',
  'connect_passthrough',
  'connect_http',
  'connect_blackhole',
  'connect_no_chain',
  'connect_unknown_action',
  'connect_l7_anchor',
  'connect_circuit_open',
  'connect_rate_limited',
] as const;
export type StatName = (typeof StatNames)[number];

const addr: StructSpec = {
  cName: 'km_addr',
  size: 20,
  fields: [
    { name: 'ip', offset: 0, size: 16, kind: 'u32[]', count: 4 },
    { name: 'port', offset: 16, size: 2, kind: 'u16' },
    { name: 'family', offset: 18, size: 1, kind: 'u8' },
    { name: 'pad', offset: 19, size: 1, kind: 'u8' },
  ],
};

export const Structs = {
  km_addr: addr,
  km_active: {
    cName: 'km_active',
    size: 8,
    fields: [
      { name: 'gen', offset: 0, size: 4, kind: 'u32' },
      { name: 'version', offset: 4, size: 4, kind: 'u32' },
    ],
  },
  km_listener_key: {
    cName: 'km_listener_key',
    size: 24,
    fields: [
      { name: 'gen', offset: 0, size: 4, kind: 'u32' },
      { name: 'addr', offset: 4, size: 20, kind: 'struct', struct: 'km_addr' },
    ],
  },
  km_route: {
    cName: 'km_route',
    size: 144,
    fields: [
      { name: 'action', offset: 0, size: 4, kind: 'u32' },
      { name: 'cluster_count', offset: 4, size: 4, kind: 'u32' },
      { name: 'total_weight', offset: 8, size: 4, kind: 'u32' },
      { name: 'cluster_ids', offset: 12, size: 64, kind: 'u32[]', count: 16 },
      { name: 'cum_weights', offset: 76, size: 64, kind: 'u32[]', count: 16 },
      { name: 'route_config_id', offset: 140, size: 4, kind: 'u32' },
    ],
  },
  km_chain_key: {
    cName: 'km_chain_key',
    size: 28,
    fields: [
      { name: 'prefixlen', offset: 0, size: 4, kind: 'u32' },
      { name: 'gen', offset: 4, size: 4, kind: 'u32' },
      { name: 'port', offset: 8, size: 2, kind: 'u16' },
      { name: 'family', offset: 10, size: 1, kind: 'u8' },
      { name: 'pad', offset: 11, size: 1, kind: 'u8' },
      { name: 'ip', offset: 12, size: 16, kind: 'u32[]', count: 4 },
    ],
  },
  km_cluster_key: {
    cName: 'km_cluster_key',
    size: 8,
    fields: [
      { name: 'gen', offset: 0, size: 4, kind: 'u32' },
      { name: 'cluster_id', offset: 4, size: 4, kind: 'u32' },
    ],
  },
  km_cluster_value: {
    cName: 'km_cluster_value',
    size: 28,
    fields: [
      { name: 'lb_policy', offset: 0, size: 4, kind: 'u32' },
      { name: 'endpoint_count', offset: 4, size: 4, kind: 'u32' },
      { name: 'total_weight', offset: 8, size: 4, kind: 'u32' },
      { name: 'rr_cursor', offset: 12, size: 4, kind: 'u32' },
      { name: 'ep_set', offset: 16, size: 4, kind: 'u32' },
      // issue 6 load-balancing tables and round-robin interleave (see lb/tables.ts)
      { name: 'lb_table_size', offset: 20, size: 4, kind: 'u32' },
      { name: 'rr_stride', offset: 24, size: 4, kind: 'u32' },
    ],
  },
  km_endpoint_key: {
    cName: 'km_endpoint_key',
    size: 12,
    fields: [
      { name: 'set', offset: 0, size: 4, kind: 'u32' },
      { name: 'cluster_id', offset: 4, size: 4, kind: 'u32' },
      { name: 'index', offset: 8, size: 4, kind: 'u32' },
    ],
  },
  km_endpoint_value: {
    cName: 'km_endpoint_value',
    size: 28,
    fields: [
      { name: 'addr', offset: 0, size: 20, kind: 'struct', struct: 'km_addr' },
      { name: 'weight', offset: 20, size: 4, kind: 'u32' },
      { name: 'cum_weight', offset: 24, size: 4, kind: 'u32' },
    ],
  },
  km_orig_dst: {
    cName: 'km_orig_dst',
    size: 20,
    fields: [{ name: 'vip', offset: 0, size: 20, kind: 'struct', struct: 'km_addr' }],
  },
} as const satisfies Record<string, StructSpec>;

/** Pinned map names (<= 15 chars, the kernel's limit) and the struct each holds. */
export const MapNames = {
  active: 'km_active',
  listener: 'km_listener',
  chain: 'km_chain',
  cluster: 'km_cluster',
  endpoint: 'km_endpoint',
  origDst: 'km_orig_dst',
  stats: 'km_stats',
} as const;

// ---------------------------------------------------------------------------------------------
// Sockmap acceleration (kernel/include/kmesh_sockmap.h, object kmesh_sockmap.bpf.o).

/** KMESH_MAX_SOCKETS: capacity of km_sock. */
export const SockmapLimits = { sockets: 65536 } as const;

/** enum kmesh_sock_stat, in index order. Each slot of km_sock_stats is a km_sock_counter {count, bytes}. */
export const SockStatNames = ['inserted', 'insert_failed', 'redirected', 'no_peer', 'not_tcp_family', 'not_local_peer', 'l7_client', 'l7_endpoint'] as const;
export type SockStatName = (typeof SockStatNames)[number];

export const SockmapStructs = {
  km_sock_key: {
    cName: 'km_sock_key',
    size: 48,
    fields: [
      { name: 'netns', offset: 0, size: 8, kind: 'u64' },
      { name: 'local_ip', offset: 8, size: 16, kind: 'u32[]', count: 4 },
      { name: 'remote_ip', offset: 24, size: 16, kind: 'u32[]', count: 4 },
      { name: 'local_port', offset: 40, size: 2, kind: 'u16' },
      { name: 'remote_port', offset: 42, size: 2, kind: 'u16' },
      { name: 'family', offset: 44, size: 1, kind: 'u8' },
      { name: 'pad', offset: 45, size: 3, kind: 'u8[]', count: 3 },
    ],
  },
  km_sock_counter: {
    cName: 'km_sock_counter',
    size: 16,
    fields: [
      { name: 'count', offset: 0, size: 8, kind: 'u64' },
      { name: 'bytes', offset: 8, size: 8, kind: 'u64' },
    ],
  },
} as const satisfies Record<string, SockmapStructSpec>;

/** Field kinds of the sockmap structs (a superset of FieldKind: the key has a u64 and a u8 array). */
export interface SockmapStructSpec {
  cName: string;
  size: number;
  fields: readonly { name: string; offset: number; size: number; kind: FieldKind | 'u64' | 'u8[]'; count?: number }[];
}

/** Pinned map names of kmesh_sockmap.bpf.o, next to the L4 maps under the instance's pin path. */
export const SockmapMapNames = { sockets: 'km_sock', stats: 'km_sock_stats' } as const;
