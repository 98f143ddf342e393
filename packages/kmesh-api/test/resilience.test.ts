// issue 6 part A: translation of circuit_breakers, outlier_detection, least_request_lb_config and
// envoy.filters.network.local_ratelimit; Envoy's defaults; the records the kernel reads.
import { describe, expect, it } from 'vitest';
import {
  clusterLimits,
  clusterLoadKey,
  bucketKey,
  decodeClusterKey,
  decodeListenerKey,
  encodeModel,
  fnv1a64,
  ResilienceDefaults,
  ResilienceStructs,
  type ClusterModel,
} from '../src/index.js';
import { baseDoc, cluster, endpoint, expectError, expectWarning, ok, tcpProxy, translate } from './helpers.js';

const C0 = 'static_resources.clusters[0](name=backend)';
const L0 = 'static_resources.listeners[0](name=web)';
const RL = `${L0}.filter_chains[0].filters[0](name=envoy.filters.network.local_ratelimit).typed_config`;

function withCluster(extra: Record<string, unknown>) {
  const doc = baseDoc();
  doc.static_resources.clusters[0] = cluster('backend', [endpoint('10.250.1.2'), endpoint('10.250.1.3')], extra);
  return doc;
}

function withRateLimit(config: Record<string, unknown>) {
  const doc = baseDoc();
  doc.static_resources.listeners[0].filter_chains[0].filters = [
    {
      name: 'envoy.filters.network.local_ratelimit',
      typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit', stat_prefix: 'rl', ...config },
    },
    tcpProxy({ cluster: 'backend' }),
  ];
  return doc;
}

const limitsOf = (doc: unknown) => clusterLimits(ok(translate(doc)).clusters[0]!);

describe('Envoy defaults', () => {
  it('a cluster without circuit_breakers is still limited to 1024 connections; no outlier detection', () => {
    expect(limitsOf(baseDoc())).toEqual({
      maxConnections: 1024,
      outlierFailures: 0,
      baseEjectionTimeMs: 30_000,
      maxEjectionTimeMs: 300_000,
      maxEjectionPercent: 10,
      intervalMs: 10_000,
      choiceCount: 2,
    });
  });

  it('an empty outlier_detection ejects after 5 consecutive failures for 30 s, at most 10%', () => {
    expect(limitsOf(withCluster({ outlier_detection: {} }))).toMatchObject({ outlierFailures: 5, baseEjectionTimeMs: 30_000, maxEjectionTimeMs: 300_000, maxEjectionPercent: 10 });
  });

  it('max_ejection_time is at least base_ejection_time', () => {
    expect(limitsOf(withCluster({ outlier_detection: { base_ejection_time: '400s' } })).maxEjectionTimeMs).toBe(400_000);
  });

  it('LEAST_REQUEST compares two endpoints unless choice_count says otherwise', () => {
    expect(limitsOf(withCluster({ lb_policy: 'LEAST_REQUEST' })).choiceCount).toBe(2);
    expect(limitsOf(withCluster({ lb_policy: 'LEAST_REQUEST', least_request_lb_config: { choice_count: 3 } })).choiceCount).toBe(3);
  });
});

describe('circuit_breakers', () => {
  it('enforces the DEFAULT priority max_connections', () => {
    const doc = withCluster({ circuit_breakers: { thresholds: [{ priority: 'HIGH', max_connections: 9 }, { max_connections: 7 }] } });
    const t = translate(doc);
    expect(clusterLimits(ok(t).clusters[0]!).maxConnections).toBe(7);
    expectWarning(t, `${C0}.circuit_breakers.thresholds[0]`, 'HIGH priority threshold');
  });

  it('max_connections 0 refuses every connection, as in Envoy', () => {
    expect(limitsOf(withCluster({ circuit_breakers: { thresholds: [{ max_connections: 0 }] } })).maxConnections).toBe(0);
  });

  it('rejects a negative max_connections, naming the field', () => {
    expectError(translate(withCluster({ circuit_breakers: { thresholds: [{ max_connections: -1 }] } })), `${C0}.circuit_breakers.thresholds[0].max_connections`, 'out of range');
  });

  it('rejects two thresholds of one priority', () => {
    expectError(
      translate(withCluster({ circuit_breakers: { thresholds: [{ max_connections: 1 }, { priority: 'DEFAULT', max_connections: 2 }] } })),
      `${C0}.circuit_breakers.thresholds[1].priority`,
      'a second threshold for priority DEFAULT',
    );
  });
});

describe('outlier_detection', () => {
  it('a connect failure counts as a 5xx/gateway failure: the smaller threshold given wins', () => {
    expect(limitsOf(withCluster({ outlier_detection: { consecutive_5xx: 7, consecutive_gateway_failure: 3 } })).outlierFailures).toBe(3);
  });

  it('with split_external_local_origin_errors, consecutive_local_origin_failure (default 5) counts', () => {
    expect(limitsOf(withCluster({ outlier_detection: { consecutive_5xx: 2, split_external_local_origin_errors: true } })).outlierFailures).toBe(5);
    expect(limitsOf(withCluster({ outlier_detection: { consecutive_local_origin_failure: 4, split_external_local_origin_errors: true } })).outlierFailures).toBe(4);
  });

  it('rejects a threshold of 0, naming the field', () => {
    expectError(translate(withCluster({ outlier_detection: { consecutive_5xx: 0 } })), `${C0}.outlier_detection.consecutive_5xx`, 'out of range: accepted 1');
  });

  it('rejects a zero base_ejection_time and a max_ejection_percent above 100', () => {
    expectError(translate(withCluster({ outlier_detection: { base_ejection_time: '0s' } })), `${C0}.outlier_detection.base_ejection_time`, 'must be more than 0');
    expectError(translate(withCluster({ outlier_detection: { max_ejection_percent: 101 } })), `${C0}.outlier_detection.max_ejection_percent`, 'out of range');
  });

  it('warns for detectors that need request outcomes', () => {
    expectWarning(translate(withCluster({ outlier_detection: { enforcing_success_rate: 100 } })), `${C0}.outlier_detection.enforcing_success_rate`, 'needs request outcomes');
  });
});

