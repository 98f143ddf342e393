import { describe, expect, it } from 'vitest';
import { loadConfigDump, loadConfigText, translateXdsResources, type XdsResources } from '../src/index.js';
import { endpoint, tcpProxyType } from './helpers.js';

const hcmType = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const reviews = 'outbound|9080||reviews.default.svc.cluster.local';

function edsCluster(name: string, extra: Record<string, unknown> = {}) {
  return { name, type: 'EDS', eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: name }, ...extra };
}
function cla(name: string, ips: string[]) {
  return { cluster_name: name, endpoints: [{ locality: { region: 'r1' }, lb_endpoints: ips.map((ip) => endpoint(ip, 9080)) }] };
}
function tcp(cluster: string) {
  return { name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': tcpProxyType, stat_prefix: cluster, cluster } };
}
function rds(name: string) {
  return { name: 'envoy.filters.network.http_connection_manager', typed_config: { '@type': hcmType, stat_prefix: 'h', rds: { config_source: { ads: {} }, route_config_name: name } } };
}
function exactListener(name: string, ip: string, port: number, filters: unknown[]) {
  return { name, address: { socket_address: { address: ip, port_value: port } }, filter_chains: [{ filters }] };
}
function resources(parts: Partial<Record<keyof XdsResources, Record<string, unknown>>>): XdsResources {
  const map = (o?: Record<string, unknown>) => new Map(Object.entries(o ?? {}));
  return { listeners: map(parts.listeners), clusters: map(parts.clusters), endpoints: map(parts.endpoints), routes: map(parts.routes) };
}
const outcome = (t: ReturnType<typeof translateXdsResources>, kind: string, name: string) => t.outcomes.find((o) => o.kind === kind && o.name === name)!;

describe('translateXdsResources', () => {
  it('an EDS cluster takes the endpoints of its ClusterLoadAssignment', () => {
    const t = translateXdsResources(
      resources({ clusters: { [reviews]: edsCluster(reviews) }, endpoints: { [reviews]: cla(reviews, ['10.250.1.2', '10.250.1.3']) }, listeners: { l: exactListener('l', '10.96.0.9', 9080, [tcp(reviews)]) } }),
    );
    expect(t.model.clusters[0]!.endpoints.map((e) => e.address.ip)).toEqual(['10.250.1.2', '10.250.1.3']);
    expect(t.model.clusters[0]!.endpoints[0]!.locality).toBe('r1//');
    expect(t.model.listeners[0]!.route.clusters).toEqual([{ name: reviews, weight: 1 }]);
    expect(t.outcomes.every((o) => o.errors.length === 0)).toBe(true);
  });

  it('an EDS cluster without its ClusterLoadAssignment is warming, and so is a listener routing to it', () => {
    const t = translateXdsResources(resources({ clusters: { [reviews]: edsCluster(reviews) }, listeners: { l: exactListener('l', '10.96.0.9', 9080, [tcp(reviews)]) } }));
    expect(t.warming).toEqual({ clusters: [reviews], listeners: ['l'] });
    expect(t.model).toEqual({ listeners: [], clusters: [] });
    expect(outcome(t, 'cluster', reviews).errors).toEqual([]);
  });

  it('a rejected cluster: its outcome says why at a path rooted at the resource; a listener routing to it is an error', () => {
    const t = translateXdsResources(
      resources({ clusters: { [reviews]: edsCluster(reviews, { lb_policy: 'NO_SUCH' }) }, endpoints: { [reviews]: cla(reviews, ['10.250.1.2']) }, listeners: { l: exactListener('l', '10.96.0.9', 9080, [tcp(reviews)]) } }),
    );
    expect(outcome(t, 'cluster', reviews).errors[0]).toMatchObject({ path: `cluster(${reviews}).lb_policy`, message: expect.stringContaining('unknown lb_policy "NO_SUCH"') });
    expect(outcome(t, 'listener', 'l').errors[0]!.message).toContain(`cluster "${reviews}" was rejected`);
    expect(t.model.listeners).toEqual([]);
  });

  it('a listener whose RDS route configuration has not arrived is warming; once it has, the listener is in the model with its route name', () => {
    const l = { listeners: { web: exactListener('web', '10.96.0.9', 80, [rds('80')]) } };
    expect(translateXdsResources(resources(l)).warming.listeners).toEqual(['web']);
    const t = translateXdsResources(resources({ ...l, routes: { '80': { name: '80', virtual_hosts: [] } } }));
    expect(t.model.listeners[0]).toMatchObject({ name: 'web', route: { clusters: [] }, http: { routeConfigName: '80' } });
    expect(t.model.routes).toEqual([{ name: '80', virtualHosts: [] }]);
    // HTTP routing is enforced by the L7 path now: no "not enforced" warning.
    expect(outcome(t, 'listener', 'web').warnings.some((w) => w.message.includes('not enforced'))).toBe(false);
  });

  it('a listener routing to a missing cluster gets an error outcome', () => {
    const t = translateXdsResources(resources({ listeners: { l: exactListener('l', '10.96.0.9', 80, [tcp('nope')]) } }));
    expect(outcome(t, 'listener', 'l').errors[0]).toMatchObject({ path: 'listener(l).filter_chains[0].filters[0](name=envoy.filters.network.tcp_proxy).typed_config.cluster', message: expect.stringContaining('"nope" is not defined') });
  });

  it('reads what @grpc/proto-loader decodes: wrappers, {seconds, nanos} and oneof virtual fields', () => {
    const cluster = {
      ...edsCluster(reviews),
      cluster_discovery_type: 'type',
      connect_timeout: { seconds: 1, nanos: 500000000 },
      circuit_breakers: { thresholds: [{ max_connections: { value: 7 } }] },
    };
    const endpoints = {
      cluster_name: reviews,
      endpoints: [{ lb_endpoints: [{ host_identifier: 'endpoint', endpoint: { address: { address: 'socket_address', socket_address: { address: '10.250.1.2', port_value: 9080, port_specifier: 'port_value' } } }, load_balancing_weight: { value: 3 } }] }],
    };
    const listener = {
      name: 'virtualOutbound',
      address: { address: 'socket_address', socket_address: { address: '0.0.0.0', port_value: 15001, port_specifier: 'port_value' } },
      use_original_dst: { value: true },
      filter_chains: [{ filters: [{ name: 'envoy.filters.network.tcp_proxy', config_type: 'typed_config', typed_config: { '@type': tcpProxyType, stat_prefix: 's', cluster_specifier: 'cluster', cluster: reviews } }] }],
    };
    const t = translateXdsResources(resources({ clusters: { [reviews]: cluster }, endpoints: { [reviews]: endpoints }, listeners: { virtualOutbound: listener } }));
    expect(t.outcomes.flatMap((o) => o.errors)).toEqual([]);
    expect(t.model.clusters[0]).toMatchObject({ connectTimeoutMs: 1500, circuitBreakers: [{ maxConnections: 7 }], endpoints: [{ weight: 3 }] });
    expect(t.model.listeners[0]).toMatchObject({ virtual: true, filterChains: [{ action: { kind: 'tcp_proxy' } }] });
  });
});

describe('wildcard listeners and filter chains', () => {
  const passthrough = { name: 'PassthroughCluster', type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED' };
  const blackhole = { name: 'BlackHoleCluster', type: 'STATIC' };
  const clusters = { PassthroughCluster: passthrough, BlackHoleCluster: blackhole, [reviews]: edsCluster(reviews) };
  const endpoints = { [reviews]: cla(reviews, ['10.250.1.2']) };

  it('chains become FilterChainModels; ALPN/SNI/tls need bytes; the default chain has no match', () => {
    const listener = {
      name: '0.0.0.0_9080',
      address: { socket_address: { address: '0.0.0.0', port_value: 9080 } },
      filter_chains: [
        { name: 'vip', filter_chain_match: { prefix_ranges: [{ address_prefix: '10.96.0.0', prefix_len: 16 }], destination_port: 9080 }, filters: [tcp(reviews)] },
        { name: 'http', filter_chain_match: { transport_protocol: 'raw_buffer', application_protocols: ['http/1.1', 'h2c'] }, filters: [rds('9080')] },
        { name: 'sni', filter_chain_match: { server_names: ['a.example'] }, filters: [tcp(reviews)] },
        { name: 'tls', filter_chain_match: { transport_protocol: 'tls' }, filters: [tcp('BlackHoleCluster')] },
      ],
      default_filter_chain: { name: 'PassthroughFilterChain', filter_chain_match: {}, filters: [tcp('PassthroughCluster')] },
    };
    const t = translateXdsResources(resources({ clusters, endpoints, listeners: { '0.0.0.0_9080': listener }, routes: { '9080': { name: '9080' } } }));
    expect(t.outcomes.flatMap((o) => o.errors)).toEqual([]);
    const chains = t.model.listeners[0]!.filterChains!;
    expect(chains.map((c) => [c.name, c.action.kind, c.kernelMatchable])).toEqual([
      ['vip', 'tcp_proxy', true],
      ['http', 'http', false],
      ['sni', 'tcp_proxy', false],
      ['tls', 'blackhole', false],
      ['PassthroughFilterChain', 'passthrough', true],
    ]);
    expect(chains[0]!.match).toEqual({ prefixRanges: [{ family: 4, ip: '10.96.0.0', prefixLen: 16 }], destinationPort: 9080 });
    expect(chains[4]!.match).toEqual({ prefixRanges: [] });
    expect(t.model.listeners[0]!.route).toEqual({ clusters: [] });
    // Said once per listener, not per chain or route.
    const w = outcome(t, 'listener', '0.0.0.0_9080').warnings;
    expect(w.filter((x) => x.message.includes('not enforced'))).toHaveLength(0);
    expect(w.filter((x) => x.message.includes('the kernel cannot match'))).toHaveLength(1);
  });

  it('two chains with the same prefix range and criteria are an error, as in Envoy', () => {
    const chain = (name: string) => ({ name, filter_chain_match: { prefix_ranges: [{ address_prefix: '10.96.0.1', prefix_len: 32 }] }, filters: [tcp(reviews)] });
    const listener = { name: 'w', address: { socket_address: { address: '0.0.0.0', port_value: 80 } }, filter_chains: [chain('a'), chain('b')] };
    const t = translateXdsResources(resources({ clusters, endpoints, listeners: { w: listener } }));
    expect(outcome(t, 'listener', 'w').errors[0]).toMatchObject({ path: 'listener(w).filter_chains[1](name=b).filter_chain_match', message: expect.stringContaining('same matching rules as "a" (destination 10.96.0.1/32)') });
    // Same prefix, different ALPN: distinct rules.
    const other = { ...chain('b'), filter_chain_match: { ...chain('b').filter_chain_match, application_protocols: ['h2c'] } };
    const ok = translateXdsResources(resources({ clusters, endpoints, listeners: { w: { ...listener, filter_chains: [chain('a'), other] } } }));
    expect(outcome(ok, 'listener', 'w').errors).toEqual([]);
  });

  it('an exact listener with an HTTP chain and a tcp_proxy default routes at L4 by the default and keeps the HTTP part', () => {
    const listener = {
      name: '10.96.0.9_9080',
      address: { socket_address: { address: '10.96.0.9', port_value: 9080 } },
      filter_chains: [{ filter_chain_match: { transport_protocol: 'raw_buffer', application_protocols: ['http/1.1'] }, filters: [rds('reviews')] }],
      default_filter_chain: { filters: [tcp(reviews)] },
    };
    const t = translateXdsResources(resources({ clusters, endpoints, listeners: { l: { ...listener, name: 'l' } }, routes: { reviews: { name: 'reviews' } } }));
    expect(t.model.listeners[0]).toMatchObject({ route: { clusters: [{ name: reviews, weight: 1 }] }, http: { routeConfigName: 'reviews' } });
    expect(t.model.listeners[0]!.filterChains).toBeUndefined();
  });

  it('inbound listeners are accepted with a warning and left out', () => {
    const inbound = { name: 'virtualInbound', address: { socket_address: { address: '0.0.0.0', port_value: 15006 } }, traffic_direction: 'INBOUND', filter_chains: [{ filters: [{ name: 'istio_authn', typed_config: { '@type': 'x' } }] }] };
    const t = translateXdsResources(resources({ listeners: { virtualInbound: inbound } }));
    expect(outcome(t, 'listener', 'virtualInbound')).toMatchObject({ errors: [], warnings: [{ message: expect.stringContaining('inbound listener') }] });
    expect(t.model.listeners).toEqual([]);
  });
});

describe('route configurations', () => {
  it('virtual hosts, matches, header matchers and actions', () => {
    const rc = {
      name: '9080',
      virtual_hosts: [
        {
          name: 'reviews:9080',
          domains: ['reviews', 'reviews:9080'],
          routes: [
            {
              name: 'v2',
              match: {
                prefix: '/',
                case_sensitive: false,
                headers: [
                  { name: 'end-user', string_match: { exact: 'jason' } },
                  { name: 'x-old', exact_match: 'a', invert_match: true },
                  { name: 'x-absent', present_match: false },
                  { name: 'ua', safe_regex_match: { regex: '.*Firefox.*' } },
                ],
              },
              route: { weighted_clusters: { clusters: [{ name: 'v1', weight: { value: 80 } }, { name: 'v2', weight: 20 }] } },
            },
            { match: { path: '/health' }, direct_response: { status: 200 } },
            { match: { safe_regex: { regex: '/old/.*' } }, redirect: { path_redirect: '/new' } },
            { match: { prefix: '/r' }, route: { cluster: 'v1' } },
          ],
        },
      ],
    };
    const t = translateXdsResources(resources({ routes: { '9080': rc } }));
    const vh = t.model.routes![0]!.virtualHosts[0]!;
    expect(vh.domains).toEqual(['reviews', 'reviews:9080']);
    expect(vh.routes[0]).toEqual({
      name: 'v2',
      match: {
        prefix: '/',
        caseSensitive: false,
        headers: [
          { name: 'end-user', kind: 'exact', value: 'jason', invert: false },
          { name: 'x-old', kind: 'exact', value: 'a', invert: true },
          { name: 'x-absent', kind: 'present', invert: true },
          { name: 'ua', kind: 'regex', value: '.*Firefox.*', invert: false },
        ],
      },
      action: { kind: 'weighted', route: { clusters: [{ name: 'v1', weight: 80 }, { name: 'v2', weight: 20 }] } },
    });
    expect(vh.routes.slice(1).map((r) => [r.match, r.action])).toEqual([
      [{ path: '/health', caseSensitive: true, headers: [] }, { kind: 'direct_response', status: 200 }],
      // issue 4: a redirect keeps its status (Envoy's default 301) and the Location it names.
      [{ safeRegex: '/old/.*', caseSensitive: true, headers: [] }, { kind: 'redirect', status: 301, location: '/new' }],
      [{ prefix: '/r', caseSensitive: true, headers: [] }, { kind: 'cluster', cluster: 'v1' }],
    ]);
    // Routes name clusters that are not defined here: a warning (routes are not enforced), not a rejection.
    expect(outcome(t, 'route', '9080')).toMatchObject({ errors: [], warnings: [{ message: expect.stringContaining('"v1" is not defined') }, expect.anything(), expect.anything()] });
  });

  it('an inline route_config is kept on the listener', () => {
    const hcm = { name: 'h', typed_config: { '@type': hcmType, stat_prefix: 'h', route_config: { name: 'local', virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, direct_response: { status: 403 } }] }] } } };
    const t = translateXdsResources(resources({ listeners: { l: exactListener('l', '10.96.0.9', 80, [hcm]) } }));
    expect(t.model.listeners[0]!.http!.routeConfig!.virtualHosts[0]!.routes[0]!.action).toEqual({ kind: 'direct_response', status: 403 });
  });
});

