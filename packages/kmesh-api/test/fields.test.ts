/**
 * Every field of every message the translator reads is translated, accepted,
 * ignored with a warning, or rejected: nothing is dropped silently unless it is harmless.
 */
import { describe, expect, it } from 'vitest';
import { baseDoc, cluster, endpoint, expectError, expectWarning, listener, ok, translate } from './helpers.js';

const L0 = 'static_resources.listeners[0](name=web)';
const FC0 = `${L0}.filter_chains[0]`;
const TP = `${FC0}.filters[0](name=envoy.filters.network.tcp_proxy).typed_config`;
const C0 = 'static_resources.clusters[0](name=backend)';
const LA = `${C0}.load_assignment`;
const G0 = `${LA}.endpoints[0]`;
const E0 = `${G0}.lb_endpoints[0]`;

function withListener(extra: Record<string, unknown>) {
  const doc = baseDoc();
  Object.assign(doc.static_resources.listeners[0], extra);
  return doc;
}
function withChain(extra: Record<string, unknown>) {
  const doc = baseDoc();
  Object.assign(doc.static_resources.listeners[0].filter_chains[0], extra);
  return doc;
}
function withTcpProxy(extra: Record<string, unknown>) {
  const doc = baseDoc();
  Object.assign(doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config, extra);
  return doc;
}
function withCluster(extra: Record<string, unknown>) {
  const doc = baseDoc();
  Object.assign(doc.static_resources.clusters[0], extra);
  return doc;
}
function withLoadAssignment(extra: Record<string, unknown>) {
  const doc = baseDoc();
  Object.assign(doc.static_resources.clusters[0].load_assignment, extra);
  return doc;
}
function withGroup(extra: Record<string, unknown>) {
  const doc = baseDoc();
  Object.assign(doc.static_resources.clusters[0].load_assignment.endpoints[0], extra);
  return doc;
}
const typedPolicy = (...types: string[]) => ({
  load_balancing_policy: {
    policies: types.map((t) => ({ typed_extension_config: { name: t, typed_config: { '@type': `type.googleapis.com/envoy.extensions.load_balancing_policies.${t}` } } })),
  },
});

describe('harmless fields are accepted silently', () => {
  it('listener, chain, tcp_proxy, cluster and endpoint bookkeeping fields give no diagnostic', () => {
    const doc = baseDoc();
    Object.assign(doc.static_resources.listeners[0], { stat_prefix: 's', per_connection_buffer_limit_bytes: 32768, traffic_direction: 'OUTBOUND', metadata: {} });
    Object.assign(doc.static_resources.listeners[0].filter_chains[0], { name: 'only' });
    Object.assign(doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config, { access_log_options: {} });
    Object.assign(doc.static_resources.clusters[0], { alt_stat_name: 'b', per_connection_buffer_limit_bytes: 1024, dns_refresh_rate: '5s' });
    Object.assign(doc.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0], { metadata: { filter_metadata: {} } });
    Object.assign(doc.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint, { hostname: 'pod-a' });
    const t = translate(doc);
    ok(t);
    expect(t.warnings).toEqual([]);
  });

  it('an unset rejected field (false, {}, []) is not reported', () => {
    const t = translate(withChain({ use_proxy_proto: false }));
    ok(t);
    expect(ok(translate(withCluster({ lb_subset_config: {} })))).toBeDefined();
  });
});

