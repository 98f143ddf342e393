/**
 * Cluster circuit_breakers (envoy.config.cluster.v3.CircuitBreakers), issue 6 part A.
 * Enforced in the kernel: max_connections of the DEFAULT priority threshold (a connect beyond it is
 * refused with ECONNREFUSED, an HTTP listener's connection is answered 503; Envoy's default 1024
 * applies when it is not given). The request limits are settings of HTTP connection pools: kmesh
 * routes HTTP per connection, with no pool or request queue, so they are parsed and reported, not
 * enforced.
 */
import { Diagnostics, field, item } from '../diagnostics.js';
import { describe, isObject, readArray, readEnum, readObject, readUint, type Obj } from '../config/fields.js';
import { accept, checkFields, ignore, read, type FieldTable } from '../config/field-table.js';
import type { CircuitBreakerThreshold } from '../model.js';

const circuitBreakersFields: FieldTable = {
  message: 'envoy.config.cluster.v3.CircuitBreakers',
  fields: {
    thresholds: read,
    per_host_thresholds: ignore('per-endpoint connection limits are not enforced (the cluster limit is)'),
  },
};

const thresholdFields: FieldTable = {
  message: 'envoy.config.cluster.v3.CircuitBreakers.Thresholds',
  fields: {
    priority: read,
    max_connections: read,
    max_pending_requests: read,
    max_requests: read,
    max_retries: read,
    retry_budget: ignore('kmesh does not retry'),
    track_remaining: accept,
    max_connection_pools: ignore('kmesh keeps no connection pools'),
  },
};

/** HTTP-only limits: said once per threshold that sets them. */
const httpLimits = [
  ['max_pending_requests', 'maxPendingRequests'],
  ['max_requests', 'maxRequests'],
  ['max_retries', 'maxRetries'],
] as const;

function readThreshold(t: Obj, at: string, d: Diagnostics): CircuitBreakerThreshold | undefined {
  const before = d.errors.length;
  checkFields(t, at, d, thresholdFields);
  const priority = readEnum(t, 'priority', at, d, { 0: 'DEFAULT', 1: 'HIGH' }) ?? 'DEFAULT';
  if (priority !== 'DEFAULT' && priority !== 'HIGH') {
    d.error(field(at, 'priority'), `unknown priority "${priority}": accepted DEFAULT, HIGH`);
    return undefined;
  }
  const threshold: CircuitBreakerThreshold = { priority };
  const maxConnections = readUint(t, 'max_connections', at, d);
  if (maxConnections !== undefined) threshold.maxConnections = maxConnections;
  const given: string[] = [];
  for (const [key, prop] of httpLimits) {
    const v = readUint(t, key, at, d);
    if (v === undefined) continue;
    threshold[prop] = v;
    given.push(key);
  }
  if (d.errors.length !== before) return undefined;
  if (priority === 'HIGH') {
    d.warn(at, 'a HIGH priority threshold applies to high-priority routes; kmesh routes connections at the DEFAULT priority, so it is not enforced');
  } else if (given.length > 0) {
    d.warn(at, `${given.join(', ')}: request limits of HTTP connection pools are not enforced (kmesh routes HTTP per connection, with no pool or request queue); max_connections is`);
  }
  return threshold;
}

/** circuit_breakers of a cluster at `path`; undefined when absent or invalid (errors in `d`). */
export function readCircuitBreakers(raw: Obj, path: string, d: Diagnostics): CircuitBreakerThreshold[] | undefined {
  const cb = readObject(raw, 'circuit_breakers', path, d);
  if (!cb) return undefined;
  const cbPath = field(path, 'circuit_breakers');
  checkFields(cb, cbPath, d, circuitBreakersFields);
  const thresholds = readArray(cb, 'thresholds', cbPath, d) ?? [];
  const out: CircuitBreakerThreshold[] = [];
  thresholds.forEach((t, i) => {
    const at = item(field(cbPath, 'thresholds'), i);
    if (!isObject(t)) {
      d.error(at, `expected a thresholds mapping, got ${describe(t)}`);
      return;
    }
    const threshold = readThreshold(t, at, d);
    if (!threshold) return;
    if (out.some((o) => o.priority === threshold.priority)) {
      d.error(field(at, 'priority'), `a second threshold for priority ${threshold.priority}: give one threshold per priority`);
      return;
    }
    out.push(threshold);
  });
  return out;
}
