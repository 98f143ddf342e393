// Connection protection on the L7 (HTTP/1.1) path, with real connections from the lab's client netns
// through the mesh cgroup to an http_connection_manager listener:
//   - circuit breaker: a cluster at max_connections answers the excess requests with Kmesh's own 503
//     (x-kmesh-reason: circuit breaker open, x-envoy-overloaded: true), counted once each; connections
//     already admitted keep being served; capacity returns when a client connection closes; a burst of
//     concurrent requests admits exactly max_connections;
//   - outlier detection: the relay's refused or timed-out upstream connects eject the endpoint after the
//     configured consecutive failures, and L7 requests then go to the live endpoint only; a successful
//     connect ends an endpoint's run of failures; a connection's first response counts too (5xx: a
//     failure, anything else ends the run), later responses on a keep-alive connection do not;
//   - local rate limit: envoy.filters.network.local_ratelimit before http_connection_manager refuses
//     an HTTP listener's connections beyond its tokens at connect(), as for a tcp_proxy listener;
//   - LEAST_REQUEST: L7 connections are counted on their endpoint, so an endpoint holding many long
//     connections gets few new ones (ROUND_ROBIN: its share).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminGet, type Lab } from '../tools/lab/index.js';
import { cluster } from './support/envoy.js';
import { answeredBy, describe as show, exchange, httpListener, rawRequests, request, routeConfig, startL7Mesh, toCluster, type L7Mesh, type RawCase, type RawResult } from './support/l7.js';
import { showAnswer, startL7Holder, startMeshBackend, waitForCluster, type HeldAnswer, type L7Holder } from './support/l7-resilience.js';
import { clusterView, resilience, stats } from './support/resilience.js';

const id = `l7r${process.pid % 100000}`;
const VIP = { breaker: '10.96.9.1', outlier: '10.96.9.2', run: '10.96.9.3', leastRequest: '10.96.9.4', roundRobin: '10.96.9.5', burst: '10.96.9.6', timeout: '10.96.9.7', status: '10.96.9.8', local: '10.96.9.9', limited: '10.96.9.10', self: '10.96.9.11', v6: 'fd00:96::91' };
const target = (vip: string) => `${vip}:80`;
const servers = ['rl-a', 'cb-a', 'cbb-a', 'od-a', 'ot-a', 'fx-a', 'v6-a', 'run-a', 'lr-a', 'lr-b', 'lr-c', 'rr-a', 'rr-b', 'rr-c'].map((name) => ({ name }));

const BREAKER_MAX = 3;
const OUTLIER_FAILURES = 2;
/** A port nothing listens on at the live backend's address: the relay's connect() is refused (RST). */
const REFUSING_PORT = 9999;
/** Host number in the lab's /24 that nobody has: a connect() there gets no SYN-ACK (ARP is unanswered). */
const SILENT_HOST = 251;
const CONNECT_TIMEOUT_MS = 500;
/** Port of the same-node backend in the mesh cgroup, on the server netns' own address (startMeshBackend). */
const LOCAL_PORT = 9181;
/** Port of the backend in the client's own netns (a pod calling a service that resolves to itself). */
const SELF_PORT = 9182;

/** One listener per service, every request of any host to the service's cluster. */
function serviceListener(name: string, vip: string, clusterName: string): object {
  return httpListener(name, vip, 80, routeConfig(name, [{ name, domains: ['*'], routes: [toCluster(name, { prefix: '/' }, clusterName)] }]));
}

/** The HTTP listener with envoy.filters.network.local_ratelimit before http_connection_manager: RATE_TOKENS
 *  connections, then one more per minute (none within the test). */
const RATE_TOKENS = 3;
function rateLimited(listener: object): object {
  const l = listener as { filter_chains: { filters: object[] }[] };
  l.filter_chains[0]!.filters.unshift({
    name: 'envoy.filters.network.local_ratelimit',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit',
      stat_prefix: 'limited',
      token_bucket: { max_tokens: RATE_TOKENS, tokens_per_fill: 1, fill_interval: '60s' },
    },
  });
  return l;
}

