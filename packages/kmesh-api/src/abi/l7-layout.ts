/**
 * Byte layouts of the L7 structs: the route tables (kernel/include/kmesh_l7_routes.h) and the shared L7
 * contract (kernel/include/kmesh_l7.h). Checked against the BTF of kmesh_l7.bpf.o by
 * packages/kmesh-orchestration/test/abi.test.ts, like layout.ts for the L4 structs.
 */

export interface L7FieldSpec {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
  readonly kind: 'u8' | 'u16' | 'u32' | 'u64' | 'u8[]' | 'u16[]' | 'u32[]' | 'struct';
  readonly count?: number;
  readonly struct?: string;
}

export interface L7StructSpec {
  readonly cName: string;
  readonly size: number;
  readonly fields: readonly L7FieldSpec[];
}

/** KMESH_L7_* limits of kmesh_l7_routes.h. */
export const L7Limits = {
  headMax: 4096,
  maxHeaderLines: 32,
  hostMax: 255,
  pathMax: 1024,
  maxRoutesPerVhost: 64,
  maxHeaderMatchers: 8,
  maxHeaderNames: 8,
  headerNameMax: 64,
  matchValueMax: 128,
  domainBytes: 248,
  domainMax: 240,
  dfaMaxStates: 256,
  dfaDead: 0xffff,
  maxVhostKeys: 65536,
  maxRoutes: 65536,
  maxHeaderMatches: 65536,
  maxRouteConfigs: 16384,
  maxDfaStates: 65535,
  vhostKeyHeaderBits: 64,
} as const;

/** KMESH_L7_TEXT_MAX, KMESH_MAX_L7_TEXTS of kmesh_l7.h. */
export const L7TextLimits = { textMax: 1020, texts: 4096 } as const;

/** enum kmesh_l7_host_kind */
export const L7HostKind = { EXACT: 1, SUFFIX: 2, PREFIX: 3, ANY: 4 } as const;
/** enum kmesh_l7_path_kind */
export const L7PathKind = { PREFIX: 0, EXACT: 1, REGEX: 2 } as const;
/** enum kmesh_l7_route_action */
export const L7RouteAction = { CLUSTERS: 0, DIRECT_RESPONSE: 1, REDIRECT: 2 } as const;
/** enum kmesh_l7_header_kind */
export const L7HeaderKind = { EXACT: 0, PREFIX: 1, SUFFIX: 2, CONTAINS: 3, PRESENT: 4, REGEX: 5 } as const;
/** enum kmesh_l7_verdict (kmesh_l7.h) */
export const L7Verdict = { FORWARD: 0, NO_ROUTE: 1, BAD_REQUEST: 2, NO_ENDPOINT: 3, DIRECT_RESPONSE: 4, REDIRECT: 5, CIRCUIT_OPEN: 6 } as const;

/** enum kmesh_l7_outcome: the relay's report of an upstream connection (km_l7_connect_report). */
export const L7ConnectOutcome = { OK: 0, FAILED: 1 } as const;

/** enum kmesh_l7_stat, in index order (km_l7_stats). */
export const L7StatNames = [
  'parsed',
  'corked',
  'no_route',
  'bad_request',
  'no_endpoint',
  'forward',
  'direct_response',
  'redirect',
  'too_large',
  'no_vhost',
  'no_listener',
  'no_state',
  'decision_failed',
  'sock_inserted',
  'sock_insert_failed',
  'scratch_busy',
  'later_message',
  'circuit_open',
] as const;
export type L7StatName = (typeof L7StatNames)[number];

/** Pinned names of the route-table maps (kmesh_l7.bpf.o) and of the shared L7 maps (kmesh_l7_maps.h). */
export const L7MapNames = {
  vhost: 'km_l7_vhost',
  route: 'km_l7_route',
  headerMatch: 'km_l7_hmatch',
  headerNames: 'km_l7_hnames',
  dfa: 'km_l7_dfa',
  stats: 'km_l7_stats',
  anchor: 'km_l7_anchor',
  decision: 'km_l7_decision',
  text: 'km_l7_text',
  socket: 'km_l7_sk',
  client: 'km_l7_client',
} as const;

