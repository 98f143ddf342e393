// xDS resources (proto JSON, snake_case) for the client tests.
export const TCP_PROXY = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';

export function edsCluster(name: string): Record<string, unknown> {
  return { name, type: 'EDS', eds_cluster_config: { eds_config: { ads: {} } }, lb_policy: 'ROUND_ROBIN' };
}

export function staticCluster(name: string, ips: string[], port = 9080): Record<string, unknown> {
  return { name, type: 'STATIC', load_assignment: assignment(name, ips, port) };
}

export function assignment(cluster: string, ips: string[], port = 9080): Record<string, unknown> {
  return {
    cluster_name: cluster,
    endpoints: [{ lb_endpoints: ips.map((ip) => ({ endpoint: { address: { socket_address: { address: ip, port_value: port } } } })) }],
  };
}

export function tcpListener(name: string, vip: string, port: number, cluster: string, protocol?: 'UDP'): Record<string, unknown> {
  return {
    name,
    address: { socket_address: { address: vip, port_value: port, ...(protocol ? { protocol } : {}) } },
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP_PROXY, stat_prefix: name, cluster } }] }],
  };
}