/** phase 'narrow': the least-request and round-robin clusters have only their "a" endpoint. */
function config(lab: Lab, phase: 'narrow' | 'wide'): object {
  const ep = (name: string) => ({ address: lab.backend(name).ipv4 });
  const spread = (prefix: string) => (phase === 'narrow' ? [ep(`${prefix}-a`)] : [ep(`${prefix}-a`), ep(`${prefix}-b`), ep(`${prefix}-c`)]);
  const outlier = { consecutive_gateway_failure: OUTLIER_FAILURES, consecutive_5xx: OUTLIER_FAILURES, interval: '1s', base_ejection_time: '30s', max_ejection_percent: 50 };
  return {
    static_resources: {
      listeners: [
        serviceListener('breaker', VIP.breaker, 'cb'),
        serviceListener('burst', VIP.burst, 'cbb'),
        serviceListener('outlier', VIP.outlier, 'od'),
        serviceListener('timeout', VIP.timeout, 'ot'),
        serviceListener('v6', VIP.v6, 'v6'),
        serviceListener('status', VIP.status, 'fx'),
        serviceListener('local', VIP.local, 'lx'),
        serviceListener('run', VIP.run, 'run'),
        serviceListener('least-request', VIP.leastRequest, 'lr'),
        rateLimited(serviceListener('limited', VIP.limited, 'rl')),
        serviceListener('self', VIP.self, 'self'),
        serviceListener('round-robin', VIP.roundRobin, 'rr'),
      ],
      clusters: [
        { ...cluster('cb', 'ROUND_ROBIN', [ep('cb-a')]), circuit_breakers: { thresholds: [{ max_connections: BREAKER_MAX }] } },
        { ...cluster('cbb', 'ROUND_ROBIN', [ep('cbb-a')]), circuit_breakers: { thresholds: [{ max_connections: BREAKER_MAX }] } },
        { ...cluster('od', 'ROUND_ROBIN', [ep('od-a'), { address: lab.backend('od-a').ipv4, port: REFUSING_PORT }]), outlier_detection: outlier },
        {
          ...cluster('ot', 'ROUND_ROBIN', [ep('ot-a'), { address: `10.250.${lab.n}.${SILENT_HOST}` }]),
          connect_timeout: `${CONNECT_TIMEOUT_MS / 1000}s`,
          outlier_detection: outlier,
        },
        {
          // IPv6 endpoints: the live backend and a port nothing listens on at its address.
          ...cluster('v6', 'ROUND_ROBIN', [{ address: lab.backend('v6-a').ipv6! }, { address: lab.backend('v6-a').ipv6!, port: REFUSING_PORT }]),
          circuit_breakers: { thresholds: [{ max_connections: 2 }] },
          outlier_detection: outlier,
        },
        // One endpoint: Envoy (and Kmesh) may always eject one, whatever max_ejection_percent says.
        { ...cluster('run', 'ROUND_ROBIN', [ep('run-a')]), outlier_detection: outlier },
        { ...cluster('fx', 'ROUND_ROBIN', [ep('fx-a')]), outlier_detection: outlier },
        { ...cluster('lx', 'ROUND_ROBIN', [{ address: lab.addresses.serverV4, port: LOCAL_PORT }]), outlier_detection: outlier },
        { ...cluster('lr', 'ROUND_ROBIN', spread('lr')), lb_policy: 'LEAST_REQUEST' },
        cluster('rr', 'ROUND_ROBIN', spread('rr')),
        cluster('rl', 'ROUND_ROBIN', [ep('rl-a')]),
        cluster('self', 'ROUND_ROBIN', [{ address: lab.addresses.clientV4, port: SELF_PORT }]),
      ],
    },
  };
}

/** The L7 parser's counters (km_l7_stats) from the daemon's /stats. */
async function l7Stats(adminUrl: string): Promise<Record<string, number>> {
  const r = await adminGet(adminUrl, '/stats');
  if (r.status !== 200) throw new Error(`/stats answered ${r.status}: ${r.body}`);
  const body = JSON.parse(r.body) as { l7Parser?: Record<string, number> };
  if (!body.l7Parser) throw new Error(`/stats has no l7Parser section (the L7 object is not loaded?): ${r.body.slice(0, 500)}`);
  return body.l7Parser;
}

