/**
 * Connection accounting and protection (issue 6, part A): the TypeScript mirror of
 * kernel/include/kmesh_resilience.h, the effective settings of a cluster and a listener
 * (Envoy's defaults applied), and the per-generation records the daemon writes:
 *   km_cl_limits  {gen, cluster id}   -> max_connections, outlier settings, choice_count, stable load key
 *   km_lsn_limit  {gen, listener addr} -> token bucket settings, stable bucket key
 * Live state (km_cl_load, km_ep_load, km_bucket) is created by the kernel and keyed by the stable
 * keys computed here, so it survives configuration changes (cluster ids do not).
 * Numbers are host (little-endian) order like every other record; addresses network order.
 */
import { writeAddr, readAddr } from './fields.js';
import { encodeClusterKey, encodeListenerKey, type KernelRecord } from './encode.js';
import type { ClusterModel, ListenerModel, LocalRateLimitModel, MeshModel, SocketAddress } from '../model.js';

/** Defines of kmesh_resilience.h. */
export const ResilienceLimits = {
  clusterLoads: 65536,
  rateLimits: 65536,
  buckets: 32768,
  outlierRepicks: 8,
  leastRequestMaxChoices: 8,
  /** KMESH_MAX_EJECTED: ejections of one cluster in progress at once */
  maxEjected: 16,
} as const;

/** Pinned map names (<= 15 characters). */
export const ResilienceMapNames = {
  clusterLimits: 'km_cl_limits',
  clusterLoad: 'km_cl_load',
  endpointLoad: 'km_ep_load',
  listenerLimit: 'km_lsn_limit',
  bucket: 'km_bucket',
  conn: 'km_conn',
} as const;

export interface ResilienceFieldSpec {
  name: string;
  offset: number;
  size: number;
  kind: 'u32' | 'u64' | 's32' | 's64' | 'struct' | 'u64[]';
  struct?: string;
  count?: number;
}
export interface ResilienceStructSpec {
  cName: string;
  size: number;
  fields: readonly ResilienceFieldSpec[];
}