describe('unknown fields are rejected by name, as Envoy rejects them', () => {
  it.each([
    ['listener', withListener({ acme_mode: true }), `${L0}.acme_mode`, 'envoy.config.listener.v3.Listener'],
    ['filter chain', withChain({ acme_mode: true }), `${FC0}.acme_mode`, 'envoy.config.listener.v3.FilterChain'],
    ['tcp_proxy', withTcpProxy({ acme_mode: true }), `${TP}.acme_mode`, 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy'],
    ['cluster', withCluster({ acme_mode: true }), `${C0}.acme_mode`, 'envoy.config.cluster.v3.Cluster'],
    ['load assignment', withLoadAssignment({ acme_mode: true }), `${LA}.acme_mode`, 'envoy.config.endpoint.v3.ClusterLoadAssignment'],
    ['locality group', withGroup({ acme_mode: true }), `${G0}.acme_mode`, 'envoy.config.endpoint.v3.LocalityLbEndpoints'],
    ['locality', withGroup({ locality: { zone: 'a', acme_mode: 'x' } }), `${G0}.locality.acme_mode`, 'envoy.config.core.v3.Locality'],
  ])('%s', (_what, doc, path, message) => {
    expectError(translate(doc), path, `unknown field acme_mode: not a field of ${message}`);
  });

  it('lb_endpoint and endpoint', () => {
    const doc = baseDoc();
    const e = doc.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0];
    e.acme_mode = 1;
    e.endpoint.acme_mode = 1;
    const t = translate(doc);
    expectError(t, `${E0}.acme_mode`, 'not a field of envoy.config.endpoint.v3.LbEndpoint');
    expectError(t, `${E0}.endpoint.acme_mode`, 'not a field of envoy.config.endpoint.v3.Endpoint');
  });

  it('a camelCase field is reported under its snake_case name', () => {
    expectError(translate(withListener({ filterChainMatcher: { matcher_tree: {} } })), `${L0}.filter_chain_matcher`, 'filter_chain_matcher is not supported');
  });
});

describe('listener and filter chain', () => {
  it('rejects filter_chain_matcher: it picks the chain of each connection', () => {
    expectError(translate(withListener({ filter_chain_matcher: { matcher_tree: {} } })), `${L0}.filter_chain_matcher`, 'ignoring it would send every connection down one chain');
  });

  it('rejects api_listener and internal_listener', () => {
    expectError(translate(withListener({ api_listener: { api_listener: {} } })), `${L0}.api_listener`, 'api_listener is not supported');
    // An internal listener is not on the connect() path: accepted, left out, with a warning.
    const t = translate(withListener({ internal_listener: {} }));
    expect(t.ok && t.model.listeners).toEqual([]);
    expectWarning(t, `${L0}.internal_listener`, 'internal listener');
  });

  it('warns on socket options, which do not change where traffic goes', () => {
    const t = translate(withListener({ socket_options: [{ level: 1, name: 9, int_value: 1 }], access_log: [{ name: 'x' }] }));
    ok(t);
    expectWarning(t, `${L0}.socket_options`, 'socket_options is not supported and is ignored');
    expectWarning(t, `${L0}.access_log`, 'access_log is not supported and is ignored: kmesh writes no access log');
  });

  it('rejects use_proxy_proto on the chain: the header would reach the endpoint', () => {
    expectError(translate(withChain({ use_proxy_proto: true })), `${FC0}.use_proxy_proto`, 'the header would reach the endpoint as data');
  });

  it('rejects an unknown field of a network filter entry', () => {
    const doc = baseDoc();
    doc.static_resources.listeners[0].filter_chains[0].filters[0].acme = 1;
    expectError(translate(doc), `${FC0}.filters[0](name=envoy.filters.network.tcp_proxy).acme`, 'not a field of envoy.config.listener.v3.Filter');
  });
});

describe('tcp_proxy', () => {
  it('accepts hash_policy (RING_HASH/MAGLEV hash the client source, issue 6) and warns on idle_timeout', () => {
    const t = translate(withTcpProxy({ hash_policy: [{ source_ip: {} }], idle_timeout: '10s' }));
    ok(t);
    expect(t.warnings.filter((w) => w.path === `${TP}.hash_policy`)).toEqual([]);
    expectWarning(t, `${TP}.idle_timeout`, 'idle_timeout is not supported and is ignored: idle connections are not closed');
  });

  it('rejects tunneling_config and metadata_match with the reason', () => {
    expectError(translate(withTcpProxy({ tunneling_config: { hostname: 'h' } })), `${TP}.tunneling_config`, 'kmesh does not tunnel TCP over HTTP');
    expectError(translate(withTcpProxy({ metadata_match: { filter_metadata: { m: {} } } })), `${TP}.metadata_match`, 'selects a subset');
  });

  it('rejects an unknown field of a weighted cluster entry', () => {
    const doc = baseDoc();
    doc.static_resources.listeners[0] = listener('web', '10.96.0.1', 80, { weighted_clusters: { clusters: [{ name: 'backend', weight: 1, acme: 2 }] } });
    expectError(translate(doc), `${TP}.weighted_clusters.clusters[0].acme`, 'unknown field acme');
  });
});

