/**
 * DESIGN constraint 1: the kernel ABI has one source of truth. The TypeScript
 * layout table (kmesh-api) must match the BTF of the compiled L4 object and
 * the constants of kmesh_abi.h exactly; any drift fails here, not in a
 * kernel that reads the wrong bytes.
 *
 * Needs clang and bpftool (no root): the object is rebuilt first so the test
 * checks the current sources, not a stale build.
 */
import { execFileSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

import {
  AddressFamily,
  ChainPrefix,
  EndpointSet,
  LbPolicyCode,
  LbTableLimits,
  Limits,
  MapNames,
  RouteActionCode,
  StatNames,
  Structs,
  type StructSpec,
  SockmapLimits,
  SockmapMapNames,
  SockmapStructs,
  SockStatNames,
  type SockmapStructSpec,
} from '../../kmesh-api/src/abi/layout.js';
import { abiHeader, l4Programs, objectPaths, sockmapHeader, sockmapMapNames, sockmapPrograms } from '../src/index.js';
import { ResilienceLimits, ResilienceMapNames, ResilienceStructs, type ResilienceStructSpec } from '../../kmesh-api/src/abi/resilience.js';
import { Btf } from './btf.js';
import { L7ConnectOutcome, L7Limits, L7MapNames, L7StatNames, L7Structs, L7TextLimits, L7HostKind, L7PathKind, L7RouteAction, L7HeaderKind, L7Verdict, type L7StructSpec } from '../../kmesh-api/src/abi/l7-layout.js';
import { l7Headers, l7Programs } from '../src/index.js';
import { readHeader, type CHeader } from './header.js';

const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');

// BPF map type numbers from <linux/bpf.h> (enum bpf_map_type).
const MapType = { HASH: 1, ARRAY: 2, PERCPU_ARRAY: 6, LPM_TRIE: 11, SOCKHASH: 18, SK_STORAGE: 24 } as const;
const LIBBPF_PIN_BY_NAME = 1;
const BPF_F_NO_PREALLOC = 1;

/** The maps table of docs/architecture.md. */
const expectedMaps: Record<keyof typeof MapNames, { type: number; key: string; value: string; maxEntries?: number; flags?: number }> = {
  active: { type: MapType.ARRAY, key: '__u32', value: 'km_active', maxEntries: 1 },
  listener: { type: MapType.HASH, key: 'km_listener_key', value: 'km_route', maxEntries: Limits.listeners },
  chain: { type: MapType.LPM_TRIE, key: 'km_chain_key', value: 'km_route', maxEntries: Limits.chains, flags: BPF_F_NO_PREALLOC },
  cluster: { type: MapType.HASH, key: 'km_cluster_key', value: 'km_cluster_value', maxEntries: Limits.clusters },
  endpoint: { type: MapType.HASH, key: 'km_endpoint_key', value: 'km_endpoint_value', maxEntries: Limits.endpoints },
  origDst: { type: MapType.SK_STORAGE, key: 'int', value: 'km_orig_dst', flags: BPF_F_NO_PREALLOC },
  stats: { type: MapType.PERCPU_ARRAY, key: '__u32', value: '__u64', maxEntries: StatNames.length },
};

let btf: Btf;
let header: CHeader;

beforeAll(() => {
  execFileSync('bash', [resolve(packageDir, 'bpf/build.sh')], { stdio: ['ignore', 'ignore', 'pipe'] });
  btf = Btf.fromObject(objectPaths.l4);
  header = readHeader(abiHeader);
}, 60_000);

describe('struct layouts: layout.ts vs BTF of kmesh_l4.bpf.o', () => {
  const specs = Object.entries(Structs) as [string, StructSpec][];

  it.each(specs)('%s', (_key, spec) => {
    const struct = btf.struct(spec.cName);
    expect(struct, `struct ${spec.cName} missing from the object's BTF (is it used by a map?)`).toBeDefined();
    expect(struct!.size, `sizeof(struct ${spec.cName})`).toBe(spec.size);

    const members = btf.members(struct!);
    expect(members.map((m) => m.name)).toEqual(spec.fields.map((f) => f.name));
    for (const [i, field] of spec.fields.entries()) {
      const m = members[i]!;
      expect({ field: field.name, offset: m.offset, size: m.size }).toEqual({
        field: field.name,
        offset: field.offset,
        size: field.size,
      });
      if (field.kind === 'struct') {
        expect(m.type.kind, `${spec.cName}.${field.name}`).toBe('STRUCT');
        expect(m.type.name, `${spec.cName}.${field.name}`).toBe(field.struct);
      } else if (field.kind === 'u32[]') {
        expect(m.type.kind, `${spec.cName}.${field.name}`).toBe('ARRAY');
        expect(m.type.nr_elems, `${spec.cName}.${field.name} element count`).toBe(field.count);
      } else {
        expect(m.type.kind, `${spec.cName}.${field.name}`).toBe('INT');
      }
    }
  });

  it('every km_* struct of the object is described in layout.ts', () => {
    const inObject = btf.types.filter((t) => t.kind === 'STRUCT' && t.name.startsWith('km_')).map((t) => t.name);
    // issue 4: connect4/6 use the shared L7 maps (kmesh_l7_maps.h): their structs are in this object too.
    const described = [...Object.values(Structs), ...Object.values(ResilienceStructs), ...l7SharedStructs].map((s) => s.cName);
    expect([...inObject].sort()).toEqual([...described].sort());
  });
});

describe('maps: declarations in kmesh_maps.h vs docs/architecture.md', () => {
  it.each(Object.entries(expectedMaps) as [keyof typeof MapNames, (typeof expectedMaps)[keyof typeof MapNames]][])(
    '%s',
    (id, want) => {
      const name = MapNames[id];
      const def = btf.mapDef(name);
      expect(def, `map ${name} missing from the .maps section`).toBeDefined();
      expect(def!.ints.type, `${name} map type`).toBe(want.type);
      expect(def!.ints.pinning, `${name} must be pinned by name`).toBe(LIBBPF_PIN_BY_NAME);
      expect(def!.ints.max_entries, `${name} max_entries`).toBe(want.maxEntries);
      expect(def!.ints.map_flags, `${name} map_flags`).toBe(want.flags);
      expect(def!.key?.name, `${name} key type`).toBe(want.key);
      expect(def!.value?.name, `${name} value type`).toBe(want.value);
    },
  );

  it('declares no map beyond the contract', () => {
    const maps = btf.types.find((t) => t.kind === 'DATASEC' && t.name === '.maps');
    const names = (maps?.vars ?? []).map((v) => btf.type(v.type_id).name).sort();
    expect(names).toEqual([...Object.values(MapNames), ...Object.values(ResilienceMapNames), ...l7SharedMaps].sort());
  });
});

describe('constants: layout.ts vs kmesh_abi.h', () => {
  it('the in-place endpoint set bit matches KMESH_EP_SET_INPLACE_BIT (generations stay below it)', () => {
    expect(header.defines.get('KMESH_EP_SET_INPLACE_BIT')).toBe(EndpointSet.inPlaceBit);
  });

  it('LbTableLimits match the consistent-hashing table defines, and the ring search covers the largest table', () => {
    expect({
      maxTableSize: header.defines.get('KMESH_MAX_LB_TABLE_SIZE'),
      ringSearchSteps: header.defines.get('KMESH_LB_RING_SEARCH_STEPS'),
    }).toEqual(LbTableLimits);
    expect(2 ** (LbTableLimits.ringSearchSteps - 1)).toBeGreaterThanOrEqual(LbTableLimits.maxTableSize);
  });

  it('Limits match the KMESH_MAX_* defines', () => {
    expect({
      weightedClusters: header.defines.get('KMESH_MAX_WEIGHTED_CLUSTERS'),
      endpointsPerCluster: header.defines.get('KMESH_MAX_ENDPOINTS_PER_CLUSTER'),
      listeners: header.defines.get('KMESH_MAX_LISTENERS'),
      clusters: header.defines.get('KMESH_MAX_CLUSTERS'),
      endpoints: header.defines.get('KMESH_MAX_ENDPOINTS'),
      chains: header.defines.get('KMESH_MAX_CHAINS'),
    }).toEqual(Limits);
  });

  it('the endpoint search has enough steps for the largest cluster', () => {
    const steps = header.defines.get('KMESH_ENDPOINT_SEARCH_STEPS')!;
    expect(2 ** (steps - 1)).toBeGreaterThanOrEqual(Limits.endpointsPerCluster);
  });

  it('AddressFamily matches KMESH_AF_*', () => {
    expect({ inet: header.defines.get('KMESH_AF_INET'), inet6: header.defines.get('KMESH_AF_INET6') }).toEqual(AddressFamily);
  });

  it('StatNames match enum kmesh_stat, in index order', () => {
    const entries = header.enums.get('kmesh_stat');
    expect(entries, 'enum kmesh_stat not found in kmesh_abi.h').toBeDefined();
    const stats = entries!.filter((e) => e.name !== 'KMESH_STAT_MAX');
    expect(stats.map((e) => e.value)).toEqual(stats.map((_, i) => i));
    expect(stats.map((e) => e.name.replace(/^KMESH_STAT_/, '').toLowerCase())).toEqual([...StatNames]);
    expect(entries!.find((e) => e.name === 'KMESH_STAT_MAX')?.value).toBe(StatNames.length);
  });

  it('RouteActionCode matches enum kmesh_route_action', () => {
    const entries = header.enums.get('kmesh_route_action');
    expect(entries, 'enum kmesh_route_action not found in kmesh_abi.h').toBeDefined();
    expect(Object.fromEntries(entries!.map((e) => [e.name.replace(/^KMESH_ACTION_/, ''), e.value]))).toEqual(RouteActionCode);
  });

  it('km_chain_key.prefixlen header bits are the fields between prefixlen and ip', () => {
    // The LPM trie matches bits after prefixlen in order: gen, port, family, pad, then ip.
    const key = Structs.km_chain_key;
    const ip = key.fields.find((f) => f.name === 'ip')!;
    const gen = key.fields.find((f) => f.name === 'gen')!;
    expect((ip.offset - gen.offset) * 8).toBe(ChainPrefix.header);
    const family = key.fields.find((f) => f.name === 'family')!;
    expect((family.offset - gen.offset) * 8).toBe(ChainPrefix.portSentinel);
  });

  it('LbPolicyCode matches enum kmesh_lb_policy', () => {
    const entries = header.enums.get('kmesh_lb_policy');
    expect(entries, 'enum kmesh_lb_policy not found in kmesh_abi.h').toBeDefined();
    expect(Object.fromEntries(entries!.map((e) => [e.name.replace(/^KMESH_LB_/, ''), e.value]))).toEqual(LbPolicyCode);
  });
});

describe('programs: the object serves the contract', () => {
  it('holds exactly the l4Programs functions', () => {
    // Programs are named kmesh_*; km_* functions are global subprograms (verified once, e.g. km_endpoint_index_at).
    expect(btf.functions().filter((f) => f.startsWith('kmesh_')).sort()).toEqual(l4Programs.map((p) => p.name).sort());
  });
});

// ---------------------------------------------------------------------------------------------
// kmesh_sockmap.bpf.o: its own header (kmesh_sockmap.h), structs, maps and programs.

describe('sockmap object: layout.ts vs BTF of kmesh_sockmap.bpf.o and kmesh_sockmap.h', () => {
  let sbtf: Btf;
  let sheader: CHeader;
  beforeAll(() => {
    sbtf = Btf.fromObject(objectPaths.sockmap);
    sheader = readHeader(sockmapHeader);
  });

  it.each(Object.entries(SockmapStructs) as [string, SockmapStructSpec][])('%s', (_key, spec) => {
    const struct = sbtf.struct(spec.cName);
    expect(struct, `struct ${spec.cName} missing from the sockmap object's BTF`).toBeDefined();
    expect(struct!.size, `sizeof(struct ${spec.cName})`).toBe(spec.size);
    const members = sbtf.members(struct!);
    expect(members.map((m) => m.name)).toEqual(spec.fields.map((f) => f.name));
    for (const [i, field] of spec.fields.entries()) {
      const m = members[i]!;
      expect({ field: field.name, offset: m.offset, size: m.size }).toEqual({ field: field.name, offset: field.offset, size: field.size });
      const arrayKind = field.kind.endsWith('[]');
      expect(m.type.kind, `${spec.cName}.${field.name}`).toBe(arrayKind ? 'ARRAY' : 'INT');
      if (arrayKind) expect(m.type.nr_elems, `${spec.cName}.${field.name} element count`).toBe(field.count);
    }
  });

  it('every km_* struct of the sockmap object is described in layout.ts', () => {
    const inObject = sbtf.types.filter((t) => t.kind === 'STRUCT' && t.name.startsWith('km_')).map((t) => t.name);
    // km_l7_sk (and its km_addr) come from kmesh_l7_sk_map.h, km_l7_expect(_key) from kmesh_l7_expect_map.h:
    // checked with the L7 structs below and by the relay's map shapes.
    const shared = ['km_l7_sk', 'km_addr', 'km_l7_expect', 'km_l7_expect_key', 'km_l7_conn_key'];
    expect([...inObject].sort()).toEqual([...Object.values(SockmapStructs).map((s) => s.cName), ...shared].sort());
  });

  it('maps: km_sock is a pinned SOCKHASH by km_sock_key, km_sock_stats a pinned per-CPU counter array', () => {
    const sock = sbtf.mapDef(SockmapMapNames.sockets);
    expect(sock, 'km_sock missing').toBeDefined();
    expect(sock!.ints).toMatchObject({ type: MapType.SOCKHASH, max_entries: SockmapLimits.sockets, pinning: LIBBPF_PIN_BY_NAME });
    expect(sock!.key?.name).toBe('km_sock_key');
    const stats = sbtf.mapDef(SockmapMapNames.stats);
    expect(stats, 'km_sock_stats missing').toBeDefined();
    expect(stats!.ints).toMatchObject({ type: MapType.PERCPU_ARRAY, max_entries: SockStatNames.length, pinning: LIBBPF_PIN_BY_NAME });
    expect(stats!.value?.name).toBe('km_sock_counter');
    const maps = sbtf.types.find((t) => t.kind === 'DATASEC' && t.name === '.maps');
    expect((maps?.vars ?? []).map((v) => sbtf.type(v.type_id).name).sort()).toEqual([...Object.values(SockmapMapNames), 'km_l7_sk', 'km_l7_expect'].sort());
    expect(sockmapMapNames).toEqual(SockmapMapNames);
  });

  it('SockStatNames match enum kmesh_sock_stat and KMESH_MAX_SOCKETS matches SockmapLimits', () => {
    const entries = sheader.enums.get('kmesh_sock_stat');
    expect(entries, 'enum kmesh_sock_stat not found in kmesh_sockmap.h').toBeDefined();
    const stats = entries!.filter((e) => e.name !== 'KMESH_SOCK_STAT_MAX');
    expect(stats.map((e) => e.value)).toEqual(stats.map((_, i) => i));
    expect(stats.map((e) => e.name.replace(/^KMESH_SOCK_STAT_/, '').toLowerCase())).toEqual([...SockStatNames]);
    expect(entries!.find((e) => e.name === 'KMESH_SOCK_STAT_MAX')?.value).toBe(SockStatNames.length);
    expect({ sockets: sheader.defines.get('KMESH_MAX_SOCKETS') }).toEqual(SockmapLimits);
  });

  it('holds exactly the sockmapPrograms functions', () => {
    expect(sbtf.functions().sort()).toEqual(sockmapPrograms.map((p) => p.name).sort());
  });
});

// ---------------------------------------------------------------------------------------------
// issue 6 part A: connection accounting maps (kernel/include/kmesh_resilience.h, bpf/conn.h) in kmesh_l4.bpf.o.

describe('resilience: abi/resilience.ts vs BTF of kmesh_l4.bpf.o and kmesh_resilience.h', () => {
  let rheader: CHeader;
  beforeAll(() => {
    rheader = readHeader(resolve(packageDir, '../../kernel/include/kmesh_resilience.h'));
  });

  it.each(Object.entries(ResilienceStructs) as [string, ResilienceStructSpec][])('%s', (_key, spec) => {
    const struct = btf.struct(spec.cName);
    expect(struct, `struct ${spec.cName} missing from the object's BTF`).toBeDefined();
    expect(struct!.size, `sizeof(struct ${spec.cName})`).toBe(spec.size);
    const members = btf.members(struct!);
    expect(members.map((m) => m.name)).toEqual(spec.fields.map((f) => f.name));
    for (const [i, field] of spec.fields.entries()) {
      const m = members[i]!;
      expect({ field: field.name, offset: m.offset, size: m.size }).toEqual({ field: field.name, offset: field.offset, size: field.size });
      if (field.kind === 'struct') expect(m.type.name, `${spec.cName}.${field.name}`).toBe(field.struct);
      else if (field.kind === 'u64[]') expect({ kind: m.type.kind, n: m.type.nr_elems }, `${spec.cName}.${field.name}`).toEqual({ kind: 'ARRAY', n: field.count });
      else expect(m.type.kind, `${spec.cName}.${field.name}`).toBe('INT');
    }
  });

  const MAP_SPECS: [string, { type: number; key: string; value: string; maxEntries?: number; flags?: number }][] = [
    [ResilienceMapNames.clusterLimits, { type: MapType.HASH, key: 'km_cluster_key', value: 'km_cluster_limits', maxEntries: Limits.clusters }],
    [ResilienceMapNames.clusterLoad, { type: MapType.HASH, key: '__u64', value: 'km_cluster_load', maxEntries: ResilienceLimits.clusterLoads, flags: BPF_F_NO_PREALLOC }],
    [ResilienceMapNames.endpointLoad, { type: MapType.HASH, key: 'km_endpoint_load_key', value: 'km_endpoint_load', maxEntries: Limits.endpoints, flags: BPF_F_NO_PREALLOC }],
    [ResilienceMapNames.listenerLimit, { type: MapType.HASH, key: 'km_listener_key', value: 'km_rate_limit', maxEntries: ResilienceLimits.rateLimits }],
    [ResilienceMapNames.bucket, { type: MapType.HASH, key: '__u64', value: 'km_token_bucket', maxEntries: ResilienceLimits.buckets, flags: BPF_F_NO_PREALLOC }],
    [ResilienceMapNames.conn, { type: MapType.SK_STORAGE, key: 'int', value: 'km_conn', flags: BPF_F_NO_PREALLOC }],
  ];
  it.each(MAP_SPECS)('map %s', (name, want) => {
    const def = btf.mapDef(name);
    expect(def, `map ${name} missing from the .maps section`).toBeDefined();
    expect(def!.ints.type, `${name} map type`).toBe(want.type);
    expect(def!.ints.pinning, `${name} must be pinned by name`).toBe(LIBBPF_PIN_BY_NAME);
    expect(def!.ints.max_entries, `${name} max_entries`).toBe(want.maxEntries);
    expect(def!.ints.map_flags, `${name} map_flags`).toBe(want.flags);
    expect(def!.key?.name, `${name} key type`).toBe(want.key);
    expect(def!.value?.name, `${name} value type`).toBe(want.value);
  });

  it('ResilienceLimits match the defines of kmesh_resilience.h', () => {
    expect({
      clusterLoads: rheader.defines.get('KMESH_MAX_CLUSTER_LOADS'),
      rateLimits: rheader.defines.get('KMESH_MAX_RATE_LIMITS'),
      buckets: rheader.defines.get('KMESH_MAX_BUCKETS'),
      outlierRepicks: rheader.defines.get('KMESH_OUTLIER_REPICKS'),
      leastRequestMaxChoices: rheader.defines.get('KMESH_LR_MAX_CHOICES'),
      maxEjected: rheader.defines.get('KMESH_MAX_EJECTED'),
    }).toEqual(ResilienceLimits);
  });
});

// ---------------------------------------------------------------------------------------------
// issue 4: kmesh_l7.bpf.o (L7 parser and router): kmesh_l7_routes.h + the shared kmesh_l7.h contract.

/** Structs and maps of kmesh_l7.h / kmesh_l7_maps.h that every object using the shared L7 maps holds. */
const l7SharedStructs = [L7Structs.km_l7_anchor, L7Structs.km_l7_sk, L7Structs.km_l7_conn_key, L7Structs.km_l7_decision, L7Structs.km_l7_text];
const l7SharedMaps = [L7MapNames.anchor, L7MapNames.decision, L7MapNames.text, L7MapNames.socket, L7MapNames.client];

describe('L7 object: l7-layout.ts vs BTF of kmesh_l7.bpf.o and kmesh_l7_routes.h', () => {
  let lbtf: Btf;
  let routes: CHeader;
  let contract: CHeader;
  beforeAll(() => {
    lbtf = Btf.fromObject(objectPaths.l7);
    routes = readHeader(l7Headers.routes);
    contract = readHeader(l7Headers.contract);
  });

  it.each(Object.entries(L7Structs) as [string, L7StructSpec][])('%s', (_key, spec) => {
    const struct = lbtf.struct(spec.cName);
    expect(struct, `struct ${spec.cName} missing from the L7 object's BTF`).toBeDefined();
    expect(struct!.size, `sizeof(struct ${spec.cName})`).toBe(spec.size);
    const members = lbtf.members(struct!);
    expect(members.map((m) => m.name)).toEqual(spec.fields.map((f) => f.name));
    for (const [i, field] of spec.fields.entries()) {
      const m = members[i]!;
      expect({ field: field.name, offset: m.offset, size: m.size }).toEqual({ field: field.name, offset: field.offset, size: field.size });
      if (field.kind === 'struct') expect(m.type.name, `${spec.cName}.${field.name}`).toBe(field.struct);
      else if (field.kind.endsWith('[]')) expect(m.type.nr_elems, `${spec.cName}.${field.name} element count`).toBe(field.count);
      else expect(m.type.kind, `${spec.cName}.${field.name}`).toBe('INT');
    }
  });

  it('route-table maps: pinned, keyed and sized as l7-layout.ts says', () => {
    const want: [string, { type: number; key: string; value: string; maxEntries: number; flags?: number }][] = [
      [L7MapNames.vhost, { type: MapType.LPM_TRIE, key: 'km_l7_vhost_key', value: 'km_l7_vhost', maxEntries: L7Limits.maxVhostKeys, flags: BPF_F_NO_PREALLOC }],
      [L7MapNames.route, { type: MapType.HASH, key: 'km_l7_index_key', value: 'km_l7_route', maxEntries: L7Limits.maxRoutes, flags: BPF_F_NO_PREALLOC }],
      [L7MapNames.headerMatch, { type: MapType.HASH, key: 'km_l7_index_key', value: 'km_l7_header_match', maxEntries: L7Limits.maxHeaderMatches, flags: BPF_F_NO_PREALLOC }],
      [L7MapNames.headerNames, { type: MapType.HASH, key: 'km_l7_rc_key', value: 'km_l7_header_names', maxEntries: L7Limits.maxRouteConfigs, flags: BPF_F_NO_PREALLOC }],
      [L7MapNames.dfa, { type: MapType.HASH, key: 'km_l7_index_key', value: 'km_l7_dfa_state', maxEntries: 2 * L7Limits.maxDfaStates, flags: BPF_F_NO_PREALLOC }],
      [L7MapNames.stats, { type: MapType.PERCPU_ARRAY, key: '__u32', value: '__u64', maxEntries: L7StatNames.length }],
    ];
    for (const [name, w] of want) {
      const def = lbtf.mapDef(name);
      expect(def, `map ${name} missing`).toBeDefined();
      expect({ name, type: def!.ints.type, pinning: def!.ints.pinning, max: def!.ints.max_entries, flags: def!.ints.map_flags, key: def!.key?.name, value: def!.value?.name }).toEqual({
        name,
        type: w.type,
        pinning: LIBBPF_PIN_BY_NAME,
        max: w.maxEntries,
        flags: w.flags,
        key: w.key,
        value: w.value,
      });
    }
  });

  it('L7Limits and the enums match kmesh_l7_routes.h, text limits kmesh_l7.h', () => {
    const d = routes.defines;
    expect({
      headMax: d.get('KMESH_L7_HEAD_MAX'),
      maxHeaderLines: d.get('KMESH_L7_MAX_HEADER_LINES'),
      hostMax: d.get('KMESH_L7_HOST_MAX'),
      pathMax: d.get('KMESH_L7_PATH_MAX'),
      maxRoutesPerVhost: d.get('KMESH_L7_MAX_ROUTES_PER_VHOST'),
      maxHeaderMatchers: d.get('KMESH_L7_MAX_HEADER_MATCHERS'),
      maxHeaderNames: d.get('KMESH_L7_MAX_HEADER_NAMES'),
      headerNameMax: d.get('KMESH_L7_HEADER_NAME_MAX'),
      matchValueMax: d.get('KMESH_L7_MATCH_VALUE_MAX'),
      domainBytes: d.get('KMESH_L7_DOMAIN_BYTES'),
      domainMax: d.get('KMESH_L7_DOMAIN_MAX'),
      dfaMaxStates: d.get('KMESH_L7_DFA_MAX_STATES'),
      dfaDead: d.get('KMESH_L7_DFA_DEAD'),
      maxVhostKeys: d.get('KMESH_MAX_L7_VHOST_KEYS'),
      maxRoutes: d.get('KMESH_MAX_L7_ROUTES'),
      maxHeaderMatches: d.get('KMESH_MAX_L7_HEADER_MATCHES'),
      maxRouteConfigs: d.get('KMESH_MAX_L7_ROUTE_CONFIGS'),
      maxDfaStates: d.get('KMESH_MAX_L7_DFA_STATES'),
      vhostKeyHeaderBits: d.get('KMESH_L7_VHOST_KEY_HEADER_BITS'),
    }).toEqual(L7Limits);
    expect({ textMax: contract.defines.get('KMESH_L7_TEXT_MAX'), texts: contract.defines.get('KMESH_MAX_L7_TEXTS') }).toEqual(L7TextLimits);
    const codes = (header: CHeader, name: string, prefix: string) => Object.fromEntries(header.enums.get(name)!.map((e) => [e.name.replace(prefix, ''), e.value]));
    expect(codes(routes, 'kmesh_l7_host_kind', 'KMESH_L7_HOST_')).toEqual(L7HostKind);
    expect(codes(routes, 'kmesh_l7_path_kind', 'KMESH_L7_PATH_')).toEqual(L7PathKind);
    expect(codes(routes, 'kmesh_l7_route_action', 'KMESH_L7_ACTION_')).toEqual(L7RouteAction);
    expect(codes(routes, 'kmesh_l7_header_kind', 'KMESH_L7_HEADER_')).toEqual(L7HeaderKind);
    expect(codes(contract, 'kmesh_l7_verdict', 'KMESH_L7_')).toEqual(L7Verdict);
    expect(codes(contract, 'kmesh_l7_outcome', 'KMESH_L7_OUTCOME_')).toEqual(L7ConnectOutcome);
    const stats = routes.enums.get('kmesh_l7_stat')!.filter((e) => e.name !== 'KMESH_L7_STAT_MAX');
    expect(stats.map((e) => e.value)).toEqual(stats.map((_, i) => i));
    expect(stats.map((e) => e.name.replace(/^KMESH_L7_STAT_/, '').toLowerCase())).toEqual([...L7StatNames]);
    // The vhost trie key: gen + route_config_id + kind + pad are the always-matched header bits.
    const key = L7Structs.km_l7_vhost_key.fields;
    expect((key.find((f) => f.name === 'host')!.offset - key.find((f) => f.name === 'gen')!.offset) * 8).toBe(L7Limits.vhostKeyHeaderBits);
  });

  it('holds exactly the l7Programs functions (plus its global subprogram)', () => {
    expect(lbtf.functions().filter((f) => f.startsWith('kmesh_')).sort()).toEqual(l7Programs.map((p) => p.name).sort());
  });
});
