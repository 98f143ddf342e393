/**
 * Ketama-style hash ring, weighted: every endpoint puts replicas on a 32-bit ring at
 * hash("ip:port_i"); a client goes to the first replica at or after its own hash (wrapping).
 *
 * Replica counts (kmesh's rule, not Envoy's): the lightest endpoint gets
 * K = minimum_ring_size / 4 replicas (256 by default) and every other endpoint K x its weight
 * relative to the lightest. Envoy instead sizes the whole ring to minimum_ring_size, so each
 * endpoint's replica count depends on how many endpoints there are: removing one of N adds
 * replicas to all the others, which then take clients from each other too (about 2/N move). With
 * counts that do not depend on N, the ring without an endpoint is the ring with it minus its own
 * replicas, so only its ~1/N of the clients move. The ring holds at most
 * min(maximum_ring_size, KMESH_MAX_LB_TABLE_SIZE = 65537) entries: above that K is lowered
 * (every endpoint keeps at least one replica).
 *
 * Positions come from kmesh's own hash (hash.ts), not Envoy's xxHash.
 */
import { LbTableLimits } from '../abi/layout.js';
import { hashKey } from './hash.js';
import type { HashedEndpoint } from './maglev.js';

/** Envoy's defaults for ring_hash_lb_config. */
export const envoyRingDefaults = { minimumRingSize: 1024, maximumRingSize: 8 * 1024 * 1024 } as const;

export interface RingSizes {
  minimumRingSize: number;
  maximumRingSize: number;
}

export interface HashRing {
  /** Ring positions, ascending. */
  points: Uint32Array;
  /** owners[i]: index into the endpoints of the replica at points[i]. */
  owners: Int32Array;
}

/** Replicas per endpoint (same order), by the rule above. */
export function ringReplicas(endpoints: readonly HashedEndpoint[], sizes: RingSizes): number[] {
  if (endpoints.length === 0) return [];
  const lightest = Math.min(...endpoints.map((e) => e.weight));
  const relative = endpoints.map((e) => e.weight / lightest);
  const cap = Math.min(sizes.maximumRingSize, LbTableLimits.maxTableSize);
  let perLightest = Math.max(1, Math.round(sizes.minimumRingSize / 4));
  const total = relative.reduce((s, r) => s + r, 0);
  if (perLightest * total > cap) perLightest = cap / total;
  const replicas = relative.map((r) => Math.max(1, Math.round(perLightest * r)));
  // Rounding up to one replica each may still exceed the cap: trim the heaviest.
  let excess = replicas.reduce((s, r) => s + r, 0) - cap;
  while (excess > 0) {
    const i = replicas.indexOf(Math.max(...replicas));
    const cut = Math.min(excess, replicas[i]! - 1);
    if (cut <= 0) break;
    replicas[i]! -= cut;
    excess -= cut;
  }
  return replicas;
}

/** The ring's entry count for these weights. */
export function ringScale(endpoints: readonly HashedEndpoint[], sizes: RingSizes): number {
  return ringReplicas(endpoints, sizes).reduce((s, r) => s + r, 0);
}

export function buildHashRing(endpoints: readonly HashedEndpoint[], sizes: RingSizes = envoyRingDefaults): HashRing {
  const replicas = ringReplicas(endpoints, sizes);
  const entries: { point: number; owner: number }[] = [];
  endpoints.forEach((e, owner) => {
    for (let replica = 0; replica < replicas[owner]!; replica++) {
      entries.push({ point: Number(hashKey(`${e.key}_${replica}`) & 0xffffffffn), owner });
    }
  });
  // Ties (two replicas on one point) are broken by endpoint order, so the ring is deterministic.
  entries.sort((a, b) => a.point - b.point || a.owner - b.owner);
  return { points: Uint32Array.from(entries, (x) => x.point), owners: Int32Array.from(entries, (x) => x.owner) };
}

/** The endpoint index a client hash (its low 32 bits) lands on: the kernel's km_lb_pick_ring, in TS. */
export function lookupRing(ring: HashRing, clientHash: bigint): number {
  const h = Number(clientHash & 0xffffffffn);
  let lo = 0;
  let hi = ring.points.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ring.points[mid]! < h) lo = mid + 1;
    else hi = mid;
  }
  return ring.owners[lo === ring.points.length ? 0 : lo]!;
}
