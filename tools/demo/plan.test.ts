// Unit tests of the demo's arithmetic: what a user reads in the "expected" column and the ✓/✗ verdict.
import { describe, expect, it } from 'vitest';
import type { EndpointModel, MeshModel } from '@kmesh/api';
import { labBackendIdentity, labLayout } from './lab-layout.js';
import { planDemo } from './plan.js';
import { compareShares, FAILED_ROW } from './shares.js';

const ep = (ip: string, weight = 1, health: EndpointModel['health'] = 'HEALTHY', priority = 0): EndpointModel => ({
  address: { family: ip.includes(':') ? 6 : 4, ip, port: 9080 },
  weight,
  health,
  priority,
});

const model: MeshModel = {
  listeners: [
    { name: 'reviews', address: { family: 4, ip: '10.96.0.20', port: 9080 }, route: { clusters: [{ name: 'reviews-v1', weight: 70 }, { name: 'reviews-v2', weight: 20 }, { name: 'reviews-v3', weight: 10 }] } },
    { name: 'details', address: { family: 4, ip: '10.96.0.30', port: 9080 }, route: { clusters: [{ name: 'details', weight: 1 }] } },
    { name: 'ratings6', address: { family: 6, ip: 'fd00:96::40', port: 9080 }, route: { clusters: [{ name: 'ratings', weight: 1 }] } },
    { name: 'gone', address: { family: 4, ip: '10.96.0.50', port: 9080 }, route: { clusters: [{ name: 'down', weight: 1 }] } },
  ],
  clusters: [
    { name: 'reviews-v1', lbPolicy: 'ROUND_ROBIN', endpoints: [ep('10.250.1.21')] },
    { name: 'reviews-v2', lbPolicy: 'ROUND_ROBIN', endpoints: [ep('10.250.1.22')] },
    { name: 'reviews-v3', lbPolicy: 'ROUND_ROBIN', endpoints: [ep('10.250.1.23')] },
    { name: 'details', lbPolicy: 'ROUND_ROBIN', endpoints: [ep('10.250.1.31'), ep('10.250.1.32'), ep('10.250.1.33', 1, 'UNHEALTHY'), ep('10.250.1.34', 1, 'HEALTHY', 1)] },
    { name: 'ratings', lbPolicy: 'RANDOM', endpoints: [ep('10.250.1.41', 3), ep('fd00:6b6d:1::41', 3), ep('10.250.1.42', 1), ep('fd00:6b6d:1::42', 1)] },
    { name: 'down', lbPolicy: 'ROUND_ROBIN', endpoints: [ep('10.250.1.51', 1, 'DRAINING')] },
  ],
};

const expectedOf = (listener: string) => Object.fromEntries(planDemo(model).services.find((s) => s.listener === listener)!.expected.map((e) => [e.backend, e.share]));

describe('planDemo', () => {
  it('names one backend per endpoint address after its cluster and index', () => {
    const names = planDemo(model).backends.map((b) => b.name);
    expect(names).toContain('reviews-v1');
    expect(names).toContain('details-3');
    expect(names).toContain('ratings-2');
    expect(names).toHaveLength(12);
  });

  it('multiplies cluster weights by endpoint weights', () => {
    const reviews = expectedOf('reviews');
    expect(reviews['reviews-v1']).toBeCloseTo(0.7);
    expect(reviews['reviews-v2']).toBeCloseTo(0.2);
    expect(reviews['reviews-v3']).toBeCloseTo(0.1);
    const ratings = expectedOf('ratings6');
    expect(ratings['ratings-1'] + ratings['ratings-2']).toBeCloseTo(0.75);
    expect(ratings['ratings-3'] + ratings['ratings-4']).toBeCloseTo(0.25);
  });

  it('gives unhealthy and standby-priority endpoints 0% and splits the rest', () => {
    const details = expectedOf('details');
    expect(details).toEqual({ 'details-1': 0.5, 'details-2': 0.5, 'details-3': 0, 'details-4': 0 });
  });

  it('expects failures when a routed cluster has no usable endpoint', () => {
    const gone = planDemo(model).services.find((s) => s.listener === 'gone')!;
    expect(gone.expectedFailureShare).toBe(1);
    expect(gone.direct).toBeUndefined();
  });

  it('picks a direct baseline backend of the heaviest cluster in the VIP family', () => {
    const services = planDemo(model).services;
    expect(services.find((s) => s.listener === 'reviews')!.direct!.name).toBe('reviews-v1');
    expect(services.find((s) => s.listener === 'ratings6')!.direct!.address.family).toBe(6);
  });
});

describe('compareShares', () => {
  const details = planDemo(model).services.find((s) => s.listener === 'details')!;

  it('passes rows within 5 points and fails the others', () => {
    const rows = compareShares(details, { attempted: 100, byBackend: { 'details-1': 54, 'details-2': 46 }, errors: {} });
    expect(rows.map((r) => r.withinTolerance)).toEqual([true, true, true, true]);
    const skewed = compareShares(details, { attempted: 100, byBackend: { 'details-1': 56, 'details-2': 44 }, errors: {} });
    expect(skewed.filter((r) => !r.withinTolerance).map((r) => r.backend)).toEqual(['details-1', 'details-2']);
  });

  it('counts a miss of exactly 5 points as within tolerance', () => {
    const m: MeshModel = {
      listeners: [{ name: 'ratings', address: { family: 4, ip: '10.96.0.40', port: 9080 }, route: { clusters: [{ name: 'ratings', weight: 1 }] } }],
      clusters: [{ name: 'ratings', lbPolicy: 'RANDOM', endpoints: [ep('10.250.1.30', 3), ep('10.250.1.31', 1)] }],
    };
    const ratings = planDemo(m).services[0];
    const at = (n: number) => compareShares(ratings, { attempted: 400, byBackend: { 'ratings-1': n, 'ratings-2': 400 - n }, errors: {} })[0];
    expect(at(280).withinTolerance).toBe(true); // 70.0% vs 75%
    expect(at(279).withinTolerance).toBe(false); // 69.75%
  });

  it('fails when the unhealthy endpoint or an unrelated backend answers, or connections fail', () => {
    const rows = compareShares(details, { attempted: 100, byBackend: { 'details-1': 40, 'details-2': 40, 'details-3': 10, 'reviews-v1': 6 }, errors: { ECONNREFUSED: 4 } });
    const bad = rows.filter((r) => !r.withinTolerance).map((r) => r.backend);
    expect(bad).toEqual(['details-1', 'details-2', 'details-3', 'reviews-v1']);
    expect(rows.find((r) => r.backend === FAILED_ROW)).toMatchObject({ connections: 4, expected: 0, note: 'ECONNREFUSED×4' });
  });
});

describe('labLayout', () => {
  it('serves the v4 and v6 endpoint of one lab host from one backend on lab network N', () => {
    const m: MeshModel = { listeners: [model.listeners[2]], clusters: [model.clusters[4]] };
    const { n, ipv6, servers } = labLayout(m, planDemo(m, labBackendIdentity));
    expect({ n, ipv6 }).toEqual({ n: 1, ipv6: true });
    expect(servers).toEqual([{ name: 'ratings-1', host: 41, port: 9080 }, { name: 'ratings-3', host: 42, port: 9080 }]);
  });

  it('names the endpoint that is not a lab address', () => {
    const m: MeshModel = { listeners: [], clusters: [{ name: 'web', lbPolicy: 'ROUND_ROBIN', endpoints: [ep('192.168.1.5')] }] };
    expect(() => labLayout(m, planDemo(m))).toThrow(/cluster web: endpoint 192.168.1.5 is not a lab backend address/);
  });
});
