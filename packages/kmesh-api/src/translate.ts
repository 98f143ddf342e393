/**
 * Envoy bootstrap document → MeshModel: each resource validated by its own
 * module, then the checks that need them all (names, references, address
 * families, capacity).
 */
import { Diagnostics, field, item, type Diagnostic } from './diagnostics.js';
import { readBootstrap } from './config/bootstrap.js';
import { normalizeKeys } from './config/normalize.js';
import { clusterNameOf, readCluster } from './resources/cluster.js';
import { listenerNameOf, readListener, type ListenerDraft } from './resources/listener.js';
import { formatSocketAddress } from './resources/address.js';
import { usableEndpoints } from './endpoints.js';
import { checkCapacity } from './capacity.js';
import type { ClusterModel, MeshModel } from './model.js';

export type Translation =
  | { ok: true; model: MeshModel; warnings: Diagnostic[] }
  | { ok: false; errors: Diagnostic[]; warnings: Diagnostic[] };

const listenersPath = 'static_resources.listeners';
const clustersPath = 'static_resources.clusters';

function result(d: Diagnostics, model: MeshModel): Translation {
  return d.hasErrors ? { ok: false, errors: d.errors, warnings: d.warnings } : { ok: true, model, warnings: d.warnings };
}

function namesList(names: Iterable<string>): string {
  const all = [...names];
  if (all.length === 0) return 'no cluster is defined';
  const shown = all.slice(0, 10).join(', ');
  return `defined clusters: ${shown}${all.length > 10 ? `, ... (${all.length} in all)` : ''}`;
}

/** Clusters by name; duplicates are errors. Invalid clusters still count as defined (their own errors say why). */
function translateClusters(raws: unknown[], d: Diagnostics): { valid: Map<string, { model: ClusterModel; path: string }>; defined: Set<string> } {
  const valid = new Map<string, { model: ClusterModel; path: string }>();
  const firstPath = new Map<string, string>();
  raws.forEach((raw, i) => {
    const name = clusterNameOf(raw);
    const path = item(clustersPath, i, name);
    if (name !== undefined && firstPath.has(name)) {
      d.error(field(path, 'name'), `duplicate cluster name "${name}": already defined at ${firstPath.get(name)}`);
      return;
    }
    if (name !== undefined) firstPath.set(name, path);
    const model = readCluster(raw, path, d);
    if (model) valid.set(model.name, { model, path });
  });
  return { valid, defined: new Set(firstPath.keys()) };
}

function translateListeners(raws: unknown[], d: Diagnostics): ListenerDraft[] {
  const drafts: ListenerDraft[] = [];
  const firstByName = new Map<string, string>();
  const firstByAddress = new Map<string, string>();
  raws.forEach((raw, i) => {
    const explicitName = listenerNameOf(raw);
    const path = item(listenersPath, i, explicitName);
    if (explicitName !== undefined && firstByName.has(explicitName)) {
      d.error(field(path, 'name'), `duplicate listener name "${explicitName}": already defined at ${firstByName.get(explicitName)}`);
      return;
    }
    if (explicitName !== undefined) firstByName.set(explicitName, path);
    const draft = readListener(raw, path, d);
    if (!draft) return;
    const addressText = formatSocketAddress(draft.model.address);
    if (firstByAddress.has(addressText)) {
      d.error(draft.addressPath, `duplicate listener address ${addressText}: already used by ${firstByAddress.get(addressText)}`);
      return;
    }
    firstByAddress.set(addressText, path);
    drafts.push(draft);
  });
  return drafts;
}

/** Cluster references, address families and reachability of each listener. */
function checkRoutes(drafts: ListenerDraft[], clusters: Map<string, { model: ClusterModel }>, defined: Set<string>, d: Diagnostics): void {
  for (const draft of drafts) {
    const listener = draft.model;
    for (const ref of draft.refs) {
      if (!defined.has(ref.name)) {
        d.error(ref.path, `cluster "${ref.name}" is not defined; ${namesList(defined)}`);
        continue;
      }
      const cluster = clusters.get(ref.name)?.model;
      // The kernel writes an IPv4 endpoint into an IPv6 socket as v4-mapped; the other way has no encoding.
      const v6 = listener.address.family === 4 ? cluster?.endpoints.find((e) => e.address.family === 6) : undefined;
      if (v6) {
        d.error(
          ref.path,
          `IPv4 listener ${formatSocketAddress(listener.address)} cannot route to IPv6 endpoint ${formatSocketAddress(v6.address)} of cluster "${ref.name}": an IPv4 connect() cannot be rewritten to an IPv6 address`,
        );
      }
    }
    const used = listener.route.clusters.filter((c) => c.weight > 0);
    const reachable = used.some((c) => {
      const cluster = clusters.get(c.name)?.model;
      return cluster !== undefined && usableEndpoints(cluster).endpoints.length > 0;
    });
    if (!reachable && used.every((c) => clusters.has(c.name))) {
      d.warn(draft.path, `no cluster of listener "${listener.name}" has an endpoint able to take connections: connects to ${formatSocketAddress(listener.address)} will be refused`);
    }
  }
}

/** Clusters with endpoints at several priorities: only one level is encoded. */
function warnPriorities(clusters: Map<string, { model: ClusterModel; path: string }>, d: Diagnostics): void {
  for (const { model, path } of clusters.values()) {
    const levels = new Set(model.endpoints.map((e) => e.priority));
    if (levels.size < 2) continue;
    const { priority } = usableEndpoints(model);
    const chosen = priority === undefined ? 'none: no endpoint can take connections' : `only priority ${priority}, the lowest level with an endpoint able to take connections, is used`;
    d.warn(field(path, 'load_assignment'), `priority failover is not dynamic yet: ${chosen}`);
  }
}

/** Translates a parsed Envoy v3 bootstrap (snake_case or camelCase fields). */
export function translateBootstrap(doc: unknown): Translation {
  const d = new Diagnostics();
  const empty: MeshModel = { listeners: [], clusters: [] };
  const normalized = normalizeKeys(doc, '', d);
  if (d.hasErrors) return result(d, empty);
  const resources = readBootstrap(normalized, d);
  if (!resources) return result(d, empty);

  const { valid, defined } = translateClusters(resources.clusters, d);
  const drafts = translateListeners(resources.listeners, d);
  checkRoutes(drafts, valid, defined, d);
  warnPriorities(valid, d);
  const model: MeshModel = {
    listeners: drafts.map((l) => l.model),
    clusters: [...valid.values()].map((c) => c.model),
  };
  if (!d.hasErrors) for (const problem of checkCapacity(model)) d.errors.push(problem);
  return result(d, model);
}