export const ResilienceStructs = {
  km_cluster_limits: {
    cName: 'km_cluster_limits',
    size: 48,
    fields: [
      { name: 'load_key', offset: 0, size: 8, kind: 'u64' },
      { name: 'base_ejection_ns', offset: 8, size: 8, kind: 'u64' },
      { name: 'max_ejection_ns', offset: 16, size: 8, kind: 'u64' },
      { name: 'interval_ns', offset: 24, size: 8, kind: 'u64' },
      { name: 'max_connections', offset: 32, size: 4, kind: 'u32' },
      { name: 'outlier_failures', offset: 36, size: 4, kind: 'u32' },
      { name: 'max_ejection_percent', offset: 40, size: 4, kind: 'u32' },
      { name: 'choice_count', offset: 44, size: 4, kind: 'u32' },
    ],
  },
  km_cluster_load: {
    cName: 'km_cluster_load',
    size: 24 + 8 * 16,
    fields: [
      { name: 'active', offset: 0, size: 8, kind: 's64' },
      { name: 'circuit_open', offset: 8, size: 8, kind: 'u64' },
      { name: 'ejections', offset: 16, size: 8, kind: 'u64' },
      { name: 'ejected_until', offset: 24, size: 8 * 16, kind: 'u64[]', count: 16 },
    ],
  },
  km_endpoint_load_key: {
    cName: 'km_endpoint_load_key',
    size: 32,
    fields: [
      { name: 'load_key', offset: 0, size: 8, kind: 'u64' },
      { name: 'addr', offset: 8, size: 20, kind: 'struct', struct: 'km_addr' },
      { name: 'pad', offset: 28, size: 4, kind: 'u32' },
    ],
  },
  km_endpoint_load: {
    cName: 'km_endpoint_load',
    size: 40,
    fields: [
      { name: 'active', offset: 0, size: 8, kind: 's64' },
      { name: 'ejected_until_ns', offset: 8, size: 8, kind: 'u64' },
      { name: 'connect_failures', offset: 16, size: 8, kind: 'u64' },
      { name: 'consecutive_failures', offset: 24, size: 4, kind: 'u32' },
      { name: 'ejections', offset: 28, size: 4, kind: 'u32' },
      { name: 'ejected', offset: 32, size: 4, kind: 'u32' },
      { name: 'multiplier', offset: 36, size: 4, kind: 'u32' },
    ],
  },
  km_rate_limit: {
    cName: 'km_rate_limit',
    size: 24,
    fields: [
      { name: 'bucket_key', offset: 0, size: 8, kind: 'u64' },
      { name: 'fill_interval_ns', offset: 8, size: 8, kind: 'u64' },
      { name: 'max_tokens', offset: 16, size: 4, kind: 'u32' },
      { name: 'tokens_per_fill', offset: 20, size: 4, kind: 'u32' },
    ],
  },
  km_token_bucket: {
    cName: 'km_token_bucket',
    size: 32,
    fields: [
      { name: 'lock', offset: 0, size: 4, kind: 'struct', struct: 'bpf_spin_lock' },
      { name: 'tokens', offset: 4, size: 4, kind: 'u32' },
      { name: 'last_fill_ns', offset: 8, size: 8, kind: 'u64' },
      { name: 'admitted', offset: 16, size: 8, kind: 'u64' },
      { name: 'limited', offset: 24, size: 8, kind: 'u64' },
    ],
  },
  km_conn: {
    cName: 'km_conn',
    size: 64,
    fields: [
      { name: 'load_key', offset: 0, size: 8, kind: 'u64' },
      { name: 'endpoint', offset: 8, size: 20, kind: 'struct', struct: 'km_addr' },
      { name: 'counted', offset: 28, size: 4, kind: 'u32' },
      { name: 'base_ejection_ns', offset: 32, size: 8, kind: 'u64' },
      { name: 'max_ejection_ns', offset: 40, size: 8, kind: 'u64' },
      { name: 'outlier_failures', offset: 48, size: 4, kind: 'u32' },
      { name: 'max_ejection_percent', offset: 52, size: 4, kind: 'u32' },
      { name: 'endpoint_count', offset: 56, size: 4, kind: 'u32' },
      { name: 'interval_ms', offset: 60, size: 4, kind: 'u32' },
    ],
  },
} as const satisfies Record<string, ResilienceStructSpec>;

type ResilienceStructName = keyof typeof ResilienceStructs;

function at(struct: ResilienceStructName, name: string): number {
  const f = (ResilienceStructs[struct].fields as readonly ResilienceFieldSpec[]).find((x) => x.name === name);
  if (!f) throw new Error(`layout: ${struct} has no field ${name}`);
  return f.offset;
}

// ---------------------------------------------------------------------------------------------
// Stable keys

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const U64 = (1n << 64n) - 1n;

/** 64-bit FNV-1a of the UTF-8 bytes of text. */
export function fnv1a64(text: string): bigint {
  let h = FNV_OFFSET;
  for (const byte of Buffer.from(text, 'utf8')) {
    h ^= BigInt(byte);
    h = (h * FNV_PRIME) & U64;
  }
  return h;
}

/** The key of a cluster's live counts: its name is its identity across configurations. */
export function clusterLoadKey(clusterName: string): bigint {
  return fnv1a64(`cluster:${clusterName}`);
}

/** The key of a listener's token bucket: its name and address. */
export function bucketKey(listener: Pick<ListenerModel, 'name' | 'address'>): bigint {
  const a = listener.address;
  return fnv1a64(`listener:${listener.name}@${a.family === 6 ? `[${a.ip}]` : a.ip}:${a.port}`);
}

// ---------------------------------------------------------------------------------------------
// Effective settings (Envoy's defaults)

/** Envoy's defaults for the settings kmesh enforces. */
export const ResilienceDefaults = {
  /** circuit_breakers absent or without max_connections: Envoy still limits a cluster to 1024. */
  maxConnections: 1024,
  consecutiveFailures: 5,
  baseEjectionTimeMs: 30_000,
  maxEjectionTimeMs: 300_000,
  maxEjectionPercent: 10,
  intervalMs: 10_000,
  choiceCount: 2,
} as const;

/** km_cluster_limits.max_connections value meaning "no limit" (never reached by a u32 count). */
export const UNLIMITED_CONNECTIONS = 0xffff_ffff;

