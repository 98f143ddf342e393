// Issue 6 part B: priority failover (overprovisioning 1.4), locality weights and node locality,
// flattened into per-endpoint weights. Expected numbers are worked out by hand from Envoy's rules.
import { describe, expect, it } from 'vitest';
import { endpointShares, priorityLoads, proximityTier, scaledWeightTotal } from '../src/lb/priority.js';
import type { ClusterModel, EndpointModel, HealthStatus } from '../src/model.js';

let host = 10;
function ep(priority: number, health: HealthStatus = 'HEALTHY', extra: Partial<EndpointModel> = {}): EndpointModel {
  return { address: { family: 4, ip: `10.250.7.${host++}`, port: 9080 }, weight: 1, health, priority, ...extra };
}
const cluster = (endpoints: EndpointModel[], extra: Partial<ClusterModel> = {}): ClusterModel => ({ name: 'c', lbPolicy: 'ROUND_ROBIN', endpoints, ...extra });

/** Percent of the weight per group of endpoints (by a label function). */
function percentBy(c: ClusterModel, label: (e: EndpointModel) => string, context = {}): Record<string, number> {
  const shares = endpointShares(c, context).endpoints;
  const total = shares.reduce((s, e) => s + e.weight, 0);
  const out: Record<string, number> = {};
  for (const s of shares) out[label(s.endpoint)] = (out[label(s.endpoint)] ?? 0) + s.weight;
  for (const k of Object.keys(out)) out[k] = Math.round((out[k]! / total) * 1000) / 10;
  return out;
}

describe('priority load (overprovisioning factor 1.4)', () => {
  it.each([
    ['P0 fully healthy takes everything', [[4, 4], [2, 2]], [100, 0]],
    ['P0 at 3 of 4 healthy still takes everything (140 x 0.75 > 100)', [[3, 4], [2, 2]], [100, 0]],
    ['P0 at 2 of 4 healthy: 70 / 30', [[2, 4], [2, 2]], [70, 30]],
    ['P0 at 1 of 4 healthy: 35 / 65', [[1, 4], [2, 2]], [35, 65]],
    ['P0 and P1 at 20 %: normalised to 50 / 50 (total health 56)', [[1, 5], [1, 5]], [50, 50]],
    ['three levels: 35 / 35 / 30', [[1, 4], [1, 4], [3, 3]], [35, 35, 30]],
    ['P0 with nothing healthy: all to P1', [[0, 3], [1, 2]], [0, 100]],
    ['nothing healthy anywhere: no load', [[0, 3], [0, 2]], [0, 0]],
  ])('%s', (_name, levels, loads) => {
    expect(priorityLoads(levels.map(([healthy, total]) => ({ healthy: healthy!, total: total! })))).toEqual(loads);
  });

  it('flattens P0 at 2 of 4 healthy into weights: 70 % to the two healthy P0 endpoints, 30 % to P1', () => {
    const c = cluster([ep(0), ep(0), ep(0, 'UNHEALTHY'), ep(0, 'UNHEALTHY'), ep(1), ep(1)]);
    const s = endpointShares(c);
    expect(s.scaled).toBe(true);
    expect(s.endpoints.map((e) => [e.endpoint.priority, e.weight])).toEqual([
      [0, 350_000], [0, 350_000], [1, 150_000], [1, 150_000],
    ]);
    expect(s.levels.map((l) => l.load)).toEqual([70, 30]);
  });

  it('keeps the endpoints\' own weights when one level takes everything (records as before)', () => {
    const c = cluster([ep(0, 'HEALTHY', { weight: 3 }), ep(0, 'HEALTHY', { weight: 1 }), ep(1)]);
    const s = endpointShares(c);
    expect(s.scaled).toBe(false);
    expect(s.endpoints.map((e) => e.weight)).toEqual([3, 1]);
  });

  it('treats ejected endpoints (outlier detection) as unhealthy', () => {
    const p0 = [ep(0), ep(0), ep(0), ep(0)];
    const c = cluster([...p0, ep(1)]);
    const ejected = new Set([`${p0[0]!.address.ip}:9080`, `${p0[1]!.address.ip}:9080`]);
    expect(percentBy(c, (e) => `P${e.priority}`, { ejected })).toEqual({ P0: 70, P1: 30 });
  });
});

