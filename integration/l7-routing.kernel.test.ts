// L7 (HTTP/1.1) routing through the kernel parser and the relay (issue 4): one lab with the HTTP
// backend, one daemon serving the client netns, real clients (the raw Python client, curl) inside the
// mesh cgroup. Every backend answers with its name (x-backend), so each assertion is "this request, sent
// on a new connection to the VIP, was answered by that backend".
//
// The semantics asserted are docs/l7.md's (Envoy's): virtual host by Host (exact, longest *.suffix,
// longest prefix.*, *; as sent, then without the port), routes in order, first match wins, header
// matchers, weighted clusters per connection, and every later request on a connection following the first.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { patternBytes, type EchoBody, type Lab } from '../tools/lab/index.js';
import { cluster } from './support/envoy.js';
import { expectShares } from './support/mesh.js';
import {
  answeredBy, describe as show, directResponse, exchange, httpListener, rawRequests, request, routeConfig, startL7Mesh, toCluster, toWeighted,
  type L7Mesh, type RawCase,
} from './support/l7.js';

const id = `l7r${process.pid % 100000}`;
const VIP = { main: '10.96.7.1', noDefault: '10.96.7.2', v6: 'fd00:96::71' };
const MAIN = `${VIP.main}:80`;
const MAIN_V6 = `[${VIP.v6}]:80`;
const NO_DEFAULT = `${VIP.noDefault}:80`;

/** One backend per behaviour: the name it answers with says which vhost/route matched. */
const BACKENDS = [
  'vh-exact', 'vh-suffix', 'vh-suffix-deep', 'vh-prefix', 'vh-prefix-long', 'vh-port', 'vh-default',
  'vh-exact-b', 'vh-suffix-b',
  'reviews-v2', 'api', 'path-exact', 'path-ci', 'prefix-ci', 'regex',
  'h-prefix', 'h-suffix', 'h-contains', 'h-present', 'h-absent', 'h-invert', 'h-sm', 'h-multi',
  'canary-90', 'canary-10', 'lb-a', 'lb-b', 'catch-all',
];

