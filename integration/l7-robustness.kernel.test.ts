// L7 failure behaviour (issue 4, docs/l7.md "Failure behaviour"): what a client sees when there is no
// route, when the endpoint refuses or does not answer, when the request is not one the kernel parser
// takes, when either side closes early, half-closes or resets; and that none of it leaks file descriptors
// in the daemon or entries in the L7 maps.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EchoBody, Lab } from '../tools/lab/index.js';
import { cluster } from './support/envoy.js';
import {
  answeredBy, countEntries, describe as show, exchange, fdCount, httpListener, processAlive, rawRequests, request, routeConfig, startL7Mesh,
  toCluster, type L7Mesh, type RawCase, type RawResult,
} from './support/l7.js';

const id = `l7b${process.pid % 100000}`;
const VIP = '10.96.8.1';
const TARGET = `${VIP}:80`;
/** Host number in the lab's /24 that nobody has: a connect() there gets no SYN-ACK (ARP is unanswered). */
const SILENT_HOST = 251;
const CONNECT_TIMEOUT_MS = 500;

function config(lab: Lab): object {
  const routes = routeConfig('robust', [
    { name: 'strict', domains: ['strict.test'], routes: [toCluster('only', { prefix: '/only' }, 'ok')] },
    {
      name: 'any',
      domains: ['*'],
      routes: [
        toCluster('refused', { prefix: '/down/' }, 'refused'),
        toCluster('silent', { prefix: '/timeout/' }, 'silent'),
        toCluster('empty', { prefix: '/empty/' }, 'empty'),
        toCluster('missing', { prefix: '/missing/' }, 'missing-cluster'),
        toCluster('ok', { prefix: '/' }, 'ok'),
      ],
    },
  ]);
  const ok = lab.backend('ok');
  return {
    static_resources: {
      listeners: [httpListener('l7-robust', VIP, 80, routes)],
      clusters: [
        cluster('ok', 'ROUND_ROBIN', [{ address: ok.ipv4 }]),
        // the backend's address on a port nothing listens on: connect() is refused (RST)
        cluster('refused', 'ROUND_ROBIN', [{ address: ok.ipv4, port: 9999 }]),
        { ...cluster('silent', 'ROUND_ROBIN', [{ address: `10.250.${lab.n}.${SILENT_HOST}` }]), connect_timeout: `${CONNECT_TIMEOUT_MS / 1000}s` },
        { name: 'empty', type: 'STATIC', lb_policy: 'ROUND_ROBIN', load_assignment: { cluster_name: 'empty', endpoints: [] } },
      ],
    },
  };
}

/** A Kmesh-generated answer: status, connection: close, an x-kmesh-reason, no backend. */
function expectGenerated(sent: Buffer, r: RawResult, status: number): void {
  const why = show(sent, r);
  expect(r.responses.length, why).toBe(1);
  const x = r.responses[0];
  expect(x.status, why).toBe(status);
  expect(x.headers['x-backend'], why).toBeUndefined();
  expect(x.headers['x-kmesh-reason'], why).toBeTruthy();
  expect(x.headers.connection?.toLowerCase(), why).toBe('close');
  expect(x.headers['content-type'], why).toMatch(/^text\/plain/);
  expect(x.bodyBytes, why).toBeGreaterThan(0);
}

