/**
 * Capacity checks against the kernel maps, run before anything is written
 * (DESIGN constraint 6). Each hash map holds two live generations during an
 * update, so one generation may use half of it.
 */
import { LbTableLimits, Limits } from './abi/layout.js';
import { isExactListener, kernelChains, planChains } from './abi/chains.js';
import type { Diagnostic } from './diagnostics.js';
import { endpointShares, type WeightedEndpoint } from './lb/priority.js';
import { lbTableSize } from './lb/tables.js';
import type { MeshModel, WeightedRoute } from './model.js';

const maxU32 = 0xffffffff;

export class CapacityError extends Error {
  readonly diagnostics: Diagnostic[];
  constructor(diagnostics: Diagnostic[]) {
    super(`the configuration does not fit the kernel maps: ${diagnostics.map((d) => `${d.path}: ${d.message}`).join('; ')}`);
    this.name = 'CapacityError';
    this.diagnostics = diagnostics;
  }
}

function error(path: string, message: string): Diagnostic {
  return { severity: 'error', path, message };
}

/** The weighted clusters of a tcp_proxy route fit km_route. */
function checkRoute(route: WeightedRoute, at: string, out: Diagnostic[]): void {
  const used = route.clusters.filter((c) => c.weight > 0);
  if (used.length > Limits.weightedClusters) {
    out.push(error(at, `${used.length} weighted clusters is more than ${Limits.weightedClusters}`));
  }
  const total = used.reduce((s, c) => s + c.weight, 0);
  if (total === 0) out.push(error(at, 'the route has no cluster with a weight above 0'));
  if (total > maxU32) out.push(error(at, `the cluster weights add up to ${total}, more than ${maxU32}`));
}

/** Issue 6: a hashing cluster's table fits (its size, or 0 for other policies). */
function checkLbTable(cluster: MeshModel['clusters'][number], shares: readonly WeightedEndpoint[], at: string, out: Diagnostic[]): number {
  const endpointCount = shares.length;
  const size = lbTableSize(cluster, shares);
  if (cluster.lbPolicy === 'MAGLEV' && endpointCount > size && size > 0) {
    out.push(error(`${at}.maglev_lb_config.table_size`, `a Maglev table of ${size} slots cannot hold ${endpointCount} endpoints: give a prime table_size of at least ${endpointCount}`));
  }
  if (size > LbTableLimits.maxTableSize) {
    out.push(error(at, `a ${cluster.lbPolicy} table of ${size} entries is more than ${LbTableLimits.maxTableSize}, the most kmesh stores for one cluster`));
  }
  return size;
}

/** Every reason the model cannot be encoded; empty when it fits. */
export function checkCapacity(model: MeshModel): Diagnostic[] {
  const out: Diagnostic[] = [];
  const perGen = {
    listeners: Limits.listeners / 2,
    clusters: Limits.clusters / 2,
    endpoints: Limits.endpoints / 2,
    chains: Limits.chains / 2,
  };
  const exact = model.listeners.filter(isExactListener);
  if (exact.length > perGen.listeners) {
    out.push(error('listeners', `${exact.length} exact-address listeners is more than ${perGen.listeners}, the per-generation half of km_listener (${Limits.listeners} entries hold two generations)`));
  }
  if (model.clusters.length > perGen.clusters) {
    out.push(error('clusters', `${model.clusters.length} clusters is more than ${perGen.clusters}, the per-generation half of km_cluster (${Limits.clusters} entries hold two generations)`));
  }
  model.listeners.forEach((l, i) => {
    // http listeners carry no clusters at L4; wildcard listeners route by their chains.
    if (isExactListener(l) && !l.http) checkRoute(l.route, `listeners[${i}](name=${l.name}).route`, out);
    if (isExactListener(l) || l.virtual) return;
    kernelChains(l).forEach((chain) => {
      if (chain.action.kind === 'tcp_proxy') checkRoute(chain.action.route, `listeners[${i}](name=${l.name}).filter_chains(name=${chain.name})`, out);
    });
  });
  let plan: ReturnType<typeof planChains> | undefined;
  try {
    plan = planChains(model);
  } catch (e) {
    out.push(error('listeners', `a filter chain cannot be encoded: ${(e as Error).message}`));
  }
  if (plan) {
    for (const c of plan.conflicts) out.push(error(c.path, c.message));
    if (plan.entries.length > perGen.chains) {
      out.push(error('listeners', `${plan.entries.length} filter chain entries (one per prefix range, one per wildcard port) is more than ${perGen.chains}, the per-generation half of km_chain (${Limits.chains} entries hold two generations)`));
    }
  }
  let endpointTotal = 0;
  let tableTotal = 0;
  model.clusters.forEach((c, i) => {
    const at = `clusters[${i}](name=${c.name}).endpoints`;
    // Endpoints that take connections (priority failover and node locality may use several levels).
    const shares = endpointShares(c, { nodeLocality: model.nodeLocality }).endpoints;
    const endpoints = shares.map((e) => e.endpoint);
    endpointTotal += endpoints.length;
    // A MAGLEV / RING_HASH table is stored in km_endpoint after the endpoints (lb/tables.ts).
    const tableSize = checkLbTable(c, shares, `clusters[${i}](name=${c.name})`, out);
    endpointTotal += tableSize;
    tableTotal += tableSize;
    if (endpoints.length > Limits.endpointsPerCluster) {
      out.push(error(at, `${endpoints.length} endpoints able to take connections is more than ${Limits.endpointsPerCluster} per cluster`));
    }
    const weight = endpoints.reduce((s, e) => s + e.weight, 0);
    if (weight > maxU32) out.push(error(at, `the endpoint weights add up to ${weight}, more than ${maxU32}`));
  });
  if (endpointTotal > perGen.endpoints) {
    const tables = tableTotal > 0 ? `; ${tableTotal} of them are MAGLEV/RING_HASH table entries (a smaller maglev_lb_config.table_size or ring_hash_lb_config.maximum_ring_size leaves more room)` : '';
    out.push(error('clusters', `${endpointTotal} endpoints is more than ${perGen.endpoints}, the per-generation half of km_endpoint (${Limits.endpoints} entries hold two generations)${tables}`));
  }
  return out;
}
