// Issue 6 part B: a MAGLEV / RING_HASH cluster's table lives in km_endpoint under the cluster's
// endpoint set, after its endpoints. An in-place endpoint change (EDS) must write the new table
// with the new set and delete the old table with the old set: nothing left behind.
import { describe, expect, it } from 'vitest';
import * as api from '@kmesh/api';
import type { ClusterModel, MeshModel } from '@kmesh/api';
import { GenerationStore } from '../src/kernel/generations.js';
import { apiCodec } from '../src/kernel/kernel-state.js';
import { FakeMap, fakeMaps as baseMaps } from './fakes.js';

/** The fake maps, plus the per-generation limit maps issue 6 part A writes (when the store has them). */
const fakeMaps = () => ({ ...baseMaps(), clusterLimit: new FakeMap('km_cl_limits'), listenerLimit: new FakeMap('km_ls_limits') });

function mesh(endpointCount: number, health: (i: number) => 'HEALTHY' | 'UNHEALTHY' = () => 'HEALTHY'): MeshModel {
  const cluster: ClusterModel = {
    name: 'hashed',
    lbPolicy: 'MAGLEV',
    maglev: { tableSize: 101 },
    endpoints: Array.from({ length: endpointCount }, (_, i) => ({ address: { family: 4, ip: `10.250.7.${10 + i}`, port: 9080 }, weight: 1, health: health(i), priority: 0 })),
  };
  return { listeners: [{ name: 'l', address: { family: 4, ip: '10.96.7.1', port: 9080 }, route: { clusters: [{ name: 'hashed', weight: 1 }] } }], clusters: [cluster] };
}

const setsIn = (maps: ReturnType<typeof fakeMaps>) => {
  const count = new Map<number, number>();
  for (const k of maps.endpoint.keys()) {
    const set = api.decodeEndpointKey(k).set;
    count.set(set, (count.get(set) ?? 0) + 1);
  }
  return Object.fromEntries(count);
};

describe('consistent-hashing tables and in-place endpoint changes', () => {
  it('writes endpoints + table under a fresh set and deletes the old set whole after the grace period', () => {
    let clock = 0;
    const maps = fakeMaps();
    const store = new GenerationStore(maps, apiCodec, { graceMs: 500, now: () => clock });
    store.apply(mesh(4));
    expect(setsIn(maps)).toEqual({ 1: 4 + 101 });

    const changed = mesh(3).clusters;
    const result = store.applyEndpoints(changed);
    const fresh = result.clusters[0]!.set;
    expect(setsIn(maps)).toEqual({ 1: 105, [fresh]: 3 + 101 });
    const record = api.decodeClusterValue(maps.cluster.lookup(api.encodeClusterKey(1, result.clusters[0]!.clusterId))!);
    expect([record.endpointSet, record.endpointCount, record.lbTableSize]).toEqual([fresh, 3, 101]);

    clock = 500;
    store.sweep();
    expect(setsIn(maps)).toEqual({ [fresh]: 104 });
    store.close();
  });

  it('a health change in place rewrites the shares (priority failover needs no new generation)', () => {
    const maps = fakeMaps();
    const store = new GenerationStore(maps, apiCodec, { graceMs: 500, now: () => 0 });
    store.apply(mesh(2));
    const r = store.applyEndpoints(mesh(2, (i) => (i === 1 ? 'UNHEALTHY' : 'HEALTHY')).clusters);
    const record = api.decodeClusterValue(maps.cluster.lookup(api.encodeClusterKey(1, r.clusters[0]!.clusterId))!);
    expect(record.endpointCount).toBe(1);
    store.close();
  });

  it('remembers the node locality of the applied model for in-place changes', () => {
    const maps = fakeMaps();
    const store = new GenerationStore(maps, apiCodec, { graceMs: 500, now: () => 0 });
    const located = (healthyNear: boolean): MeshModel => {
      const m = mesh(3);
      const c = m.clusters[0]!;
      c.lbPolicy = 'ROUND_ROBIN';
      delete c.maglev;
      c.endpoints[0]!.locality = 'eu/eu-1/';
      c.endpoints[1]!.locality = 'eu/eu-1/';
      c.endpoints[1]!.health = healthyNear ? 'HEALTHY' : 'UNHEALTHY';
      c.endpoints[2]!.locality = 'us/us-1/';
      return { ...m, nodeLocality: 'eu/eu-1' };
    };
    store.apply(located(true));
    const r = store.applyEndpoints(located(false).clusters);
    const weights = [...maps.endpoint.keys()]
      .filter((k) => api.decodeEndpointKey(k).set === r.clusters[0]!.set)
      .map((k) => api.decodeEndpointValue(maps.endpoint.lookup(k)!))
      .map((v) => [v.address.ip, v.weight]);
    // Near tier at 1 of 2 healthy: 70 %, the far endpoint 30 % (scaled to 1,000,000).
    expect(weights).toEqual([['10.250.7.10', 700_000], ['10.250.7.12', 300_000]]);
    store.close();
  });
});
