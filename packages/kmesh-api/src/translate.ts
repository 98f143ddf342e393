/**
 * Envoy bootstrap document → MeshModel: each resource validated by its own
 * module, then the checks that need them all (names, references, address
 * families, capacity). The per-resource xDS translator (xds/translate.ts)
 * uses the same modules.
 */
import { Diagnostics, field, item, type Diagnostic } from './diagnostics.js';
import { readBootstrap } from './config/bootstrap.js';
import { normalizeKeys } from './config/normalize.js';
import { clusterNameOf, readClusterResource } from './resources/cluster.js';
import { listenerNameOf, readListener, type ListenerDraft } from './resources/listener.js';
import { formatSocketAddress } from './resources/address.js';
import { checkCapacity } from './capacity.js';
import { resolveListener, type ClusterCatalog } from './resolve.js';
import type { ClusterModel, ListenerModel, MeshModel } from './model.js';
import type { ResourceOutcome } from './xds/translate.js';

/** Per-resource outcomes, when the document was a config_dump or an xDS resource file. */
export interface ResourceReport {
  outcomes: ResourceOutcome[];
  warming: { clusters: string[]; listeners: string[] };
}

export type Translation =
  | { ok: true; model: MeshModel; warnings: Diagnostic[]; resources?: ResourceReport }
  | { ok: false; errors: Diagnostic[]; warnings: Diagnostic[]; resources?: ResourceReport };

const listenersPath = 'static_resources.listeners';
const clustersPath = 'static_resources.clusters';

function result(d: Diagnostics, model: MeshModel): Translation {
  return d.hasErrors ? { ok: false, errors: d.errors, warnings: d.warnings } : { ok: true, model, warnings: d.warnings };
}

/** Clusters by name; duplicates are errors. Invalid clusters still count as defined (their own errors say why). */
function translateClusters(raws: unknown[], d: Diagnostics): { catalog: ClusterCatalog; paths: Map<string, string> } {
  const catalog: ClusterCatalog = { models: new Map(), passthrough: new Set(), defined: new Set(), warming: new Set(), rejectedIsError: false };
  const firstPath = new Map<string, string>();
  raws.forEach((raw, i) => {
    const name = clusterNameOf(raw);
    const path = item(clustersPath, i, name);
    if (name !== undefined && firstPath.has(name)) {
      d.error(field(path, 'name'), `duplicate cluster name "${name}": already defined at ${firstPath.get(name)}`);
      return;
    }
    if (name !== undefined) firstPath.set(name, path);
    const read = readClusterResource(raw, path, d, 'bootstrap');
    if (read?.kind === 'original_dst') catalog.passthrough.add(read.name);
    else if (read) catalog.models.set(read.model.name, read.model);
  });
  for (const name of firstPath.keys()) catalog.defined.add(name);
  return { catalog, paths: firstPath };
}

/**
 * Two listeners on one address: Envoy cannot bind both, so the second is an error.
 * Returns false for the listener that repeats an address.
 */
export function claimAddress(draft: ListenerDraft, seen: Map<string, string>, d: Diagnostics): boolean {
  const addressText = formatSocketAddress(draft.address);
  const earlier = seen.get(addressText);
  if (earlier !== undefined) {
    d.error(draft.addressPath, `duplicate listener address ${addressText}: already used by ${earlier}`);
    return false;
  }
  seen.set(addressText, draft.path);
  return true;
}

function translateListeners(raws: unknown[], catalog: ClusterCatalog, d: Diagnostics): ListenerModel[] {
  const out: ListenerModel[] = [];
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
    if (!draft || draft.kind === 'skipped' || !claimAddress(draft, firstByAddress, d)) return;
    const resolved = resolveListener(draft, catalog, undefined, d);
    if (resolved.kind === 'ok') out.push(resolved.model);
  });
  return out;
}

/**
 * Priority levels and localities are enforced (lb/priority.ts: failover with overprovisioning
 * 1.4, locality weights); what remains worth saying: with locality_weighted_lb_config, a
 * locality without load_balancing_weight gets no connections (as in Envoy).
 */
export function warnPriorities(model: ClusterModel, path: string, d: Diagnostics): void {
  if (!model.localityWeighted) return;
  const unweighted = [...new Set(model.endpoints.filter((e) => e.localityWeight === undefined).map((e) => e.locality ?? '(no locality)'))];
  if (unweighted.length === 0) return;
  d.warn(path, `locality_weighted_lb_config is set and localit${unweighted.length === 1 ? 'y' : 'ies'} ${unweighted.join(', ')} ha${unweighted.length === 1 ? 's' : 've'} no load_balancing_weight: ${unweighted.length === 1 ? 'it gets' : 'they get'} no connections (as in Envoy)`);
}

/** Translates a parsed Envoy v3 bootstrap (snake_case or camelCase fields). */
export function translateBootstrap(doc: unknown): Translation {
  const d = new Diagnostics();
  const empty: MeshModel = { listeners: [], clusters: [] };
  const normalized = normalizeKeys(doc, '', d);
  if (d.hasErrors) return result(d, empty);
  const resources = readBootstrap(normalized, d);
  if (!resources) return result(d, empty);

  const { catalog, paths } = translateClusters(resources.clusters, d);
  const listeners = translateListeners(resources.listeners, catalog, d);
  for (const model of catalog.models.values()) warnPriorities(model, field(paths.get(model.name)!, 'load_assignment'), d);
  const model: MeshModel = { listeners, clusters: [...catalog.models.values()] };
  if (resources.nodeLocality !== undefined) model.nodeLocality = resources.nodeLocality;
  if (!d.hasErrors) for (const problem of checkCapacity(model)) d.errors.push(problem);
  return result(d, model);
}
