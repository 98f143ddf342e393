/**
 * envoy.config.cluster.v3.Cluster → ClusterModel.
 *
 * Every cluster type is served from its load_assignment: kmesh has no DNS and
 * no EDS client yet. Types whose endpoint set cannot come from the document
 * are rejected by name.
 */
import { Diagnostics, field, item } from '../diagnostics.js';
import { describe, isObject, readArray, readDurationMs, readEnum, readObject, readString, readUint, type Obj } from '../config/fields.js';
import type { ClusterDiscovery, ClusterModel, HealthCheckModel, LbPolicy } from '../model.js';
import { readCircuitBreakers } from './circuit-breakers.js';
import { readOutlierDetection } from './outlier-detection.js';
import { readLeastRequestChoiceCount } from './least-request.js';
import { readLoadAssignment } from './load-assignment.js';
import { readHashingConfig, typedHashingConfig } from './lb-config.js';
import { checkTransportSocket } from './transport-socket.js';
import { accept, checkFields, ignore, read, reject, type FieldTable } from '../config/field-table.js';

const accepted = 'accepted: STATIC, EDS, STRICT_DNS or LOGICAL_DNS with IP addresses, ORIGINAL_DST (passthrough)';

interface ClusterTypeRule {
  discovery?: ClusterDiscovery;
  /** Why the type cannot be served. */
  reject?: string;
  /** Said once per cluster of this type. */
  warning?: string;
}

const clusterTypes: Record<string, ClusterTypeRule> = {
  STATIC: { discovery: 'STATIC' },
  EDS: {
    discovery: 'EDS',
    warning: 'EDS cluster in a file: load_assignment is used as the endpoint set (no EDS server is contacted)',
  },
  STRICT_DNS: { discovery: 'STRICT_DNS', warning: 'STRICT_DNS with IP addresses is treated as STATIC (kmesh does no DNS)' },
  LOGICAL_DNS: { discovery: 'LOGICAL_DNS', warning: 'LOGICAL_DNS with IP addresses is treated as STATIC (kmesh does no DNS)' },
  // Handled before this table: an ORIGINAL_DST cluster is a passthrough (the connection keeps its destination).
};
const clusterTypeNumbers: Record<number, string> = { 0: 'STATIC', 1: 'STRICT_DNS', 2: 'LOGICAL_DNS', 3: 'EDS', 4: 'ORIGINAL_DST' };

interface LbPolicyRule {
  policy?: LbPolicy;
  warning?: string;
  reject?: string;
}

const lbPolicies: Record<string, LbPolicyRule> = {
  ROUND_ROBIN: { policy: 'ROUND_ROBIN' },
  RANDOM: { policy: 'RANDOM' },
  // Issue 6 part A: fewest active connections of choice_count picks, in the kernel (bpf/lb.h, conn.h).
  LEAST_REQUEST: { policy: 'LEAST_REQUEST' },
  // Issue 6: consistent hashing of the client in the kernel (bpf/lb_hash.h, lb/ring-hash.ts, lb/maglev.ts).
  RING_HASH: { policy: 'RING_HASH' },
  MAGLEV: { policy: 'MAGLEV' },
  CLUSTER_PROVIDED: { reject: 'lb_policy CLUSTER_PROVIDED is not supported (it belongs to ORIGINAL_DST clusters); accepted: ROUND_ROBIN, RANDOM' },
  LOAD_BALANCING_POLICY_CONFIG: { reject: 'lb_policy LOAD_BALANCING_POLICY_CONFIG needs load_balancing_policy, which is not given; accepted: ROUND_ROBIN, RANDOM' },
};
const lbPolicyNumbers: Record<number, string> = {
  0: 'ROUND_ROBIN',
  1: 'LEAST_REQUEST',
  2: 'RING_HASH',
  3: 'RANDOM',
  5: 'MAGLEV',
  6: 'CLUSTER_PROVIDED',
  7: 'LOAD_BALANCING_POLICY_CONFIG',
};

