import { beforeEach, describe, expect, it, vi } from 'vitest';
import { CapacityExceededError, GenerationStore, nextGeneration } from '../src/kernel/generations.js';
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
});
