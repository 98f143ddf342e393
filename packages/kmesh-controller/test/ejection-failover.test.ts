// Issue 6 part B over part A: outlier ejections turn into priority spill-over. The failover
// rewrites a cluster only when its shares depend on health and its ejected set changed.
import { describe, expect, it } from 'vitest';
import type { ClusterModel, EndpointModel, MeshModel } from '@kmesh/api';
import { EjectionFailover, sharesDependOnHealth, type EjectionSnapshot } from '../src/kernel/ejection-failover.js';

const ep = (ip: string, priority: number): EndpointModel => ({ address: { family: 4, ip, port: 9080 }, weight: 1, health: 'HEALTHY', priority });
const od = { consecutive5xx: 2 };
const twoLevels: ClusterModel = { name: 'failover', lbPolicy: 'ROUND_ROBIN', outlierDetection: od, endpoints: [ep('10.250.7.10', 0), ep('10.250.7.11', 0), ep('10.250.7.12', 1)] };
const oneLevel: ClusterModel = { name: 'flat', lbPolicy: 'ROUND_ROBIN', outlierDetection: od, endpoints: [ep('10.250.7.20', 0), ep('10.250.7.21', 0)] };
const noDetection: ClusterModel = { ...twoLevels, name: 'plain', outlierDetection: undefined };

function harness(model: MeshModel) {
  let current: MeshModel | null = model;
  let ejectedNow = new Set<string>();
  const applied: { clusters: string[]; ejected: Record<string, string[]> }[] = [];
  const failover = new EjectionFailover({
    model: () => current,
    snapshot: (m): EjectionSnapshot => ({
      clusters: m.clusters.map((c) => ({ name: c.name, endpoints: c.endpoints.map((e) => ({ address: `${e.address.ip}:9080`, ejected: ejectedNow.has(`${e.address.ip}:9080`) })) })),
    }),
    apply: (clusters, ejected) => applied.push({ clusters: clusters.map((c) => c.name), ejected: Object.fromEntries([...ejected].map(([k, v]) => [k, [...v]])) }),
  });
  return {
    failover,
    applied,
    eject: (...addresses: string[]) => (ejectedNow = new Set(addresses)),
    replaceModel: (m: MeshModel) => (current = m),
  };
}

describe('ejection failover', () => {
  it('rewrites only clusters with outlier detection whose shares depend on health', () => {
    expect(sharesDependOnHealth(twoLevels, undefined)).toBe(true);
    expect(sharesDependOnHealth(oneLevel, undefined)).toBe(false);
    expect(sharesDependOnHealth(noDetection, undefined)).toBe(false);
    expect(sharesDependOnHealth({ ...oneLevel, localityWeighted: true }, undefined)).toBe(true);
  });

  it('applies an ejection once, undoes it when it ends, and starts over after a new apply', () => {
    const model: MeshModel = { listeners: [], clusters: [twoLevels, oneLevel, noDetection] };
    const h = harness(model);
    expect(h.failover.tick()).toEqual([]); // nothing ejected: nothing to write
    h.eject('10.250.7.10:9080', '10.250.7.20:9080');
    expect(h.failover.tick()).toEqual(['failover']);
    expect(h.applied.at(-1)).toEqual({ clusters: ['failover'], ejected: { failover: ['10.250.7.10:9080'] } });
    expect(h.failover.tick()).toEqual([]); // unchanged: not written again
    h.eject();
    expect(h.failover.tick()).toEqual(['failover']);
    expect(h.applied.at(-1)).toEqual({ clusters: ['failover'], ejected: { failover: [] } });
    // A new model (full apply or xDS change) wrote the cluster without ejections: re-applied.
    h.eject('10.250.7.11:9080');
    h.failover.tick();
    h.replaceModel({ listeners: [], clusters: [twoLevels] });
    expect(h.failover.tick()).toEqual(['failover']);
    expect(h.applied).toHaveLength(4);
  });
});