/** Every field of envoy.config.cluster.v3.Cluster (see config/field-table.ts for the kinds). */
const clusterFields: FieldTable = {
  message: 'envoy.config.cluster.v3.Cluster',
  fields: {
    name: read,
    type: read,
    cluster_type: read,
    lb_policy: read,
    load_balancing_policy: read,
    load_assignment: read,
    connect_timeout: read,
    circuit_breakers: read,
    outlier_detection: read,
    health_checks: read,
    common_lb_config: read,
    transport_socket: read,
    transport_socket_matches: read,
    lb_subset_config: reject('endpoint subsets change which endpoints get traffic, and ignoring it would send connections to all of them'),
    hosts: reject('it is an Envoy v2 field: Envoy v2 API is not supported; use v3 load_assignment'),
    tls_context: reject('it is an Envoy v2 field: Envoy v2 API is not supported; use v3 transport_socket'),
    // Names, stats, Envoy's own pools and buffers, and HTTP settings a tcp_proxy does not use.
    alt_stat_name: accept,
    metadata: accept,
    per_connection_buffer_limit_bytes: accept,
    max_requests_per_connection: accept,
    upstream_http_protocol_options: accept,
    common_http_protocol_options: accept,
    http_protocol_options: accept,
    http2_protocol_options: accept,
    typed_extension_protocol_options: accept,
    protocol_selection: accept,
    track_timeout_budgets: accept,
    track_cluster_stats: accept,
    preconnect_policy: accept,
    connection_pool_per_downstream_connection: accept,
    wait_for_warm_on_init: accept,
    cleanup_interval: accept,
    ignore_health_on_host_removal: accept,
    lrs_report_endpoint_metrics: accept,
    // With EDS, load_assignment is used instead (the type's warning says so).
    eds_cluster_config: accept,
    // kmesh does no DNS: hostnames are rejected where they appear, IP literals need none.
    dns_refresh_rate: accept,
    dns_failure_refresh_rate: accept,
    dns_jitter: accept,
    respect_dns_ttl: accept,
    dns_lookup_family: accept,
    dns_resolvers: accept,
    use_tcp_for_dns_lookups: accept,
    dns_resolution_config: accept,
    typed_dns_resolver_config: accept,
    // Settings of a policy that lb_policy already reports (ROUND_ROBIN is used in its place).
    ring_hash_lb_config: read,
    maglev_lb_config: read,
    least_request_lb_config: read,
    round_robin_lb_config: accept,
    original_dst_lb_config: accept,
    // The upstream connection is the application's own: kmesh only changes its destination.
    upstream_bind_config: ignore('the application\'s connection keeps its own source address'),
    upstream_connection_options: ignore('the application\'s connection keeps its own socket options'),
    upstream_config: ignore('the application\'s connection is not pooled'),
    filters: ignore('upstream network filters are not run: bytes go to the endpoint unchanged'),
    close_connections_on_host_health_failure: ignore('connections are not closed when an endpoint turns unhealthy'),
    lrs_server: ignore('no load is reported'),
  },
};

/** Every field of envoy.config.cluster.v3.Cluster.CommonLbConfig. */
const commonLbConfigFields: FieldTable = {
  message: 'envoy.config.cluster.v3.Cluster.CommonLbConfig',
  fields: {
    locality_weighted_lb_config: read,
    // Panic mode would spread connections over unhealthy endpoints too; kmesh never does.
    healthy_panic_threshold: ignore('connections never go to unhealthy endpoints, whatever their share'),
    zone_aware_lb_config: ignore('endpoints are not preferred by zone'),
    override_host_status: ignore(),
    close_connections_on_host_set_change: ignore('connections are not closed when the endpoint set changes'),
    update_merge_window: accept,
    ignore_new_hosts_until_first_hc: accept,
    consistent_hashing_lb_config: accept,
  },
};

const typedPolicyPrefix = 'type.googleapis.com/envoy.extensions.load_balancing_policies.';

/** load_balancing_policy extensions by type URL; the same handling as their lb_policy names. */
const typedLbPolicies: Record<string, LbPolicyRule> = {
  [`${typedPolicyPrefix}round_robin.v3.RoundRobin`]: { policy: 'ROUND_ROBIN' },
  [`${typedPolicyPrefix}random.v3.Random`]: { policy: 'RANDOM' },
  [`${typedPolicyPrefix}least_request.v3.LeastRequest`]: lbPolicies.LEAST_REQUEST!,
  [`${typedPolicyPrefix}ring_hash.v3.RingHash`]: lbPolicies.RING_HASH!,
  [`${typedPolicyPrefix}maglev.v3.Maglev`]: lbPolicies.MAGLEV!,
};

