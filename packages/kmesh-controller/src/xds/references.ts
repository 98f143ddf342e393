/**
 * What one resource type says about the subscriptions of another: the EDS names the clusters
 * need, the route configuration names the listeners need (RDS), and warming (a cluster waits for
 * its endpoints, a listener for its routes).
 */
import { edsServiceName } from './translate.js';

/** EDS service names of the EDS clusters. */
export function edsNames(clusters: Iterable<unknown>): Set<string> {
  const names = new Set<string>();
  for (const c of clusters) {
    const name = edsServiceName(c);
    if (name) names.add(name);
  }
  return names;
}

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

/** route_config_name of every http_connection_manager that uses RDS, in every filter chain. */
export function routeNamesOfListener(listener: unknown): string[] {
  const l = listener as { filter_chains?: unknown[]; default_filter_chain?: unknown };
  const chains = [...(l?.filter_chains ?? []), ...(l?.default_filter_chain ? [l.default_filter_chain] : [])] as { filters?: { typed_config?: Record<string, unknown> }[] }[];
  const names: string[] = [];
  for (const chain of chains) {
    for (const filter of chain?.filters ?? []) {
      const config = filter?.typed_config as { '@type'?: string; rds?: { route_config_name?: string } } | undefined;
      if (config?.['@type'] === HCM && config.rds?.route_config_name) names.push(config.rds.route_config_name);
    }
  }
  return names;
}

export function routeNames(listeners: Iterable<unknown>): Set<string> {
  const names = new Set<string>();
  for (const l of listeners) for (const n of routeNamesOfListener(l)) names.add(n);
  return names;
}

export function sameSet(a: Set<string>, b: Set<string>): boolean {
  return a.size === b.size && [...a].every((x) => b.has(x));
}
