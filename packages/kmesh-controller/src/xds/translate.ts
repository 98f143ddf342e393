/**
 * xDS resources → MeshModel. Uses @kmesh/api's translateXdsResources when the installed version
 * has it; otherwise a local adapter: the accepted resources become an Envoy bootstrap
 * `{static_resources: {listeners, clusters}}` (each EDS cluster with its ClusterLoadAssignment
 * inlined as load_assignment) for translateBootstrap, whose diagnostics are attributed back to
 * the resource they name.
 */
import * as api from '@kmesh/api';
import type { Diagnostic, MeshModel } from '@kmesh/api';
import type { ResourceKind } from './protos.js';

export interface XdsResources {
  listeners: Map<string, unknown>;
  clusters: Map<string, unknown>;
  endpoints: Map<string, unknown>;
  routes: Map<string, unknown>;
}

export interface ResourceOutcome {
  kind: ResourceKind;
  name: string;
  errors: Diagnostic[];
  warnings: Diagnostic[];
}

export interface XdsTranslation {
  /** null when some resource is invalid (its outcome says why) */
  model: MeshModel | null;
  outcomes: ResourceOutcome[];
  /** diagnostics that name no single resource (capacity, duplicate addresses, ...) */
  errors: Diagnostic[];
  warnings: Diagnostic[];
  warming: { clusters: string[]; listeners: string[] };
}

type ApiXdsTranslate = (input: XdsResources) => {
  model: MeshModel | null;
  outcomes: ResourceOutcome[];
  warming?: { clusters: string[]; listeners: string[] };
  errors?: Diagnostic[];
  warnings?: Diagnostic[];
};

export function emptyResources(): XdsResources {
  return { listeners: new Map(), clusters: new Map(), endpoints: new Map(), routes: new Map() };
}

/** Which translator is in use, for the log at start. */
export function translatorName(): string {
  return typeof (api as Record<string, unknown>).translateXdsResources === 'function' ? '@kmesh/api translateXdsResources' : 'bootstrap adapter';
}

export function translateXds(input: XdsResources): XdsTranslation {
  const native = (api as Record<string, unknown>).translateXdsResources as ApiXdsTranslate | undefined;
  if (typeof native === 'function') {
    const r = native(input);
    const errors = r.errors ?? [];
    const failed = r.outcomes.some((o) => o.errors.length > 0) || errors.length > 0;
    return {
      model: failed ? null : r.model,
      outcomes: r.outcomes,
      errors,
      warnings: [...(r.warnings ?? []), ...r.outcomes.flatMap((o) => o.warnings)],
      warming: r.warming ?? { clusters: [], listeners: [] },
    };
  }
  return translateWithBootstrap(input);
}

/** Name under which an EDS cluster's endpoints are published (eds_cluster_config.service_name or the cluster name). */
export function edsServiceName(cluster: unknown): string | undefined {
  const c = cluster as { name?: string; type?: string; eds_cluster_config?: { service_name?: string } };
  if (c?.type !== 'EDS') return undefined;
  return c.eds_cluster_config?.service_name || c.name;
}

// ---------------------------------------------------------------------------------------------
// The fallback adapter

/**
 * proto-loader's `oneofs: true` adds a virtual field per oneof naming the member that is set
 * (`port_specifier: 'port_value'`); a bootstrap never has them, so translateBootstrap would call
 * them unknown fields. The adapter drops a string field whose value is the name of a sibling
 * field, and the '@type' of the resource itself.
 */
function withoutOneofMarkers(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutOneofMarkers);
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value)) return value;
  const object = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(object)) {
    if (typeof v === 'string' && v !== k && Object.hasOwn(object, v) && k !== '@type') continue;
    out[k] = withoutOneofMarkers(v);
  }
  return out;
}

function bareResource(resource: unknown): Record<string, unknown> {
  const { ['@type']: _type, ...rest } = withoutOneofMarkers(resource) as Record<string, unknown>;
  return rest;
}

const itemPattern = /^static_resources\.(listeners|clusters)\[\d+\](?:\(name=([^)]*)\))?(.*)$/;

function translateWithBootstrap(input: XdsResources): XdsTranslation {
  const clusters = [...input.clusters.values()].map((raw) => {
    const cluster = bareResource(raw);
    const service = edsServiceName(raw);
    if (service === undefined) return cluster;
    const assignment = input.endpoints.get(service);
    const { eds_cluster_config: _eds, ...rest } = cluster;
    // An EDS cluster whose endpoints have not arrived has none (it is warming).
    return { ...rest, load_assignment: assignment ? bareResource(assignment) : { cluster_name: service, endpoints: [] } };
  });
  const listeners = [...input.listeners.values()].map(bareResource);
  const translation = api.translateBootstrap({ static_resources: { listeners, clusters } });

  const outcomes = new Map<string, ResourceOutcome>();
  const unattributed: Diagnostic[] = [];
  const attribute = (d: Diagnostic) => {
    const m = itemPattern.exec(d.path);
    if (!m || m[2] === undefined) return false;
    const isEndpoint = m[1] === 'clusters' && m[3].startsWith('.load_assignment') && edsServiceName(input.clusters.get(m[2])) !== undefined;
    const kind: ResourceKind = isEndpoint ? 'endpoint' : m[1] === 'clusters' ? 'cluster' : 'listener';
    const name = isEndpoint ? edsServiceName(input.clusters.get(m[2]))! : m[2];
    const key = `${kind}/${name}`;
    const outcome = outcomes.get(key) ?? { kind, name, errors: [], warnings: [] };
    outcomes.set(key, outcome);
    (d.severity === 'error' ? outcome.errors : outcome.warnings).push(d);
    return true;
  };
  const errors = translation.ok ? [] : translation.errors.filter((d) => !attribute(d));
  const warnings = translation.warnings.filter((d) => !attribute(d));
  unattributed.push(...errors);
  return {
    model: translation.ok ? translation.model : null,
    outcomes: [...outcomes.values()],
    errors: unattributed,
    warnings: [...warnings, ...[...outcomes.values()].flatMap((o) => o.warnings)],
    warming: { clusters: [], listeners: [] },
  };
}