export interface ClusterLimits {
  maxConnections: number;
  /** consecutive connect failures that eject an endpoint; 0 = outlier detection off */
  outlierFailures: number;
  baseEjectionTimeMs: number;
  maxEjectionTimeMs: number;
  maxEjectionPercent: number;
  /** each interval an endpoint spends not ejected lowers its ejection multiplier by one (0: never) */
  intervalMs: number;
  choiceCount: number;
}

/**
 * What the kernel enforces for a cluster. A connect failure is a locally originated error:
 * with split_external_local_origin_errors it counts against consecutive_local_origin_failure,
 * otherwise (Envoy's default) it counts as a 5xx / gateway failure: the smaller of
 * consecutive_5xx and consecutive_gateway_failure that is given, else Envoy's default 5.
 */
export function clusterLimits(cluster: ClusterModel): ClusterLimits {
  const d = ResilienceDefaults;
  const threshold = cluster.circuitBreakers?.find((t) => t.priority === 'DEFAULT');
  const od = cluster.outlierDetection;
  let outlierFailures = 0;
  if (od) {
    const given = od.splitExternalLocalOriginErrors ? [od.consecutiveLocalOriginFailure] : [od.consecutive5xx, od.consecutiveGatewayFailure];
    const set = given.filter((v): v is number => v !== undefined);
    outlierFailures = set.length > 0 ? Math.min(...set) : d.consecutiveFailures;
  }
  const base = od?.baseEjectionTimeMs ?? d.baseEjectionTimeMs;
  return {
    maxConnections: threshold?.maxConnections ?? d.maxConnections,
    outlierFailures,
    baseEjectionTimeMs: base,
    // Envoy: max_ejection_time, or 300 s, or base_ejection_time, whichever is larger.
    maxEjectionTimeMs: Math.max(od?.maxEjectionTimeMs ?? d.maxEjectionTimeMs, base),
    maxEjectionPercent: od?.maxEjectionPercent ?? d.maxEjectionPercent,
    intervalMs: od?.intervalMs ?? d.intervalMs,
    choiceCount: cluster.lbPolicy === 'LEAST_REQUEST' ? cluster.leastRequestChoiceCount ?? d.choiceCount : d.choiceCount,
  };
}

// ---------------------------------------------------------------------------------------------
// Records

const ms = (v: number) => BigInt(Math.round(v)) * 1_000_000n;

export function encodeClusterLimits(limits: ClusterLimits, loadKey: bigint): Buffer {
  const s = 'km_cluster_limits';
  const b = Buffer.alloc(ResilienceStructs[s].size);
  b.writeBigUInt64LE(loadKey, at(s, 'load_key'));
  b.writeBigUInt64LE(ms(limits.baseEjectionTimeMs), at(s, 'base_ejection_ns'));
  b.writeBigUInt64LE(ms(limits.maxEjectionTimeMs), at(s, 'max_ejection_ns'));
  b.writeBigUInt64LE(ms(limits.intervalMs), at(s, 'interval_ns'));
  b.writeUInt32LE(limits.maxConnections, at(s, 'max_connections'));
  b.writeUInt32LE(limits.outlierFailures, at(s, 'outlier_failures'));
  b.writeUInt32LE(limits.maxEjectionPercent, at(s, 'max_ejection_percent'));
  b.writeUInt32LE(limits.choiceCount, at(s, 'choice_count'));
  return b;
}

export function encodeRateLimit(limit: LocalRateLimitModel, key: bigint): Buffer {
  const s = 'km_rate_limit';
  const b = Buffer.alloc(ResilienceStructs[s].size);
  b.writeBigUInt64LE(key, at(s, 'bucket_key'));
  b.writeBigUInt64LE(ms(limit.fillIntervalMs), at(s, 'fill_interval_ns'));
  b.writeUInt32LE(limit.maxTokens, at(s, 'max_tokens'));
  b.writeUInt32LE(limit.tokensPerFill, at(s, 'tokens_per_fill'));
  return b;
}

export interface ResilienceRecords {
  /** km_cl_limits: one per cluster */
  clusterLimits: KernelRecord[];
  /** km_lsn_limit: one per exact listener with a local rate limit */
  listenerLimits: KernelRecord[];
}

