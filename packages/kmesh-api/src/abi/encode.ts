/**
 * MeshModel → kernel records (keys and values of km_listener, km_chain,
 * km_cluster, km_endpoint) for one generation. Counters, ids and weights are in host
 * (little-endian) order; addresses and ports in network order.
 */
import { LbPolicyCode, Limits, RouteActionCode, type RouteAction } from './layout.js';
import { offsetOf, structSize, writeAddr } from './fields.js';
import { isExactListener, planChains, type ChainEntry } from './chains.js';
import { CapacityError, checkCapacity } from '../capacity.js';
import { endpointShares, type LbContext } from '../lb/priority.js';
import { lbTableEntries, roundRobinStride } from '../lb/tables.js';
import type { ChainAction, ClusterModel, ListenerModel, MeshModel, WeightedRoute } from '../model.js';
import { encodeResilienceRecords } from './resilience.js';
import { encodeL7Records, stampRouteConfigIds } from './http-routes.js'; // issue 4: L7 route tables

export interface KernelRecord {
  key: Buffer;
  value: Buffer;
}

export interface KernelRecords {
  /** km_listener: exact-address listeners. */
  listeners: KernelRecord[];
  /** km_chain: filter chains of wildcard listeners, one per prefix range, plus one sentinel per wildcard port. */
  chains: KernelRecord[];
  clusters: KernelRecord[];
  endpoints: KernelRecord[];
  /** Cluster name → id, 1..N in sorted-name order (stable across pushes of the same names). */
  clusterIds: Map<string, number>;
  /** issue 6 part A (abi/resilience.ts): km_cl_limits, one per cluster. */
  clusterLimits?: KernelRecord[];
  /** issue 6 part A (abi/resilience.ts): km_lsn_limit, one per rate-limited exact listener. */
  listenerLimits?: KernelRecord[];
  /** issue 4 (abi/http-routes.ts): the L7 route tables of the generation. */
  l7Vhosts?: KernelRecord[];
  l7Routes?: KernelRecord[];
  l7HeaderMatches?: KernelRecord[];
  l7HeaderNames?: KernelRecord[];
  l7Dfa?: KernelRecord[];
  l7Texts?: KernelRecord[];
}

const maxU32 = 0xffffffff;

/**
 * A zero-filled buffer from Node's shared pool: a push of 100,000 endpoints allocates 200,000
 * small buffers, and Buffer.alloc gives each its own ArrayBuffer (several times slower).
 */
function zeroed(size: number): Buffer {
  return Buffer.allocUnsafe(size).fill(0);
}

function checkGeneration(gen: number): void {
  // Generation 0 means "no configuration yet" in km_active.
  if (!Number.isInteger(gen) || gen < 1 || gen > maxU32) throw new RangeError(`generation must be an integer from 1 to ${maxU32}, got ${gen}`);
}