describe('weighted_clusters naming one cluster twice', () => {
  function twice() {
    const doc = baseDoc();
    doc.static_resources.listeners[0] = listener('web', '10.96.0.1', 80, {
      weighted_clusters: { clusters: [{ name: 'backend', weight: 30 }, { name: 'canary', weight: 50 }, { name: 'backend', weight: 20 }] },
    });
    doc.static_resources.clusters.push(cluster('canary', [endpoint('10.250.2.2')]));
    return doc;
  }

  it('adds the weights: the cluster gets the same share of connections as in Envoy', () => {
    const t = translate(twice());
    expect(ok(t).listeners[0]!.route.clusters).toEqual([{ name: 'backend', weight: 50 }, { name: 'canary', weight: 50 }]);
    expectWarning(t, `${TP}.weighted_clusters.clusters[2](name=backend)`, 'listed more than once in weighted_clusters: its weights are added (50 in total)');
  });
});

describe('cluster', () => {
  it('rejects lb_subset_config', () => {
    expectError(translate(withCluster({ lb_subset_config: { fallback_policy: 'ANY_ENDPOINT' } })), `${C0}.lb_subset_config`, 'endpoint subsets change which endpoints get traffic');
  });

  it('warns on upstream_bind_config and common_lb_config fields other than locality weights', () => {
    const t = translate(withCluster({ upstream_bind_config: { source_address: { address: '10.0.0.1', port_value: 0 } }, common_lb_config: { healthy_panic_threshold: { value: 50 } } }));
    ok(t);
    expectWarning(t, `${C0}.upstream_bind_config`, 'upstream_bind_config is not supported and is ignored');
    expectWarning(t, `${C0}.common_lb_config.healthy_panic_threshold`, 'healthy_panic_threshold is not supported and is ignored');
  });

  it('rejects an unknown common_lb_config field', () => {
    expectError(translate(withCluster({ common_lb_config: { acme: 1 } })), `${C0}.common_lb_config.acme`, 'CommonLbConfig');
  });
});

describe('cluster load_balancing_policy', () => {
  it('maps the typed round_robin and random policies', () => {
    expect(ok(translate(withCluster(typedPolicy('random.v3.Random')))).clusters[0]!.lbPolicy).toBe('RANDOM');
    expect(ok(translate(withCluster({ lb_policy: 'LOAD_BALANCING_POLICY_CONFIG', ...typedPolicy('round_robin.v3.RoundRobin') }))).clusters[0]!.lbPolicy).toBe('ROUND_ROBIN');
  });

  it('takes the first policy it knows, as Envoy takes the first it supports', () => {
    const t = translate(withCluster(typedPolicy('acme.v3.Acme', 'random.v3.Random')));
    expect(ok(t).clusters[0]!.lbPolicy).toBe('RANDOM');
  });

  it('accepts least_request, as lb_policy LEAST_REQUEST (enforced since issue 6)', () => {
    const t = translate(withCluster(typedPolicy('least_request.v3.LeastRequest')));
    expect(ok(t).clusters[0]!.lbPolicy).toBe('LEAST_REQUEST');
  });

  it('rejects any other typed policy', () => {
    expectError(
      translate(withCluster(typedPolicy('client_side_weighted_round_robin.v3.ClientSideWeightedRoundRobin'))),
      `${C0}.load_balancing_policy.policies`,
      'ignoring it would change which endpoint gets each connection',
    );
  });
});

describe('load assignment', () => {
  it('rejects leds_cluster_locality_config: the endpoints would come from a server', () => {
    expectError(translate(withGroup({ leds_cluster_locality_config: { leds_collection_name: 'x' } })), `${G0}.leds_cluster_locality_config`, 'LEDS server');
  });

  it('warns on an overprovisioning_factor other than 140, the one priority failover uses (issue 6)', () => {
    const t = translate(withLoadAssignment({ policy: { overprovisioning_factor: 120 } }));
    ok(t);
    expectWarning(t, `${LA}.policy.overprovisioning_factor`, 'overprovisioning_factor 120 is not supported and is ignored');
    expect(translate(withLoadAssignment({ policy: { overprovisioning_factor: 140 } })).warnings).toEqual([]);
  });
});
