import { describe, expect, it } from 'vitest';
import { baseDoc, cluster, endpoint, errorsOf, expectError, expectWarning, listener, ok, tcpProxy, translate } from './helpers.js';

const L0 = 'static_resources.listeners[0](name=web)';
const F0 = `${L0}.filter_chains[0].filters[0](name=envoy.filters.network.tcp_proxy)`;

function withFilters(filters: unknown[]) {
  const doc = baseDoc();
  doc.static_resources.listeners[0].filter_chains = [{ filters }];
  return doc;
}

function weighted(clusters: unknown[]) {
  const doc = baseDoc();
  doc.static_resources.listeners[0] = listener('web', '10.96.0.1', 80, { weighted_clusters: { clusters } });
  doc.static_resources.clusters.push(cluster('canary', [endpoint('10.250.2.2')]));
  return doc;
}

describe('listener → model', () => {
  it('a single cluster is a route of weight 1', () => {
    const model = ok(translate(baseDoc()));
    expect(model.listeners).toEqual([{ name: 'web', address: { family: 4, ip: '10.96.0.1', port: 80 }, route: { clusters: [{ name: 'backend', weight: 1 }] } }]);
  });

  it('weighted_clusters keeps names and weights in order', () => {
    const model = ok(translate(weighted([{ name: 'backend', weight: 90 }, { name: 'canary', weight: 10 }])));
    expect(model.listeners[0]!.route.clusters).toEqual([{ name: 'backend', weight: 90 }, { name: 'canary', weight: 10 }]);
  });

  it('an unnamed listener is named after its address', () => {
    const doc = baseDoc();
    delete (doc.static_resources.listeners[0] as any).name;
    expect(ok(translate(doc)).listeners[0]!.name).toBe('10.96.0.1:80');
  });

  it('default_filter_chain alone is used as the one chain', () => {
    const doc = baseDoc();
    const l = doc.static_resources.listeners[0];
    l.default_filter_chain = l.filter_chains[0];
    delete l.filter_chains;
    expect(ok(translate(doc)).listeners[0]!.route.clusters[0]!.name).toBe('backend');
  });
});

