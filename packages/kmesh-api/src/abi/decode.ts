/**
 * Kernel records → readable values, the inverse of encode.ts (for
 * `kmeshctl dump maps` and for tests). Every decoder checks the buffer size.
 */
import { AddressFamily, LbPolicyCode, RouteActionCode, StatNames, type RouteAction, type StatName } from './layout.js';
import { expectSize, offsetOf, readAddr } from './fields.js';
import { formatIpv4, formatIpv6 } from '../resources/address.js';
import type { LbPolicy, SocketAddress } from '../model.js';

export interface ActiveValue {
  gen: number;
  version: number;
}
export interface ListenerKey {
  gen: number;
  address: SocketAddress;
}
/** A km_route (the value of km_listener and km_chain). */
export interface ListenerValue {
  /** The action's name, or its number when this version does not know it. */
  action: RouteAction | number;
  clusterCount: number;
  totalWeight: number;
  /** The first clusterCount entries of cluster_ids. */
  clusterIds: number[];
  /** The first clusterCount entries of cum_weights. */
  cumWeights: number[];
  /** Each cluster's own weight, from the running sums. */
  weights: number[];
}
export type RouteValue = ListenerValue;
export interface ChainKey {
  gen: number;
  port: number;
  /** The sentinel of a wildcard port (matches when no chain does) has no family and no prefix. */
  sentinel: boolean;
  /** The destination prefix, e.g. "10.96.1.0/24"; absent in the sentinel. */
  prefix?: string;
  family?: 4 | 6;
  /** km_chain_key.prefixlen as stored (64 + address prefix, or 48). */
  prefixBits: number;
}
export interface ClusterKey {
  gen: number;
  clusterId: number;
}
export interface ClusterValue {
  /** The policy's name, or its number when this version does not know it. */
  lbPolicy: LbPolicy | number;
  endpointCount: number;
  totalWeight: number;
  rrCursor: number;
  /** km_endpoint_key.set of the cluster's endpoints (= gen after a full push). */
  endpointSet: number;
  /** MAGLEV table slots / RING_HASH ring entries stored after the endpoints (0 for other policies). */
  lbTableSize: number;
  /** ROUND_ROBIN step through the weight space. */
  rrStride: number;
}
export interface EndpointKey {
  /** The endpoint set (a generation, or an in-place set with the high bit). */
  set: number;
  clusterId: number;
  index: number;
}
export interface EndpointValue {
  address: SocketAddress;
  weight: number;
  cumWeight: number;
}
export interface OrigDstValue {
  vip: SocketAddress;
}

/**
 * Every configuration key starts with its u32 generation (host order); except km_chain keys
 * (see generationOfChainKey) and km_endpoint keys, whose first u32 is the endpoint set.
 */
export function generationOfKey(key: Buffer): number {
  if (key.length < 4) throw new RangeError(`a configuration key starts with a 4-byte generation, got ${key.length} bytes`);
  return key.readUInt32LE(0);
}

export function decodeActive(buf: Buffer): ActiveValue {
  expectSize(buf, 'km_active');
  return { gen: buf.readUInt32LE(offsetOf('km_active', 'gen')), version: buf.readUInt32LE(offsetOf('km_active', 'version')) };
}

export function decodeAddr(buf: Buffer): SocketAddress {
  expectSize(buf, 'km_addr');
  return readAddr(buf, 0);
}

export function decodeListenerKey(buf: Buffer): ListenerKey {
  expectSize(buf, 'km_listener_key');
  return { gen: buf.readUInt32LE(offsetOf('km_listener_key', 'gen')), address: readAddr(buf, offsetOf('km_listener_key', 'addr')) };
}

const routeActionByCode = new Map<number, RouteAction>(Object.entries(RouteActionCode).map(([name, code]) => [code, name as RouteAction]));

export function decodeRoute(buf: Buffer): RouteValue {
  expectSize(buf, 'km_route');
  const code = buf.readUInt32LE(offsetOf('km_route', 'action'));
  const clusterCount = buf.readUInt32LE(offsetOf('km_route', 'cluster_count'));
  const totalWeight = buf.readUInt32LE(offsetOf('km_route', 'total_weight'));
  const n = Math.min(clusterCount, 16);
  const ids = offsetOf('km_route', 'cluster_ids');
  const cums = offsetOf('km_route', 'cum_weights');
  const clusterIds: number[] = [];
  const cumWeights: number[] = [];
  for (let i = 0; i < n; i++) {
    clusterIds.push(buf.readUInt32LE(ids + i * 4));
    cumWeights.push(buf.readUInt32LE(cums + i * 4));
  }
  const weights = cumWeights.map((c, i) => c - (i === 0 ? 0 : cumWeights[i - 1]!));
  return { action: routeActionByCode.get(code) ?? code, clusterCount, totalWeight, clusterIds, cumWeights, weights };
}

