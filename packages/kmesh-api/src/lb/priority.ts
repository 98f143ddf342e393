/**
 * Priority levels, locality weights and node locality, flattened into one weight per endpoint.
 *
 * Envoy decides per connection: first a priority level (by the levels' health), then a locality
 * (by locality weight x availability, with locality_weighted_lb_config), then an endpoint. kmesh
 * computes the same shares in the daemon and hands the kernel one weight per endpoint, so
 * connect() keeps its single bounded bisection (or table lookup) whatever the topology. The
 * shares change only when health, weights or ejections change; the daemon recomputes then.
 *
 * Priority load (Envoy's rule, overprovisioning factor 1.4 = 140 %):
 *   health(P)  = min(100, floor(140 x healthy(P) / total(P)))            percent, host counts
 *   total      = min(100, sum of health(P))
 *   load(P)    = min(left, floor(health(P) x 100 / total)), left -= load(P), in priority order
 *   rounding leftovers go to the first level with health; no healthy endpoint: no load at all.
 * So a level takes everything while at least 1/1.4 (~72 %) of it is healthy, then spills over.
 *
 * Node locality (kmesh run --locality region/zone/sub_zone, or node.locality): each priority is
 * split into proximity tiers, same sub_zone, same zone, same region, elsewhere, which then act as
 * successive levels of the rule above (as Istio's locality failover does).
 */
import { acceptsConnections } from '../endpoints.js';
import type { ClusterModel, EndpointModel } from '../model.js';
import { endpointHashKey } from './hash.js';

/** Envoy's default overprovisioning factor, in percent. */
export const defaultOverprovisioningPercent = 140;

/** The integer total that scaled weights add up to (about): one part in a million is the finest share. */
export const scaledWeightTotal = 1_000_000;

export interface LevelHealth {
  healthy: number;
  total: number;
}

/** Percent of connections per level (same order), by Envoy's rule above; all 0 when nothing is healthy. */
export function priorityLoads(levels: readonly LevelHealth[], overprovisioningPercent = defaultOverprovisioningPercent): number[] {
  const health = levels.map((l) => (l.total === 0 ? 0 : Math.min(100, Math.floor((overprovisioningPercent * l.healthy) / l.total))));
  const sum = health.reduce((s, h) => s + h, 0);
  if (sum === 0) {
    // Every level is below 1/140 healthy (e.g. 1 healthy of 200): Envoy's percentages round to 0
    // and it would panic; kmesh sends to the first level with a healthy endpoint instead.
    const first = levels.findIndex((l) => l.healthy > 0);
    return levels.map((_, i) => (i === first ? 100 : 0));
  }
  const normalised = Math.min(100, sum);
  let left = 100;
  const loads = health.map((h) => {
    const load = Math.min(left, Math.floor((h * 100) / normalised));
    left -= load;
    return load;
  });
  const first = health.findIndex((h) => h > 0);
  loads[first]! += left;
  return loads;
}

/** Proximity tier of an endpoint to the node: 0 same sub_zone ... 3 elsewhere (or no locality). */
export function proximityTier(nodeLocality: string, endpointLocality: string | undefined): number {
  const node = nodeLocality.split('/');
  const ep = (endpointLocality ?? '').split('/');
  let matching = 0;
  while (matching < 3 && matching < node.length && node[matching] !== '' && node[matching] === ep[matching]) matching++;
  return 3 - matching;
}

export interface LbContext {
  /** "region/zone/sub_zone" (trailing parts optional) of this node. */
  nodeLocality?: string;
  /** Endpoint addresses ("ip:port", "[ip6]:port") ejected by outlier detection: treated as unhealthy. */
  ejected?: ReadonlySet<string>;
  overprovisioningPercent?: number;
}

export interface WeightedEndpoint {
  endpoint: EndpointModel;
  /** A positive integer: the endpoint's share of new connections, in weight units. */
  weight: number;
}

export interface EndpointShares {
  /** Endpoints that take connections, in level order then document order. */
  endpoints: WeightedEndpoint[];
  /** False when the weights are the endpoints' own (one level, no locality weighting): the kernel records are as before issue 6. */
  scaled: boolean;
  /** Per level: which priority and tier, its health and its percent of connections. */
  levels: { priority: number; tier: number; healthy: number; total: number; load: number }[];
}

