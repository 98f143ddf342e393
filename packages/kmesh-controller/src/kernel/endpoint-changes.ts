/**
 * Is a new model an endpoint-only change of the applied one? Then the changed clusters can be
 * applied in place (GenerationStore.applyEndpoints) instead of as a whole new generation.
 *
 * Endpoint-only means: the same listeners (and chains, routes), the same cluster names, every
 * cluster's own settings (policy, discovery, thresholds...) unchanged; only endpoint lists differ.
 * Anything else returns null: the caller applies a full generation.
 */
import type { ClusterModel, MeshModel } from '@kmesh/api';

const json = (v: unknown) => JSON.stringify(v);

/** A cluster without its endpoints, for comparing everything else. */
function settingsOf(cluster: ClusterModel): string {
  const { endpoints: _endpoints, ...rest } = cluster;
  return json(rest);
}

/**
 * The clusters of `after` whose endpoints differ from `before`, or null when something else
 * changed too. `hint`: names whose endpoint assignments were updated, when the caller knows
 * that every other cluster, the listeners and the routes of `after` are `before`'s own objects
 * (the xDS client's EDS fast path): then only those are compared.
 */
export function endpointOnlyChanges(before: MeshModel | null, after: MeshModel, hint?: ReadonlySet<string>): ClusterModel[] | null {
  if (!before) return null;
  if (before.clusters.length !== after.clusters.length) return null;
  const sameShape = before.listeners === after.listeners && before.routes === after.routes;
  if (!sameShape && (json(before.listeners) !== json(after.listeners) || json(before.routes ?? null) !== json(after.routes ?? null))) return null;

  if (hint && sameShape) {
    // The fast path keeps the clusters' order and objects: compare position by position, no index.
    const changed: ClusterModel[] = [];
    let promiseHolds = true;
    for (let i = 0; i < after.clusters.length && promiseHolds; i++) {
      const cluster = after.clusters[i]!;
      const old = before.clusters[i]!;
      if (old === cluster) continue;
      promiseHolds = hint.has(cluster.name) && old.name === cluster.name;
      if (!promiseHolds) break;
      if (settingsOf(old) !== settingsOf(cluster)) return null;
      if (json(old.endpoints) !== json(cluster.endpoints)) changed.push(cluster);
    }
    if (promiseHolds) return changed;
    return null; // a replaced cluster the hint does not name: the caller's promise is broken, full generation
  }
  const previous = new Map(before.clusters.map((c) => [c.name, c]));
  const changed: ClusterModel[] = [];
  for (const cluster of after.clusters) {
    const old = previous.get(cluster.name);
    if (!old) return null; // a cluster added (and another removed): new ids, full generation
    if (old === cluster) continue; // the same object: unchanged by construction
    if (settingsOf(old) !== settingsOf(cluster)) return null;
    if (json(old.endpoints) !== json(cluster.endpoints)) changed.push(cluster);
  }
  return changed;
}
