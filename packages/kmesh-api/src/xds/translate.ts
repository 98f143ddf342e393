/**
 * Decoded xDS resources (LDS, CDS, EDS, RDS by name) → MeshModel, resource by
 * resource: a rejected resource is left out and its outcome says why (the
 * NACK reason), the others still make a model. Uses the same per-resource
 * readers as the bootstrap translator.
 *
 * Warming, as in Envoy: an EDS cluster whose ClusterLoadAssignment has not
 * arrived, and a listener whose RDS route configuration has not arrived (or
 * that routes to a warming cluster), are listed and left out until it does.
 */
import { Diagnostics, field, type Diagnostic } from '../diagnostics.js';
import { isObject } from '../config/fields.js';
import { normalizeKeys } from '../config/normalize.js';
import { fromProtoLoader } from '../config/proto-json.js';
import { scanForV2 } from '../config/bootstrap.js';
import { isEnvoyV2TypeUrl, v2Message } from '../config/type-url.js';
import { readClusterResource } from '../resources/cluster.js';
import { readLoadAssignment } from '../resources/load-assignment.js';
import { readListener } from '../resources/listener.js';
import { readRouteConfiguration } from '../resources/route-config.js';
import { resolveListener, type ClusterCatalog, type RouteCatalog } from '../resolve.js';
import { claimAddress, warnPriorities } from '../translate.js';
import type { ClusterModel, ListenerModel, MeshModel, RouteConfigModel } from '../model.js';

/** Decoded xDS resources by name (proto3 JSON, snake_case or camelCase, or as @grpc/proto-loader decodes them). */
export interface XdsResources {
  listeners: Map<string, unknown>;
  clusters: Map<string, unknown>;
  endpoints: Map<string, unknown>;
  routes: Map<string, unknown>;
}

export type ResourceKind = 'listener' | 'cluster' | 'endpoint' | 'route';

export interface ResourceOutcome {
  kind: ResourceKind;
  name: string;
  /** Why the resource is rejected (left out of the model); empty when accepted. */
  errors: Diagnostic[];
  warnings: Diagnostic[];
}

export interface XdsTranslation {
  model: MeshModel;
  outcomes: ResourceOutcome[];
  /** Accepted but waiting for a resource that has not arrived; left out of the model. */
  warming: { clusters: string[]; listeners: string[] };
}

/** The v3 type URL of each kind: a resource that says another type is rejected. */
export const xdsTypeUrls: Readonly<Record<ResourceKind, string>> = {
  listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  endpoint: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  route: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
};

/** The field that names each kind of resource. */
const nameField: Readonly<Record<ResourceKind, string>> = { listener: 'name', cluster: 'name', endpoint: 'cluster_name', route: 'name' };

/** "cluster(outbound|9080||reviews.default.svc.cluster.local)": the root of every path of a resource. */
export function resourcePath(kind: ResourceKind, name: string): string {
  return `${kind}(${name})`;
}

/**
 * Brings a resource to the readers' shape: proto-loader virtual fields and
 * wrappers, camelCase keys, its own "@type" checked and removed, v2 type URLs
 * reported. Undefined when it cannot be read at all.
 */
function prepare(kind: ResourceKind, name: string, raw: unknown, d: Diagnostics): Record<string, unknown> | undefined {
  const path = resourcePath(kind, name);
  const normalized = normalizeKeys(fromProtoLoader(raw), path, d);
  if (!isObject(normalized)) {
    d.error(path, `expected a ${xdsTypeUrls[kind].split('/')[1]} mapping`);
    return undefined;
  }
  const { ['@type']: typeUrl, ...resource } = normalized;
  if (typeUrl !== undefined && typeUrl !== xdsTypeUrls[kind]) {
    const why = typeof typeUrl === 'string' && isEnvoyV2TypeUrl(typeUrl) ? v2Message : `expected ${xdsTypeUrls[kind]}`;
    d.error(field(path, '@type'), `${String(typeUrl)}: ${why}`);
    return undefined;
  }
  scanForV2(resource, path, d);
  const key = nameField[kind];
  const own = resource[key];
  if (own === undefined || own === null || own === '') resource[key] = name;
  else if (own !== name) d.error(field(path, key), `${key} "${String(own)}" differs from the resource name "${name}"`);
  return d.hasErrors ? undefined : resource;
}

