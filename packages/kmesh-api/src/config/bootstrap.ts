/**
 * The shape of an Envoy v3 Bootstrap: kmesh reads static_resources.listeners
 * and static_resources.clusters and says what it ignores.
 */
import { Diagnostics, field, item } from '../diagnostics.js';
import { describe, isObject, readArray, readObject } from './fields.js';
import { isEnvoyV2TypeUrl, v2Message } from './type-url.js';

export const rootPath = '(root)';

export interface StaticResources {
  listeners: unknown[];
  clusters: unknown[];
  /** node.locality as "region/zone/sub_zone" (issue 6: nearer endpoints are preferred). */
  nodeLocality?: string;
}

/** node.locality → "region/zone/sub_zone", undefined when absent or empty. */
function readNodeLocality(doc: Record<string, unknown>): string | undefined {
  const node = doc.node;
  if (!isObject(node) || !isObject(node.locality)) return undefined;
  const locality = node.locality;
  const parts = ['region', 'zone', 'sub_zone'].map((k) => (typeof locality[k] === 'string' ? (locality[k] as string) : ''));
  return parts.some((p) => p !== '') ? parts.join('/').replace(/\/+$/, '') : undefined;
}

const laterVersion = '(a config_dump or an xDS resource file is read by loadConfigText and loadConfigDump, not translateBootstrap)';
const notBootstrap = `not an Envoy bootstrap: expected static_resources ${laterVersion}`;

/** Top-level fields with a specific reason; any other is ignored with a generic one. */
const ignoredBootstrapFields: Record<string, string> = {
  dynamic_resources: 'dynamic_resources is ignored: kmesh does not contact an xDS server yet, only static_resources is read',
};

const ignoredStaticFields: Record<string, string> = {
  secrets: 'secrets are ignored: kmesh does not terminate or originate TLS',
};

/** Names what a non-bootstrap document looks like, so the error helps. */
function whatItLooksLike(doc: Record<string, unknown>): string {
  if (Array.isArray(doc.configs)) return ' This looks like an Envoy admin config_dump.';
  if (Array.isArray(doc.resources)) return ' This looks like an xDS resource file (resources: [...]).';
  if (doc.xds !== undefined || (Array.isArray(doc.listeners) && doc.static_resources === undefined)) {
    return ' This looks like a list of xDS resources, not a bootstrap.';
  }
  return '';
}

/** Reports every Envoy v2 type URL in the document, wherever it is. */
export function scanForV2(value: unknown, path: string, d: Diagnostics, depth = 0): void {
  if (depth > 200 || typeof value !== 'object' || value === null) return;
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      if (typeof v !== 'object' || v === null) return; // nothing to find in a scalar: skip its path
      const name = isObject(v) && typeof v.name === 'string' ? v.name : undefined;
      scanForV2(v, item(path, i, name), d, depth + 1);
    });
    return;
  }
  for (const [key, v] of Object.entries(value)) {
    if (key === '@type' && typeof v === 'string' && isEnvoyV2TypeUrl(v)) {
      d.error(path, `${v}: ${v2Message}`);
    } else if (typeof v === 'object' && v !== null) {
      scanForV2(v, field(path, key), d, depth + 1);
    }
  }
}

export function readBootstrap(doc: unknown, d: Diagnostics): StaticResources | undefined {
  if (doc === undefined || doc === null) {
    d.error(rootPath, 'empty document: expected an Envoy bootstrap with static_resources');
    return undefined;
  }
  if (Array.isArray(doc)) {
    d.error(rootPath, `${notBootstrap}. This is a list, not a mapping.`);
    return undefined;
  }
  if (!isObject(doc)) {
    d.error(rootPath, `${notBootstrap}. Got ${describe(doc)}.`);
    return undefined;
  }
  if (doc.static_resources === undefined) {
    d.error(rootPath, `${notBootstrap}.${whatItLooksLike(doc)}`);
    return undefined;
  }
  for (const key of Object.keys(doc)) {
    if (key === 'static_resources') continue;
    // node: its locality is read (node locality preference); id, cluster and metadata name the node only.
    if (key === 'node') continue;
    d.warn(key, ignoredBootstrapFields[key] ?? `${key} is ignored: kmesh reads only static_resources`);
  }
  scanForV2(doc.static_resources, 'static_resources', d);
  const sr = readObject(doc, 'static_resources', '', d, true);
  if (!sr) return undefined;
  for (const key of Object.keys(sr)) {
    if (key === 'listeners' || key === 'clusters') continue;
    d.warn(field('static_resources', key), ignoredStaticFields[key] ?? `static_resources.${key} is ignored: kmesh reads listeners and clusters`);
  }
  const nodeLocality = readNodeLocality(doc);
  return {
    listeners: readArray(sr, 'listeners', 'static_resources', d) ?? [],
    clusters: readArray(sr, 'clusters', 'static_resources', d) ?? [],
    ...(nodeLocality !== undefined ? { nodeLocality } : {}),
  };
}