function config(lab: Lab): object {
  const one = (name: string) => cluster(name, 'ROUND_ROBIN', [{ address: lab.backend(name).ipv4 }]);
  const p = (prefix: string) => ({ prefix });
  const main = routeConfig('main', [
    { name: 'exact', domains: ['exact.test'], routes: [toCluster('r', p('/'), 'vh-exact')] },
    { name: 'suffix', domains: ['*.suffix.test'], routes: [toCluster('r', p('/'), 'vh-suffix')] },
    { name: 'suffix-deep', domains: ['*.deep.suffix.test'], routes: [toCluster('r', p('/'), 'vh-suffix-deep')] },
    { name: 'prefix', domains: ['prefix.*'], routes: [toCluster('r', p('/'), 'vh-prefix')] },
    { name: 'prefix-long', domains: ['prefix.longer.*'], routes: [toCluster('r', p('/'), 'vh-prefix-long')] },
    { name: 'port', domains: ['port.test:8080'], routes: [toCluster('r', p('/'), 'vh-port')] },
    { name: 'canary', domains: ['canary.test'], routes: [toWeighted('r', p('/'), [{ name: 'canary-90', weight: 90 }, { name: 'canary-10', weight: 10 }])] },
    {
      name: 'routes',
      domains: ['routes.test'],
      routes: [
        toCluster('jason', p('/'), 'reviews-v2', { headers: [{ name: 'end-user', string_match: { exact: 'jason' } }] }),
        toCluster('api', p('/api/'), 'api'),
        toCluster('exact-path', { path: '/exact' }, 'path-exact'),
        toCluster('ci-path', { path: '/ci' }, 'path-ci', { caseSensitive: false }),
        toCluster('ci-prefix', p('/CiPrefix/'), 'prefix-ci', { caseSensitive: false }),
        toCluster('regex', { safe_regex: { regex: '/regex/[0-9]+/item' } }, 'regex'),
        toCluster('h-prefix', p('/h/prefix'), 'h-prefix', { headers: [{ name: 'x-h', prefix_match: 'abc' }] }),
        toCluster('h-suffix', p('/h/suffix'), 'h-suffix', { headers: [{ name: 'x-h', suffix_match: 'xyz' }] }),
        toCluster('h-contains', p('/h/contains'), 'h-contains', { headers: [{ name: 'x-h', contains_match: 'mid' }] }),
        toCluster('h-present', p('/h/present'), 'h-present', { headers: [{ name: 'x-h', present_match: true }] }),
        toCluster('h-absent', p('/h/absent'), 'h-absent', { headers: [{ name: 'x-h', present_match: false }] }),
        toCluster('h-invert', p('/h/invert'), 'h-invert', { headers: [{ name: 'x-h', exact_match: 'no', invert_match: true }] }),
        toCluster('h-sm', p('/h/sm'), 'h-sm', { headers: [{ name: 'X-H', string_match: { exact: 'v' } }] }),
        toCluster('h-multi', p('/h/multi'), 'h-multi', { headers: [{ name: 'x-a', exact_match: '1' }, { name: 'x-b', prefix_match: '2' }] }),
        toCluster('lb', p('/lb/'), 'lb'),
        directResponse('direct', { path: '/direct' }, 200, 'hello from the kernel route table'),
        // no catch-all: anything else is 404
      ],
    },
    { name: 'default', domains: ['*'], routes: [toCluster('r', p('/'), 'vh-default')] },
  ]);
  // No '*' here: an unknown Host is a 404, and the port fallback is visible.
  const noDefault = routeConfig('no-default', [
    { name: 'exact', domains: ['exact.test'], routes: [toCluster('r', p('/'), 'vh-exact-b')] },
    { name: 'suffix', domains: ['*.suffix.test'], routes: [toCluster('r', p('/'), 'vh-suffix-b')] },
  ]);
  const names = BACKENDS.filter((b) => !b.startsWith('lb-'));
  return {
    static_resources: {
      listeners: [httpListener('l7-main', VIP.main, 80, main), httpListener('l7-no-default', VIP.noDefault, 80, noDefault), httpListener('l7-v6', VIP.v6, 80, main)],
      clusters: [
        ...names.map(one),
        cluster('lb', 'ROUND_ROBIN', [{ address: lab.backend('lb-a').ipv4 }, { address: lab.backend('lb-b').ipv4 }]),
      ],
    },
  };
}