/**
 * load_balancing_policy: Envoy uses the first policy of the list it supports,
 * so kmesh takes the first one it knows. Any other typed policy (weighted
 * round robin from load reports, subsets, locality wrappers, custom ones)
 * decides which endpoint gets a connection in a way kmesh cannot copy: error.
 */
function readTypedLbPolicy(lbp: Obj, path: string, d: Diagnostics): LbPolicy | undefined {
  const policies = readArray(lbp, 'policies', path, d) ?? [];
  const typeUrls = policies.map((p) => {
    const ext = isObject(p) && isObject(p.typed_extension_config) ? p.typed_extension_config : undefined;
    return ext && isObject(ext.typed_config) ? String(ext.typed_config['@type'] ?? '') : '';
  });
  const index = typeUrls.findIndex((url) => typedLbPolicies[url] !== undefined);
  if (index < 0) {
    const given = typeUrls.filter((u) => u !== '').join(', ') || 'no typed_extension_config';
    d.error(
      field(path, 'policies'),
      `load_balancing_policy ${given} is not supported: ignoring it would change which endpoint gets each connection; accepted: envoy.load_balancing_policies.round_robin, random, ring_hash, maglev (least_request with a warning)`,
    );
    return undefined;
  }
  const rule = typedLbPolicies[typeUrls[index]!]!;
  if (rule.warning) d.warn(item(field(path, 'policies'), index), rule.warning);
  return rule.policy;
}

function readLbPolicy(raw: Obj, path: string, d: Diagnostics): LbPolicy | undefined {
  // load_balancing_policy, when set, replaces lb_policy in Envoy.
  const lbp = readObject(raw, 'load_balancing_policy', path, d);
  if (lbp) return readTypedLbPolicy(lbp, field(path, 'load_balancing_policy'), d);
  const name = readEnum(raw, 'lb_policy', path, d, lbPolicyNumbers) ?? 'ROUND_ROBIN';
  const rule = lbPolicies[name];
  const at = field(path, 'lb_policy');
  if (!rule) {
    d.error(at, `unknown lb_policy "${name}": accepted ROUND_ROBIN, RANDOM, RING_HASH, MAGLEV (LEAST_REQUEST is accepted with a warning)`);
    return undefined;
  }
  if (rule.reject) {
    d.error(at, rule.reject);
    return undefined;
  }
  if (rule.warning) d.warn(at, rule.warning);
  return rule.policy;
}

// circuit_breakers and outlier_detection: resources/circuit-breakers.ts, resources/outlier-detection.ts (issue 6 part A).

const healthCheckKinds: Record<string, HealthCheckModel['kind']> = {
  tcp_health_check: 'tcp',
  http_health_check: 'http',
  grpc_health_check: 'grpc',
  custom_health_check: 'custom',
};

function readHealthChecks(raw: Obj, path: string, d: Diagnostics): HealthCheckModel[] | undefined {
  const list = readArray(raw, 'health_checks', path, d);
  if (!list) return undefined;
  const at = field(path, 'health_checks');
  const out: HealthCheckModel[] = [];
  list.forEach((hc, i) => {
    const hcPath = item(at, i);
    if (!isObject(hc)) {
      d.error(hcPath, `expected a HealthCheck mapping, got ${describe(hc)}`);
      return;
    }
    const kindKey = Object.keys(healthCheckKinds).find((k) => hc[k] !== undefined);
    const model: HealthCheckModel = { kind: kindKey ? healthCheckKinds[kindKey]! : 'unspecified' };
    const interval = readDurationMs(hc, 'interval', hcPath, d);
    if (interval !== undefined) model.intervalMs = interval;
    const timeout = readDurationMs(hc, 'timeout', hcPath, d);
    if (timeout !== undefined) model.timeoutMs = timeout;
    const unhealthy = readUint(hc, 'unhealthy_threshold', hcPath, d);
    if (unhealthy !== undefined) model.unhealthyThreshold = unhealthy;
    const healthy = readUint(hc, 'healthy_threshold', hcPath, d);
    if (healthy !== undefined) model.healthyThreshold = healthy;
    out.push(model);
  });
  if (list.length > 0) d.warn(at, 'health_checks: parsed, not enforced yet (endpoint health comes from health_status)');
  return out;
}

/** The cluster's name, for paths, before it is validated. */
export function clusterNameOf(raw: unknown): string | undefined {
  return isObject(raw) && typeof raw.name === 'string' && raw.name !== '' ? raw.name : undefined;
}

