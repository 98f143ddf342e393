/**
 * What a cluster's policy needs in the kernel besides its endpoints:
 *  - MAGLEV / RING_HASH: the table stored in km_endpoint right after the endpoints (see
 *    "Consistent-hashing tables" in kmesh_abi.h), as entries of endpoint indexes;
 *  - ROUND_ROBIN: the stride the shared cursor takes through the weight space.
 */
import type { ClusterModel } from '../model.js';
import { endpointHashKey } from './hash.js';
import { buildMaglevTable, type HashedEndpoint } from './maglev.js';
import { buildHashRing, envoyRingDefaults, ringScale } from './ring-hash.js';
import type { WeightedEndpoint } from './priority.js';

/**
 * kmesh's Maglev table size when maglev_lb_config.table_size is not given. Envoy's default is
 * 65537; the tables live in km_endpoint (262,144 entries per generation), so kmesh defaults to a
 * smaller prime that still gives every endpoint of a 40-endpoint cluster ~100 slots (balance
 * within ~1 %). An explicit table_size is honoured up to 65537.
 */
export const defaultMaglevTableSize = 4099;

/** One table entry: which endpoint (index into the cluster's encoded endpoints), and for a ring its position. */
export interface LbTableEntry {
  endpointIndex: number;
  /** RING_HASH: the 32-bit ring position (stored in cum_weight); MAGLEV: the endpoint index. */
  point: number;
}

/** The entries of a hashing cluster's table, in index order; empty for other policies or no endpoints. */
export function lbTableEntries(cluster: ClusterModel, endpoints: readonly WeightedEndpoint[]): LbTableEntry[] {
  if (endpoints.length === 0) return [];
  const hashed: HashedEndpoint[] = endpoints.map((e) => ({ key: endpointHashKey(e.endpoint.address), weight: e.weight }));
  if (cluster.lbPolicy === 'MAGLEV') {
    const table = buildMaglevTable(hashed, cluster.maglev?.tableSize ?? defaultMaglevTableSize);
    return Array.from(table, (endpointIndex) => ({ endpointIndex, point: endpointIndex }));
  }
  if (cluster.lbPolicy === 'RING_HASH') {
    const ring = buildHashRing(hashed, { ...envoyRingDefaults, ...cluster.ringHash });
    return Array.from(ring.points, (point, i) => ({ endpointIndex: ring.owners[i]!, point }));
  }
  return [];
}

/** How many table entries a hashing cluster stores (for capacity checks), without building it. */
export function lbTableSize(cluster: ClusterModel, endpoints: readonly WeightedEndpoint[]): number {
  if (endpoints.length === 0) return 0;
  if (cluster.lbPolicy === 'MAGLEV') return cluster.maglev?.tableSize ?? defaultMaglevTableSize;
  if (cluster.lbPolicy === 'RING_HASH') {
    const sizes = { ...envoyRingDefaults, ...cluster.ringHash };
    const hashed = endpoints.map((e) => ({ key: '', weight: e.weight }));
    return ringScale(hashed, sizes);
  }
  return 0;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/**
 * The round-robin stride: the kernel picks weight point (cursor x stride) % total. A stride
 * coprime with total visits every point once per cycle (exact proportions), and one near
 * total x 0.382 (the golden ratio's) spreads consecutive connections over the whole weight space,
 * so an endpoint of weight w does not get w turns in a row (which with scaled weights in the
 * hundreds of thousands would pin one endpoint for a long time). Equal weights w: stride w, a
 * plain rotation through the endpoints in order (as before issue 6).
 */
export function roundRobinStride(weights: readonly number[]): number {
  const total = weights.reduce((s, w) => s + w, 0);
  if (total <= 1 || weights.length <= 1) return 1;
  if (weights.every((w) => w === weights[0])) return weights[0]!;
  let stride = Math.max(1, Math.round(total * 0.381966));
  while (gcd(stride, total) !== 1) stride++;
  return stride;
}
