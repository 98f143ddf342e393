/**
 * Which endpoints of a cluster the kernel gets: the ones able to take new
 * connections, of the lowest priority level that has any.
 *
 * Envoy fails over between priorities as endpoints turn unhealthy; kmesh does
 * not yet, so it encodes the level Envoy would use right now and warns.
 */
import type { ClusterModel, EndpointModel, HealthStatus } from './model.js';

/** Health states that take new connections (Envoy sends none to the others). */
export const acceptsConnections: Readonly<Record<HealthStatus, boolean>> = {
  UNKNOWN: true,
  HEALTHY: true,
  DEGRADED: true,
  UNHEALTHY: false,
  DRAINING: false,
  TIMEOUT: false,
};

export interface UsableEndpoints {
  /** The priority level chosen; undefined when no endpoint can take connections. */
  priority: number | undefined;
  /** In document order. */
  endpoints: EndpointModel[];
}

export function usableEndpoints(cluster: ClusterModel): UsableEndpoints {
  const able = cluster.endpoints.filter((e) => acceptsConnections[e.health]);
  if (able.length === 0) return { priority: undefined, endpoints: [] };
  const priority = Math.min(...able.map((e) => e.priority));
  return { priority, endpoints: able.filter((e) => e.priority === priority) };
}
