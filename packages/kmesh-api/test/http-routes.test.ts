/**
 * issue 4: RouteConfigModel → L7 route-table records (golden layouts), route_config_id on http
 * listeners, texts, and the validation that rejects what the kernel cannot evaluate, with its reason.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeModel } from '../src/abi/encode.js';
import { checkRouteConfigForKernel, encodeL7Records, generationOfL7VhostKey, textsPerGeneration } from '../src/abi/http-routes.js';
import { L7HeaderKind, L7HostKind, L7Limits, L7PathKind, L7RouteAction, L7Structs, l7Offset } from '../src/abi/l7-layout.js';
import { Structs } from '../src/abi/layout.js';
import { loadConfigText } from '../src/config/load.js';
import type { MeshModel, RouteConfigModel, RouteModel } from '../src/model.js';

const route = (match: Partial<RouteModel['match']>, action: RouteModel['action'] = { kind: 'cluster', cluster: 'a' }): RouteModel => ({
  match: { caseSensitive: true, headers: [], ...match },
  action,
});

function meshWith(rc: RouteConfigModel, viaRds = false): MeshModel {
  const ep = (ip: string) => ({ address: { family: 4 as const, ip, port: 80 }, weight: 1, health: 'HEALTHY' as const, priority: 0 });
  return {
    clusters: [
      { name: 'a', lbPolicy: 'ROUND_ROBIN', endpoints: [ep('10.250.1.1')], connectTimeoutMs: 250 },
      { name: 'b', lbPolicy: 'ROUND_ROBIN', endpoints: [ep('10.250.1.2')] },
    ],
    listeners: [{ name: 'web', address: { family: 4, ip: '10.96.0.10', port: 80 }, route: { clusters: [] }, http: viaRds ? { routeConfigName: rc.name } : { routeConfig: rc } }],
    ...(viaRds ? { routes: [rc] } : {}),
  };
}

const rc: RouteConfigModel = {
  name: 'r',
  virtualHosts: [
    {
      name: 'app',
      domains: ['App.Example.com', '*.wild.test', 'pre.*', '*'],
      routes: [
        route({ prefix: '/Api/', caseSensitive: false, headers: [{ name: 'X-Canary', kind: 'exact', value: 'yes', invert: true }, { name: 'x-user', kind: 'present', invert: false }] }, { kind: 'weighted', route: { clusters: [{ name: 'a', weight: 90 }, { name: 'b', weight: 10 }, { name: 'gone', weight: 5 }] } }),
        route({ path: '/jason' }),
        route({ safeRegex: '/u/[0-9]+' }),
        route({ prefix: '/health' }, { kind: 'direct_response', status: 200, body: 'ok' }),
        route({ prefix: '/old' }, { kind: 'redirect', status: 302, location: 'http://new.test/x' }),
      ],
    },
  ],
};

describe('L7 route tables: golden records', () => {
  const records = encodeL7Records(meshWith(rc), 7, new Map([['a', 1], ['b', 2]]));

  it('virtual hosts: one trie key per domain, kind and bytes as the parser looks them up', () => {
    const keys = records.l7Vhosts.map((r) => r.key);
    expect(keys.every((k) => k.length === L7Structs.km_l7_vhost_key.size && generationOfL7VhostKey(k) === 7)).toBe(true);
    const host = (k: Buffer, n: number) => k.subarray(l7Offset('km_l7_vhost_key', 'host'), l7Offset('km_l7_vhost_key', 'host') + n).toString('latin1');
    const view = keys.map((k) => ({ prefixlen: k.readUInt32LE(0), rc: k.readUInt16LE(8), kind: k[10], host: host(k, (k.readUInt32LE(0) - 64) / 8) }));
    expect(view).toEqual([
      { prefixlen: 64 + 16 * 8, rc: 1, kind: L7HostKind.EXACT, host: 'app.example.com\0' }, // lower-cased, with the terminator
      { prefixlen: 64 + 10 * 8, rc: 1, kind: L7HostKind.SUFFIX, host: 'tset.dliw.' }, // reversed, without the '*'
      { prefixlen: 64 + 4 * 8, rc: 1, kind: L7HostKind.PREFIX, host: 'pre.' },
      { prefixlen: 64, rc: 1, kind: L7HostKind.ANY, host: '' },
    ]);
    const v = records.l7Vhosts[0]!.value;
    expect([v.readUInt32LE(0), v.readUInt32LE(4)]).toEqual([0, 5]); // route_first, route_count
  });

  it('routes: path kinds, case folding, header slice, weighted clusters with timeouts', () => {
    const r0 = records.l7Routes[0]!;
    expect([r0.key.readUInt32LE(0), r0.key.readUInt32LE(4)]).toEqual([7, 0]);
    const v = r0.value;
    expect(v.length).toBe(1264);
    expect(v[0]).toBe(L7PathKind.PREFIX);
    expect(v[1]).toBe(1); // case_insensitive
    expect(v.readUInt16LE(2)).toBe(5);
    expect(v.subarray(240, 246).toString('latin1')).toBe('/api/\0'); // stored lower-cased, zero padded
    expect([v.readUInt32LE(8), v.readUInt32LE(12)]).toEqual([0, 2]); // header_first, header_count
    expect(v.readUInt32LE(16)).toBe(L7RouteAction.CLUSTERS);
    const clusters = 96;
    const at = (f: string) => clusters + Structs.km_route.fields.find((x) => x.name === f)!.offset;
    expect(v.readUInt32LE(at('cluster_count'))).toBe(3);
    expect(v.readUInt32LE(at('total_weight'))).toBe(105);
    expect([0, 1, 2].map((i) => v.readUInt32LE(at('cluster_ids') + 4 * i))).toEqual([1, 2, 0]); // unknown cluster: id 0 -> 503
    expect([0, 1, 2].map((i) => v.readUInt32LE(at('cum_weights') + 4 * i))).toEqual([90, 100, 105]);
    expect([0, 1].map((i) => v.readUInt32LE(32 + 4 * i))).toEqual([250, 0]); // connect_timeout_ms per cluster

    expect(records.l7Routes[1]!.value[0]).toBe(L7PathKind.EXACT);
    const re = records.l7Routes[2]!.value;
    expect(re[0]).toBe(L7PathKind.REGEX);
    expect(re.readUInt32LE(4)).toBe(0); // the first DFA starts at state 0
  });

  it('header matchers and the route config header names', () => {
    const [h0, h1] = records.l7HeaderMatches.map((r) => r.value);
    expect([h0![0], h0![1], h0![2], h0!.readUInt32LE(4), h0!.subarray(16, 19).toString()]).toEqual([0, L7HeaderKind.EXACT, 1, 3, 'yes']);
    expect([h1![0], h1![1], h1![2]]).toEqual([1, L7HeaderKind.PRESENT, 0]);
    const names = records.l7HeaderNames[0]!;
    expect([names.key.readUInt32LE(0), names.key.readUInt32LE(4)]).toEqual([7, 1]);
    expect(names.value.readUInt32LE(0)).toBe(2);
    expect([names.value.readUInt32LE(4), names.value.readUInt32LE(8)]).toEqual([8, 6]);
    expect(names.value.subarray(36, 44).toString()).toBe('x-canary'); // lower-cased
    expect(names.value.subarray(36 + 64, 36 + 70).toString()).toBe('x-user');
  });

  it('DFA states: absolute next states, 0xffff for no match, accept flags', () => {
    const states = records.l7Dfa.map((r) => ({ index: r.key.readUInt32LE(4), next: (b: number) => r.value.readUInt16LE(2 * b), accept: r.value.readUInt32LE(512) }));
    expect(states.map((s) => s.index)).toEqual(states.map((_, i) => i));
    let s = 0;
    for (const ch of Buffer.from('/u/42')) s = states[s]!.next(ch);
    expect(states[s]!.accept).toBe(1);
    expect(states[0]!.next('x'.charCodeAt(0))).toBe(L7Limits.dfaDead);
  });

  it('direct response body and redirect Location as texts in this generation block', () => {
    const dr = records.l7Routes[3]!.value;
    const rd = records.l7Routes[4]!.value;
    expect([dr.readUInt32LE(16), dr.readUInt32LE(20)]).toEqual([L7RouteAction.DIRECT_RESPONSE, 200]);
    expect([rd.readUInt32LE(16), rd.readUInt32LE(20)]).toEqual([L7RouteAction.REDIRECT, 302]);
    const ids = [dr.readUInt32LE(24), rd.readUInt32LE(24)];
    expect(ids).toEqual([(7 % 4) * (textsPerGeneration + 1) + 1, (7 % 4) * (textsPerGeneration + 1) + 2]);
    const texts = new Map(records.l7Texts.map((t) => [t.key.readUInt32LE(0), t.value.subarray(4, 4 + t.value.readUInt32LE(0)).toString()]));
    expect(texts).toEqual(new Map([[ids[0]!, 'ok'], [ids[1]!, 'http://new.test/x']]));
  });

  it('encodeModel names the route config in the http listener km_route (inline and RDS)', () => {
    for (const viaRds of [false, true]) {
      const out = encodeModel(meshWith(rc, viaRds), 3);
      const value = out.listeners[0]!.value;
      expect(value.readUInt32LE(Structs.km_route.fields.find((f) => f.name === 'route_config_id')!.offset)).toBe(1);
      expect(out.l7Routes).toHaveLength(5);
    }
  });
});

describe('L7 validation: rejected with the resource and field', () => {
  const check = (r: RouteConfigModel) => checkRouteConfigForKernel(r, 'route_config(name=r)').map((d) => `${d.path}: ${d.message}`);

  it('regex outside the subset, in a route and in a header matcher', () => {
    const bad: RouteConfigModel = {
      name: 'r',
      virtualHosts: [{ name: 'v', domains: ['*'], routes: [{ ...route({ safeRegex: '/(a)\\1' }), name: 'br' }, route({ prefix: '/', headers: [{ name: 'x', kind: 'regex', value: 'a*?', invert: false }] })] }],
    };
    expect(check(bad)).toEqual([
      expect.stringMatching(/^route_config\(name=r\)\.virtual_hosts\[0\]\(name=v\)\.routes\[0\]\(name=br\)\.match\.safe_regex\.regex: .*backreferences/),
      expect.stringMatching(/routes\[1\]\.match\.headers\[0\]\(name=x\)\.safe_regex_match\.regex: .*lazy quantifiers/),
    ]);
  });

  it('limits: routes per vhost, header matchers per route, header names per config, path and domain shapes', () => {
    const many = Array.from({ length: 65 }, (_, i) => route({ prefix: `/${i}` }));
    expect(check({ name: 'r', virtualHosts: [{ name: 'v', domains: ['*'], routes: many }] })).toEqual([expect.stringMatching(/routes: 65 routes is more than 64/)]);
    const headers = Array.from({ length: 9 }, (_, i) => ({ name: `h${i}`, kind: 'present' as const, invert: false }));
    const out = check({ name: 'r', virtualHosts: [{ name: 'v', domains: ['a.*.b', 'x'.repeat(241)], routes: [route({ prefix: '/'.repeat(1025), headers })] }] });
    expect(out).toEqual([
      expect.stringMatching(/domains\[0\]: domain "a\.\*\.b" has a wildcard/),
      expect.stringMatching(/domains\[1\]: domain of 241 bytes is longer than 240/),
      expect.stringMatching(/routes\[0\]\.match: path of 1025 bytes is longer than 1024/),
      expect.stringMatching(/match\.headers: 9 header matchers is more than 8/),
      expect.stringMatching(/^route_config\(name=r\): the routes match on 9 different header names/),
    ]);
  });

  it('a bootstrap with an unsupported regex is NACKed with the path of the field', () => {
    const text = readFileSync(resolve(import.meta.dirname, '../../../examples/l7-canary.yaml'), 'utf8').replace('"/api/v1/products/[0-9]+"', '"/api/(?i)products"');
    const t = loadConfigText(text, 'l7.yaml');
    expect(t.ok).toBe(false);
    const messages = t.ok ? [] : t.errors.map((e) => `${e.path}: ${e.message}`);
    expect(messages).toEqual([expect.stringMatching(/virtual_hosts\[1\]\(name=productpage\)\.routes\[1\]\(name=product-by-id\)\.match\.safe_regex\.regex: .*flags/)]);
  });

  it('the shipped example is accepted', () => {
    const t = loadConfigText(readFileSync(resolve(import.meta.dirname, '../../../examples/l7-canary.yaml'), 'utf8'), 'l7.yaml');
    expect(t.ok ? [] : t.errors).toEqual([]);
  });
});
