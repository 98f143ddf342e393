/**
 * Documents that carry xDS resources rather than a bootstrap → XdsResources:
 *   - Envoy's admin /config_dump (also `istioctl proxy-config all -o json`):
 *     {configs: [{"@type": ...ListenersConfigDump, ...}, ...]};
 *   - filesystem xDS / DiscoveryResponse files: {resources: [{"@type": ..., ...}]}
 *     (also Kuma's {resources: [{name, resource: {"@type": ...}}]});
 *   - {xds: {"<type URL>": {"<name>": resource}}} (Kuma's golden files).
 * The BootstrapConfigDump's static_resources are not read again: Envoy lists
 * them in static_listeners / static_clusters already.
 */
import { Diagnostics, field, item, type Diagnostic } from '../diagnostics.js';
import { isObject, type Obj } from '../config/fields.js';
import { xdsTypeUrls, type ResourceKind, type XdsResources } from './translate.js';

const adminPrefix = 'type.googleapis.com/envoy.admin.v3.';

const listFor: Record<ResourceKind, keyof XdsResources> = { listener: 'listeners', cluster: 'clusters', endpoint: 'endpoints', route: 'routes' };
const kindByTypeUrl = new Map(Object.entries(xdsTypeUrls).map(([kind, url]) => [url, kind as ResourceKind]));
const nameKey: Record<ResourceKind, string[]> = { listener: ['name'], cluster: ['name'], endpoint: ['cluster_name', 'clusterName'], route: ['name'] };

/** Where each ConfigDump keeps its resources: [list field, field of the entry holding the resource]. */
const dumpSections: Record<string, { kind: ResourceKind; sections: [string, string[]][] }> = {
  ListenersConfigDump: {
    kind: 'listener',
    sections: [
      ['static_listeners', ['listener']],
      ['dynamic_listeners', ['active_state', 'listener']],
    ],
  },
  ClustersConfigDump: {
    kind: 'cluster',
    sections: [
      ['static_clusters', ['cluster']],
      ['dynamic_active_clusters', ['cluster']],
      ['dynamic_warming_clusters', ['cluster']],
    ],
  },
  EndpointsConfigDump: {
    kind: 'endpoint',
    sections: [
      ['static_endpoint_configs', ['endpoint_config']],
      ['dynamic_endpoint_configs', ['endpoint_config']],
    ],
  },
  RoutesConfigDump: {
    kind: 'route',
    sections: [
      ['static_route_configs', ['route_config']],
      ['dynamic_route_configs', ['route_config']],
    ],
  },
};

/** Dumps that hold nothing kmesh translates: skipped without a word. */
const silentDumps = new Set(['BootstrapConfigDump', 'ScopedRoutesConfigDump', 'SecretsConfigDump']);

export interface ResourceDocument {
  resources: XdsResources;
  /** About the document itself (unknown sections, duplicates, errors Envoy reported). */
  errors: Diagnostic[];
  warnings: Diagnostic[];
}

/** Which xDS container a document is, if any. */
export function xdsDocumentKind(doc: unknown): 'config_dump' | 'resources' | 'xds_map' | undefined {
  if (!isObject(doc)) return undefined;
  if (Array.isArray(doc.configs)) return 'config_dump';
  if (Array.isArray(doc.resources)) return 'resources';
  if (isObject(doc.xds)) return 'xds_map';
  return undefined;
}

function emptyResources(): XdsResources {
  return { listeners: new Map(), clusters: new Map(), endpoints: new Map(), routes: new Map() };
}

function dig(obj: unknown, keys: string[]): unknown {
  let v = obj;
  for (const k of keys) v = isObject(v) ? v[k] : undefined;
  return v;
}

function nameOf(kind: ResourceKind, resource: Obj): string | undefined {
  for (const k of nameKey[kind]) if (typeof resource[k] === 'string' && resource[k] !== '') return resource[k] as string;
  return undefined;
}

class Collector {
  readonly resources = emptyResources();
  readonly d = new Diagnostics();

  add(kind: ResourceKind, resource: unknown, path: string, fallbackName?: string): void {
    if (!isObject(resource)) {
      this.d.error(path, `expected a ${kind} resource mapping`);
      return;
    }
    const name = nameOf(kind, resource) ?? fallbackName;
    if (name === undefined) {
      this.d.error(path, `the ${kind} resource has no ${nameKey[kind][0]}: it cannot be named in a report or referred to`);
      return;
    }
    const map = this.resources[listFor[kind]];
    if (map.has(name)) {
      this.d.error(path, `duplicate ${kind} "${name}": given twice in the document, the first is used`);
      return;
    }
    map.set(name, resource);
  }