const showAll = (answers: HeldAnswer[]) => answers.map(showAnswer).join(' | ');

/** A counter of the relay from /metrics (kmesh_l7_relay_*). */
async function relayCounter(name: string): Promise<number> {
  const text = await (await fetch(`${mesh.daemon.adminUrl}/metrics`)).text();
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
  if (!m) throw new Error(`/metrics has no ${name}`);
  return Number(m[1]);
}

/**
 * Requests on new connections to a one-endpoint cluster with consecutive_5xx 2: each connection's first
 * response moves the endpoint's run of failures as the docs say (5xx +1, anything else back to 0;
 * later responses on the same connection ignored), until two 5xx in a row eject it.
 */
async function firstResponseCounts(vip: string, clusterName: string, backend: string): Promise<void> {
  const endpointView = async (want: (e: { consecutiveFailures: number; ejected: boolean }) => boolean) => {
    const c = await waitForCluster(mesh.daemon.adminUrl, clusterName, (v) => want(v.endpoints[0]!), 2000);
    return { view: JSON.stringify(c), endpoint: c.endpoints[0]! };
  };
  /** One connection, its requests in sequence; the statuses and who answered them. */
  const connection = async (...paths: string[]) => {
    const sent = paths.map((p) => request('GET', p, 'status.test'));
    const r = await exchange(mesh.lab, target(vip), sent, { timeoutMs: 5000 });
    return { got: r.responses.map((x) => `${x.status} ${x.headers['x-backend'] ?? x.headers['x-kmesh-reason']}`), why: show(sent, r) };
  };
  const steps: { paths: string[]; statuses: number[]; failures: number; why: string }[] = [
    { paths: ['/status/503'], statuses: [503], failures: 1, why: 'a 503 answer is one failure' },
    { paths: ['/ok'], statuses: [200], failures: 0, why: 'a 200 answer ends the run' },
    { paths: ['/status/500'], statuses: [500], failures: 1, why: 'a 500 answer is one failure (consecutive_5xx)' },
    { paths: ['/status/404'], statuses: [404], failures: 0, why: 'a 4xx answer is no failure and ends the run' },
    { paths: ['/status/502'], statuses: [502], failures: 1, why: 'a 502 answer is one failure' },
    { paths: ['/ok', '/status/503', '/status/503'], statuses: [200, 503, 503], failures: 0, why: 'only the first response of a connection counts' },
    { paths: ['/status/503', '/ok'], statuses: [503, 200], failures: 1, why: 'only the first response of a connection counts' },
  ];
  for (const step of steps) {
    const c = await connection(...step.paths);
    expect(c.got, c.why).toEqual(step.statuses.map((st) => `${st} ${backend}`));
    const s = await endpointView((e) => e.consecutiveFailures === step.failures);
    expect(s.endpoint, `after ${JSON.stringify(step.paths)}: ${step.why}: ${s.view}`).toMatchObject({ consecutiveFailures: step.failures, ejected: false });
  }
  // The second failure in a row reaches consecutive_5xx: ejected.
  const last = await connection('/status/504');
  expect(last.got, last.why).toEqual([`504 ${backend}`]);
  const s = await endpointView((e) => e.ejected);
  expect(s.endpoint, s.view).toMatchObject({ ejected: true, ejections: 1 });
}

let mesh: L7Mesh;