function isServing(e: EndpointModel, ejected: ReadonlySet<string> | undefined): boolean {
  return acceptsConnections[e.health] && !(ejected?.has(endpointHashKey(e.address)) ?? false);
}

/** Share of each serving endpoint of one level, summing to 1 (empty when nothing in it can serve). */
function sharesInLevel(members: readonly EndpointModel[], serving: (e: EndpointModel) => boolean, localityWeighted: boolean, percent: number): Map<EndpointModel, number> {
  const out = new Map<EndpointModel, number>();
  const byEndpointWeight = (list: readonly EndpointModel[], of: number) => {
    const usable = list.filter(serving);
    const total = usable.reduce((s, e) => s + e.weight, 0);
    for (const e of usable) out.set(e, (of * e.weight) / total);
  };
  if (!localityWeighted) {
    byEndpointWeight(members, 1);
    return out;
  }
  // Locality share = locality weight x availability, availability = min(1, 1.4 x healthy / total).
  // A locality without load_balancing_weight gets no traffic (as in Envoy).
  const localities = new Map<string, EndpointModel[]>();
  for (const e of members) {
    const key = e.locality ?? '';
    const list = localities.get(key);
    if (list) list.push(e);
    else localities.set(key, [e]);
  }
  const effective = [...localities.values()].map((list) => {
    const healthy = list.filter(serving).length;
    const availability = Math.min(1, (percent / 100) * (healthy / list.length));
    return { list, weight: (list[0]!.localityWeight ?? 0) * availability };
  });
  const sum = effective.reduce((s, l) => s + l.weight, 0);
  if (sum === 0) return out;
  for (const l of effective) if (l.weight > 0) byEndpointWeight(l.list, l.weight / sum);
  return out;
}

/**
 * The endpoints that take new connections and their weights: the shares Envoy would give them
 * (see the header). One level at 100 % without locality weighting keeps the endpoints' own
 * weights; otherwise shares are scaled to integers adding up to about 1,000,000 (an endpoint with
 * a share keeps at least weight 1).
 */
export function endpointShares(cluster: ClusterModel, context: LbContext = {}): EndpointShares {
  const percent = context.overprovisioningPercent ?? defaultOverprovisioningPercent;
  const serving = (e: EndpointModel) => isServing(e, context.ejected);
  const levelOf = (e: EndpointModel) => ({ priority: e.priority, tier: context.nodeLocality ? proximityTier(context.nodeLocality, e.locality) : 0 });
  const groups = new Map<string, { priority: number; tier: number; members: EndpointModel[] }>();
  for (const e of cluster.endpoints) {
    const { priority, tier } = levelOf(e);
    const id = `${priority}/${tier}`;
    const group = groups.get(id) ?? { priority, tier, members: [] };
    group.members.push(e);
    groups.set(id, group);
  }
  const ordered = [...groups.values()].sort((a, b) => a.priority - b.priority || a.tier - b.tier);
  const health = ordered.map((g) => ({ healthy: g.members.filter(serving).length, total: g.members.length }));
  const loads = priorityLoads(health, percent);
  const levels = ordered.map((g, i) => ({ priority: g.priority, tier: g.tier, ...health[i]!, load: loads[i]! }));
  const localityWeighted = cluster.localityWeighted === true;

  const loaded = ordered.map((g, i) => ({ g, load: loads[i]! })).filter((x) => x.load > 0);
  if (loaded.length === 1 && !localityWeighted) {
    const only = loaded[0]!.g.members.filter(serving);
    return { endpoints: only.map((endpoint) => ({ endpoint, weight: endpoint.weight })), scaled: false, levels };
  }
  const endpoints: WeightedEndpoint[] = [];
  for (const { g, load } of loaded) {
    const shares = sharesInLevel(g.members, serving, localityWeighted, percent);
    for (const e of g.members) {
      const share = shares.get(e);
      if (share === undefined || share <= 0) continue;
      endpoints.push({ endpoint: e, weight: Math.max(1, Math.round((load / 100) * share * scaledWeightTotal)) });
    }
  }
  return { endpoints, scaled: true, levels };
}
