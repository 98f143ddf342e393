/**
 * xDS resources → MeshModel, by @kmesh/api's translateXdsResources. The controller's view adds
 * what the client needs to ACK or NACK: the model is null when some resource is invalid (its
 * outcome says why), and the warnings of every resource in one list.
 */
import { translateXdsResources, type Diagnostic, type MeshModel, type ResourceOutcome, type XdsResources } from '@kmesh/api';

export type { ResourceOutcome, XdsResources };

export interface XdsTranslation {
  /** null when some resource is invalid (its outcome says why) */
  model: MeshModel | null;
  outcomes: ResourceOutcome[];
  /** diagnostics that name no single resource (none today: kept for the client's messages) */
  errors: Diagnostic[];
  warnings: Diagnostic[];
  warming: { clusters: string[]; listeners: string[] };
}

export function emptyResources(): XdsResources {
  return { listeners: new Map(), clusters: new Map(), endpoints: new Map(), routes: new Map() };
}

export function translateXds(input: XdsResources): XdsTranslation {
  const r = translateXdsResources(input);
  const failed = r.outcomes.some((o) => o.errors.length > 0);
  return {
    model: failed ? null : r.model,
    outcomes: r.outcomes,
    errors: [],
    warnings: r.outcomes.flatMap((o) => o.warnings),
    warming: r.warming,
  };
}

/** Name under which an EDS cluster's endpoints are published (eds_cluster_config.service_name or the cluster name). */
export function edsServiceName(cluster: unknown): string | undefined {
  const c = cluster as { name?: string; type?: string; eds_cluster_config?: { service_name?: string } };
  if (c?.type !== 'EDS') return undefined;
  return c.eds_cluster_config?.service_name || c.name;
}