describe.skipIf(process.getuid?.() !== 0)('L7 failure behaviour: 404/503/400, early close, half-close, resets, no leaks', () => {
  let mesh: L7Mesh;
  let lab: Lab;

  beforeAll(async () => {
    mesh = await startL7Mesh({ id, servers: [{ name: 'ok' }], config });
    lab = mesh.lab;
  });
  afterAll(async () => {
    await mesh?.teardown();
  });

  it('no virtual host / no route -> 404 with a reason', async () => {
    for (const sent of [request('GET', '/elsewhere', 'strict.test')]) {
      const r = await exchange(lab, TARGET, [sent], { timeoutMs: 3000 });
      expectGenerated(sent, r, 404);
    }
  });

  it('endpoint refuses the connection -> 503 with a reason, quickly', async () => {
    const sent = request('GET', '/down/x', 'any.test');
    const r = await exchange(lab, TARGET, [sent], { timeoutMs: 3000 });
    expectGenerated(sent, r, 503);
    expect(r.ms, show(sent, r)).toBeLessThan(2000);
  });

  it(`endpoint does not answer -> 503 after the cluster's connect_timeout (${CONNECT_TIMEOUT_MS} ms)`, async () => {
    const sent = request('GET', '/timeout/x', 'any.test');
    const r = await exchange(lab, TARGET, [sent], { timeoutMs: 8000 });
    expectGenerated(sent, r, 503);
    expect(r.ms, show(sent, r)).toBeGreaterThanOrEqual(CONNECT_TIMEOUT_MS - 50);
    expect(r.ms, `${show(sent, r)}: the relay waited much longer than connect_timeout`).toBeLessThan(CONNECT_TIMEOUT_MS + 1500);
  });

  it('cluster without endpoints -> 503 with a reason', async () => {
    const sent = request('GET', '/empty/x', 'any.test');
    expectGenerated(sent, await exchange(lab, TARGET, [sent], { timeoutMs: 3000 }), 503);
  });

  it('requests the parser does not take -> 400, never a hang', async () => {
    const bad: [string, Buffer][] = [
      ['head over 4096 bytes (complete)', request('GET', '/x', 'any.test', [['x-big', 'b'.repeat(5000)]])],
      ['head over 4096 bytes (no end in sight)', Buffer.from(`GET /x HTTP/1.1\r\nHost: any.test\r\nx-big: ${'b'.repeat(6000)}`)],
      ['request target over the limit', request('GET', `/${'p'.repeat(4200)}`, 'any.test')],
      ['not HTTP (text)', Buffer.from('HELLO THERE\r\n\r\n')],
      ['not HTTP (binary)', Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00]), Buffer.alloc(500, 0xab), Buffer.from('\r\n\r\n')])],
      ['HTTP/2 preface', Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')],
      ['HTTP/1.1 without Host', request('GET', '/x', null)],
      ['no version', Buffer.from('GET /x\r\nHost: any.test\r\n\r\n')],
      ['unknown version', Buffer.from('GET /x HTTP/3.0\r\nHost: any.test\r\n\r\n')],
    ];
    const cases: RawCase[] = bad.map(([, b], i) => ({ id: i, requests: [b], timeoutMs: 5000 }));
    const results = await rawRequests(lab, cases, { target: TARGET, concurrency: bad.length });
    const wrong: string[] = [];
    bad.forEach(([what, sent], i) => {
      const r = results.get(i)!;
      const x = r.responses[0];
      if (!x || x.status !== 400 || x.headers['x-backend'] !== undefined || !x.headers['x-kmesh-reason']) wrong.push(`${what}: expected a generated 400: ${show(sent, r)}`);
    });
    expect(wrong, wrong.join('\n')).toEqual([]);
  });

  it('the backend closes without answering -> the client sees the close (EOF), not a hang or a made-up answer', async () => {
    const sent = request('GET', '/close', 'any.test');
    const r = await exchange(lab, TARGET, [sent], { timeoutMs: 5000 });
    expect(r.responses, show(sent, r)).toEqual([]);
    expect(r.end, show(sent, r)).toBe('eof');
  });

  it('the backend resets -> the client sees a reset', async () => {
    const sent = request('GET', '/reset', 'any.test');
    const r = await exchange(lab, TARGET, [sent], { timeoutMs: 5000 });
    expect(r.responses, show(sent, r)).toEqual([]);
    expect(r.end, show(sent, r)).toBe('reset');
  });

  it('half-close: a client that sends its request and FIN still gets the whole answer, then EOF', async () => {
    const body = Buffer.alloc(200_000, 'h');
    const sent = request('POST', '/upload', 'any.test', [], body);
    const r = await exchange(lab, TARGET, [sent], { shutWrite: true, timeoutMs: 5000 });
    expect(answeredBy(r), show(sent, r)).toEqual(['ok']);
    expect((JSON.parse(r.responses[0].body) as EchoBody).bodyBytes).toBe(body.length);
    expect(r.end, show(sent, r)).toBe('eof');
  });

  it('early close by the client (mid-head, after the head, mid-response) leaves the daemon serving', async () => {
    const cases: RawCase[] = [];
    for (let i = 0; i < 30; i++) {
      cases.push({ id: cases.length, requests: [Buffer.from('GET /partial HTTP/1.1\r\nHo')], responses: 0 });
      cases.push({ id: cases.length, requests: [request('GET', '/slow/300', 'any.test')], responses: 0 });
      cases.push({ id: cases.length, requests: [request('GET', '/bytes/20000000', 'any.test')], timeoutMs: 50 });
    }
    await rawRequests(lab, cases, { target: TARGET, concurrency: 30 });
    expect(processAlive(mesh.daemon.pid), `daemon exited: ${mesh.daemon.logs().slice(-2000)}`).toBe(true);
    const sent = request('GET', '/after', 'any.test');
    const r = await exchange(lab, TARGET, [sent]);
    expect(answeredBy(r), show(sent, r)).toEqual(['ok']);
  });

  it('churn: daemon fds and L7 map entries are the same before and after 2,000 mixed connections', async () => {
    const mixed = (n: number): RawCase[] => Array.from({ length: n }, (_, i): RawCase => {
      const kinds: Omit<RawCase, 'id'>[] = [
        { requests: [request('GET', '/ok', 'any.test')] },
        { requests: [request('GET', '/ok1', 'any.test'), request('GET', '/ok2', 'any.test')] },
        { requests: [request('GET', '/none', 'strict.test')] },
        { requests: [request('GET', '/down/x', 'any.test')] },
        { requests: [request('GET', '/empty/x', 'any.test')] },
        { requests: [Buffer.from('NOT HTTP\r\n\r\n')] },
        { requests: [request('POST', '/hc', 'any.test', [], Buffer.from('x'))], shutWrite: true },
        { requests: [Buffer.from('GET /partial HTTP/1.1\r\nHo')], responses: 0 },
        { requests: [request('GET', '/slow/200', 'any.test')], responses: 0 },
        { requests: [request('GET', '/bytes/4000000', 'any.test')], timeoutMs: 30 },
        { requests: [request('GET', '/close', 'any.test')] },
        { requests: [request('GET', '/reset', 'any.test')] },
      ];
      return { id: i, ...kinds[i % kinds.length] };
    });
    const snapshot = () => ({
      fds: fdCount(mesh.daemon.pid),
      decisions: countEntries(mesh.pinPath, 'km_l7_decision'),
      clients: countEntries(mesh.pinPath, 'km_l7_client'),
    });
    type Snapshot = ReturnType<typeof snapshot>;
    const pause = () => new Promise((r) => setTimeout(r, 250));
    // Sockets close asynchronously (the relay's thread, the backend's timers): wait until nothing moves.
    const stable = async (): Promise<Snapshot> => {
      let s = snapshot();
      for (let i = 0; i < 40; i++) {
        await pause();
        const next = snapshot();
        if (JSON.stringify(next) === JSON.stringify(s)) return next;
        s = next;
      }
      return s;
    };
    // ...and after the churn, until it is back to where it was (or 10 s have passed: a leak).
    const back = async (to: Snapshot): Promise<Snapshot> => {
      let s = snapshot();
      for (let i = 0; i < 40 && !(s.fds <= to.fds && s.decisions <= to.decisions && s.clients <= to.clients); i++) {
        await pause();
        s = snapshot();
      }
      return s;
    };
    await rawRequests(lab, mixed(120), { target: TARGET, concurrency: 16 }); // warm-up: lazily opened fds
    const before = await stable();
    await rawRequests(lab, mixed(2000), { target: TARGET, concurrency: 32 });
    const after = await back(before);
    const what = `before ${JSON.stringify(before)} after ${JSON.stringify(after)} (daemon fds, km_l7_decision, km_l7_client entries)`;
    expect(processAlive(mesh.daemon.pid), `daemon exited: ${mesh.daemon.logs().slice(-2000)}`).toBe(true);
    expect(after.fds, `daemon fds grew: ${what}`).toBeLessThanOrEqual(before.fds);
    expect([after.decisions, after.clients], `L7 map entries left: ${what}`).toEqual([0, 0]);
    expect([before.decisions, before.clients], `L7 map entries with no connection open: ${what}`).toEqual([0, 0]);
  });
});