class Outcomes {
  readonly list: ResourceOutcome[] = [];
  add(kind: ResourceKind, name: string, d: Diagnostics): ResourceOutcome {
    const o: ResourceOutcome = { kind, name, errors: d.errors, warnings: d.warnings };
    this.list.push(o);
    return o;
  }
}

/**
 * What reading one resource gave: its value and the diagnostics the read recorded. Reading
 * (normalising, checking every field, parsing every address) is most of a translation, and a
 * control plane resends mostly unchanged resources: a delta client keeps the decoded object of
 * every unchanged resource, so a read is remembered per decoded object (a WeakMap: it goes
 * with the object) and replayed. The decoded resources are never modified, by this file or the
 * readers, which is what makes the object a valid key.
 */
interface Reading<T> {
  name: string;
  errors: Diagnostic[];
  warnings: Diagnostic[];
  value: T;
}

/** One cache per kind of read (and per setting that changes its result). */
const readings = new Map<string, WeakMap<object, Reading<unknown>>>();

function cachedRead<T>(variant: string, name: string, raw: unknown, d: Diagnostics, read: (d: Diagnostics) => T): T {
  if (typeof raw !== 'object' || raw === null) return read(d);
  let cache = readings.get(variant);
  if (!cache) readings.set(variant, (cache = new WeakMap()));
  const hit = cache.get(raw) as Reading<T> | undefined;
  if (hit && hit.name === name) {
    d.errors.push(...hit.errors);
    d.warnings.push(...hit.warnings);
    return hit.value;
  }
  const fresh = new Diagnostics();
  const value = read(fresh);
  cache.set(raw, { name, errors: fresh.errors, warnings: fresh.warnings, value });
  d.errors.push(...fresh.errors);
  d.warnings.push(...fresh.warnings);
  return value;
}

/** A ClusterLoadAssignment for `cluster`; undefined (errors in `d`) when rejected. */
function readEndpoints(name: string, raw: unknown, cluster: ClusterModel | undefined, d: Diagnostics): ClusterModel['endpoints'] | undefined {
  const localityWeighted = cluster?.localityWeighted === true;
  return cachedRead(localityWeighted ? 'endpoint+locality' : 'endpoint', name, raw, d, (rd) => readEndpointsNow(name, raw, localityWeighted, rd));
}

function readEndpointsNow(name: string, raw: unknown, localityWeighted: boolean, d: Diagnostics): ClusterModel['endpoints'] | undefined {
  const resource = prepare('endpoint', name, raw, d);
  if (!resource) return undefined;
  const path = resourcePath('endpoint', name);
  const endpoints = readLoadAssignment(resource, path, d, {
    localityWeighted,
    addressRules: {
      hostnameMessage: (h) => `"${h}" is a hostname: an EDS endpoint is an IP address (kmesh resolves no names)`,
      unspecifiedMessage: 'the unspecified address is not a destination: give the endpoint\'s IP address',
    },
  });
  return endpoints;
}

