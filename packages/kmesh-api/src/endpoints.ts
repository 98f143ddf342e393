/**
 * Health states that take connections, and the lowest priority level with an
 * endpoint able to take them.
 *
 * The encoder does not use usableEndpoints any more: since issue 6 it spreads
 * connections over priority levels and localities as Envoy does (overprovisioning
 * factor 1.4), see lb/priority.ts endpointShares.
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
