/**
 * Capacity checks against the kernel maps, run before anything is written
 * (DESIGN constraint 6). Each hash map holds two live generations during an
 * update, so one generation may use half of it.
 */
import { Limits } from './abi/layout.js';
import type { Diagnostic } from './diagnostics.js';
import { usableEndpoints } from './endpoints.js';
import type { MeshModel } from './model.js';

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

/** Every reason the model cannot be encoded; empty when it fits. */
export function checkCapacity(model: MeshModel): Diagnostic[] {
  const out: Diagnostic[] = [];
  const perGen = {
    listeners: Limits.listeners / 2,
    clusters: Limits.clusters / 2,
    endpoints: Limits.endpoints / 2,
  };
  if (model.listeners.length > perGen.listeners) {
    out.push(error('listeners', `${model.listeners.length} listeners is more than ${perGen.listeners}, the per-generation half of km_listener (${Limits.listeners} entries hold two generations)`));
  }
  if (model.clusters.length > perGen.clusters) {
    out.push(error('clusters', `${model.clusters.length} clusters is more than ${perGen.clusters}, the per-generation half of km_cluster (${Limits.clusters} entries hold two generations)`));
  }
  model.listeners.forEach((l, i) => {
    const at = `listeners[${i}](name=${l.name}).route`;
    const used = l.route.clusters.filter((c) => c.weight > 0);
    if (used.length > Limits.weightedClusters) {
      out.push(error(at, `${used.length} weighted clusters is more than ${Limits.weightedClusters}`));
    }
    const total = used.reduce((s, c) => s + c.weight, 0);
    if (total === 0) out.push(error(at, 'the route has no cluster with a weight above 0'));
    if (total > maxU32) out.push(error(at, `the cluster weights add up to ${total}, more than ${maxU32}`));
  });
  let endpointTotal = 0;
  model.clusters.forEach((c, i) => {
    const at = `clusters[${i}](name=${c.name}).endpoints`;
    const { endpoints } = usableEndpoints(c);
    endpointTotal += endpoints.length;
    if (endpoints.length > Limits.endpointsPerCluster) {
      out.push(error(at, `${endpoints.length} endpoints able to take connections is more than ${Limits.endpointsPerCluster} per cluster`));
    }
    const weight = endpoints.reduce((s, e) => s + e.weight, 0);
    if (weight > maxU32) out.push(error(at, `the endpoint weights add up to ${weight}, more than ${maxU32}`));
  });
  if (endpointTotal > perGen.endpoints) {
    out.push(error('clusters', `${endpointTotal} endpoints is more than ${perGen.endpoints}, the per-generation half of km_endpoint (${Limits.endpoints} entries hold two generations)`));
  }
  return out;
}
