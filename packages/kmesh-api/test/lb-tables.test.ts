// Issue 6 part B: the consistent-hashing tables the daemon computes for the kernel (MAGLEV,
// RING_HASH) and the round-robin stride: balance, weights and bounded disruption.
import { describe, expect, it } from 'vitest';
import { buildMaglevTable, isPrime, type HashedEndpoint } from '../src/lb/maglev.js';
import { buildHashRing, lookupRing } from '../src/lb/ring-hash.js';
import { roundRobinStride } from '../src/lb/tables.js';
import { hashKey, mix64 } from '../src/lb/hash.js';

const endpoints = (n: number, weight = (_i: number) => 1): HashedEndpoint[] =>
  Array.from({ length: n }, (_, i) => ({ key: `10.250.7.${10 + i}:9080`, weight: weight(i) }));

function counts(table: ArrayLike<number>, n: number): number[] {
  const c = new Array<number>(n).fill(0);
  for (let i = 0; i < table.length; i++) c[table[i]!]!++;
  return c;
}

/** Client hashes like the kernel's: mix64 of distinct 32-bit keys. */
const clients = Array.from({ length: 20_000 }, (_, i) => mix64(BigInt(0x0a000000 + i)));

describe('Maglev table', () => {
  it('fills every slot; equal weights get floor or ceil of M/N slots', () => {
    const table = buildMaglevTable(endpoints(7), 4099);
    expect(table.every((e) => e >= 0 && e < 7)).toBe(true);
    for (const c of counts(table, 7)) expect([Math.floor(4099 / 7), Math.ceil(4099 / 7)]).toContain(c);
  });

  it('gives slots in proportion to weight (1:2:3 within 1 %)', () => {
    const c = counts(buildMaglevTable(endpoints(3, (i) => i + 1), 65537), 3);
    const shares = c.map((x) => x / 65537);
    [1 / 6, 2 / 6, 3 / 6].forEach((want, i) => expect(Math.abs(shares[i]! - want)).toBeLessThan(0.01));
  });

  it('moves about 1/N of the clients when one of N endpoints is removed', () => {
    const n = 10;
    const all = endpoints(n);
    const before = buildMaglevTable(all, 4099);
    const after = buildMaglevTable(all.filter((_, i) => i !== 3), 4099);
    const survivors = all.filter((_, i) => i !== 3);
    let moved = 0;
    for (const h of clients) {
      const a = all[before[Number(h % 4099n)]!]!.key;
      const b = survivors[after[Number(h % 4099n)]!]!.key;
      if (a !== b) moved++;
    }
    // The removed endpoint's clients (1/N) must move; Maglev moves only a few more.
    expect(moved / clients.length).toBeGreaterThan(0.08);
    expect(moved / clients.length).toBeLessThanOrEqual(1 / n + 0.05);
  });

  it('refuses a size that is not prime or smaller than the endpoint count', () => {
    expect(() => buildMaglevTable(endpoints(2), 4096)).toThrow('not a prime');
    expect(() => buildMaglevTable(endpoints(20), 17)).toThrow('smaller than the 20 endpoints');
    expect(isPrime(65537)).toBe(true);
    expect(isPrime(65535)).toBe(false);
  });
});

describe('hash ring', () => {
  it('gives every endpoint minimum_ring_size/4 replicas, sorted, and balances equal weights within 5 points', () => {
    const ring = buildHashRing(endpoints(5), { minimumRingSize: 1024, maximumRingSize: 8 << 20 });
    expect(ring.points.length).toBe(5 * 256);
    for (let i = 1; i < ring.points.length; i++) expect(ring.points[i]!).toBeGreaterThanOrEqual(ring.points[i - 1]!);
    const c = new Array<number>(5).fill(0);
    for (const h of clients) c[lookupRing(ring, h)]!++;
    for (const x of c) expect(Math.abs(x / clients.length - 0.2)).toBeLessThan(0.05);
  });

  it('gives replicas in proportion to weight (1:3)', () => {
    const ring = buildHashRing(endpoints(2, (i) => (i === 0 ? 1 : 3)), { minimumRingSize: 1024, maximumRingSize: 8 << 20 });
    const c = counts(ring.owners, 2);
    expect(c).toEqual([256, 768]);
  });

  it('moves about 1/N of the clients when one of N endpoints is removed', () => {
    const n = 8;
    const all = endpoints(n);
    const survivors = all.filter((_, i) => i !== 5);
    const before = buildHashRing(all);
    const after = buildHashRing(survivors);
    let moved = 0;
    for (const h of clients) if (all[lookupRing(before, h)]!.key !== survivors[lookupRing(after, h)]!.key) moved++;
    expect(moved / clients.length).toBeGreaterThan(0.05);
    expect(moved / clients.length).toBeLessThanOrEqual(1 / n + 0.05);
  });

  it('caps the stored ring at 65537 entries whatever maximum_ring_size says', () => {
    const ring = buildHashRing(endpoints(3), { minimumRingSize: 400_000, maximumRingSize: 8 << 20 });
    expect(ring.points.length).toBeLessThanOrEqual(65537);
    expect(ring.points.length).toBeGreaterThan(65000);
    expect(buildHashRing(endpoints(3), { minimumRingSize: 1024, maximumRingSize: 300 }).points.length).toBe(300);
  });
});

describe('hashes', () => {
  it('are deterministic 64-bit values that differ for neighbouring keys', () => {
    expect(hashKey('10.250.7.10:9080')).toBe(hashKey('10.250.7.10:9080'));
    expect(hashKey('10.250.7.10:9080')).not.toBe(hashKey('10.250.7.11:9080'));
    expect(hashKey('x') < 1n << 64n).toBe(true);
  });
});

describe('round-robin stride', () => {
  /** The endpoint picked for each of `count` cursors, as the kernel does: cursor * stride % total. */
  function picks(weights: number[], count: number): number[] {
    const stride = roundRobinStride(weights);
    const total = weights.reduce((a, b) => a + b, 0);
    const cum = weights.map((_, i) => weights.slice(0, i + 1).reduce((a, b) => a + b, 0));
    return Array.from({ length: count }, (_, c) => cum.findIndex((x) => (c * stride) % total < x));
  }

  it('keeps plain rotation for equal weights', () => {
    expect(picks([1, 1, 1], 6)).toEqual([0, 1, 2, 0, 1, 2]);
    expect(picks([5, 5], 4)).toEqual([0, 1, 0, 1]);
  });

  it('interleaves large scaled weights: no endpoint takes long runs, exact shares over a cycle', () => {
    const weights = [700_000, 300_000];
    const seq = picks(weights, 1000);
    let longest = 0;
    let run = 0;
    seq.forEach((e, i) => (run = i > 0 && seq[i - 1] === e ? run + 1 : 1, longest = Math.max(longest, run)));
    expect(longest).toBeLessThanOrEqual(4);
    const share = seq.filter((e) => e === 0).length / seq.length;
    expect(Math.abs(share - 0.7)).toBeLessThan(0.01);
  });

  it('is coprime with the total weight, so a cycle visits every weight point once', () => {
    const weights = [3, 1, 6, 2];
    const stride = roundRobinStride(weights);
    const total = 12;
    expect(new Set(Array.from({ length: total }, (_, c) => (c * stride) % total)).size).toBe(total);
  });
});