/**
 * What a cluster resource is, once validated:
 *   - endpoints: a ClusterModel whose endpoints are in its load_assignment;
 *   - eds: a ClusterModel whose endpoints come from the separate
 *     ClusterLoadAssignment named serviceName (xDS only; `model.endpoints` holds
 *     the inline load_assignment, if any, as a fallback);
 *   - original_dst: a passthrough: connections keep the destination they dialled.
 */
export type ClusterRead =
  | { kind: 'endpoints'; model: ClusterModel }
  | { kind: 'eds'; model: ClusterModel; serviceName: string }
  | { kind: 'original_dst'; name: string };

/**
 * 'bootstrap': everything comes from the one document (an EDS cluster needs
 * load_assignment). 'xds': EDS endpoints come from a ClusterLoadAssignment resource.
 */
export type ClusterSource = 'bootstrap' | 'xds';

/** Validates one cluster at `path`; undefined when it has errors (recorded in `d`). */
export function readCluster(raw: unknown, path: string, d: Diagnostics): ClusterModel | undefined {
  const r = readClusterResource(raw, path, d, 'bootstrap');
  return r && r.kind !== 'original_dst' ? r.model : undefined;
}

const adsSourceFields: FieldTable = {
  message: 'envoy.config.core.v3.ConfigSource',
  fields: {
    ads: read,
    resource_api_version: read,
    path: read,
    path_config_source: read,
    api_config_source: read,
    self: read,
    initial_fetch_timeout: accept,
    authorities: accept,
  },
};

/** eds_cluster_config of an xDS cluster: where its ClusterLoadAssignment comes from, and its name. */
function readEdsConfig(raw: Obj, name: string, path: string, d: Diagnostics): string {
  const eds = readObject(raw, 'eds_cluster_config', path, d);
  if (!eds) return name;
  const edsPath = field(path, 'eds_cluster_config');
  const serviceName = readString(eds, 'service_name', edsPath, d);
  const source = readObject(eds, 'eds_config', edsPath, d);
  if (source) {
    const at = field(edsPath, 'eds_config');
    checkFields(source, at, d, adsSourceFields);
    const version = source.resource_api_version;
    if (version !== undefined && version !== 'V3' && version !== 2) d.error(field(at, 'resource_api_version'), `resource_api_version ${String(version)}: Envoy v2 API is not supported; use v3 (V3)`);
    if (source.ads === undefined && source.self === undefined) {
      d.warn(at, 'the EDS config source is not ADS: endpoints are taken from the ClusterLoadAssignment given alongside the cluster (no other server is contacted)');
    }
  }
  return serviceName !== undefined && serviceName !== '' ? serviceName : name;
}