/** Translates decoded xDS resources, one outcome per resource. Never throws on bad input. */
export function translateXdsResources(input: XdsResources): XdsTranslation {
  const outcomes = new Outcomes();
  const warming = { clusters: [] as string[], listeners: [] as string[] };
  const catalog: ClusterCatalog = { models: new Map(), passthrough: new Set(), defined: new Set(), warming: new Set(), rejectedIsError: true };
  const endpointsUsed = new Set<string>();

  // Clusters, with the ClusterLoadAssignment of each EDS cluster.
  for (const [name, raw] of input.clusters) {
    catalog.defined.add(name);
    const d = new Diagnostics();
    const read = cachedRead('cluster', name, raw, d, (rd) => {
      const resource = prepare('cluster', name, raw, rd);
      return resource ? readClusterResource(resource, resourcePath('cluster', name), rd, 'xds') : undefined;
    });
    outcomes.add('cluster', name, d);
    if (!read || d.hasErrors) continue;
    if (read.kind === 'original_dst') {
      catalog.passthrough.add(name);
      continue;
    }
    if (read.kind === 'endpoints') {
      warnPriorities(read.model, field(resourcePath('cluster', name), 'load_assignment'), d);
      catalog.models.set(name, read.model);
      continue;
    }
    const claRaw = input.endpoints.get(read.serviceName);
    if (claRaw === undefined) {
      catalog.warming.add(name);
      warming.clusters.push(name);
      d.warn(resourcePath('cluster', name), `warming: the ClusterLoadAssignment "${read.serviceName}" has not arrived; the cluster is left out until it does`);
      continue;
    }
    if (endpointsUsed.has(read.serviceName)) {
      // Already reported once; read again for this cluster's settings, silently.
      const endpoints = readEndpoints(read.serviceName, claRaw, read.model, new Diagnostics());
      if (endpoints) catalog.models.set(name, { ...read.model, endpoints });
      continue;
    }
    endpointsUsed.add(read.serviceName);
    const ed = new Diagnostics();
    const endpoints = readEndpoints(read.serviceName, claRaw, read.model, ed);
    const model = endpoints && !ed.hasErrors ? { ...read.model, endpoints } : undefined;
    if (model) warnPriorities(model, resourcePath('endpoint', read.serviceName), ed);
    outcomes.add('endpoint', read.serviceName, ed);
    if (model) {
      catalog.models.set(name, model);
    } else {
      catalog.warming.add(name);
      warming.clusters.push(name);
      d.warn(resourcePath('cluster', name), `warming: the ClusterLoadAssignment "${read.serviceName}" was rejected (see its own errors); the cluster is left out`);
    }
  }
  for (const [name, raw] of input.endpoints) {
    if (endpointsUsed.has(name)) continue;
    const d = new Diagnostics();
    readEndpoints(name, raw, undefined, d);
    if (!d.hasErrors) d.warn(resourcePath('endpoint', name), 'no EDS cluster uses this ClusterLoadAssignment (a static cluster carries its own load_assignment): not used for the model');
    outcomes.add('endpoint', name, d);
  }

  // Route configurations (RDS): kept in the model for the L7 path.
  const routes: RouteCatalog = { accepted: new Map<string, RouteConfigModel>(), rejected: new Set() };
  for (const [name, raw] of input.routes) {
    const d = new Diagnostics();
    const draft = cachedRead('route', name, raw, d, (rd) => {
      const resource = prepare('route', name, raw, rd);
      return resource ? readRouteConfiguration(resource, resourcePath('route', name), rd, name) : undefined;
    });
    if (draft && !d.hasErrors) {
      for (const ref of draft.refs) {
        if (!catalog.defined.has(ref.name)) d.warn(ref.path, `cluster "${ref.name}" is not defined: Envoy would answer these requests with 503`);
      }
      routes.accepted.set(name, draft.model);
    } else {
      routes.rejected.add(name);
    }
    outcomes.add('route', name, d);
  }

  // Listeners, resolved against the clusters and routes above.
  const listeners: ListenerModel[] = [];
  const addresses = new Map<string, string>();
  for (const [name, raw] of input.listeners) {
    const d = new Diagnostics();
    const draft = cachedRead('listener', name, raw, d, (rd) => {
      const resource = prepare('listener', name, raw, rd);
      return resource ? readListener(resource, resourcePath('listener', name), rd) : undefined;
    });
    outcomes.add('listener', name, d);
    if (!draft || draft.kind === 'skipped' || d.hasErrors || !claimAddress(draft, addresses, d)) continue;
    const resolved = resolveListener(draft, catalog, routes, d);
    if (resolved.kind === 'ok') listeners.push(resolved.model);
    else if (resolved.kind === 'warming') {
      warming.listeners.push(name);
      d.warn(resourcePath('listener', name), `warming: ${resolved.reasons.join('; ')}; the listener is left out until then`);
    }
  }

  const model: MeshModel = { listeners, clusters: [...catalog.models.values()] };
  if (routes.accepted.size > 0) model.routes = [...routes.accepted.values()];
  return { model, outcomes: outcomes.list, warming };
}
