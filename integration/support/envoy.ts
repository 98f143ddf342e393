// Builders for the Envoy v3 bootstrap (static_resources, tcp_proxy subset) the tests feed the
// daemon. The file is written as JSON, which is YAML too.

export interface EndpointSpec {
  address: string;
  port?: number;
  weight?: number;
  health?: 'HEALTHY' | 'UNHEALTHY' | 'DRAINING' | 'TIMEOUT' | 'UNKNOWN' | 'DEGRADED';
}

export type Route = string | { name: string; weight: number }[];

export function listener(name: string, vip: string, port: number, route: Route): object {
  const tcpProxy: Record<string, unknown> = {
    '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
    stat_prefix: name.replace(/[^a-zA-Z0-9_]/g, '_'),
  };
  if (typeof route === 'string') tcpProxy.cluster = route;
  else tcpProxy.weighted_clusters = { clusters: route };
  return {
    name,
    address: { socket_address: { address: vip, port_value: port } },
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: tcpProxy }] }],
  };
}

export function cluster(name: string, lbPolicy: 'ROUND_ROBIN' | 'RANDOM', endpoints: EndpointSpec[]): object {
  return {
    name,
    type: 'STATIC',
    lb_policy: lbPolicy,
    load_assignment: {
      cluster_name: name,
      endpoints: [
        {
          lb_endpoints: endpoints.map((e) => ({
            endpoint: { address: { socket_address: { address: e.address, port_value: e.port ?? 9080 } } },
            ...(e.weight !== undefined ? { load_balancing_weight: e.weight } : {}),
            ...(e.health !== undefined ? { health_status: e.health } : {}),
          })),
        },
      ],
    },
  };
}

export function bootstrap(listeners: object[], clusters: object[]): object {
  return { static_resources: { listeners, clusters } };
}