/** Validates one cluster at `path` for `source`; undefined when it has errors (recorded in `d`). */
export function readClusterResource(raw: unknown, path: string, d: Diagnostics, source: ClusterSource): ClusterRead | undefined {
  if (!isObject(raw)) {
    d.error(path, `expected a Cluster mapping, got ${describe(raw)}`);
    return undefined;
  }
  if (raw.type === 'ORIGINAL_DST' || raw.type === 4) return readOriginalDst(raw, path, d);
  const before = d.errors.length;
  const name = readString(raw, 'name', path, d, true);

  const typePath = field(path, 'type');
  let typeName: string | undefined = readEnum(raw, 'type', path, d, clusterTypeNumbers) ?? 'STATIC';
  if (raw.cluster_type !== undefined) {
    const custom = isObject(raw.cluster_type) && typeof raw.cluster_type.name === 'string' ? raw.cluster_type.name : 'cluster_type';
    d.error(field(path, 'cluster_type'), `custom cluster type ${custom} is not supported; ${accepted}`);
    typeName = undefined;
  }
  const typeRule = typeName === undefined ? undefined : clusterTypes[typeName];
  if (typeName !== undefined && !typeRule) d.error(typePath, `unknown cluster type "${typeName}"; ${accepted}`);
  else if (typeRule?.reject) d.error(typePath, typeRule.reject);

  checkFields(raw, path, d, clusterFields);
  checkTransportSocket(raw, path, d, 'upstream');

  const lbPolicy = readLbPolicy(raw, path, d);
  const hashing = readHashingConfig(raw, path, d, lbPolicy, typedHashingConfig(raw, path));
  const connectTimeoutMs = readDurationMs(raw, 'connect_timeout', path, d);
  const circuitBreakers = readCircuitBreakers(raw, path, d);
  const outlierDetection = readOutlierDetection(raw, path, d);
  const choiceCount = lbPolicy === 'LEAST_REQUEST' ? readLeastRequestChoiceCount(raw, path, d) : undefined;
  const healthChecks = readHealthChecks(raw, path, d);
  const common = readObject(raw, 'common_lb_config', path, d);
  if (common) checkFields(common, field(path, 'common_lb_config'), d, commonLbConfigFields);
  const localityWeighted = common !== undefined && common.locality_weighted_lb_config !== undefined;

  const discovery = typeRule?.discovery;
  const isDns = discovery === 'STRICT_DNS' || discovery === 'LOGICAL_DNS';
  const la = readObject(raw, 'load_assignment', path, d);
  let endpoints = la
    ? readLoadAssignment(la, field(path, 'load_assignment'), d, {
        localityWeighted,
        addressRules: {
          hostnameMessage: (h) =>
            isDns
              ? `"${h}" is a hostname and kmesh does no DNS: ${discovery} clusters are accepted only with IP addresses`
              : `"${h}" is a hostname: kmesh resolves no names, give an IP address`,
          unspecifiedMessage: 'the unspecified address is not a destination: give the endpoint\'s IP address',
        },
      })
    : [];
  const xdsEds = source === 'xds' && discovery === 'EDS';
  const serviceName = xdsEds && name ? readEdsConfig(raw, name, path, d) : undefined;
  if (!la && discovery === 'EDS' && !xdsEds) {
    d.error(field(path, 'load_assignment'), 'EDS cluster without load_assignment: its endpoints would come from an EDS server, which kmesh does not contact yet; add load_assignment or use type STATIC');
    endpoints = undefined;
  }
  if (typeRule?.warning && endpoints && !xdsEds && (la || discovery !== 'EDS')) d.warn(typePath, typeRule.warning);

  if (d.errors.length !== before || !name || !discovery || !lbPolicy || !endpoints || !hashing) return undefined;
  const model: ClusterModel = { name, lbPolicy, endpoints, discovery, ...hashing };
  if (connectTimeoutMs !== undefined) model.connectTimeoutMs = connectTimeoutMs;
  if (circuitBreakers) model.circuitBreakers = circuitBreakers;
  if (outlierDetection) model.outlierDetection = outlierDetection;
  if (choiceCount !== undefined) model.leastRequestChoiceCount = choiceCount;
  if (healthChecks) model.healthChecks = healthChecks;
  if (localityWeighted) model.localityWeighted = true;
  if (serviceName !== undefined) return { kind: 'eds', model, serviceName };
  return { kind: 'endpoints', model };
}

/** Fields of an ORIGINAL_DST cluster that kmesh reads or may accept: it has no endpoints of its own. */
function readOriginalDst(raw: Obj, path: string, d: Diagnostics): ClusterRead | undefined {
  const before = d.errors.length;
  const name = readString(raw, 'name', path, d, true);
  checkFields(raw, path, d, clusterFields);
  checkTransportSocket(raw, path, d, 'upstream');
  const policy = readEnum(raw, 'lb_policy', path, d, lbPolicyNumbers);
  if (policy !== undefined && policy !== 'CLUSTER_PROVIDED' && policy !== 'ORIGINAL_DST_LB') {
    d.error(field(path, 'lb_policy'), `an ORIGINAL_DST cluster needs lb_policy CLUSTER_PROVIDED (as Envoy requires), got ${policy}`);
  }
  const la = readObject(raw, 'load_assignment', path, d);
  if (la && Array.isArray(la.endpoints) && la.endpoints.length > 0) {
    d.error(field(path, 'load_assignment'), 'an ORIGINAL_DST cluster takes no endpoints: connections go to the destination they dialled');
  }
  if (raw.original_dst_lb_config !== undefined && isObject(raw.original_dst_lb_config) && raw.original_dst_lb_config.use_http_header === true) {
    d.warn(field(path, 'original_dst_lb_config'), 'use_http_header is not supported: connections keep the destination they dialled');
  }
  if (d.errors.length !== before || !name) return undefined;
  return { kind: 'original_dst', name };
}
