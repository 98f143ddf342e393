/**
 * What changed between two models, for the log line of an applied edit.
 * Listeners and clusters are matched by name, endpoints by (cluster, address).
 */
import type { ClusterModel, EndpointModel, MeshModel } from '@kmesh/api';
import { formatAddress } from './summary.js';

export interface ChangeSet {
  added: string[];
  removed: string[];
  changed: string[];
}

export interface ModelDiff {
  listeners: ChangeSet;
  clusters: ChangeSet;
  endpoints: ChangeSet;
}

function diffByKey<T>(before: Map<string, T>, after: Map<string, T>): ChangeSet {
  const set: ChangeSet = { added: [], removed: [], changed: [] };
  for (const [key, value] of after) {
    if (!before.has(key)) set.added.push(key);
    else if (JSON.stringify(before.get(key)) !== JSON.stringify(value)) set.changed.push(key);
  }
  for (const key of before.keys()) if (!after.has(key)) set.removed.push(key);
  return set;
}

function endpointsOf(model: MeshModel | null): Map<string, EndpointModel> {
  const map = new Map<string, EndpointModel>();
  for (const cluster of model?.clusters ?? []) {
    for (const endpoint of cluster.endpoints) map.set(`${cluster.name}/${formatAddress(endpoint.address)}`, endpoint);
  }
  return map;
}

/** A cluster "changes" when its own settings change; endpoint changes are reported separately. */
function clusterSettings(model: MeshModel | null): Map<string, Omit<ClusterModel, 'endpoints'>> {
  // Every setting counts (policy, circuit breakers, outlier detection...): a change must be applied.
  return new Map((model?.clusters ?? []).map(({ endpoints: _endpoints, ...settings }) => [settings.name, settings] as const));
}

export function diffModels(before: MeshModel | null, after: MeshModel): ModelDiff {
  return {
    listeners: diffByKey(new Map((before?.listeners ?? []).map((l) => [l.name, l])), new Map(after.listeners.map((l) => [l.name, l]))),
    clusters: diffByKey(clusterSettings(before), clusterSettings(after)),
    endpoints: diffByKey(endpointsOf(before), endpointsOf(after)),
  };
}

export function isEmptyDiff(diff: ModelDiff): boolean {
  return Object.values(diff).every((set: ChangeSet) => set.added.length + set.removed.length + set.changed.length === 0);
}

/** "listeners +1 -0 ~1, clusters +0 -0 ~0, endpoints +2 -1 ~0" */
export function summarizeDiff(diff: ModelDiff): string {
  return (Object.entries(diff) as [string, ChangeSet][])
    .map(([kind, set]) => `${kind} +${set.added.length} -${set.removed.length} ~${set.changed.length}`)
    .join(', ');
}