describe('filter chains', () => {
  it('an exact listener takes the chain that matches its own address', () => {
    const doc = baseDoc();
    doc.static_resources.listeners[0].filter_chains[0].filter_chain_match = { destination_port: 80 };
    expect(ok(translate(doc)).listeners[0]!.route.clusters[0]!.name).toBe('backend');
  });

  it('accepts an empty filter_chain_match', () => {
    const doc = baseDoc();
    doc.static_resources.listeners[0].filter_chains[0].filter_chain_match = {};
    ok(translate(doc));
  });

  it('rejects two chains with the same matching rules, as Envoy does', () => {
    const doc = baseDoc();
    const l = doc.static_resources.listeners[0];
    l.filter_chains.push(l.filter_chains[0]);
    expectError(translate(doc), `${L0}.filter_chains[1].filter_chain_match`, 'has the same matching rules as "filter_chains[0]"');
  });

  it('rejects a listener without filter chains', () => {
    const doc = baseDoc();
    doc.static_resources.listeners[0].filter_chains = [];
    expectError(translate(doc), `${L0}.filter_chains`, 'the listener needs a filter chain');
  });

  it('rejects TLS termination on the chain', () => {
    const doc = baseDoc();
    doc.static_resources.listeners[0].filter_chains[0].transport_socket = {
      name: 'envoy.transport_sockets.tls',
      typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext' },
    };
    expectError(translate(doc), `${L0}.filter_chains[0].transport_socket`, 'kmesh does not terminate TLS');
  });

  it('rejects an unknown listener filter and warns about tls_inspector', () => {
    const doc = baseDoc();
    doc.static_resources.listeners[0].listener_filters = [
      { name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' } },
      { name: 'envoy.filters.listener.proxy_protocol', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol' } },
    ];
    const t = translate(doc);
    expectWarning(t, `${L0}.listener_filters[0](name=envoy.filters.listener.tls_inspector)`, 'tls_inspector is ignored');
    expectError(t, `${L0}.listener_filters[1](name=envoy.filters.listener.proxy_protocol)`, 'listener filter envoy.filters.listener.proxy_protocol is not supported');
  });
});

const localRateLimit = {
  '@type': 'type.googleapis.com/envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit',
  stat_prefix: 'rl',
  token_bucket: { max_tokens: 10, fill_interval: '1s' },
};

describe('network filters', () => {
  it('http_connection_manager needs rds or route_config', () => {
    const doc = withFilters([
      { name: 'envoy.filters.network.http_connection_manager', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', stat_prefix: 'h' } },
    ]);
    expectError(translate(doc), `${L0}.filter_chains[0].filters[0](name=envoy.filters.network.http_connection_manager).typed_config`, 'http_connection_manager needs rds or route_config');
  });

  it('network RBAC: accepted with a warning that authorization is not enforced', () => {
    const doc = withFilters([
      { name: 'envoy.filters.network.rbac', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC', stat_prefix: 'r' } },
      tcpProxy({ cluster: 'backend' }),
    ]);
    const t = translate(doc);
    expect(ok(t).listeners[0]!.route.clusters[0]!.name).toBe('backend');
    expectWarning(t, `${L0}.filter_chains[0].filters[0](name=envoy.filters.network.rbac)`, 'authorization is not enforced by Kmesh');
  });

  it('keeps local_ratelimit as the listener\'s token bucket and still routes (enforced since issue 6)', () => {
    const doc = withFilters([{ name: 'envoy.filters.network.local_ratelimit', typed_config: localRateLimit }, tcpProxy({ cluster: 'backend' })]);
    const t = translate(doc);
    expect(ok(t).listeners[0]).toMatchObject({ route: { clusters: [{ name: 'backend', weight: 1 }] }, rateLimit: { maxTokens: 10, tokensPerFill: 1, fillIntervalMs: 1000 } });
  });

  it('rejects an unknown filter, naming it and its type URL', () => {
    const doc = withFilters([{ name: 'acme.filter', typed_config: { '@type': 'type.googleapis.com/acme.Filter' } }, tcpProxy({ cluster: 'backend' })]);
    expectError(translate(doc), `${L0}.filter_chains[0].filters[0](name=acme.filter)`, 'network filter acme.filter (type.googleapis.com/acme.Filter) is not supported');
  });

  it('requires tcp_proxy to be last', () => {
    const doc = withFilters([
      tcpProxy({ cluster: 'backend' }),
      { name: 'envoy.filters.network.local_ratelimit', typed_config: localRateLimit },
    ]);
    expectError(translate(doc), `${L0}.filter_chains[0].filters[0]`, 'is a terminal filter and must be the last filter');
  });

  it('requires typed_config', () => {
    const doc = withFilters([{ name: 'envoy.filters.network.tcp_proxy' }]);
    expectError(translate(doc), `${F0}.typed_config`, 'typed_config with an "@type" is required (for envoy.filters.network.tcp_proxy');
  });

  it('rejects Envoy v2 type URLs', () => {
    const doc = withFilters([{ name: 'envoy.tcp_proxy', typed_config: { '@type': 'type.googleapis.com/envoy.config.filter.network.tcp_proxy.v2.TcpProxy', cluster: 'backend' } }]);
    const errors = errorsOf(translate(doc));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ path: `${L0}.filter_chains[0].filters[0](name=envoy.tcp_proxy).typed_config` });
    expect(errors[0]!.message).toContain('Envoy v2 API is not supported; use v3');
  });
});

describe('tcp_proxy', () => {
  it('rejects a cluster that does not exist, listing the defined ones', () => {
    const doc = baseDoc();
    doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.cluster = 'nope';
    expectError(translate(doc), `${F0}.typed_config.cluster`, 'cluster "nope" is not defined; defined clusters: backend');
  });

  it('rejects a weighted cluster that does not exist, at its entry', () => {
    const t = translate(weighted([{ name: 'backend', weight: 1 }, { name: 'ghost', weight: 1 }]));
    expectError(t, `${F0}.typed_config.weighted_clusters.clusters[1](name=ghost).name`, 'cluster "ghost" is not defined');
  });

  it('rejects weights that add up to 0', () => {
    const t = translate(weighted([{ name: 'backend', weight: 0 }, { name: 'canary', weight: 0 }]));
    expectError(t, `${F0}.typed_config.weighted_clusters.clusters`, 'the weights add up to 0');
  });

  it('accepts a weight of 0 next to a positive one', () => {
    const model = ok(translate(weighted([{ name: 'backend', weight: 100 }, { name: 'canary', weight: 0 }])));
    expect(model.listeners[0]!.route.clusters[1]).toEqual({ name: 'canary', weight: 0 });
  });

  it('rejects negative and fractional weights', () => {
    const t = translate(weighted([{ name: 'backend', weight: -1 }, { name: 'canary', weight: 1.5 }]));
    expectError(t, `${F0}.typed_config.weighted_clusters.clusters[0].weight`, '-1 is out of range: accepted 0 to 4294967295');
    expectError(t, `${F0}.typed_config.weighted_clusters.clusters[1].weight`, 'expected an integer from 0 to 4294967295, got number 1.5');
  });

  it('rejects more than 16 weighted clusters', () => {
    const many = Array.from({ length: 17 }, () => ({ name: 'backend', weight: 1 }));
    expectError(translate(weighted(many)), `${F0}.typed_config.weighted_clusters.clusters`, '17 weighted clusters is too many: accepted 1 to 16');
  });

  it('rejects cluster and weighted_clusters together, and neither', () => {
    const both = baseDoc();
    both.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.weighted_clusters = { clusters: [{ name: 'backend', weight: 1 }] };
    expectError(translate(both), `${F0}.typed_config`, 'give either cluster or weighted_clusters, not both');
    const neither = baseDoc();
    delete neither.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.cluster;
    expectError(translate(neither), `${F0}.typed_config`, 'tcp_proxy needs cluster or weighted_clusters');
  });

  it('requires stat_prefix, as Envoy does', () => {
    const doc = baseDoc();
    delete doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.stat_prefix;
    expectError(translate(doc), `${F0}.typed_config.stat_prefix`, 'stat_prefix is required');
  });
});

describe('listeners together', () => {
  it('rejects duplicate listener names', () => {
    const doc = baseDoc();
    doc.static_resources.listeners.push(listener('web', '10.96.0.2', 80, { cluster: 'backend' }));
    expectError(translate(doc), 'static_resources.listeners[1](name=web).name', 'duplicate listener name "web": already defined at static_resources.listeners[0](name=web)');
  });

  it('rejects duplicate listener addresses, also when spelled differently', () => {
    const doc = baseDoc();
    doc.static_resources.listeners[0].address.socket_address.address = 'fd00:96::1';
    doc.static_resources.listeners.push(listener('web2', 'FD00:96:0::1', 80, { cluster: 'backend' }));
    expectError(translate(doc), 'static_resources.listeners[1](name=web2).address', 'duplicate listener address [fd00:96::1]:80');
  });

  it('rejects an IPv4 listener routed to an IPv6 endpoint', () => {
    const doc = baseDoc();
    doc.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints.push(endpoint('fd00:6b6d:1::2'));
    expectError(translate(doc), `${F0}.typed_config.cluster`, 'IPv4 listener 10.96.0.1:80 cannot route to IPv6 endpoint [fd00:6b6d:1::2]:8080 of cluster "backend"');
  });

  it('accepts an IPv6 listener routed to IPv4 endpoints', () => {
    const doc = baseDoc();
    doc.static_resources.listeners[0].address.socket_address.address = 'fd00:96::1';
    ok(translate(doc));
  });

  it('warns when no cluster of a listener can take connections', () => {
    const doc = baseDoc();
    for (const e of doc.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints) e.health_status = 'UNHEALTHY';
    const t = translate(doc);
    ok(t);
    expectWarning(t, L0, 'connects to 10.96.0.1:80 will be refused');
  });
});
