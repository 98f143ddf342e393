/**
 * envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
 * → HttpListenerModel: the route configuration by name (rds) or inline
 * (route_config). The L7 path does not exist yet: the kernel leaves such
 * connections as dialled, so HCM's many HTTP settings are not checked one by one;
 * the listener says once that HTTP routing is not enforced.
 */
import { Diagnostics, field } from '../diagnostics.js';
import { readObject, readString, type Obj } from '../config/fields.js';
import type { HttpListenerModel } from '../model.js';
import { readRouteConfiguration } from '../resources/route-config.js';
import type { ClusterRef } from './tcp-proxy.js';

export interface HttpDraft {
  http: HttpListenerModel;
  /** Clusters named by the inline route_config (warned about when missing: routes are not enforced). */
  routeRefs: ClusterRef[];
}

export function readHttpConnectionManager(config: Obj, path: string, d: Diagnostics): HttpDraft | undefined {
  const before = d.errors.length;
  readString(config, 'stat_prefix', path, d, true);
  const rds = readObject(config, 'rds', path, d);
  const inline = config.route_config;
  if (config.scoped_routes !== undefined) {
    d.warn(field(path, 'scoped_routes'), 'scoped_routes (SRDS) is not supported: no HTTP routes are kept for this listener');
    return d.errors.length === before ? { http: {}, routeRefs: [] } : undefined;
  }
  if (rds && inline !== undefined) {
    d.error(path, 'give either rds or route_config, not both');
    return undefined;
  }
  if (rds) {
    const name = readString(rds, 'route_config_name', field(path, 'rds'), d, true);
    return name === undefined || d.errors.length !== before ? undefined : { http: { routeConfigName: name }, routeRefs: [] };
  }
  if (inline !== undefined) {
    const draft = readRouteConfiguration(inline, field(path, 'route_config'), d);
    return draft && d.errors.length === before ? { http: { routeConfig: draft.model }, routeRefs: draft.refs } : undefined;
  }
  d.error(path, 'http_connection_manager needs rds or route_config');
  return undefined;
}