/** Ids 1..N by name in code-unit order; 0 is never an id. */
export function assignClusterIds(clusters: readonly ClusterModel[]): Map<string, number> {
  const names = [...new Set(clusters.map((c) => c.name))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return new Map(names.map((n, i) => [n, i + 1]));
}

function writeU32Array(buf: Buffer, at: number, values: readonly number[]): void {
  values.forEach((v, i) => buf.writeUInt32LE(v, at + i * 4));
}

export function encodeListenerKey(gen: number, listener: Pick<ListenerModel, 'address'>): Buffer {
  const key = zeroed(structSize('km_listener_key'));
  key.writeUInt32LE(gen, offsetOf('km_listener_key', 'gen'));
  writeAddr(key, offsetOf('km_listener_key', 'addr'), listener.address);
  return key;
}

/** The cluster part of a tcp_proxy route, checked: 1..16 clusters with a weight above 0, known ids. */
function writeWeightedClusters(value: Buffer, route: WeightedRoute, clusterIds: ReadonlyMap<string, number>, where: string): void {
  // A weight-0 cluster can never be picked: leaving it out keeps the search short.
  const used = route.clusters.filter((c) => c.weight > 0);
  if (used.length === 0 || used.length > Limits.weightedClusters) {
    throw new RangeError(`${where}: ${used.length} clusters with a weight above 0, accepted 1 to ${Limits.weightedClusters}`);
  }
  const ids = used.map((c) => {
    const id = clusterIds.get(c.name);
    if (id === undefined) throw new RangeError(`${where} routes to unknown cluster ${c.name}`);
    return id;
  });
  let sum = 0;
  const cum = used.map((c) => (sum += c.weight));
  value.writeUInt32LE(used.length, offsetOf('km_route', 'cluster_count'));
  value.writeUInt32LE(sum, offsetOf('km_route', 'total_weight'));
  writeU32Array(value, offsetOf('km_route', 'cluster_ids'), ids);
  writeU32Array(value, offsetOf('km_route', 'cum_weights'), cum);
}

/** What a route does, as the kernel's action code. */
const actionOfKind: Record<ChainAction['kind'] | 'no_chain', RouteAction> = {
  tcp_proxy: 'TCP_PROXY',
  passthrough: 'PASSTHROUGH',
  http: 'HTTP',
  blackhole: 'BLACKHOLE',
  no_chain: 'NO_CHAIN',
};

/** A km_route: the action, and for tcp_proxy the weighted clusters (zero otherwise). */
export function encodeRouteValue(action: ChainAction | { kind: 'no_chain' }, clusterIds: ReadonlyMap<string, number>, where: string): Buffer {
  const value = zeroed(structSize('km_route'));
  value.writeUInt32LE(RouteActionCode[actionOfKind[action.kind]], offsetOf('km_route', 'action'));
  if (action.kind === 'tcp_proxy') writeWeightedClusters(value, action.route, clusterIds, where);
  return value;
}

/** The km_listener value of an exact listener: http listeners are left alone at L4 (action HTTP). */
export function encodeListenerValue(listener: ListenerModel, clusterIds: ReadonlyMap<string, number>): Buffer {
  const action: ChainAction = listener.http ? { kind: 'http', http: listener.http } : { kind: 'tcp_proxy', route: listener.route };
  return encodeRouteValue(action, clusterIds, `listener ${listener.name}`);
}

/** A km_chain key: LPM prefix length, generation, port, family and masked address. */
export function encodeChainKey(gen: number, entry: Pick<ChainEntry, 'prefixBits' | 'port' | 'familyCode' | 'ip'>): Buffer {
  const key = zeroed(structSize('km_chain_key'));
  key.writeUInt32LE(entry.prefixBits, offsetOf('km_chain_key', 'prefixlen'));
  key.writeUInt32LE(gen, offsetOf('km_chain_key', 'gen'));
  key.writeUInt16BE(entry.port, offsetOf('km_chain_key', 'port'));
  key.writeUInt8(entry.familyCode, offsetOf('km_chain_key', 'family'));
  entry.ip.copy(key, offsetOf('km_chain_key', 'ip'));
  return key;
}

export function encodeClusterKey(gen: number, clusterId: number): Buffer {
  const key = zeroed(structSize('km_cluster_key'));
  key.writeUInt32LE(gen, offsetOf('km_cluster_key', 'gen'));
  key.writeUInt32LE(clusterId, offsetOf('km_cluster_key', 'cluster_id'));
  return key;
}

/**
 * endpointSet: the km_endpoint_key.set of this cluster's endpoints (the generation after a full push).
 * lb: the consistent-hashing table size and round-robin stride (lb/tables.ts); stride 1 when not given.
 */
export function encodeClusterValue(
  lbPolicy: ClusterModel['lbPolicy'],
  endpointCount: number,
  totalWeight: number,
  endpointSet: number,
  lb: { tableSize: number; rrStride: number } = { tableSize: 0, rrStride: 1 },
): Buffer {
  const value = zeroed(structSize('km_cluster_value'));
  value.writeUInt32LE(LbPolicyCode[lbPolicy], offsetOf('km_cluster_value', 'lb_policy'));
  value.writeUInt32LE(endpointCount, offsetOf('km_cluster_value', 'endpoint_count'));
  value.writeUInt32LE(totalWeight, offsetOf('km_cluster_value', 'total_weight'));
  value.writeUInt32LE(0, offsetOf('km_cluster_value', 'rr_cursor'));
  value.writeUInt32LE(endpointSet, offsetOf('km_cluster_value', 'ep_set'));
  value.writeUInt32LE(lb.tableSize, offsetOf('km_cluster_value', 'lb_table_size'));
  value.writeUInt32LE(lb.rrStride, offsetOf('km_cluster_value', 'rr_stride'));
  return value;
}

/** set: the endpoint set named by the cluster record's ep_set. */
export function encodeEndpointKey(set: number, clusterId: number, index: number): Buffer {
  const key = zeroed(structSize('km_endpoint_key'));
  key.writeUInt32LE(set, offsetOf('km_endpoint_key', 'set'));
  key.writeUInt32LE(clusterId, offsetOf('km_endpoint_key', 'cluster_id'));
  key.writeUInt32LE(index, offsetOf('km_endpoint_key', 'index'));
  return key;
}

export function encodeEndpointValue(endpoint: { address: ListenerModel['address']; weight: number }, cumWeight: number): Buffer {
  const value = zeroed(structSize('km_endpoint_value'));
  writeAddr(value, offsetOf('km_endpoint_value', 'addr'), endpoint.address);
  value.writeUInt32LE(endpoint.weight, offsetOf('km_endpoint_value', 'weight'));
  value.writeUInt32LE(cumWeight, offsetOf('km_endpoint_value', 'cum_weight'));
  return value;
}

/** The km_active value: the generation connect() reads, and a version for diagnostics. */
export function encodeActive(gen: number, version: number): Buffer {
  const value = zeroed(structSize('km_active'));
  value.writeUInt32LE(gen, offsetOf('km_active', 'gen'));
  value.writeUInt32LE(version, offsetOf('km_active', 'version'));
  return value;
}

/** The one key of the km_active array: index 0. */
export function activeKey(): Buffer {
  return Buffer.alloc(4);
}

/**
 * Encodes one generation of the model. Throws CapacityError (with every reason)
 * before producing anything when the model does not fit the maps.
 */
export function encodeModel(model: MeshModel, gen: number): KernelRecords {
  checkGeneration(gen);
  const problems = checkCapacity(model);
  if (problems.length > 0) throw new CapacityError(problems);
  const clusterIds = assignClusterIds(model.clusters);
  if (clusterIds.size !== model.clusters.length) throw new RangeError('cluster names must be unique: two clusters would share one id');
  const listeners = model.listeners.filter(isExactListener).map((l) => ({ key: encodeListenerKey(gen, l), value: encodeListenerValue(l, clusterIds) }));
  const plan = planChains(model);
  if (plan.conflicts.length > 0) throw new RangeError(plan.conflicts.map((c) => `${c.path}: ${c.message}`).join('; '));
  const chains = plan.entries.map((e) => ({ key: encodeChainKey(gen, e), value: encodeRouteValue(e.action, clusterIds, e.origin) }));
  const clusters: KernelRecord[] = [];
  const endpoints: KernelRecord[] = [];
  for (const cluster of model.clusters) {
    // A full push names every cluster's endpoints by the generation itself.
    const encoded = encodeClusterEndpoints(cluster, clusterIds.get(cluster.name)!, gen, gen, { nodeLocality: model.nodeLocality });
    endpoints.push(...encoded.endpoints);
    clusters.push(encoded.cluster);
  }
  // issue 4: route tables of the http listeners, and each http km_route names its route config.
  const { routeConfigIdOf, ...l7 } = encodeL7Records(model, gen, clusterIds);
  stampRouteConfigIds(model.listeners.filter(isExactListener), listeners, plan.entries.map((e) => e.action), chains, routeConfigIdOf);
  return { listeners, chains, clusters, endpoints, clusterIds, ...encodeResilienceRecords(model, gen, clusterIds), ...l7 };
}

/**
 * One cluster's record of generation gen and its endpoints under endpoint set `set`: what an
 * endpoint-only change writes (a fresh set, then the cluster record replaced in place).
 * Endpoint weights are the shares of lb/priority.ts (priority failover, locality weights, node
 * locality, ejections in `context`); a hashing cluster's table follows its endpoints (lb/tables.ts).
 */
export function encodeClusterEndpoints(
  cluster: ClusterModel,
  clusterId: number,
  gen: number,
  set: number,
  context: LbContext = {},
): { cluster: KernelRecord; endpoints: KernelRecord[] } {
  const usable = endpointShares(cluster, context).endpoints;
  const endpoints: KernelRecord[] = [];
  let cum = 0;
  usable.forEach((e, index) => {
    cum += e.weight;
    endpoints.push({ key: encodeEndpointKey(set, clusterId, index), value: encodeEndpointValue({ address: e.endpoint.address, weight: e.weight }, cum) });
  });
  const table = lbTableEntries(cluster, usable);
  table.forEach((entry, slot) => {
    const owner = usable[entry.endpointIndex]!;
    endpoints.push({
      key: encodeEndpointKey(set, clusterId, usable.length + slot),
      value: encodeEndpointValue({ address: owner.endpoint.address, weight: owner.weight }, entry.point),
    });
  });
  const lb = { tableSize: table.length, rrStride: cluster.lbPolicy === 'ROUND_ROBIN' ? roundRobinStride(usable.map((e) => e.weight)) : 1 };
  return { cluster: { key: encodeClusterKey(gen, clusterId), value: encodeClusterValue(cluster.lbPolicy, usable.length, cum, set, lb) }, endpoints };
}