const addr = { name: 'addr', offset: 0, size: 20, kind: 'struct', struct: 'km_addr' } as const;

export const L7Structs = {
  km_l7_vhost_key: {
    cName: 'km_l7_vhost_key',
    size: 260,
    fields: [
      { name: 'prefixlen', offset: 0, size: 4, kind: 'u32' },
      { name: 'gen', offset: 4, size: 4, kind: 'u32' },
      { name: 'route_config_id', offset: 8, size: 2, kind: 'u16' },
      { name: 'kind', offset: 10, size: 1, kind: 'u8' },
      { name: 'pad', offset: 11, size: 1, kind: 'u8' },
      { name: 'host', offset: 12, size: 248, kind: 'u8[]', count: 248 },
    ],
  },
  km_l7_vhost: {
    cName: 'km_l7_vhost',
    size: 16,
    fields: [
      { name: 'route_first', offset: 0, size: 4, kind: 'u32' },
      { name: 'route_count', offset: 4, size: 4, kind: 'u32' },
      { name: 'vhost_index', offset: 8, size: 4, kind: 'u32' },
      { name: 'pad', offset: 12, size: 4, kind: 'u32' },
    ],
  },
  km_l7_index_key: {
    cName: 'km_l7_index_key',
    size: 8,
    fields: [
      { name: 'gen', offset: 0, size: 4, kind: 'u32' },
      { name: 'index', offset: 4, size: 4, kind: 'u32' },
    ],
  },
  km_l7_rc_key: {
    cName: 'km_l7_rc_key',
    size: 8,
    fields: [
      { name: 'gen', offset: 0, size: 4, kind: 'u32' },
      { name: 'route_config_id', offset: 4, size: 4, kind: 'u32' },
    ],
  },
  km_l7_route: {
    cName: 'km_l7_route',
    size: 1264,
    fields: [
      { name: 'path_kind', offset: 0, size: 1, kind: 'u8' },
      { name: 'case_insensitive', offset: 1, size: 1, kind: 'u8' },
      { name: 'path_len', offset: 2, size: 2, kind: 'u16' },
      { name: 'dfa_start', offset: 4, size: 4, kind: 'u32' },
      { name: 'header_first', offset: 8, size: 4, kind: 'u32' },
      { name: 'header_count', offset: 12, size: 4, kind: 'u32' },
      { name: 'action', offset: 16, size: 4, kind: 'u32' },
      { name: 'status', offset: 20, size: 4, kind: 'u32' },
      { name: 'body_id', offset: 24, size: 4, kind: 'u32' },
      { name: 'pad', offset: 28, size: 4, kind: 'u32' },
      { name: 'connect_timeout_ms', offset: 32, size: 64, kind: 'u32[]', count: 16 },
      { name: 'clusters', offset: 96, size: 144, kind: 'struct', struct: 'km_route' },
      { name: 'path', offset: 240, size: 1024, kind: 'u8[]', count: 1024 },
    ],
  },
  km_l7_header_match: {
    cName: 'km_l7_header_match',
    size: 144,
    fields: [
      { name: 'slot', offset: 0, size: 1, kind: 'u8' },
      { name: 'kind', offset: 1, size: 1, kind: 'u8' },
      { name: 'invert', offset: 2, size: 1, kind: 'u8' },
      { name: 'pad', offset: 3, size: 1, kind: 'u8' },
      { name: 'value_len', offset: 4, size: 4, kind: 'u32' },
      { name: 'dfa_start', offset: 8, size: 4, kind: 'u32' },
      { name: 'pad2', offset: 12, size: 4, kind: 'u32' },
      { name: 'value', offset: 16, size: 128, kind: 'u8[]', count: 128 },
    ],
  },
  km_l7_header_names: {
    cName: 'km_l7_header_names',
    size: 548,
    fields: [
      { name: 'count', offset: 0, size: 4, kind: 'u32' },
      { name: 'name_len', offset: 4, size: 32, kind: 'u32[]', count: 8 },
      { name: 'names', offset: 36, size: 512, kind: 'u8[]', count: 512 },
    ],
  },
  km_l7_dfa_state: {
    cName: 'km_l7_dfa_state',
    size: 516,
    fields: [
      { name: 'next', offset: 0, size: 512, kind: 'u16[]', count: 256 },
      { name: 'accept', offset: 512, size: 4, kind: 'u32' },
    ],
  },
  // --- the shared contract (kmesh_l7.h) ---
  km_l7_anchor: {
    cName: 'km_l7_anchor',
    size: 40,
    fields: [addr, { name: 'addr6', offset: 20, size: 20, kind: 'struct', struct: 'km_addr' }],
  },
  km_l7_sk: {
    cName: 'km_l7_sk',
    size: 36,
    fields: [
      { name: 'gen', offset: 0, size: 4, kind: 'u32' },
      { name: 'route_config_id', offset: 4, size: 4, kind: 'u32' },
      { name: 'state', offset: 8, size: 4, kind: 'u32' },
      { name: 'pad', offset: 12, size: 4, kind: 'u32' },
      { name: 'vip', offset: 16, size: 20, kind: 'struct', struct: 'km_addr' },
    ],
  },
  km_l7_conn_key: {
    cName: 'km_l7_conn_key',
    size: 32,
    fields: [
      { name: 'netns', offset: 0, size: 8, kind: 'u64' },
      { name: 'client_ip', offset: 8, size: 16, kind: 'u32[]', count: 4 },
      { name: 'client_port', offset: 24, size: 2, kind: 'u16' },
      { name: 'family', offset: 26, size: 1, kind: 'u8' },
      { name: 'pad', offset: 27, size: 5, kind: 'u8[]', count: 5 },
    ],
  },
  km_l7_decision: {
    cName: 'km_l7_decision',
    size: 128,
    fields: [
      { name: 'verdict', offset: 0, size: 4, kind: 'u32' },
      { name: 'status', offset: 4, size: 4, kind: 'u32' },
      { name: 'cluster_id', offset: 8, size: 4, kind: 'u32' },
      { name: 'route_index', offset: 12, size: 4, kind: 'u32' },
      { name: 'connect_timeout_ms', offset: 16, size: 4, kind: 'u32' },
      { name: 'body_id', offset: 20, size: 4, kind: 'u32' },
      { name: 'endpoint', offset: 24, size: 20, kind: 'struct', struct: 'km_addr' },
      { name: 'vip', offset: 44, size: 20, kind: 'struct', struct: 'km_addr' },
      { name: 'conn', offset: 64, size: 64, kind: 'struct', struct: 'km_conn' },
    ],
  },
  km_l7_connect_report: {
    cName: 'km_l7_connect_report',
    size: 72,
    fields: [
      { name: 'outcome', offset: 0, size: 4, kind: 'u32' },
      { name: 'pad', offset: 4, size: 4, kind: 'u32' },
      { name: 'conn', offset: 8, size: 64, kind: 'struct', struct: 'km_conn' },
    ],
  },
  km_l7_text: {
    cName: 'km_l7_text',
    size: 1024,
    fields: [
      { name: 'len', offset: 0, size: 4, kind: 'u32' },
      { name: 'text', offset: 4, size: 1020, kind: 'u8[]', count: 1020 },
    ],
  },
} as const satisfies Record<string, L7StructSpec>;

export type L7StructName = keyof typeof L7Structs;

/** Offset of a field of an L7 struct, by name (throws on a typo). */
export function l7Offset(struct: L7StructName, field: string): number {
  const f = (L7Structs[struct].fields as readonly L7FieldSpec[]).find((x) => x.name === field);
  if (!f) throw new Error(`l7 layout: ${struct} has no field ${field}`);
  return f.offset;
}