/** The per-generation records of a model (cluster ids as encodeModel assigned them). */
export function encodeResilienceRecords(model: MeshModel, gen: number, clusterIds: ReadonlyMap<string, number>): ResilienceRecords {
  const clusterLimitsRecords = model.clusters.map((c) => ({
    key: encodeClusterKey(gen, clusterIds.get(c.name)!),
    value: encodeClusterLimits(clusterLimits(c), clusterLoadKey(c.name)),
  }));
  const listenerLimits = model.listeners
    .filter((l) => l.rateLimit !== undefined && (l.route.clusters.length > 0 || l.http !== undefined) && !l.virtual)
    .map((l) => ({ key: encodeListenerKey(gen, l), value: encodeRateLimit(l.rateLimit!, bucketKey(l)) }));
  return { clusterLimits: clusterLimitsRecords, listenerLimits };
}

// ---------------------------------------------------------------------------------------------
// Live state, decoded for the admin API and metrics

export interface ClusterLoad {
  active: number;
  circuitOpen: number;
  ejections: number;
  /** end times (bpf_ktime_get_ns clock) of the cluster's ejection slots; past ones are free */
  ejectedUntilNs: bigint[];
}

export function decodeClusterLoad(b: Buffer): ClusterLoad {
  const s = 'km_cluster_load';
  const slots = at(s, 'ejected_until');
  return {
    active: Number(b.readBigInt64LE(at(s, 'active'))),
    circuitOpen: Number(b.readBigUInt64LE(at(s, 'circuit_open'))),
    ejections: Number(b.readBigUInt64LE(at(s, 'ejections'))),
    ejectedUntilNs: Array.from({ length: ResilienceLimits.maxEjected }, (_, i) => b.readBigUInt64LE(slots + 8 * i)),
  };
}

export function encodeLoadKey(key: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(key);
  return b;
}

export function encodeEndpointLoadKey(loadKey: bigint, address: SocketAddress): Buffer {
  const s = 'km_endpoint_load_key';
  const b = Buffer.alloc(ResilienceStructs[s].size);
  b.writeBigUInt64LE(loadKey, at(s, 'load_key'));
  writeAddr(b, at(s, 'addr'), address);
  return b;
}

export function decodeEndpointLoadKey(b: Buffer): { loadKey: bigint; address: SocketAddress } {
  const s = 'km_endpoint_load_key';
  return { loadKey: b.readBigUInt64LE(at(s, 'load_key')), address: readAddr(b, at(s, 'addr')) };
}

export interface EndpointLoad {
  active: number;
  /** bpf_ktime_get_ns clock (CLOCK_MONOTONIC), nanoseconds */
  ejectedUntilNs: bigint;
  connectFailures: number;
  consecutiveFailures: number;
  ejections: number;
  ejectedFlag: boolean;
  multiplier: number;
}

export function decodeEndpointLoad(b: Buffer): EndpointLoad {
  const s = 'km_endpoint_load';
  return {
    active: Number(b.readBigInt64LE(at(s, 'active'))),
    ejectedUntilNs: b.readBigUInt64LE(at(s, 'ejected_until_ns')),
    connectFailures: Number(b.readBigUInt64LE(at(s, 'connect_failures'))),
    consecutiveFailures: b.readUInt32LE(at(s, 'consecutive_failures')),
    ejections: b.readUInt32LE(at(s, 'ejections')),
    // 1: ejected (2 is an ejection being set up, not yet in force)
    ejectedFlag: b.readUInt32LE(at(s, 'ejected')) === 1,
    multiplier: b.readUInt32LE(at(s, 'multiplier')),
  };
}

export interface TokenBucket {
  tokens: number;
  admitted: number;
  limited: number;
}

export function decodeTokenBucket(b: Buffer): TokenBucket {
  const s = 'km_token_bucket';
  return {
    tokens: b.readUInt32LE(at(s, 'tokens')),
    admitted: Number(b.readBigUInt64LE(at(s, 'admitted'))),
    limited: Number(b.readBigUInt64LE(at(s, 'limited'))),
  };
}