describe('config_dump and resource files', () => {
  const dump = {
    configs: [
      { '@type': 'type.googleapis.com/envoy.admin.v3.BootstrapConfigDump', bootstrap: {} },
      { '@type': 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump', dynamic_listeners: [{ name: 'l', active_state: { listener: { '@type': 'type.googleapis.com/envoy.config.listener.v3.Listener', ...exactListener('l', '10.96.0.9', 9080, [tcp(reviews)]) } } }, { name: 'bad', error_state: { details: 'boom' } }] },
      { '@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump', dynamic_active_clusters: [{ cluster: { '@type': 'type.googleapis.com/envoy.config.cluster.v3.Cluster', ...edsCluster(reviews) } }] },
      { '@type': 'type.googleapis.com/envoy.admin.v3.EndpointsConfigDump', dynamic_endpoint_configs: [{ endpoint_config: { '@type': 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment', ...cla(reviews, ['10.250.1.2']) } }] },
    ],
  };

  it('loadConfigDump reports resource by resource', () => {
    const r = loadConfigDump(JSON.stringify(dump), 'dump.json');
    expect(r.ok).toBe(true);
    expect(r.outcomes.map((o) => `${o.kind}:${o.name}:${o.errors.length}`)).toEqual([`cluster:${reviews}:0`, `endpoint:${reviews}:0`, 'listener:l:0']);
    expect(r.warnings[0]!.message).toContain('Envoy rejected this listener: boom');
    expect(r.model.listeners[0]!.route.clusters[0]!.name).toBe(reviews);
  });

  it('loadConfigText detects a config_dump and attaches the per-resource report', () => {
    const t = loadConfigText(JSON.stringify(dump), 'dump.json');
    expect(t.ok).toBe(true);
    expect(t.resources!.outcomes).toHaveLength(3);
  });

  it('reads a filesystem xDS resource file', () => {
    const text = `resources:
- "@type": type.googleapis.com/envoy.config.cluster.v3.Cluster
  name: b
  load_assignment:
    cluster_name: b
    endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 10.250.1.2, port_value: 80}}}}]}]
- "@type": type.googleapis.com/envoy.config.listener.v3.Listener
  name: l
  address: {socket_address: {address: 10.96.0.1, port_value: 80}}
  filter_chains: [{filters: [{name: t, typed_config: {"@type": ${tcpProxyType}, stat_prefix: s, cluster: b}}]}]
`;
    const t = loadConfigText(text, 'lds.yaml');
    expect(t.ok && t.model.listeners[0]!.route).toEqual({ clusters: [{ name: 'b', weight: 1 }] });
  });
});