describe.skipIf(process.getuid?.() !== 0)('L7 routing: HTTP/1.1 requests routed by the kernel route table', () => {
  let mesh: L7Mesh;
  let lab: Lab;

  beforeAll(async () => {
    mesh = await startL7Mesh({ id, servers: BACKENDS.map((name) => ({ name })), config, ipv6: true });
    lab = mesh.lab;
  });
  afterAll(async () => {
    await mesh?.teardown();
  });

  /** Each [host, path, headers, expected backend or "kmesh:<status>"], one new connection each. */
  async function expectRoutes(target: string, table: [string | null, string, [string, string][], string][]): Promise<void> {
    const cases: RawCase[] = table.map(([host, path, headers], i) => ({ id: i, requests: [request('GET', path, host, headers)] }));
    const results = await rawRequests(lab, cases, { target, concurrency: 16 });
    const wrong: string[] = [];
    table.forEach(([, , , expected], i) => {
      const r = results.get(i)!;
      const got = answeredBy(r)[0] ?? `nothing (${r.connect === 'ok' ? r.end : r.connect})`;
      if (got !== expected) wrong.push(`expected ${expected}: ${show(cases[i].requests, r)}`);
    });
    expect(wrong, wrong.join('\n')).toEqual([]);
  }

  it('selects the virtual host by Host: exact, longest *.suffix, longest prefix.*, with port, then *', async () => {
    await expectRoutes(MAIN, [
      ['exact.test', '/', [], 'vh-exact'],
      ['EXACT.Test', '/', [], 'vh-exact'], // Host is compared lower-cased
      ['a.suffix.test', '/', [], 'vh-suffix'],
      ['a.b.suffix.test', '/', [], 'vh-suffix'],
      ['x.deep.suffix.test', '/', [], 'vh-suffix-deep'], // the longer suffix wins
      ['suffix.test', '/', [], 'vh-default'], // "*." needs at least one character before it
      ['prefix.anything', '/', [], 'vh-prefix'],
      ['prefix.longer.x', '/', [], 'vh-prefix-long'], // the longer prefix wins
      ['exact.test.suffix.test', '/', [], 'vh-suffix'], // suffix beats prefix, exact needs all of it
      ['port.test:8080', '/', [], 'vh-port'], // the Host as sent, with its port
      ['port.test', '/', [], 'vh-default'],
      ['unknown.example', '/', [], 'vh-default'],
      ['exact.test:80', '/', [], 'vh-default'], // as sent matches '*' first: no fallback needed
    ]);
  });

  it('falls back to the Host without its port, and answers 404 when no virtual host matches', async () => {
    await expectRoutes(NO_DEFAULT, [
      ['exact.test', '/', [], 'vh-exact-b'],
      ['exact.test:80', '/', [], 'vh-exact-b'],
      ['exact.test:9999', '/', [], 'vh-exact-b'],
      ['a.suffix.test:8080', '/', [], 'vh-suffix-b'],
      ['unknown.example', '/', [], 'kmesh:404'],
      ['unknown.example:80', '/', [], 'kmesh:404'],
    ]);
  });

  it('path matchers: prefix (with query), exact path (query removed), case_sensitive false, regex (whole path)', async () => {
    const h = 'routes.test';
    await expectRoutes(MAIN, [
      [h, '/api/', [], 'api'],
      [h, '/api/v1/items?x=1', [], 'api'],
      [h, '/apix', [], 'kmesh:404'], // prefix "/api/" must not match "/apix"
      [h, '/API/v1', [], 'kmesh:404'], // prefix is case-sensitive by default
      [h, '/exact', [], 'path-exact'],
      [h, '/exact?q=1', [], 'path-exact'], // path ignores the query
      [h, '/exact/', [], 'kmesh:404'],
      [h, '/exactly', [], 'kmesh:404'],
      [h, '/EXACT', [], 'kmesh:404'],
      [h, '/ci', [], 'path-ci'],
      [h, '/CI', [], 'path-ci'], // case_sensitive: false
      [h, '/Ci?z', [], 'path-ci'],
      [h, '/cix', [], 'kmesh:404'],
      [h, '/ciprefix/a', [], 'prefix-ci'],
      [h, '/CIPREFIX/b', [], 'prefix-ci'],
      [h, '/regex/12/item', [], 'regex'],
      [h, '/regex/0/item?q=a', [], 'regex'], // regex sees the path without its query
      [h, '/regex/12/item/x', [], 'kmesh:404'], // whole-path match, not a search
      [h, '/regex//item', [], 'kmesh:404'],
      [h, '/regex/1a/item', [], 'kmesh:404'],
      [h, '/x/regex/1/item', [], 'kmesh:404'],
      [h, '/nothing', [], 'kmesh:404'], // no route matched
    ]);
  });

  it('header matchers: exact (jason, not jason2), prefix, suffix, contains, present, absent, invert, all-of', async () => {
    const h = 'routes.test';
    await expectRoutes(MAIN, [
      [h, '/anything', [['end-user', 'jason']], 'reviews-v2'],
      [h, '/anything', [['End-User', 'jason']], 'reviews-v2'], // header names are case-insensitive
      [h, '/anything', [['end-user', 'jason2']], 'kmesh:404'], // exact must not match jason2
      [h, '/anything', [['end-user', 'Jason']], 'kmesh:404'],
      [h, '/anything', [['end-user', 'xjason']], 'kmesh:404'],
      [h, '/api/x', [['end-user', 'jason2']], 'api'], // the next route still applies
      [h, '/api/x', [['end-user', 'jason']], 'reviews-v2'], // first match wins
      [h, '/x', [['end-user', 'jason'], ['end-user', 'bob']], 'reviews-v2'], // the first occurrence counts
      [h, '/x', [['end-user', 'bob'], ['end-user', 'jason']], 'kmesh:404'],
      [h, '/h/prefix', [['x-h', 'abcdef']], 'h-prefix'],
      [h, '/h/prefix', [['x-h', 'xabc']], 'kmesh:404'],
      [h, '/h/suffix', [['x-h', '123xyz']], 'h-suffix'],
      [h, '/h/suffix', [['x-h', 'xyz1']], 'kmesh:404'],
      [h, '/h/contains', [['x-h', 'aamidbb']], 'h-contains'],
      [h, '/h/contains', [['x-h', 'm-i-d']], 'kmesh:404'],
      [h, '/h/present', [['x-h', '']], 'h-present'],
      [h, '/h/present', [], 'kmesh:404'],
      [h, '/h/absent', [], 'h-absent'],
      [h, '/h/absent', [['x-h', 'anything']], 'kmesh:404'],
      [h, '/h/invert', [['x-h', 'yes']], 'h-invert'],
      [h, '/h/invert', [['x-h', 'no']], 'kmesh:404'],
      [h, '/h/invert', [], 'h-invert'], // absent fails exact; invert_match flips it
      [h, '/h/sm', [['x-h', 'v']], 'h-sm'],
      [h, '/h/sm', [['x-h', 'vv']], 'kmesh:404'],
      [h, '/h/multi', [['x-a', '1'], ['x-b', '2x']], 'h-multi'],
      [h, '/h/multi', [['x-a', '1']], 'kmesh:404'], // every matcher must match
      [h, '/h/multi', [['x-b', '2'], ['x-a', '2']], 'kmesh:404'],
    ]);
  });

  it('direct_response: the route answers itself with its status and body', async () => {
    const r = await exchange(lab, MAIN, [request('GET', '/direct', 'routes.test')]);
    expect(r.responses, show(request('GET', '/direct', 'routes.test'), r)).toHaveLength(1);
    expect(r.responses[0].status).toBe(200);
    expect(r.responses[0].headers['x-backend']).toBeUndefined();
    expect(r.responses[0].body).toContain('hello from the kernel route table');
  });

  it('404 for no route carries connection: close and an x-kmesh-reason, then the connection closes', async () => {
    const sent = request('GET', '/nothing', 'routes.test');
    const r = await exchange(lab, MAIN, [sent], { untilClose: true, timeoutMs: 3000, responses: 1 });
    expect(r.responses[0]?.status, show(sent, r)).toBe(404);
    expect(r.responses[0].headers['x-kmesh-reason'], show(sent, r)).toBeTruthy();
    expect(r.responses[0].headers.connection?.toLowerCase()).toBe('close');
    expect(r.end, `${show(sent, r)}: the connection stayed open after a connection: close answer`).toBe('eof');
  });

  it('weighted clusters 90/10: within ±3% over 2,000 connections', async () => {
    const cases: RawCase[] = Array.from({ length: 2000 }, (_, i) => ({ id: i, requests: [request('GET', '/', 'canary.test')] }));
    const results = await rawRequests(lab, cases, { target: MAIN, concurrency: 16 });
    const by: Record<string, number> = {};
    const failed: string[] = [];
    for (const [i, r] of results) {
      const b = r.responses[0]?.headers['x-backend'];
      if (b) by[b] = (by[b] ?? 0) + 1;
      else failed.push(show(cases[i].requests, r));
    }
    expect(failed.slice(0, 5), `${failed.length} of 2000 connections got no backend answer`).toEqual([]);
    expectShares(by, { 'canary-90': 0.9, 'canary-10': 0.1 }, 0.03);
  });

  it("after the route, the cluster's load balancing applies (round robin over 2 endpoints)", async () => {
    const cases: RawCase[] = Array.from({ length: 200 }, (_, i) => ({ id: i, requests: [request('GET', '/lb/x', 'routes.test')] }));
    const results = await rawRequests(lab, cases, { target: MAIN, concurrency: 4 });
    const by: Record<string, number> = {};
    for (const r of results.values()) for (const b of answeredBy(r)) by[b] = (by[b] ?? 0) + 1;
    expectShares(by, { 'lb-a': 0.5, 'lb-b': 0.5 }, 0.05);
  });

  it('keep-alive: every later request follows the first request\'s route, on the same upstream connection', async () => {
    const sent = [
      request('GET', '/api/first', 'routes.test'),
      request('GET', '/exact', 'routes.test'), // would route to path-exact on its own
      request('GET', '/x', 'routes.test', [['end-user', 'jason']]), // would route to reviews-v2
      request('POST', '/nothing', 'other.host', [], Buffer.from('{"a":1}')), // would be a 404
    ];
    const r = await exchange(lab, MAIN, sent);
    expect(answeredBy(r), show(sent, r)).toEqual(['api', 'api', 'api', 'api']);
    const echoes = r.responses.map((x) => JSON.parse(x.body) as EchoBody);
    expect(echoes.map((e) => e.path)).toEqual(['/api/first', '/exact', '/x', '/nothing']);
    expect(echoes.map((e) => e.requestIndex)).toEqual([1, 2, 3, 4]);
    expect(new Set(echoes.map((e) => e.peer)).size, 'the requests reached the backend over more than one connection').toBe(1);
    expect(echoes[3].bodyBytes).toBe(7);
  });

  it('keep-alive on a canary: the weighted choice is made once per connection', async () => {
    const cases: RawCase[] = Array.from({ length: 40 }, (_, i) => ({
      id: i, requests: Array.from({ length: 5 }, (_, k) => request('GET', `/k${k}`, 'canary.test')),
    }));
    const results = await rawRequests(lab, cases, { target: MAIN, concurrency: 8 });
    const mixed: string[] = [];
    for (const [i, r] of results) {
      const names = answeredBy(r);
      if (names.length !== 5 || new Set(names).size !== 1 || names[0].startsWith('kmesh:')) mixed.push(show(cases[i].requests, r));
    }
    expect(mixed, mixed.join('\n')).toEqual([]);
  });

  it('pipelined requests (one write) are all answered, in order, by the first request\'s backend', async () => {
    const sent = [
      request('GET', '/api/p1', 'routes.test'),
      request('GET', '/api/p2', 'routes.test'),
      request('GET', '/exact', 'routes.test'),
      request('GET', '/api/p4', 'routes.test', [['connection', 'close']]),
    ];
    const r = await exchange(lab, MAIN, sent, { pipeline: true, shutWrite: true });
    expect(answeredBy(r), show(sent, r)).toEqual(['api', 'api', 'api', 'api']);
    expect(r.responses.map((x) => (JSON.parse(x.body) as EchoBody).path)).toEqual(['/api/p1', '/api/p2', '/exact', '/api/p4']);
    expect(r.end, show(sent, r)).toBe('eof');
  });

  it('a request head split over several writes (corked until complete) is routed as a whole', async () => {
    const full = request('GET', '/h/sm', 'routes.test', [['x-pad', 'p'.repeat(1500)], ['x-h', 'v']]);
    const parts = [full.subarray(0, 7), full.subarray(7, 700), full.subarray(700, full.length - 1), full.subarray(full.length - 1)];
    const r = await exchange(lab, MAIN, parts, { pipeline: true, gapMs: 50, responses: 1 });
    expect(answeredBy(r), show(full, r)).toEqual(['h-sm']);
  });

  it('10 MiB request and response bodies cross intact (sha256 both ways, curl)', async () => {
    const file = `/tmp/kmesh-${id}-upload.bin`;
    const down = `/tmp/kmesh-${id}-download.bin`;
    const body = randomBytes(10 * 1024 * 1024);
    writeFileSync(file, body);
    try {
      const up = await lab.execInClient('curl', ['-sS', '-m', '30', '-H', 'Host: routes.test', '-H', 'Expect:', '--data-binary', `@${file}`, `http://${MAIN}/api/upload`], { inMeshCgroup: true, timeoutMs: 40_000 });
      expect(up.code, `curl upload: ${up.stderr}`).toBe(0);
      const echo = JSON.parse(up.stdout) as EchoBody;
      expect(echo.backend).toBe('api');
      expect(echo.bodyBytes).toBe(body.length);
      expect(echo.bodySha256).toBe(createHash('sha256').update(body).digest('hex'));

      const n = 10 * 1024 * 1024;
      const dl = await lab.execInClient('curl', ['-sS', '-m', '30', '-H', 'Host: routes.test', '-D', '-', '-o', down, `http://${MAIN}/api/bytes/${n}`], { inMeshCgroup: true, timeoutMs: 40_000 });
      expect(dl.code, `curl download: ${dl.stderr}`).toBe(0);
      expect(dl.stdout).toMatch(/^x-backend: api\r?$/im);
      const got = readFileSync(down);
      expect(got.length).toBe(n);
      const sha = /^x-sha256: ([0-9a-f]{64})/im.exec(dl.stdout)?.[1];
      expect(createHash('sha256').update(got).digest('hex')).toBe(sha);
      expect(got.subarray(0, 70_000).equals(patternBytes(70_000))).toBe(true);
    } finally {
      rmSync(file, { force: true });
      rmSync(down, { force: true });
    }
  });

  it('getpeername() of a routed connection returns the VIP (curl reports the remote address)', async () => {
    const r = await lab.execInClient('curl', ['-sS', '-m', '5', '-H', 'Host: routes.test', '-o', '/dev/null', '-w', '%{remote_ip}:%{remote_port}', `http://${MAIN}/api/x`], { inMeshCgroup: true, timeoutMs: 10_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(MAIN);
  });

  it('a regex outside the kernel subset is rejected with the reason, and the running routes keep serving', async () => {
    const good = config(lab) as { static_resources: { listeners: { filter_chains: { filters: { typed_config: { route_config: { virtual_hosts: { routes: { match: Record<string, unknown> }[] }[] } } }[] }[] }[] } };
    const bad = structuredClone(good);
    const routes = bad.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts.find((v) => (v as unknown as { name: string }).name === 'routes')!.routes;
    routes.find((r) => 'safe_regex' in r.match)!.match = { safe_regex: { regex: '(?<=/x)/regex/[0-9]+' } };
    const line = await mesh.rejectConfig(bad);
    expect(line).toMatch(/lookaround|look-around|lookbehind/i);
    await expectRoutes(MAIN, [['routes.test', '/regex/12/item', [], 'regex'], ['routes.test', '/api/x', [], 'api']]);
  });

  it('IPv6 listener: the same routes from an IPv6 client socket (anchor on ::1), getpeername() shows the IPv6 VIP', async () => {
    await expectRoutes(MAIN_V6, [
      ['exact.test', '/', [], 'vh-exact'],
      ['routes.test', '/api/x', [], 'api'],
      ['routes.test', '/x', [['end-user', 'jason']], 'reviews-v2'],
      ['routes.test', '/apix', [], 'kmesh:404'],
    ]);
    const r = await lab.execInClient('curl', ['-sS', '-m', '5', '-H', 'Host: routes.test', '-o', '/dev/null', '-w', '%{remote_ip}', `http://${MAIN_V6}/api/x`], { inMeshCgroup: true, timeoutMs: 10_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(VIP.v6);
  });

  it('leaves processes outside the mesh cgroup alone: the VIP fails locally for them', async () => {
    const r = await lab.execInClient('curl', ['-sS', '-m', '3', '-H', 'Host: routes.test', `http://${MAIN}/api/x`], { inMeshCgroup: false, timeoutMs: 10_000 });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/No route to host|Couldn't connect/i);
  });
});
