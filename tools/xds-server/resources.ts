// Resource files for the test server: Envoy's filesystem-xDS shape (`resources: [...]`, each
// entry with '@type'), or a bootstrap whose static_resources are split by type (clusters with
// type EDS keep their load_assignment as a ClusterLoadAssignment served over EDS).
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { TypeUrl, type ResourceKind } from '@kmesh/controller';

export type ResourceSet = Record<ResourceKind, unknown[]>;

export function emptySet(): ResourceSet {
  return { cluster: [], endpoint: [], listener: [], route: [] };
}

const kindByType = new Map<string, ResourceKind>(Object.entries(TypeUrl).map(([k, t]) => [t, k as ResourceKind]));

export function resourcesFromDocument(doc: unknown): ResourceSet {
  const set = emptySet();
  const d = doc as { resources?: Record<string, unknown>[]; static_resources?: { listeners?: unknown[]; clusters?: Record<string, unknown>[] } };
  if (Array.isArray(d?.resources)) {
    d.resources.forEach((r, i) => {
      const kind = kindByType.get(String(r['@type']));
      if (!kind) throw new Error(`resources[${i}]: '@type' ${String(r['@type'])} is not one of ${[...kindByType.keys()].join(', ')}`);
      set[kind].push(r);
    });
    return set;
  }
  if (d?.static_resources) {
    set.listener = [...(d.static_resources.listeners ?? [])];
    for (const c of d.static_resources.clusters ?? []) {
      if (c.type === 'EDS' && c.load_assignment) {
        const { load_assignment, ...cluster } = c;
        set.cluster.push({ ...cluster, eds_cluster_config: { eds_config: { ads: {} } } });
        set.endpoint.push({ ...(load_assignment as object), cluster_name: c.name });
      } else set.cluster.push(c);
    }
    return set;
  }
  throw new Error('expected `resources:` (filesystem xDS) or `static_resources:` (bootstrap)');
}

export function loadResourceFile(file: string): ResourceSet {
  return resourcesFromDocument(parse(readFileSync(file, 'utf8')));
}