describe('least_request_lb_config', () => {
  it('rejects choice_count below 2 or above the kernel bound, naming the field', () => {
    expectError(translate(withCluster({ lb_policy: 'LEAST_REQUEST', least_request_lb_config: { choice_count: 1 } })), `${C0}.least_request_lb_config.choice_count`, 'out of range');
    expectError(translate(withCluster({ lb_policy: 'LEAST_REQUEST', least_request_lb_config: { choice_count: 9 } })), `${C0}.least_request_lb_config.choice_count`, 'accepted 2 to 8');
  });
});

describe('envoy.filters.network.local_ratelimit', () => {
  it('becomes the listener token bucket; tokens_per_fill defaults to 1', () => {
    const l = ok(translate(withRateLimit({ token_bucket: { max_tokens: 5, fill_interval: '0.5s' } }))).listeners[0]!;
    expect(l.rateLimit).toEqual({ maxTokens: 5, tokensPerFill: 1, fillIntervalMs: 500 });
  });

  it('rejects a missing max_tokens, a zero tokens_per_fill and a fill_interval under 50ms, naming the field', () => {
    expectError(translate(withRateLimit({ token_bucket: { fill_interval: '1s' } })), `${RL}.token_bucket.max_tokens`, 'max_tokens is required');
    expectError(translate(withRateLimit({ token_bucket: { max_tokens: 1, tokens_per_fill: 0, fill_interval: '1s' } })), `${RL}.token_bucket.tokens_per_fill`, 'out of range');
    expectError(translate(withRateLimit({ token_bucket: { max_tokens: 1, fill_interval: '0.01s' } })), `${RL}.token_bucket.fill_interval`, 'at least 50ms');
  });

  it('requires stat_prefix and token_bucket, as Envoy does', () => {
    const doc = withRateLimit({ token_bucket: { max_tokens: 1, fill_interval: '1s' } });
    delete (doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config as Record<string, unknown>).stat_prefix;
    expectError(translate(doc), `${RL}.stat_prefix`, 'stat_prefix is required');
  });
});

describe('records', () => {
  it('one km_cl_limits record per cluster and one km_lsn_limit per rate-limited listener, of the generation', () => {
    const model = ok(translate(withRateLimit({ token_bucket: { max_tokens: 5, fill_interval: '1s' } })));
    const records = encodeModel(model, 7);
    expect(records.clusterLimits).toHaveLength(1);
    expect(decodeClusterKey(records.clusterLimits![0]!.key)).toEqual({ gen: 7, clusterId: records.clusterIds.get('backend') });
    expect(records.clusterLimits![0]!.value.length).toBe(ResilienceStructs.km_cluster_limits.size);
    const v = records.clusterLimits![0]!.value;
    expect(v.readBigUInt64LE(0)).toBe(clusterLoadKey('backend'));
    const maxConnectionsAt = ResilienceStructs.km_cluster_limits.fields.find((f) => f.name === 'max_connections')!.offset;
    expect(v.readUInt32LE(maxConnectionsAt)).toBe(ResilienceDefaults.maxConnections);
    expect(records.listenerLimits).toHaveLength(1);
    expect(decodeListenerKey(records.listenerLimits![0]!.key)).toMatchObject({ gen: 7, address: { ip: '10.96.0.1', port: 80 } });
    expect(records.listenerLimits![0]!.value.readBigUInt64LE(0)).toBe(bucketKey(model.listeners[0]!));
  });

  it('an HTTP listener\'s local_ratelimit (before http_connection_manager) is its token bucket too', () => {
    const doc = withRateLimit({ token_bucket: { max_tokens: 3, fill_interval: '10s' } });
    const filters = doc.static_resources.listeners[0].filter_chains[0].filters;
    filters[1] = {
      name: 'envoy.filters.network.http_connection_manager',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
        stat_prefix: 'web',
        route_config: { name: 'r', virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'backend' } }] }] },
        http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
      },
    };
    const t = translate(doc);
    const model = ok(t);
    expect(model.listeners[0]).toMatchObject({ rateLimit: { maxTokens: 3, tokensPerFill: 1, fillIntervalMs: 10_000 } });
    expect(model.listeners[0]!.http).toBeDefined();
    expect(t.warnings.filter((w) => w.message.includes('local_ratelimit'))).toEqual([]);
    const records = encodeModel(model, 3);
    expect(records.listenerLimits).toHaveLength(1);
    expect(decodeListenerKey(records.listenerLimits![0]!.key)).toMatchObject({ gen: 3, address: { ip: '10.96.0.1', port: 80 } });
  });

  it('stable keys: FNV-1a 64 of the name, the same in every generation', () => {
    expect(fnv1a64('')).toBe(0xcbf29ce484222325n);
    expect(fnv1a64('a')).toBe(0xaf63dc4c8601ec8cn);
    const c: ClusterModel = { name: 'reviews', lbPolicy: 'ROUND_ROBIN', endpoints: [] };
    expect(clusterLoadKey(c.name)).toBe(clusterLoadKey('reviews'));
    expect(clusterLoadKey('reviews')).not.toBe(clusterLoadKey('ratings'));
  });
});