describe('locality weighted load balancing', () => {
  const loc = (name: string, weight: number | undefined, health: HealthStatus = 'HEALTHY', w = 1) =>
    ep(0, health, { locality: name, weight: w, ...(weight !== undefined ? { localityWeight: weight } : {}) });

  it('splits by locality weight, then by endpoint weight inside the locality', () => {
    const c = cluster([loc('r/a/', 1), loc('r/b/', 3, 'HEALTHY', 1), loc('r/b/', 3, 'HEALTHY', 3)], { localityWeighted: true });
    const shares = endpointShares(c).endpoints.map((e) => e.weight / scaledWeightTotal);
    expect(shares[0]).toBeCloseTo(0.25, 5);
    expect(shares[1]).toBeCloseTo(0.75 * 0.25, 5);
    expect(shares[2]).toBeCloseTo(0.75 * 0.75, 5);
  });

  it('scales a locality by its availability, min(1, 1.4 x healthy/total)', () => {
    // a: weight 1 x min(1, 1.4 x 1/2) = 0.7; b: weight 1 x 1 = 1 -> 0.7/1.7 and 1/1.7.
    const c = cluster([loc('r/a/', 1), loc('r/a/', 1, 'UNHEALTHY'), loc('r/b/', 1), loc('r/b/', 1)], { localityWeighted: true });
    expect(percentBy(c, (e) => e.locality!)).toEqual({ 'r/a/': 41.2, 'r/b/': 58.8 });
  });

  it('ignores locality weights without locality_weighted_lb_config (endpoint weights across the priority)', () => {
    const c = cluster([loc('r/a/', 1), loc('r/b/', 3)]);
    expect(percentBy(c, (e) => e.locality!)).toEqual({ 'r/a/': 50, 'r/b/': 50 });
  });

  it('gives no connections to a locality without a weight, as Envoy does', () => {
    const c = cluster([loc('r/a/', undefined), loc('r/b/', 2)], { localityWeighted: true });
    expect(percentBy(c, (e) => e.locality!)).toEqual({ 'r/b/': 100 });
  });
});

describe('node locality', () => {
  it('ranks endpoints: same sub_zone 0, same zone 1, same region 2, elsewhere 3', () => {
    expect(proximityTier('eu/eu-1/rack-a', 'eu/eu-1/rack-a')).toBe(0);
    expect(proximityTier('eu/eu-1/rack-a', 'eu/eu-1/rack-b')).toBe(1);
    expect(proximityTier('eu/eu-1/rack-a', 'eu/eu-2/')).toBe(2);
    expect(proximityTier('eu/eu-1/rack-a', 'us/us-1/')).toBe(3);
    expect(proximityTier('eu/eu-1/rack-a', undefined)).toBe(3);
    expect(proximityTier('eu/eu-1', 'eu/eu-1/rack-z')).toBe(1);
  });

  const at = (locality: string, health: HealthStatus = 'HEALTHY') => ep(0, health, { locality });

  it('sends everything to the node\'s own zone while it is healthy enough', () => {
    const c = cluster([at('eu/eu-1/'), at('eu/eu-1/'), at('eu/eu-2/'), at('us/us-1/')]);
    expect(percentBy(c, (e) => e.locality!, { nodeLocality: 'eu/eu-1' })).toEqual({ 'eu/eu-1/': 100 });
    // Without a node locality: all four share.
    expect(percentBy(c, (e) => e.locality!)).toEqual({ 'eu/eu-1/': 50, 'eu/eu-2/': 25, 'us/us-1/': 25 });
  });

  it('spills over to the same region, then elsewhere, as priorities do (1 of 2 local healthy: 70 / 30)', () => {
    const c = cluster([at('eu/eu-1/'), at('eu/eu-1/', 'UNHEALTHY'), at('eu/eu-2/'), at('us/us-1/')]);
    expect(percentBy(c, (e) => e.locality!, { nodeLocality: 'eu/eu-1' })).toEqual({ 'eu/eu-1/': 70, 'eu/eu-2/': 30 });
  });

  it('keeps EDS priorities above proximity: a remote P0 endpoint beats a local P1 one', () => {
    const c = cluster([ep(0, 'HEALTHY', { locality: 'us/us-1/' }), ep(1, 'HEALTHY', { locality: 'eu/eu-1/' })]);
    expect(percentBy(c, (e) => e.locality!, { nodeLocality: 'eu/eu-1' })).toEqual({ 'us/us-1/': 100 });
  });
});
