/**
 * issue 4: every generation also writes the L7 route tables, and the sweep deletes them with the
 * generation they belong to. Real encoder (@kmesh/api), in-memory maps.
 */
import { describe, expect, it } from 'vitest';
import { L7Structs, Structs, l7Offset, type MeshModel } from '@kmesh/api';
import { GenerationStore } from '../src/kernel/generations.js';
import { apiCodec } from '../src/kernel/kernel-state.js';
import { FakeMap } from './fakes.js';

const model: MeshModel = {
  clusters: [{ name: 'api', lbPolicy: 'ROUND_ROBIN', endpoints: [{ address: { family: 4, ip: '10.250.1.2', port: 80 }, weight: 1, health: 'HEALTHY', priority: 0 }] }],
  listeners: [
    {
      name: 'web',
      address: { family: 4, ip: '10.96.0.10', port: 80 },
      route: { clusters: [] },
      http: {
        routeConfig: {
          name: 'r',
          virtualHosts: [
            {
              name: 'app',
              domains: ['app.example.com', '*'],
              routes: [
                { match: { safeRegex: '/u/[0-9]+', caseSensitive: true, headers: [{ name: 'x-a', kind: 'exact', value: 'b', invert: false }] }, action: { kind: 'cluster', cluster: 'api' } },
                { match: { prefix: '/', caseSensitive: true, headers: [] }, action: { kind: 'cluster', cluster: 'api' } },
              ],
            },
          ],
        },
      },
    },
  ],
};

function l7Maps() {
  return {
    active: new FakeMap('km_active'),
    listener: new FakeMap('km_listener'),
    chain: new FakeMap('km_chain'),
    cluster: new FakeMap('km_cluster'),
    endpoint: new FakeMap('km_endpoint'),
    clusterLimit: new FakeMap('km_cl_limits'),
    listenerLimit: new FakeMap('km_lsn_limit'),
    l7Vhost: new FakeMap('km_l7_vhost'),
    l7Route: new FakeMap('km_l7_route'),
    l7HeaderMatch: new FakeMap('km_l7_hmatch'),
    l7HeaderNames: new FakeMap('km_l7_hnames'),
    l7Dfa: new FakeMap('km_l7_dfa'),
  };
}

const l7Kinds = ['l7Vhost', 'l7Route', 'l7HeaderMatch', 'l7HeaderNames', 'l7Dfa'] as const;

/** Generations present in an L7 map (the vhost trie key has prefixlen first). */
function gens(map: FakeMap, kind: (typeof l7Kinds)[number]): number[] {
  const at = kind === 'l7Vhost' ? l7Offset('km_l7_vhost_key', 'gen') : 0;
  return [...new Set(map.keys().map((k) => k.readUInt32LE(at)))].sort();
}

describe('generations with L7 route tables', () => {
  it('writes the route tables of each generation and sweeps them with it', () => {
    let clock = 0;
    const maps = l7Maps();
    const store = new GenerationStore(maps, apiCodec, { graceMs: 100, now: () => clock });
    store.apply(model);
    for (const kind of l7Kinds) expect(gens(maps[kind], kind), kind).toEqual([1]);
    expect(maps.l7Vhost.entries.size).toBe(2); // two domains
    expect(maps.l7Route.entries.size).toBe(2);
    expect(maps.l7Route.keys()[0]!.length).toBe(L7Structs.km_l7_index_key.size);
    // The http listener's km_route names route config 1.
    const listener = maps.listener.entries.values().next().value!;
    expect(listener.readUInt32LE(Structs.km_route.fields.find((f) => f.name === 'route_config_id')!.offset)).toBe(1);

    store.apply(model);
    for (const kind of l7Kinds) expect(gens(maps[kind], kind), kind).toEqual([1, 2]);
    clock += 200;
    store.sweep();
    for (const kind of l7Kinds) expect(gens(maps[kind], kind), kind).toEqual([2]);
    store.close();
  });

  it('without the L7 maps (no L7 object) a config with routes still applies', () => {
    const { l7Vhost: _v, l7Route: _r, l7HeaderMatch: _h, l7HeaderNames: _n, l7Dfa: _d, ...maps } = l7Maps();
    const store = new GenerationStore(maps, apiCodec, { graceMs: 100 });
    expect(store.apply(model).gen).toBe(1);
    store.close();
  });

  it('a failed write of an L7 record leaves the old generation untouched', () => {
    const maps = l7Maps();
    const store = new GenerationStore(maps, apiCodec, { graceMs: 100 });
    store.apply(model);
    maps.l7Route.failAfter = 1;
    expect(() => store.apply(model)).toThrow(/km_l7_route/);
    expect(store.active().gen).toBe(1);
    for (const kind of l7Kinds) expect(gens(maps[kind], kind), kind).toEqual([1]);
    store.close();
  });
});