  /** A resource that carries its own "@type". */
  addTyped(resource: unknown, path: string, fallbackName?: string): void {
    const typeUrl = isObject(resource) ? resource['@type'] : undefined;
    const kind = typeof typeUrl === 'string' ? kindByTypeUrl.get(typeUrl) : undefined;
    if (kind) this.add(kind, resource, path, fallbackName);
    else if (typeof typeUrl === 'string' && /\.v2\./.test(typeUrl)) this.d.error(path, `${typeUrl}: Envoy v2 API is not supported; use v3`);
    else this.d.warn(path, `${typeof typeUrl === 'string' ? typeUrl : 'a resource without "@type"'} is not translated: kmesh reads ${Object.values(xdsTypeUrls).join(', ')}`);
  }
}

/** A name for an unnamed resource: a listener's address, else its place in the dump. */
function unnamed(kind: ResourceKind, resource: unknown, place: string): string {
  const sock = dig(resource, ['address', 'socket_address']);
  if (kind === 'listener' && isObject(sock) && typeof sock.address === 'string') return `${sock.address}_${String(sock.port_value ?? '')}`;
  return place;
}

function readConfigDump(doc: Obj, c: Collector): void {
  (doc.configs as unknown[]).forEach((config, i) => {
    const path = item('configs', i);
    const typeUrl = isObject(config) ? config['@type'] : undefined;
    const short = typeof typeUrl === 'string' && typeUrl.startsWith(adminPrefix) ? typeUrl.slice(adminPrefix.length) : undefined;
    if (!isObject(config) || short === undefined) {
      c.d.warn(path, `${typeof typeUrl === 'string' ? typeUrl : 'a config without "@type"'} is not an Envoy v3 admin config dump section: skipped`);
      return;
    }
    if (silentDumps.has(short)) return;
    const section = dumpSections[short];
    if (!section) {
      c.d.warn(path, `${short} is not translated: skipped`);
      return;
    }
    for (const [list, inner] of section.sections) {
      const entries = config[list];
      if (entries === undefined) continue;
      if (!Array.isArray(entries)) {
        c.d.error(field(path, list), 'expected a list');
        continue;
      }
      entries.forEach((entry, j) => {
        const at = item(field(path, list), j, isObject(entry) && typeof entry.name === 'string' ? entry.name : undefined);
        const resource = dig(entry, inner);
        if (resource !== undefined) {
          // Static resources may be unnamed (Envoy names them itself): the place in the dump names them.
          c.add(section.kind, resource, field(at, inner.join('.')), unnamed(section.kind, resource, `${list}[${j}]`));
          return;
        }
        // A dynamic listener Envoy rejected: only its error is in the dump.
        const failure = dig(entry, ['error_state', 'details']);
        if (failure !== undefined) c.d.warn(at, `Envoy rejected this ${section.kind}: ${String(failure)}; it is not in the dump, so not translated`);
        else if (!isObject(entry) || entry.warming_state === undefined) c.d.warn(at, `no ${inner.join('.')}: skipped`);
        else c.add(section.kind, dig(entry, ['warming_state', 'listener']), field(at, 'warming_state.listener'));
      });
    }
  });
}

/** Reads the resources of a config_dump, a resources: [...] file or an xds map. */
export function readResourceDocument(doc: unknown): ResourceDocument {
  const c = new Collector();
  const kind = xdsDocumentKind(doc);
  if (kind === 'config_dump') readConfigDump(doc as Obj, c);
  else if (kind === 'resources') {
    ((doc as Obj).resources as unknown[]).forEach((r, i) => {
      // Kuma wraps each resource: {name, resource: {"@type": ...}}.
      const wrapped = isObject(r) && isObject(r.resource) && r['@type'] === undefined;
      const resource = wrapped ? (r as Obj).resource : r;
      const name = wrapped && typeof (r as Obj).name === 'string' ? ((r as Obj).name as string) : undefined;
      c.addTyped(resource, item('resources', i, name), name);
    });
  } else if (kind === 'xds_map') {
    for (const [typeUrl, byName] of Object.entries((doc as Obj).xds as Obj)) {
      const rk = kindByTypeUrl.get(typeUrl);
      if (!rk) {
        c.d.warn(field('xds', typeUrl), `${typeUrl} is not translated`);
        continue;
      }
      if (!isObject(byName)) {
        c.d.error(field('xds', typeUrl), 'expected a mapping of resource names to resources');
        continue;
      }
      for (const [name, resource] of Object.entries(byName)) c.add(rk, resource, `xds.${typeUrl}(${name})`, name);
    }
  } else {
    c.d.error('(root)', 'not an xDS resource document: expected configs: [...] (config_dump), resources: [...] or xds: {...}');
  }
  return { resources: c.resources, errors: c.d.errors, warnings: c.d.warnings };
}
