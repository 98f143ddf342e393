import { beforeEach, describe, expect, it, vi } from 'vitest';
import { CapacityExceededError, GenerationStore, IN_PLACE_SET_BIT, nextGeneration } from '../src/kernel/generations.js';
import { fakeCodec, fakeMaps, model } from './fakes.js';

function gensIn(maps: ReturnType<typeof fakeMaps>): number[] {
  const gens = new Set<number>();
  for (const map of [maps.listener, maps.cluster, maps.endpoint]) for (const k of map.keys()) gens.add(k.readUInt32LE(0));
  return [...gens].sort((a, b) => a - b);
}

describe('GenerationStore', () => {
  let clock = 0;
  let maps: ReturnType<typeof fakeMaps>;
  let store: GenerationStore;
  beforeEach(() => {
    clock = 0;
    fakeCodec.capacityErrors = [];
    maps = fakeMaps();
    store = new GenerationStore(maps, fakeCodec, { graceMs: 500, now: () => clock });
  });

  it('starts at generation 1 and flips km_active after writing every record', () => {
    expect(store.active()).toEqual({ gen: 0, version: 0 });
    const result = store.apply(model(2, 3));
    expect(result).toMatchObject({ gen: 1, version: 1, previousGen: 0, records: { listeners: 2, clusters: 2, endpoints: 6 } });
    expect(store.active()).toEqual({ gen: 1, version: 1 });
    expect(maps.endpoint.entries.size).toBe(6);
    store.close();
  });

  it('keeps the old generation through the grace period, then the sweep deletes it', () => {
    store.apply(model(1, 2));
    store.apply(model(1, 3));
    expect(store.active().gen).toBe(2);
    expect(gensIn(maps)).toEqual([1, 2]);
    clock = 499;
    store.sweep();
    expect(gensIn(maps)).toEqual([1, 2]); // a connect() that read gen 1 may still be looking it up
    clock = 500;
    expect(store.sweep()).toEqual({ deleted: 4, generations: [1] });
    expect(gensIn(maps)).toEqual([2]);
    store.close();
  });

  it('the sweep timer deletes the retired generation after the grace period', () => {
    vi.useFakeTimers();
    try {
      const timed = new GenerationStore(maps, fakeCodec, { graceMs: 500 });
      timed.apply(model(1, 1));
      timed.apply(model(1, 1));
      expect(gensIn(maps)).toEqual([1, 2]);
      vi.advanceTimersByTime(600);
      expect(gensIn(maps)).toEqual([2]);
      timed.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('a failed write deletes what it wrote and leaves the active generation serving', () => {
    store.apply(model(2, 2));
    const before = new Map(maps.endpoint.entries);
    maps.cluster.failAfter = 2; // endpoints are written, then the second cluster fails
    expect(() => store.apply(model(2, 5))).toThrow(/writing cluster record of generation 2 to km_cluster failed: E2BIG/);
    expect(store.active()).toEqual({ gen: 1, version: 1 });
    expect(gensIn(maps)).toEqual([1]);
    expect(maps.endpoint.entries).toEqual(before);
    // and the next apply works, reusing generation 2
    expect(store.apply(model(1, 1)).gen).toBe(2);
    store.close();
  });

  it('checks capacity before writing anything', () => {
    fakeCodec.capacityErrors = ['too many endpoints in cluster c0 (2000 > 1024)'];
    expect(() => store.apply(model(1, 1))).toThrow(CapacityExceededError);
    expect(maps.active.updates + maps.listener.updates + maps.cluster.updates + maps.endpoint.updates).toBe(0);
  });

  it('wraps past 2^32-1 to 1, never to 0 (0 means no configuration)', () => {
    expect(nextGeneration(0)).toBe(1);
    expect(nextGeneration(41)).toBe(42);
    expect(nextGeneration(0xffffffff)).toBe(1);
    maps.active.update(fakeCodec.activeKey(), fakeCodec.encodeActive(0xffffffff, 7));
    expect(store.apply(model(1, 1))).toMatchObject({ gen: 1, version: 8, previousGen: 0xffffffff });
    store.close();
  });

  it('a forced sweep (adoption) removes stale generations regardless of age, keeping the active one', () => {
    store.apply(model(1, 1));
    store.apply(model(1, 1));
    // leftovers of a crashed writer: generation 9 was never activated
    maps.listener.update(Buffer.from([9, 0, 0, 0, 1, 0, 0, 0]), Buffer.from('x'));
    expect(gensIn(maps)).toEqual([1, 2, 9]);
    expect(store.sweep({ force: true }).generations).toEqual([1, 9]);
    expect(gensIn(maps)).toEqual([2]);
    store.close();
  });

  it('a stale record already using the next generation number is removed before writing', () => {
    maps.listener.update(Buffer.from([1, 0, 0, 0, 99, 0, 0, 0]), Buffer.from('stale'));
    store.apply(model(1, 1));
    expect(maps.listener.entries.size).toBe(1);
    expect(maps.listener.lookup(Buffer.from([1, 0, 0, 0, 99, 0, 0, 0]))).toBeNull();
    store.close();
  });

  it('after a scan of the maps, a new generation is written without scanning them again (a full push at scale)', () => {
    store.sweep({ force: true }); // adoption: every map read once
    const scans = vi.spyOn(maps.listener, 'keys');
    store.apply(model(2, 2));
    store.apply(model(2, 3));
    expect(scans).not.toHaveBeenCalled();
    expect(gensIn(maps)).toEqual([1, 2]);
    clock = 500;
    scans.mockClear();
    store.sweep(); // the retired generation goes: one scan, and the generations present are known again
    expect(scans).toHaveBeenCalledTimes(1);
    expect(gensIn(maps)).toEqual([2]);
    scans.mockClear();
    store.apply(model(2, 1));
    expect(scans).not.toHaveBeenCalled();
    expect(gensIn(maps)).toEqual([2, 3]);
    store.close();
  });
});

describe('GenerationStore.applyEndpoints (endpoint-only change in place)', () => {
  let clock = 0;
  let maps: ReturnType<typeof fakeMaps>;
  let store: GenerationStore;
  const setOf = (clusterId: number) => maps.cluster.lookup(clusterKey(store.active().gen, clusterId))!.readUInt32LE(4);
  const clusterKey = (gen: number, id: number) => {
    const b = Buffer.alloc(8);
    b.writeUInt32LE(gen, 0);
    b.writeUInt32LE(id, 4);
    return b;
  };
  const endpointSets = (clusterId: number) => [...new Set(maps.endpoint.keys().filter((k) => k.readUInt32LE(4) === clusterId).map((k) => k.readUInt32LE(0)))].sort();
  beforeEach(() => {
    clock = 0;
    fakeCodec.capacityErrors = [];
    maps = fakeMaps();
    store = new GenerationStore(maps, fakeCodec, { graceMs: 500, now: () => clock });
  });

  it('keeps the generation, points the cluster at a fresh set, and deletes the old set after the grace period', () => {
    const m = model(2, 2);
    store.apply(m);
    expect(setOf(1)).toBe(1);
    const c0 = { ...m.clusters[0]!, endpoints: [...m.clusters[0]!.endpoints, { ...m.clusters[0]!.endpoints[0]!, address: { family: 4 as const, ip: '10.250.0.9', port: 8080 } }] };
    const r = store.applyEndpoints([c0]);
    expect(r).toMatchObject({ gen: 1, version: 2, records: { clusters: 1, endpoints: 3 } });
    expect(store.active()).toEqual({ gen: 1, version: 2 });
    const set = setOf(1);
    expect(set).toBeGreaterThanOrEqual(IN_PLACE_SET_BIT); // never a generation number
    expect(r.clusters[0]).toMatchObject({ name: 'c0', set, previousSet: 1, endpoints: 3 });
    expect(setOf(2)).toBe(1); // the other cluster untouched
    expect(endpointSets(1)).toEqual([1, set]); // the old set stays readable through the grace period
    clock = 499;
    store.sweep();
    expect(endpointSets(1)).toEqual([1, set]);
    clock = 500;
    expect(store.sweep().deleted).toBe(2);
    expect(endpointSets(1)).toEqual([set]);
    expect(endpointSets(2)).toEqual([1]);
    store.close();
  });

  it('a full sweep never deletes a set a cluster record names, and a later generation drops the in-place sets', () => {
    const m = model(1, 1);
    store.apply(m);
    store.applyEndpoints([{ ...m.clusters[0]!, endpoints: [] }]);
    const set = setOf(1);
    store.sweep({ force: true }); // adoption-style sweep: the named set stays, the retired set 1 goes
    expect(endpointSets(1)).toEqual([]); // no endpoints now: count 0
    store.applyEndpoints([m.clusters[0]!]);
    const set2 = setOf(1);
    expect(set2).toBe(set + 1);
    store.sweep({ force: true });
    expect(endpointSets(1)).toEqual([set2]);
    store.apply(model(1, 2));
    clock = 1000;
    store.sweep();
    expect(endpointSets(1)).toEqual([2]);
    store.close();
  });

  it('a failed endpoint write removes the fresh set and leaves the cluster record alone', () => {
    const m = model(1, 2);
    store.apply(m);
    const before = maps.cluster.lookup(clusterKey(1, 1));
    maps.endpoint.failAfter = 2;
    expect(() => store.applyEndpoints([{ ...m.clusters[0]!, endpoints: [...m.clusters[0]!.endpoints].reverse() }])).toThrow(/writing endpoint record/);
    expect(maps.cluster.lookup(clusterKey(1, 1))).toEqual(before);
    expect(endpointSets(1)).toEqual([1]);
    expect(store.active()).toEqual({ gen: 1, version: 1 });
    store.close();
  });

  it('refuses a cluster the active generation does not have, and an adopted generation', () => {
    const m = model(1, 1);
    store.apply(m);
    expect(() => store.applyEndpoints([{ ...m.clusters[0]!, name: 'new' }])).toThrow(/not in generation 1/);
    const adopted = new GenerationStore(maps, fakeCodec, { graceMs: 500, now: () => clock });
    expect(adopted.canApplyEndpoints()).toBe(false);
    expect(() => adopted.applyEndpoints([m.clusters[0]!])).toThrow(/adopted/);
    store.close();
    adopted.close();
  });

  it('an adopting store continues the set numbering from the maps', () => {
    const m = model(1, 1);
    store.apply(m);
    store.applyEndpoints([m.clusters[0]!]);
    const set = setOf(1);
    const next = new GenerationStore(maps, fakeCodec, { graceMs: 500, now: () => clock });
    next.sweep({ force: true });
    next.apply(m);
    next.applyEndpoints([m.clusters[0]!]);
    expect(setOf(1)).toBe(set + 1);
    next.close();
    store.close();
  });
});
