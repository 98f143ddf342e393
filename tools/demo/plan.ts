// What the demo needs to know from the mesh config: which backends to run (one per endpoint address, named
// after its cluster and index) and, per listener, which share of the connections each backend should get.
// Everything is derived from @kmesh/api's model, so editing the YAML keeps the demo consistent.
import { acceptsConnections, usableEndpoints, type ClusterModel, type EndpointModel, type ListenerModel, type MeshModel, type SocketAddress } from '@kmesh/api';

export interface Backend {
  /** The cluster's name when it has one endpoint, else `<cluster>-<1-based index>`: what the backend answers. */
  name: string;
  cluster: string;
  address: SocketAddress;
  health: EndpointModel['health'];
}

export interface ExpectedShare {
  backend: string;
  /** 0..1 of the listener's connections. */
  share: number;
  /** Why it is what it is, for the table ("70% × 1/1", "unhealthy"). */
  note: string;
}

export interface ServicePlan {
  listener: string;
  vip: SocketAddress;
  /** Every backend the route can reach, including those that must get nothing (unhealthy). */
  expected: ExpectedShare[];
  /** The route in a few words: "reviews-v1 70 · reviews-v2 20 · reviews-v3 10 (round robin)". */
  route: string;
  /** Share of connections that must fail because a routed cluster has no usable endpoint (normally 0). */
  expectedFailureShare: number;
  /** One usable backend of the service, same address family as the VIP when there is one: the latency baseline. */
  direct: Backend | undefined;
}

export interface DemoPlan {
  backends: Backend[];
  services: ServicePlan[];
}

/** Which endpoint addresses one backend process answers on (default: exactly one address each). */
export type BackendIdentity = (a: SocketAddress) => string;

const addressKey: BackendIdentity = (a) => `${a.family}|${a.ip}|${a.port}`;

const isUsable = (e: EndpointModel): boolean => acceptsConnections[e.health];

/** The endpoints the kernel gets: usable ones of the lowest priority that has any (as @kmesh/api encodes). */
function activeEndpoints(cluster: ClusterModel): EndpointModel[] {
  return usableEndpoints(cluster).endpoints;
}

export function planDemo(model: MeshModel, identify: BackendIdentity = addressKey): DemoPlan {
  const clusters = new Map(model.clusters.map((c) => [c.name, c]));
  const backendsByKey = new Map<string, Backend>();
  for (const cluster of model.clusters) {
    cluster.endpoints.forEach((endpoint, index) => {
      const key = identify(endpoint.address);
      // Two endpoints may share a backend (two clusters, or the v4 and v6 address of one lab host):
      // it is named after the first.
      if (!backendsByKey.has(key)) {
        const name = cluster.endpoints.length === 1 ? cluster.name : `${cluster.name}-${index + 1}`;
        backendsByKey.set(key, { name, cluster: cluster.name, address: endpoint.address, health: endpoint.health });
      }
    });
  }
  const backendAt = (a: SocketAddress): Backend => backendsByKey.get(identify(a))!;
  return {
    backends: [...backendsByKey.values()],
    services: model.listeners.map((listener) => planService(listener, clusters, backendAt)),
  };
}

function planService(listener: ListenerModel, clusters: Map<string, ClusterModel>, backendAt: (a: SocketAddress) => Backend): ServicePlan {
  const totalWeight = listener.route.clusters.reduce((sum, c) => sum + c.weight, 0);
  const shares = new Map<string, ExpectedShare>();
  let expectedFailureShare = 0;

  for (const routed of listener.route.clusters) {
    const cluster = clusters.get(routed.name);
    if (!cluster) throw new Error(`listener ${listener.name} routes to cluster ${routed.name}, which the model does not define`);
    const clusterShare = totalWeight > 0 ? routed.weight / totalWeight : 0;
    const active = new Set(activeEndpoints(cluster));
    const activeWeight = [...active].reduce((sum, e) => sum + e.weight, 0);
    if (active.size === 0) expectedFailureShare += clusterShare;

    for (const endpoint of cluster.endpoints) {
      const backend = backendAt(endpoint.address);
      const share = active.has(endpoint) ? clusterShare * (endpoint.weight / activeWeight) : 0;
      const note = !isUsable(endpoint)
        ? `${endpoint.health}: no new connections`
        : active.has(endpoint)
          ? `${cluster.name} ${pct(clusterShare)} × weight ${endpoint.weight}/${activeWeight}`
          : `standby: priority ${endpoint.priority} is used only when the lower ones fail`;
      const row = shares.get(backend.name);
      if (row) {
        row.share += share;
        row.note += `; ${note}`;
      } else {
        shares.set(backend.name, { backend: backend.name, share, note });
      }
    }
  }
  // The latency baseline is a backend of the heaviest routed cluster, in the VIP's address family when possible.
  const candidates = [...listener.route.clusters]
    .sort((a, b) => b.weight - a.weight)
    .flatMap((routed) => activeEndpoints(clusters.get(routed.name)!))
    .map((endpoint) => backendAt(endpoint.address));
  const direct = candidates.find((b) => b.address.family === listener.address.family) ?? candidates[0];
  return { listener: listener.name, vip: listener.address, route: describeRoute(listener, clusters), expected: [...shares.values()], expectedFailureShare, direct };
}

const POLICY_WORDS: Record<ClusterModel['lbPolicy'], string> = {
  ROUND_ROBIN: 'round robin',
  RANDOM: 'random',
  LEAST_REQUEST: 'least request',
  RING_HASH: 'ring hash',
  MAGLEV: 'maglev',
};

function describeRoute(listener: ListenerModel, clusters: Map<string, ClusterModel>): string {
  const routed = listener.route.clusters;
  const policies = [...new Set(routed.map((r) => POLICY_WORDS[clusters.get(r.name)!.lbPolicy]))].join('/');
  const targets = routed.length === 1 ? routed[0].name : routed.map((r) => `${r.name} ${r.weight}`).join(' · ');
  return `${targets} (${policies})`;
}

function pct(x: number): string {
  return `${Math.round(x * 1000) / 10}%`;
}
