import { describe, expect, it } from 'vitest';
import { endpointOnlyChanges } from '../src/kernel/endpoint-changes.js';
import { model } from './fakes.js';

const clone = <T>(v: T): T => structuredClone(v);

describe('endpointOnlyChanges', () => {
  it('returns the clusters whose endpoints changed when nothing else did', () => {
    const before = model(3, 2);
    const after = clone(before);
    after.clusters[1]!.endpoints[0]!.address.ip = '10.250.1.99';
    expect(endpointOnlyChanges(before, after)?.map((c) => c.name)).toEqual(['c1']);
    expect(endpointOnlyChanges(before, clone(before))).toEqual([]);
  });

  it('returns null (full generation) for a listener, a policy, or a cluster set change', () => {
    const before = model(2, 1);
    const listener = clone(before);
    listener.listeners[0]!.address.port = 1;
    expect(endpointOnlyChanges(before, listener)).toBeNull();
    const policy = clone(before);
    policy.clusters[0]!.lbPolicy = 'RANDOM';
    policy.clusters[0]!.endpoints = [];
    expect(endpointOnlyChanges(before, policy)).toBeNull();
    const renamed = clone(before);
    renamed.clusters[1]!.name = 'other';
    expect(endpointOnlyChanges(before, renamed)).toBeNull();
    const added = model(3, 1);
    expect(endpointOnlyChanges(before, added)).toBeNull();
    expect(endpointOnlyChanges(null, before)).toBeNull();
  });

  it('with a hint and shared objects, compares only the hinted clusters', () => {
    const before = model(3, 1);
    const c2 = clone(before.clusters[2]!);
    c2.endpoints[0]!.weight = 5;
    const after = { ...before, clusters: [before.clusters[0]!, before.clusters[1]!, c2] };
    expect(endpointOnlyChanges(before, after, new Set(['c2']))?.map((c) => c.name)).toEqual(['c2']);
    // a replaced cluster the hint does not name breaks the promise: full generation
    const sneaky = { ...after, clusters: [clone(before.clusters[0]!), before.clusters[1]!, c2] };
    expect(endpointOnlyChanges(before, sneaky, new Set(['c2']))).toBeNull();
  });
});