/** km_listener's value is a km_route. */
export const decodeListenerValue = decodeRoute;
/** km_chain's value is a km_route. */
export const decodeChainValue = decodeRoute;

/** km_chain keys start with the LPM prefix length; the generation follows it. */
export function generationOfChainKey(key: Buffer): number {
  expectSize(key, 'km_chain_key');
  return key.readUInt32LE(offsetOf('km_chain_key', 'gen'));
}

export function decodeChainKey(buf: Buffer): ChainKey {
  expectSize(buf, 'km_chain_key');
  const prefixBits = buf.readUInt32LE(offsetOf('km_chain_key', 'prefixlen'));
  const gen = buf.readUInt32LE(offsetOf('km_chain_key', 'gen'));
  const port = buf.readUInt16BE(offsetOf('km_chain_key', 'port'));
  const code = buf.readUInt8(offsetOf('km_chain_key', 'family'));
  const ipAt = offsetOf('km_chain_key', 'ip');
  if (prefixBits < 64) return { gen, port, sentinel: true, prefixBits };
  const length = prefixBits - 64;
  if (code === AddressFamily.inet) return { gen, port, sentinel: false, family: 4, prefix: `${formatIpv4(buf.subarray(ipAt, ipAt + 4))}/${length}`, prefixBits };
  if (code === AddressFamily.inet6) return { gen, port, sentinel: false, family: 6, prefix: `${formatIpv6(buf.subarray(ipAt, ipAt + 16))}/${length}`, prefixBits };
  throw new RangeError(`km_chain_key has unknown family ${code} (expected ${AddressFamily.inet} or ${AddressFamily.inet6})`);
}

export function decodeClusterKey(buf: Buffer): ClusterKey {
  expectSize(buf, 'km_cluster_key');
  return { gen: buf.readUInt32LE(offsetOf('km_cluster_key', 'gen')), clusterId: buf.readUInt32LE(offsetOf('km_cluster_key', 'cluster_id')) };
}

const lbPolicyByCode = new Map<number, LbPolicy>(Object.entries(LbPolicyCode).map(([name, code]) => [code, name as LbPolicy]));

export function decodeClusterValue(buf: Buffer): ClusterValue {
  expectSize(buf, 'km_cluster_value');
  const code = buf.readUInt32LE(offsetOf('km_cluster_value', 'lb_policy'));
  return {
    lbPolicy: lbPolicyByCode.get(code) ?? code,
    endpointCount: buf.readUInt32LE(offsetOf('km_cluster_value', 'endpoint_count')),
    totalWeight: buf.readUInt32LE(offsetOf('km_cluster_value', 'total_weight')),
    rrCursor: buf.readUInt32LE(offsetOf('km_cluster_value', 'rr_cursor')),
    endpointSet: buf.readUInt32LE(offsetOf('km_cluster_value', 'ep_set')),
    lbTableSize: buf.readUInt32LE(offsetOf('km_cluster_value', 'lb_table_size')),
    rrStride: buf.readUInt32LE(offsetOf('km_cluster_value', 'rr_stride')),
  };
}

export function decodeEndpointKey(buf: Buffer): EndpointKey {
  expectSize(buf, 'km_endpoint_key');
  return {
    set: buf.readUInt32LE(offsetOf('km_endpoint_key', 'set')),
    clusterId: buf.readUInt32LE(offsetOf('km_endpoint_key', 'cluster_id')),
    index: buf.readUInt32LE(offsetOf('km_endpoint_key', 'index')),
  };
}

export function decodeEndpointValue(buf: Buffer): EndpointValue {
  expectSize(buf, 'km_endpoint_value');
  return {
    address: readAddr(buf, offsetOf('km_endpoint_value', 'addr')),
    weight: buf.readUInt32LE(offsetOf('km_endpoint_value', 'weight')),
    cumWeight: buf.readUInt32LE(offsetOf('km_endpoint_value', 'cum_weight')),
  };
}

export function decodeOrigDst(buf: Buffer): OrigDstValue {
  expectSize(buf, 'km_orig_dst');
  return { vip: readAddr(buf, offsetOf('km_orig_dst', 'vip')) };
}

/** The key of km_stats entry `index` (an ARRAY index, u32 host order). */
export function statKey(index: number): Buffer {
  const key = Buffer.alloc(4);
  key.writeUInt32LE(index, 0);
  return key;
}

/**
 * Sums a PERCPU_ARRAY u64 value: one 8-byte slot per possible CPU, as
 * BpfMap.lookup returns it.
 */
export function decodePercpuCounter(buf: Buffer): bigint {
  if (buf.length % 8 !== 0) throw new RangeError(`a per-CPU u64 value is a multiple of 8 bytes, got ${buf.length}`);
  let sum = 0n;
  for (let at = 0; at < buf.length; at += 8) sum += buf.readBigUInt64LE(at);
  return sum;
}

/** The stat name of a km_stats index, or undefined past the names this version knows. */
export function statName(index: number): StatName | undefined {
  return StatNames[index];
}
