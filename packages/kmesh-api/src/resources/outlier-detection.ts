/**
 * Cluster outlier_detection (envoy.config.cluster.v3.OutlierDetection), issue 6 part A.
 * Enforced in the kernel for connections: consecutive failures of an endpoint (a refused or timed
 * out connect; on HTTP listeners also a 5xx first response of a connection) eject it for
 * base_ejection_time x (times ejected), capped by max_ejection_time, as
 * long as no more than max_ejection_percent of the cluster is ejected (one endpoint always may be).
 * A connect failure is a locally originated error; Envoy counts it as a 5xx/gateway failure unless
 * split_external_local_origin_errors is set (abi/resilience.ts clusterLimits says which threshold).
 * Detectors that need request outcomes (success rate, failure percentage) are reported, not run.
 */
import { Diagnostics, field } from '../diagnostics.js';
import { readDurationMs, readObject, readUint, type Obj } from '../config/fields.js';
import { checkFields, ignore, read, type FieldTable } from '../config/field-table.js';
import type { OutlierDetectionModel } from '../model.js';

const needsRequests = 'it needs request outcomes (every request): kmesh ejects on consecutive failures only (connect failures, and an HTTP connection\'s first response)';

const outlierFields: FieldTable = {
  message: 'envoy.config.cluster.v3.OutlierDetection',
  fields: {
    consecutive_5xx: read,
    consecutive_gateway_failure: read,
    consecutive_local_origin_failure: read,
    split_external_local_origin_errors: read,
    base_ejection_time: read,
    max_ejection_time: read,
    max_ejection_percent: read,
    // Ejections start at the failure that reaches the threshold and end when their time is up; the
    // interval only lowers the ejection multiplier (one per interval an endpoint is not ejected).
    interval: read,
    enforcing_consecutive_5xx: ignore('every endpoint reaching the threshold is ejected (100%)'),
    enforcing_consecutive_gateway_failure: ignore('every endpoint reaching the threshold is ejected (100%)'),
    enforcing_consecutive_local_origin_failure: ignore('every endpoint reaching the threshold is ejected (100%)'),
    enforcing_success_rate: ignore(needsRequests),
    success_rate_minimum_hosts: ignore(needsRequests),
    success_rate_request_volume: ignore(needsRequests),
    success_rate_stdev_factor: ignore(needsRequests),
    enforcing_local_origin_success_rate: ignore(needsRequests),
    failure_percentage_threshold: ignore(needsRequests),
    enforcing_failure_percentage: ignore(needsRequests),
    enforcing_failure_percentage_local_origin: ignore(needsRequests),
    failure_percentage_minimum_hosts: ignore(needsRequests),
    failure_percentage_request_volume: ignore(needsRequests),
    max_ejection_time_jitter: ignore('ejection times are exact'),
    successful_active_health_check_uneject_host: ignore('kmesh runs no active health checks'),
    monitors: ignore(needsRequests),
    always_eject_one_host: ignore('one endpoint may always be ejected already'),
    detect_degraded_hosts: ignore('degraded endpoints are not detected'),
  },
};

const thresholds = [
  ['consecutive_5xx', 'consecutive5xx'],
  ['consecutive_gateway_failure', 'consecutiveGatewayFailure'],
  ['consecutive_local_origin_failure', 'consecutiveLocalOriginFailure'],
] as const;

/** outlier_detection of a cluster at `path`; undefined when absent or invalid (errors in `d`). */
export function readOutlierDetection(raw: Obj, path: string, d: Diagnostics): OutlierDetectionModel | undefined {
  const od = readObject(raw, 'outlier_detection', path, d);
  if (!od) return undefined;
  const at = field(path, 'outlier_detection');
  const before = d.errors.length;
  checkFields(od, at, d, outlierFields);
  const out: OutlierDetectionModel = {};
  // 0 would eject an endpoint before it failed at all.
  for (const [key, prop] of thresholds) {
    const v = readUint(od, key, at, d, { min: 1 });
    if (v !== undefined) out[prop] = v;
  }
  const split = od.split_external_local_origin_errors;
  if (split !== undefined) {
    if (typeof split !== 'boolean') d.error(field(at, 'split_external_local_origin_errors'), `expected true or false, got ${JSON.stringify(split)}`);
    else out.splitExternalLocalOriginErrors = split;
  }
  const interval = readDurationMs(od, 'interval', at, d);
  if (interval !== undefined) out.intervalMs = interval;
  for (const [key, prop] of [['base_ejection_time', 'baseEjectionTimeMs'], ['max_ejection_time', 'maxEjectionTimeMs']] as const) {
    const v = readDurationMs(od, key, at, d);
    if (v === undefined) continue;
    if (v <= 0) d.error(field(at, key), `${key} must be more than 0 (Envoy requires it), got ${v} ms`);
    else out[prop] = v;
  }
  const maxPct = readUint(od, 'max_ejection_percent', at, d, { max: 100 });
  if (maxPct !== undefined) out.maxEjectionPercent = maxPct;
  return d.errors.length === before ? out : undefined;
}