describe.skipIf(process.getuid?.() !== 0)('L7 path: circuit breaker, outlier detection and LEAST_REQUEST', () => {
  let lab: Lab;
  let holder: L7Holder;
  const adminUrl = () => mesh.daemon.adminUrl;

  beforeAll(async () => {
    mesh = await startL7Mesh({ id, servers, ipv6: true, config: (l) => config(l, 'narrow') });
    lab = mesh.lab;
    holder = await startL7Holder(lab);
  }, 60_000);
  afterAll(async () => {
    await holder?.stop().catch(() => undefined);
    await mesh?.teardown();
  });

  it(`circuit breaker: with ${BREAKER_MAX} keep-alive connections open, the next requests get a 503 "circuit breaker open"; capacity returns on close`, async () => {
    const countersBefore = await l7Stats(adminUrl());
    const cbBefore = clusterView(await resilience(adminUrl()), 'cb');
    expect(cbBefore.activeConnections, 'no connection to cb yet').toBe(0);

    // Three connections, each answered by the backend and kept open.
    const kept = await holder.open(target(VIP.breaker), BREAKER_MAX, { path: '/kept', host: 'cb.test' });
    for (const a of kept) {
      expect([a.status, a.headers?.['x-backend'], a.held], showAll(kept)).toEqual([200, 'cb-a', true]);
    }
    expect((await waitForCluster(adminUrl(), 'cb', (c) => c.activeConnections === BREAKER_MAX)).activeConnections, 'L7 connections count on the cluster').toBe(BREAKER_MAX);

    // The cluster is full: the next two connections get Kmesh's 503, and the backend never sees them.
    const servedBefore = (await lab.backendStats()).requests['cb-a'] ?? 0;
    const refused = await holder.open(target(VIP.breaker), 2, { path: '/over', host: 'cb.test' });
    expect((await lab.backendStats()).requests['cb-a'] ?? 0, 'requests cb-a answered while the circuit was open').toBe(servedBefore);
    for (const a of refused) {
      const why = showAll(refused);
      expect(a.connect, why).toBe('ok');
      expect(a.status, why).toBe(503);
      expect(a.headers?.['x-kmesh-reason'], why).toBe('circuit breaker open');
      expect(a.headers?.['x-envoy-overloaded'], why).toBe('true');
      expect(a.headers?.['x-backend'], why).toBeUndefined();
      expect(a.headers?.connection?.toLowerCase(), why).toBe('close');
      expect(a.peerClosed, `${why}: the refused connection is closed by Kmesh`).toBe(true);
    }
    expect(await holder.peerClosed(), 'the three kept connections are still open').toBe(0);
    // Counted per connection, not per request: the admitted connections keep being served at the limit.
    const second = await holder.again({ path: '/second', host: 'cb.test' });
    expect(second.map((a) => [a.status, a.headers?.['x-backend'], a.held]), showAll(second)).toEqual(kept.map(() => [200, 'cb-a', true]));

    const countersOver = await l7Stats(adminUrl());
    const cbOver = clusterView(await resilience(adminUrl()), 'cb');
    expect(countersOver.circuit_open! - countersBefore.circuit_open!, 'km_l7_stats circuit_open counts each refused request once').toBe(2);
    expect(cbOver.circuitOpenTotal - cbBefore.circuitOpenTotal, "the cluster's circuit_open count (GET /resilience)").toBe(2);
    expect(cbOver.activeConnections, 'refused connections are not counted').toBe(BREAKER_MAX);

    // One kept connection closes: exactly one new connection fits again.
    expect(await holder.close(1)).toBe(BREAKER_MAX - 1);
    expect((await waitForCluster(adminUrl(), 'cb', (c) => c.activeConnections === BREAKER_MAX - 1)).activeConnections, 'released when the client socket closed').toBe(BREAKER_MAX - 1);
    const again = await holder.open(target(VIP.breaker), 2, { path: '/again', host: 'cb.test' });
    expect(again.map((a) => [a.status, a.headers?.['x-backend'] ?? a.headers?.['x-kmesh-reason']]), showAll(again)).toEqual([[200, 'cb-a'], [503, 'circuit breaker open']]);

    const countersAfter = await l7Stats(adminUrl());
    expect(countersAfter.circuit_open! - countersBefore.circuit_open!).toBe(3);
    expect(clusterView(await resilience(adminUrl()), 'cb').circuitOpenTotal - cbBefore.circuitOpenTotal).toBe(3);
    const metrics = await (await fetch(`${adminUrl()}/metrics`)).text();
    expect(metrics).toMatch(/kmesh_cluster_circuit_open_total\{cluster="cb"\} 3\n/);

    // All closed: nothing stays counted.
    expect(await holder.close(BREAKER_MAX)).toBe(0);
    expect((await waitForCluster(adminUrl(), 'cb', (c) => c.activeConnections === 0)).activeConnections, 'counts leaked after every client closed').toBe(0);
  });

  it(`circuit breaker: of 8 concurrent requests on new connections, exactly ${BREAKER_MAX} reach the backend`, async () => {
    // Each admitted request waits 2 s at the backend, so all 8 connections are open together.
    const cases: RawCase[] = Array.from({ length: 8 }, (_, i) => ({ id: i, requests: [request('GET', `/slow/2000/${i}`, 'burst.test')], timeoutMs: 10_000 }));
    const results = await rawRequests(lab, cases, { target: target(VIP.burst), concurrency: cases.length });
    const seen = cases.map((c) => results.get(c.id)!);
    const summary = seen.map((r, i) => `#${i} ${show(cases[i]!.requests, r)}`).join('\n');
    const admitted = seen.filter((r) => r.responses[0]?.status === 200 && r.responses[0].headers['x-backend'] === 'cbb-a');
    const refused = seen.filter((r) => r.responses[0]?.status === 503 && r.responses[0].headers['x-kmesh-reason'] === 'circuit breaker open');
    expect([admitted.length, refused.length], summary).toEqual([BREAKER_MAX, cases.length - BREAKER_MAX]);
    const cbb = await waitForCluster(adminUrl(), 'cbb', (c) => c.activeConnections === 0);
    expect(cbb.circuitOpenTotal, JSON.stringify(cbb)).toBe(cases.length - BREAKER_MAX);
    expect(cbb.activeConnections, 'counts leaked after every client closed').toBe(0);
  });

  it(`outlier detection: an endpoint that refuses is ejected after ${OUTLIER_FAILURES} failed requests, then every request goes to the live one`, async () => {
    const cases: RawCase[] = Array.from({ length: 20 }, (_, i) => ({ id: i, requests: [request('GET', `/od/${i}`, 'od.test')], timeoutMs: 5000 }));
    // concurrency 1: one connection after the other, each closed before the next.
    const results = await rawRequests(lab, cases, { target: target(VIP.outlier), concurrency: 1 });
    const seen = cases.map((c) => results.get(c.id)!);
    const summary = seen.map((r, i) => `#${i} ${show(cases[i]!.requests, r)}`).join('\n');

    const failed = seen.filter((r) => r.responses[0]?.status === 503);
    expect(failed.length, `expected exactly ${OUTLIER_FAILURES} refused requests:\n${summary}`).toBe(OUTLIER_FAILURES);
    for (const r of failed) {
      expect(r.responses[0]!.headers['x-kmesh-reason'], summary).toMatch(/connect/);
      expect(r.responses[0]!.headers['x-backend'], summary).toBeUndefined();
    }
    const lastFailure = seen.lastIndexOf(failed[failed.length - 1]!);
    const others = seen.filter((r) => !failed.includes(r));
    expect(others.map((r) => answeredBy(r)), summary).toEqual(others.map(() => ['od-a']));
    expect(lastFailure, `the endpoint was not ejected within the first requests:\n${summary}`).toBeLessThan(10);

    const od = clusterView(await resilience(adminUrl()), 'od');
    const refusing = od.endpoints.find((e) => e.address === `${lab.backend('od-a').ipv4}:${REFUSING_PORT}`);
    const live = od.endpoints.find((e) => e.address === `${lab.backend('od-a').ipv4}:9080`);
    const view = JSON.stringify(od);
    expect(refusing, view).toMatchObject({ ejected: true, ejections: 1 });
    expect(live, view).toMatchObject({ ejected: false, ejections: 0 });
    expect(od.ejectedEndpoints, view).toBe(1);
    const metrics = await (await fetch(`${adminUrl()}/metrics`)).text();
    expect(metrics).toMatch(/kmesh_outlier_ejections_total\{cluster="od"\} 1\n/);
    expect((await waitForCluster(adminUrl(), 'od', (c) => c.activeConnections === 0)).activeConnections, 'counts leaked after every client closed').toBe(0);
  });

  it(`outlier detection: an endpoint that does not answer (connect_timeout ${CONNECT_TIMEOUT_MS} ms) is ejected after ${OUTLIER_FAILURES} timed-out requests`, async () => {
    const cases: RawCase[] = Array.from({ length: 12 }, (_, i) => ({ id: i, requests: [request('GET', `/ot/${i}`, 'ot.test')], timeoutMs: 8000 }));
    const results = await rawRequests(lab, cases, { target: target(VIP.timeout), concurrency: 1 });
    const seen = cases.map((c) => results.get(c.id)!);
    const summary = seen.map((r, i) => `#${i} ${show(cases[i]!.requests, r)}`).join('\n');
    const failed = seen.filter((r) => r.responses[0]?.status === 503);
    expect(failed.length, `expected exactly ${OUTLIER_FAILURES} timed-out requests:\n${summary}`).toBe(OUTLIER_FAILURES);
    for (const r of failed) expect(r.responses[0]!.headers['x-kmesh-reason'], summary).toMatch(/timeout/);
    const others = seen.filter((r) => !failed.includes(r));
    expect(others.map((r) => answeredBy(r)), summary).toEqual(others.map(() => ['ot-a']));

    const ot = clusterView(await resilience(adminUrl()), 'ot');
    const silent = ot.endpoints.find((e) => e.address.startsWith(`10.250.${lab.n}.${SILENT_HOST}:`));
    expect(silent, JSON.stringify(ot)).toMatchObject({ ejected: true, ejections: 1 });
    expect((await waitForCluster(adminUrl(), 'ot', (c) => c.activeConnections === 0)).activeConnections, 'counts leaked after every client closed').toBe(0);
  }, 60_000);

  it('outlier detection: a successful upstream connect ends the endpoint\'s run of failures', async () => {
    const runA = async () => {
      const c = clusterView(await resilience(adminUrl()), 'run');
      return { view: JSON.stringify(c), endpoint: c.endpoints.find((e) => e.address.startsWith(`${lab.backend('run-a').ipv4}:`))! };
    };
    const ask = async (n: number) => {
      const sent = request('GET', `/run/${n}`, 'run.test');
      const r = await exchange(lab, target(VIP.run), [sent], { timeoutMs: 5000 });
      return { status: r.responses[0]?.status, by: answeredBy(r), why: show(sent, r) };
    };
    try {
      await lab.stopBackend('run-a');
      const first = await ask(1);
      expect(first.status, first.why).toBe(503);
      let s = await runA();
      expect(s.endpoint, s.view).toMatchObject({ consecutiveFailures: 1, ejected: false });

      await lab.startBackend('run-a');
      const ok = await ask(2);
      expect(ok.by, ok.why).toEqual(['run-a']);
      s = await runA();
      expect(s.endpoint, `${s.view}: the successful connect did not reset the run`).toMatchObject({ consecutiveFailures: 0, ejected: false });

      // One failure after the success: still one short of the threshold.
      await lab.stopBackend('run-a');
      const second = await ask(3);
      expect(second.status, second.why).toBe(503);
      s = await runA();
      expect(s.endpoint, `${s.view}: failures before the success still counted`).toMatchObject({ consecutiveFailures: 1, ejected: false, ejections: 0 });
      const third = await ask(4);
      expect(third.status, third.why).toBe(503);
      s = await runA();
      expect(s.endpoint, s.view).toMatchObject({ ejected: true, ejections: 1 });
    } finally {
      await lab.startBackend('run-a');
    }
  });

  it('outlier detection: a 5xx first response is a failure of the endpoint, any other status ends its run, later responses are not looked at (relayed)', async () => {
    await firstResponseCounts(VIP.status, 'fx', 'fx-a');
  });

  it('outlier detection by first response on the same-node direct path (the kernel reads the status)', async () => {
    const directBefore = await relayCounter('kmesh_l7_relay_direct_connections_total');
    const backend = await startMeshBackend(lab, 'lx-a', LOCAL_PORT);
    try {
      await firstResponseCounts(VIP.local, 'lx', 'lx-a');
    } finally {
      await backend.stop();
    }
    // Most of its 8 connections at least (a slow accept may leave one relayed: a "direct miss").
    const direct = (await relayCounter('kmesh_l7_relay_direct_connections_total')) - directBefore;
    expect(direct, 'connections to the same-node endpoint took the direct path (else this case only repeated the relayed one)').toBeGreaterThanOrEqual(4);
  });

  it('an endpoint in the client\'s own netns takes the direct path too: sockmap acceleration leaves its socket to L7', async () => {
    // With sockmap on (the daemon's default) the endpoint's accepted socket has a peer in its own
    // namespace (the relay's connection), so the sockmap sock_ops would take it first and the direct
    // path could not hook it (a socket takes one sockhash's sk_msg).
    const leftToL7 = async (): Promise<number> => {
      const text = await (await fetch(`${adminUrl()}/metrics`)).text();
      return Number(/^kmesh_sockmap_events_total\{outcome="l7_endpoint"\} (\d+)$/m.exec(text)?.[1] ?? 0);
    };
    const directBefore = await relayCounter('kmesh_l7_relay_direct_connections_total');
    const leftBefore = await leftToL7();
    const backend = await startMeshBackend(lab, 'self-a', SELF_PORT, 'client');
    let results: Map<number, RawResult>;
    try {
      const cases: RawCase[] = Array.from({ length: 8 }, (_, i) => ({ id: i, requests: [request('GET', `/self/${i}`, 'self.test')] }));
      results = await rawRequests(lab, cases, { target: target(VIP.self), concurrency: 1 });
    } finally {
      await backend.stop();
    }
    const answered = [...results.values()].map((r) => answeredBy(r)[0] ?? `${r.connect} ${r.responses[0]?.status ?? r.end}`);
    expect(answered, answered.join(' | ')).toEqual(Array(8).fill('self-a'));
    const direct = (await relayCounter('kmesh_l7_relay_direct_connections_total')) - directBefore;
    expect(direct, 'connections to the endpoint in the client netns took the direct path').toBeGreaterThanOrEqual(4);
    const left = (await leftToL7()) - leftBefore;
    expect(left, 'the sockmap sock_ops left the endpoint sockets to the direct path (km_sock_stats l7_endpoint)').toBeGreaterThanOrEqual(direct);
  });

  it('IPv6 listener and endpoints: the same circuit breaker and outlier detection', async () => {
    const v6 = `[${VIP.v6}]:80`;
    const ip = lab.backend('v6-a').ipv6!;
    // Outlier detection first (each request on a new connection, closed before the next).
    const cases: RawCase[] = Array.from({ length: 12 }, (_, i) => ({ id: i, requests: [request('GET', `/v6/${i}`, 'v6.test')], timeoutMs: 5000 }));
    const results = await rawRequests(lab, cases, { target: v6, concurrency: 1 });
    const seen = cases.map((c) => results.get(c.id)!);
    const summary = seen.map((r, i) => `#${i} ${show(cases[i]!.requests, r)}`).join('\n');
    expect(seen.filter((r) => r.responses[0]?.status === 503).length, `expected exactly ${OUTLIER_FAILURES} refused requests:\n${summary}`).toBe(OUTLIER_FAILURES);
    expect(seen.filter((r) => answeredBy(r)[0] === 'v6-a').length, summary).toBe(cases.length - OUTLIER_FAILURES);
    let view = clusterView(await resilience(adminUrl()), 'v6');
    expect(view.endpoints.find((e) => e.address === `[${ip}]:${REFUSING_PORT}`), JSON.stringify(view)).toMatchObject({ ejected: true, ejections: 1 });

    // Circuit breaker: two kept connections fill the cluster; the third request gets the 503.
    const kept = await holder.open(v6, 2, { path: '/kept', host: 'v6.test' });
    expect(kept.map((a) => [a.status, a.headers?.['x-backend'], a.held]), showAll(kept)).toEqual([[200, 'v6-a', true], [200, 'v6-a', true]]);
    try {
      const over = await holder.open(v6, 1, { path: '/over', host: 'v6.test' });
      expect(over.map((a) => [a.status, a.headers?.['x-kmesh-reason'], a.headers?.['x-envoy-overloaded'], a.headers?.['x-backend']]), showAll(over))
        .toEqual([[503, 'circuit breaker open', 'true', undefined]]);
    } finally {
      await holder.close(2);
    }
    view = await waitForCluster(adminUrl(), 'v6', (c) => c.activeConnections === 0);
    expect([view.activeConnections, view.circuitOpenTotal], JSON.stringify(view)).toEqual([0, 1]);
  });

  it(`local rate limit on an HTTP listener: ${RATE_TOKENS} connections answered, the rest refused at connect()`, async () => {
    const before = await stats(mesh.daemon.adminUrl);
    const cases: RawCase[] = Array.from({ length: RATE_TOKENS + 4 }, (_, i) => ({ id: i + 1, requests: [request('GET', `/limited/${i}`, 'rl.test')] }));
    const results = [...(await rawRequests(lab, cases, { target: target(VIP.limited), concurrency: 1 })).values()];
    const summary = results.map((r) => (r.connect === 'ok' ? `${r.responses[0]?.status} ${r.responses[0]?.headers['x-backend'] ?? ''}` : r.connect));
    expect(summary.filter((x) => x === '200 rl-a'), summary.join(' | ')).toHaveLength(RATE_TOKENS);
    expect(summary.filter((x) => x === 'ECONNREFUSED'), summary.join(' | ')).toHaveLength(4);
    const view = await resilience(mesh.daemon.adminUrl);
    expect(view.listeners.find((l) => l.name === 'limited'), JSON.stringify(view.listeners)).toMatchObject({ admittedTotal: RATE_TOKENS, rateLimitedTotal: 4 });
    const after = await stats(mesh.daemon.adminUrl);
    expect(after.connect_rate_limited! - before.connect_rate_limited!, 'km_stats connect_rate_limited').toBe(4);
  });

  it('LEAST_REQUEST steers new L7 connections away from an endpoint holding long ones (ROUND_ROBIN does not)', async () => {
    // Phase narrow: only lr-a / rr-a exist; 30 long keep-alive connections each land there.
    const lrHeld = await holder.open(target(VIP.leastRequest), 30, { path: '/long', host: 'lr.test' });
    const rrHeld = await holder.open(target(VIP.roundRobin), 30, { path: '/long', host: 'rr.test' });
    expect(lrHeld.filter((a) => a.status === 200 && a.held && a.headers?.['x-backend'] === 'lr-a').length, showAll(lrHeld)).toBe(30);
    expect(rrHeld.filter((a) => a.status === 200 && a.held && a.headers?.['x-backend'] === 'rr-a').length, showAll(rrHeld)).toBe(30);
    try {
      // Phase wide: three endpoints each; counts are keyed by cluster name and endpoint address, so the
      // held connections still count after the configuration change.
      await mesh.applyConfig(config(lab, 'wide'));
      const lr = clusterView(await resilience(adminUrl()), 'lr');
      expect(lr.endpoints.find((e) => e.address.startsWith(`${lab.backend('lr-a').ipv4}:`))?.activeConnections, JSON.stringify(lr)).toBe(30);

      const tally = async (vip: string, host: string) => {
        const cases: RawCase[] = Array.from({ length: 90 }, (_, i) => ({ id: i, requests: [request('GET', `/new/${i}`, host)] }));
        const results = await rawRequests(lab, cases, { target: target(vip), concurrency: 1 });
        const by: Record<string, number> = {};
        for (const r of results.values()) for (const b of answeredBy(r)) by[b] = (by[b] ?? 0) + 1;
        return by;
      };
      const lrBy = await tally(VIP.leastRequest, 'lr.test');
      const rrBy = await tally(VIP.roundRobin, 'rr.test');
      const all = `least request ${JSON.stringify(lrBy)}, round robin ${JSON.stringify(rrBy)}`;
      expect((lrBy['lr-a'] ?? 0) + (lrBy['lr-b'] ?? 0) + (lrBy['lr-c'] ?? 0), all).toBe(90);
      expect((rrBy['rr-a'] ?? 0) + (rrBy['rr-b'] ?? 0) + (rrBy['rr-c'] ?? 0), all).toBe(90);
      // Two random choices: lr-a only when both picks are lr-a, about 1 in 9 (10 of 90).
      expect(lrBy['lr-a'] ?? 0, all).toBeLessThanOrEqual(20);
      expect(rrBy['rr-a'] ?? 0, all).toBeGreaterThanOrEqual(25);
    } finally {
      await holder.close(60);
    }
    for (const name of ['lr', 'rr']) {
      expect((await waitForCluster(adminUrl(), name, (c) => c.activeConnections === 0)).activeConnections, `${name}: counts leaked after every client closed`).toBe(0);
    }
  }, 90_000);
});
