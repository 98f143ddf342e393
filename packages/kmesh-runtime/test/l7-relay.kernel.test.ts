// Kernel test of L7Relay (root only): real sockets, the contract maps from a tiny BPF object pinned
// under a private root, decisions written by the test the way the kernel's sk_msg would (keyed by the
// client's local address: connect, learn the local port, write the decision, then send).
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { BpfObject, L7Relay, L7RelayError, type BpfMap } from '../src/index.js';
import { compileFixture } from './support.js';

const here = dirname(fileURLToPath(import.meta.url));
const kernelInclude = resolve(here, '../../../kernel/include');

const AF_INET = 2;
const Verdict = { forward: 0, noRoute: 1, badRequest: 2, noEndpoint: 3, directResponse: 4, redirect: 5, circuitOpen: 6 } as const;

/** struct km_addr (20 bytes): ip[4] network order, port network order, family. */
function kmAddr(ip: string, port: number): Buffer {
  const b = Buffer.alloc(20);
  Buffer.from(ip.split('.').map(Number)).copy(b, 0);
  b.writeUInt16BE(port, 16);
  b.writeUInt8(AF_INET, 18);
  return b;
}

/** struct km_l7_conn_key (32 bytes). */
function connKey(netns: bigint, ip: string, port: number): Buffer {
  const b = Buffer.alloc(32);
  b.writeBigUInt64LE(netns, 0);
  Buffer.from(ip.split('.').map(Number)).copy(b, 8);
  b.writeUInt16BE(port, 24);
  b.writeUInt8(AF_INET, 26);
  return b;
}

interface DecisionFields {
  verdict: number;
  status?: number;
  timeoutMs?: number;
  bodyId?: number;
  endpoint?: [string, number];
}

/** struct km_l7_decision (128 bytes; conn, the accounting record, left zero: not counted). */
function decision(d: DecisionFields): Buffer {
  const b = Buffer.alloc(128);
  b.writeUInt32LE(d.verdict, 0);
  b.writeUInt32LE(d.status ?? 0, 4);
  b.writeUInt32LE(7, 8); // cluster_id (diagnostics only for the relay)
  b.writeUInt32LE(0, 12);
  b.writeUInt32LE(d.timeoutMs ?? 0, 16);
  b.writeUInt32LE(d.bodyId ?? 0, 20);
  if (d.endpoint) kmAddr(d.endpoint[0], d.endpoint[1]).copy(b, 24);
  kmAddr('10.96.0.1', 80).copy(b, 44);
  return b;
}

/** struct km_l7_text (1024 bytes). */
function text(s: string): Buffer {
  const b = Buffer.alloc(1024);
  b.writeUInt32LE(Buffer.byteLength(s), 0);
  b.write(s, 4);
  return b;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

function openFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  return (server.address() as AddressInfo).port;
}

async function closeServer(server: Server | undefined): Promise<void> {
  if (server?.listening) await new Promise<void>((res) => server.close(() => res()));
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 20));
  }
}

describe.skipIf(process.getuid?.() !== 0)('L7Relay on the real kernel', () => {
  let buildDir: string;
  let pinRoot: string;
  let object: BpfObject;
  let decisions: BpfMap;
  let anchorMap: BpfMap;
  let texts: BpfMap;
  let relay: L7Relay;
  let cookie: bigint;
  let anchorPort: number;
  let echo: Server; // echoes every byte, half-closes when the client does
  let echoPort: number;

  /** Connects to the anchor, writes the decision for this connection, returns the socket. */
  async function dial(d: DecisionFields | null, allowHalfOpen = false): Promise<Socket> {
    const socket = connect({ port: anchorPort, host: '127.0.0.1', allowHalfOpen });
    await new Promise<void>((res, rej) => socket.once('connect', res).once('error', rej));
    if (d !== null) decisions.update(connKey(cookie, '127.0.0.1', socket.localPort!), decision(d));
    return socket;
  }

  /** Sends a request and reads the whole response (the relay's responses close the connection). */
  async function exchange(d: DecisionFields | null, request = 'GET / HTTP/1.1\r\nhost: a\r\n\r\n'): Promise<string> {
    const socket = await dial(d);
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.write(request);
    await new Promise<void>((res, rej) => socket.once('end', res).once('error', rej));
    socket.destroy();
    return Buffer.concat(chunks).toString('latin1');
  }

  beforeAll(async () => {
    buildDir = mkdtempSync(join(tmpdir(), 'kmesh-rt-l7relay-'));
    pinRoot = `/sys/fs/bpf/kmesh-rt-l7relay-${process.pid}`;
    object = BpfObject.open(compileFixture('l7_maps_test.bpf.c', buildDir, ['-I', kernelInclude]), { pinRoot });
    object.load();
    decisions = object.map('km_l7_decision');
    anchorMap = object.map('km_l7_anchor');
    texts = object.map('km_l7_text');
    echo = createServer({ allowHalfOpen: true }, (s) => {
      s.on('error', () => undefined);
      s.pipe(s);
    });
    echoPort = await listen(echo);
    relay = L7Relay.start({ decisionMap: decisions, anchorMap, textMap: texts, netns: [''], anchorPort: 0 });
    const [anchor] = relay.anchors();
    cookie = anchor!.cookie;
    anchorPort = anchor!.port;
  });

  afterAll(async () => {
    relay?.stop();
    await closeServer(echo);
    for (const m of [decisions, anchorMap, texts]) m?.close();
    object?.close();
    if (pinRoot) rmSync(pinRoot, { recursive: true, force: true });
    if (buildDir) rmSync(buildDir, { recursive: true, force: true });
  });

  it('registers its anchor in km_l7_anchor under the namespace cookie', () => {
    const key = Buffer.alloc(8);
    key.writeBigUInt64LE(cookie);
    const value = anchorMap.lookup(key);
    expect(value).not.toBeNull();
    expect(value!.subarray(0, 4)).toEqual(Buffer.from([127, 0, 0, 1]));
    expect(value!.readUInt16BE(16)).toBe(anchorPort);
    expect(value!.readUInt8(18)).toBe(AF_INET);
    if (relay.anchors()[0]!.ipv6) {
      expect(value!.readUInt8(20 + 15)).toBe(1); // ::1
      expect(value!.readUInt16BE(20 + 16)).toBe(anchorPort);
    }
  });

  it('forwards 10 MiB each way intact and carries the half-close both ways', async () => {
    const upload = randomBytes(10 * 1024 * 1024);
    const download = randomBytes(10 * 1024 * 1024);
    let serverGot = '';
    const server = createServer({ allowHalfOpen: true }, (s) => {
      const hash = createHash('sha256');
      s.on('data', (c: Buffer) => hash.update(c));
      // The client half-closed: answer only now, then half-close too.
      s.on('end', () => {
        serverGot = hash.digest('hex');
        s.end(download);
      });
    });
    const port = await listen(server);
    const before = relay.stats();
    const socket = await dial({ verdict: Verdict.forward, endpoint: ['127.0.0.1', port] });
    const hash = createHash('sha256');
    socket.on('data', (c: Buffer) => hash.update(c));
    socket.end(upload);
    await new Promise<void>((res, rej) => socket.once('end', res).once('error', rej));
    socket.destroy();
    await closeServer(server);
    expect(serverGot).toBe(createHash('sha256').update(upload).digest('hex'));
    expect(hash.digest('hex')).toBe(createHash('sha256').update(download).digest('hex'));
    const after = relay.stats();
    expect(after.forwarded - before.forwarded).toBe(1);
    expect(after.bytesToUpstream - before.bytesToUpstream).toBe(upload.length);
    expect(after.bytesToClient - before.bytesToClient).toBe(download.length);
  });

  it('keeps the other direction open after a half-close from the upstream', async () => {
    const server = createServer({ allowHalfOpen: true }, (s) => {
      s.end('early-goodbye'); // server half-closes first, then still reads
      s.on('data', (c: Buffer) => void c);
    });
    const port = await listen(server);
    let upstreamGot = '';
    const received = new Promise<string>((res) =>
      server.once('connection', (s) => {
        s.on('data', (c: Buffer) => (upstreamGot += c.toString()));
        s.on('end', () => res(upstreamGot));
      }),
    );
    const socket = await dial({ verdict: Verdict.forward, endpoint: ['127.0.0.1', port] }, true);
    socket.write('first');
    let clientGot = '';
    socket.on('data', (c: Buffer) => (clientGot += c.toString()));
    await new Promise<void>((res) => socket.once('end', res));
    // The client can still send after the upstream's FIN.
    socket.end('-after-fin');
    expect(await received).toBe('first-after-fin');
    expect(clientGot).toBe('early-goodbye');
    socket.destroy();
    await closeServer(server);
  });

  it('propagates a reset from the client to the upstream and from the upstream to the client', async () => {
    const upstreamErrors: string[] = [];
    let upstreamSocket: Socket | undefined;
    const server = createServer((s) => {
      upstreamSocket = s;
      s.on('error', (e: NodeJS.ErrnoException) => upstreamErrors.push(e.code ?? e.message));
    });
    const port = await listen(server);

    const a = await dial({ verdict: Verdict.forward, endpoint: ['127.0.0.1', port] });
    a.write('hello');
    await waitFor('the upstream connection', () => upstreamSocket !== undefined);
    a.resetAndDestroy();
    await waitFor('the reset at the upstream', () => upstreamErrors.includes('ECONNRESET'));

    upstreamSocket = undefined;
    const b = await dial({ verdict: Verdict.forward, endpoint: ['127.0.0.1', port] });
    const clientError = new Promise<string>((res) => b.once('error', (e: NodeJS.ErrnoException) => res(e.code ?? '')));
    b.write('hello');
    await waitFor('the upstream connection', () => upstreamSocket !== undefined);
    upstreamSocket!.resetAndDestroy();
    expect(await clientError).toBe('ECONNRESET');
    await closeServer(server);
  });

  it('serves IPv6 clients on its ::1 anchor, keyed by their IPv6 address', async () => {
    const [anchor] = relay.anchors();
    expect(anchor!.ipv6, 'the ::1 anchor did not open (IPv6 disabled on lo?)').toBe(true);
    const socket = connect({ port: anchorPort, host: '::1' });
    await new Promise<void>((res, rej) => socket.once('connect', res).once('error', rej));
    const key = Buffer.alloc(32);
    key.writeBigUInt64LE(cookie, 0);
    key.writeUInt8(1, 8 + 15); // ::1
    key.writeUInt16BE(socket.localPort!, 24);
    key.writeUInt8(10, 26); // AF_INET6
    decisions.update(key, decision({ verdict: Verdict.forward, endpoint: ['127.0.0.1', echoPort] }));
    let got = '';
    socket.on('data', (c: Buffer) => (got += c.toString()));
    socket.end('over ipv6');
    await new Promise<void>((res, rej) => socket.once('end', res).once('error', rej));
    socket.destroy();
    expect(got).toBe('over ipv6');
  });

  it('answers 404 / 400 / 503 itself with the reason, and closes', async () => {
    const cases: Array<[DecisionFields | null, string, string]> = [
      [{ verdict: Verdict.noRoute }, 'HTTP/1.1 404 Not Found', 'no route'],
      [{ verdict: Verdict.badRequest }, 'HTTP/1.1 400 Bad Request', 'bad request'],
      [{ verdict: Verdict.noEndpoint }, 'HTTP/1.1 503 Service Unavailable', 'no healthy upstream'],
      [{ verdict: Verdict.circuitOpen }, 'HTTP/1.1 503 Service Unavailable', 'circuit breaker open'],
      [null, 'HTTP/1.1 503 Service Unavailable', 'no routing decision'],
      [{ verdict: 99 }, 'HTTP/1.1 503 Service Unavailable', 'unknown routing verdict'],
    ];
    for (const [d, statusLine, reason] of cases) {
      const response = await exchange(d);
      expect(response.startsWith(`${statusLine}\r\n`), response).toBe(true);
      expect(response).toContain(`\r\nx-kmesh-reason: ${reason}\r\n`);
      expect(response).toContain('\r\nconnection: close\r\n');
      expect(response).toContain('\r\ncontent-type: text/plain\r\n');
      expect(response).toContain(`\r\ncontent-length: ${reason.length + 1}\r\n`);
      expect(response.endsWith(`\r\n\r\n${reason}\n`)).toBe(true);
      // Envoy's mark of a response its circuit breaker caused, and only that one
      expect(response.includes('\r\nx-envoy-overloaded: true\r\n'), response).toBe(d?.verdict === Verdict.circuitOpen);
    }
  });

  it('answers a direct response and a redirect from km_l7_text', async () => {
    texts.update(u32(5), text('maintenance window\n'));
    texts.update(u32(6), text('https://example.test/new'));
    const direct = await exchange({ verdict: Verdict.directResponse, status: 418, bodyId: 5 });
    expect(direct.startsWith('HTTP/1.1 418 ')).toBe(true);
    expect(direct).toContain('x-kmesh-reason: direct response\r\n');
    expect(direct.endsWith('\r\n\r\nmaintenance window\n')).toBe(true);
    const redirect = await exchange({ verdict: Verdict.redirect, status: 301, bodyId: 6 });
    expect(redirect.startsWith('HTTP/1.1 301 Moved Permanently\r\n')).toBe(true);
    expect(redirect).toContain('\r\nlocation: https://example.test/new\r\n');
  });

  it('answers 503 when the endpoint refuses, and the request body does not turn the close into a reset', async () => {
    const closed = createServer();
    const port = await listen(closed);
    await closeServer(closed); // nothing listens there any more
    const before = relay.stats();
    const body = 'x'.repeat(200_000); // unread request bytes at close time
    const response = await exchange(
      { verdict: Verdict.forward, endpoint: ['127.0.0.1', port] },
      `POST / HTTP/1.1\r\nhost: a\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
    );
    expect(response.startsWith('HTTP/1.1 503 Service Unavailable\r\n')).toBe(true);
    expect(response).toContain('x-kmesh-reason: upstream connect error: connection refused\r\n');
    expect(relay.stats().connectRefused - before.connectRefused).toBe(1);
  });

  it('a client that hangs up without sending leaves the decision under its address to the next connection', async () => {
    // On loopback a port in TIME_WAIT is reused at once: the decision stored under this client's
    // address may already be a new connection's when the relay sees this one's EOF. Here that decision
    // is written by hand before the hang-up; the relay must not take it.
    const socket = await dial(null);
    const key = connKey(cookie, '127.0.0.1', socket.localPort!);
    decisions.update(key, decision({ verdict: Verdict.noRoute }));
    socket.end();
    await new Promise<void>((res) => socket.once('close', () => res()).resume());
    await waitFor('the relay to close the hung-up connection', () => relay.stats().activeConnections === 0);
    expect(decisions.lookup(key), 'the decision was taken by a connection that sent nothing').not.toBeNull();
    decisions.delete(key);
  });

  it('answers 408 and closes when a client sends no complete request head within the head timeout', async () => {
    // A relay of its own with a short timeout, on another anchor (same maps, same namespace: the
    // anchor registration is replaced, then given back to the suite's relay below).
    const slow = L7Relay.start({ decisionMap: decisions, anchorMap, textMap: texts, netns: [''], anchorPort: 0, requestHeadTimeoutMs: 300 });
    try {
      const port = slow.anchors()[0]!.port;
      const idle = connect({ port, host: '127.0.0.1' });
      const chunks: Buffer[] = [];
      idle.on('data', (c: Buffer) => chunks.push(c));
      const started = Date.now();
      await new Promise<void>((res, rej) => idle.once('end', res).once('error', rej));
      const elapsed = Date.now() - started;
      idle.destroy();
      const response = Buffer.concat(chunks).toString('latin1');
      expect(response.startsWith('HTTP/1.1 408 Request Timeout\r\n'), response).toBe(true);
      expect(response).toContain('\r\nx-kmesh-reason: request head timeout\r\n');
      expect(elapsed).toBeGreaterThanOrEqual(250);
      expect(elapsed, 'the relay waited much longer than its head timeout').toBeLessThan(3000);
      expect(slow.stats().headTimeouts).toBe(1);
      // a client that does send its request in time is not cut off by the timer
      const socket = connect({ port, host: '127.0.0.1' });
      await new Promise<void>((res, rej) => socket.once('connect', res).once('error', rej));
      decisions.update(connKey(cookie, '127.0.0.1', socket.localPort!), decision({ verdict: Verdict.noRoute }));
      const got: Buffer[] = [];
      socket.on('data', (c: Buffer) => got.push(c));
      socket.write('GET / HTTP/1.1\r\nhost: a\r\n\r\n');
      await new Promise<void>((res, rej) => socket.once('end', res).once('error', rej));
      socket.destroy();
      expect(Buffer.concat(got).toString('latin1').startsWith('HTTP/1.1 404 ')).toBe(true);
      expect(slow.stats().headTimeouts).toBe(1);
    } finally {
      slow.stop();
      // the suite's relay registers its anchor again
      relay.stop();
      relay = L7Relay.start({ decisionMap: decisions, anchorMap, textMap: texts, netns: [''], anchorPort: 0 });
      anchorPort = relay.anchors()[0]!.port;
    }
  });

  it('takes each decision out of km_l7_decision and leaks no fd over 2,000 connections', async () => {
    await waitFor('idle relay', () => relay.stats().activeConnections === 0);
    const fdsBefore = openFdCount();
    const relayFdsBefore = relay.stats().openFds;
    let done = 0;
    async function one(i: number): Promise<void> {
      if (i % 10 === 9) {
        const r = await exchange({ verdict: Verdict.noRoute });
        expect(r.startsWith('HTTP/1.1 404')).toBe(true);
      } else {
        const socket = await dial({ verdict: Verdict.forward, endpoint: ['127.0.0.1', echoPort] });
        let got = '';
        socket.on('data', (c: Buffer) => (got += c.toString()));
        socket.end(`ping ${i}`);
        await new Promise<void>((res, rej) => socket.once('end', res).once('error', rej));
        socket.destroy();
        expect(got).toBe(`ping ${i}`);
      }
      done++;
    }
    const total = 2000;
    const parallel = 50;
    let next = 0;
    await Promise.all(
      Array.from({ length: parallel }, async () => {
        while (next < total) await one(next++);
      }),
    );
    expect(done).toBe(total);
    await waitFor('all relayed connections closed', () => relay.stats().activeConnections === 0);
    expect(decisions.keys()).toHaveLength(0);
    expect(relay.stats().openFds).toBe(relayFdsBefore);
    await waitFor('the process fd count back to where it was', () => openFdCount() === fdsBefore, 3000).catch(() => {
      throw new Error(`fds before churn ${fdsBefore}, after ${openFdCount()}`);
    });
  });
});

describe.skipIf(process.getuid?.() !== 0)('L7Relay in other network namespaces', () => {
  const ns = `kmesh-l7r-${process.pid}`;
  const nsPath = `/run/netns/${ns}`;
  let buildDir: string;
  let pinRoot: string;
  let object: BpfObject;
  let decisions: BpfMap;
  let anchorMap: BpfMap;
  let texts: BpfMap;
  const clientScript = join(here, 'fixtures', 'l7_netns_client.py');

  function inNs(...args: string[]): string {
    return execFileSync('ip', ['netns', 'exec', ns, ...args], { encoding: 'utf8' });
  }

  /** Runs the python client inside the namespace; the decision is written once its port is known. */
  async function exchangeInNs(port: number, cookie: bigint, d: DecisionFields): Promise<{ response: string; ms: number }> {
    const child = spawn('ip', ['netns', 'exec', ns, 'python3', clientScript, String(port)], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const localPort = Number((await lines.next()).value);
    decisions.update(connKey(cookie, '127.0.0.1', localPort), decision(d));
    child.stdin!.write('go\n');
    const result = JSON.parse(String((await lines.next()).value)) as { response: string; ms: number };
    await new Promise((res) => child.once('exit', res));
    return result;
  }

  beforeAll(() => {
    buildDir = mkdtempSync(join(tmpdir(), 'kmesh-rt-l7relay-ns-'));
    pinRoot = `/sys/fs/bpf/kmesh-rt-l7relay-ns-${process.pid}`;
    object = BpfObject.open(compileFixture('l7_maps_test.bpf.c', buildDir, ['-I', kernelInclude]), { pinRoot });
    object.load();
    decisions = object.map('km_l7_decision');
    anchorMap = object.map('km_l7_anchor');
    texts = object.map('km_l7_text');
    execFileSync('ip', ['netns', 'add', ns]);
    inNs('ip', 'link', 'set', 'lo', 'up');
    // An endpoint address inside the namespace whose SYNs vanish: the connect can only time out.
    inNs('ip', 'addr', 'add', '10.250.77.1/32', 'dev', 'lo');
    inNs('nft', 'add table inet kmesh_l7_test { chain input { type filter hook input priority 0; ip daddr 10.250.77.1 tcp dport 80 drop; }; }');
  });

  afterAll(() => {
    try {
      execFileSync('ip', ['netns', 'del', ns]);
    } catch {
      // already gone
    }
    for (const m of [decisions, anchorMap, texts]) m?.close();
    object?.close();
    if (pinRoot) rmSync(pinRoot, { recursive: true, force: true });
    if (buildDir) rmSync(buildDir, { recursive: true, force: true });
  });

  it('opens one anchor per namespace, each registered under its own cookie, and removes them on stop', () => {
    const relay = L7Relay.start({ decisionMap: decisions, anchorMap, textMap: texts, netns: ['', nsPath], anchorPort: 0 });
    try {
      const anchors = relay.anchors();
      expect(anchors.map((a) => a.netns)).toEqual(['', nsPath]);
      expect(anchors[0]!.cookie).not.toBe(anchors[1]!.cookie);
      expect(anchorMap.keys().map((k) => k.readBigUInt64LE(0)).sort()).toEqual(anchors.map((a) => a.cookie).sort());
      // The namespace's anchor listens inside the namespace.
      expect(inNs('ss', '-Hltn', `sport = :${anchors[1]!.port}`)).toContain(`127.0.0.1:${anchors[1]!.port}`);
    } finally {
      relay.stop();
    }
    expect(anchorMap.keys()).toHaveLength(0);
  });

  it('answers 503 "upstream connect timeout" when the endpoint drops SYNs, after connect_timeout', async () => {
    const relay = L7Relay.start({ decisionMap: decisions, anchorMap, textMap: texts, netns: [nsPath], anchorPort: 0 });
    try {
      const [anchor] = relay.anchors();
      const { response, ms } = await exchangeInNs(anchor!.port, anchor!.cookie, {
        verdict: Verdict.forward,
        endpoint: ['10.250.77.1', 80],
        timeoutMs: 300,
      });
      expect(response.startsWith('HTTP/1.1 503 Service Unavailable\r\n')).toBe(true);
      expect(response).toContain('x-kmesh-reason: upstream connect timeout\r\n');
      expect(ms).toBeGreaterThanOrEqual(280);
      expect(ms).toBeLessThan(3000);
      expect(relay.stats().connectTimeouts).toBe(1);
    } finally {
      relay.stop();
    }
  });

  it('forwards inside the namespace: the upstream socket is created there too', async () => {
    // An echo endpoint that exists only inside the namespace (on its 127.0.0.1).
    const server = spawn('ip', ['netns', 'exec', ns, 'python3', '-c',
      'import socket\ns=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(("127.0.0.1",18080));s.listen()\nprint("ready",flush=True)\nc,_=s.accept()\nd=c.recv(65536)\nc.sendall(b"HTTP/1.1 200 OK\\r\\ncontent-length: 2\\r\\nconnection: close\\r\\n\\r\\nok")\nc.close()'],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((res) => server.stdout!.once('data', () => res()));
    const relay = L7Relay.start({ decisionMap: decisions, anchorMap, textMap: texts, netns: [nsPath], anchorPort: 0 });
    try {
      const [anchor] = relay.anchors();
      const { response } = await exchangeInNs(anchor!.port, anchor!.cookie, { verdict: Verdict.forward, endpoint: ['127.0.0.1', 18080] });
      expect(response).toBe('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok');
    } finally {
      relay.stop();
      server.kill();
    }
  });

  it('throws L7RelayError naming the namespace and errno, and registers nothing', () => {
    const missing = '/run/netns/kmesh-l7r-does-not-exist';
    let error: unknown;
    try {
      L7Relay.start({ decisionMap: decisions, anchorMap, textMap: texts, netns: ['', missing], anchorPort: 0 });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(L7RelayError);
    expect((error as L7RelayError).netns).toBe(missing);
    expect((error as L7RelayError).code).toBe('ENOENT');
    expect((error as L7RelayError).message).toContain(missing);
    expect(anchorMap.keys()).toHaveLength(0);

    // A port already taken in that namespace.
    const first = L7Relay.start({ decisionMap: decisions, anchorMap, textMap: texts, netns: [nsPath], anchorPort: 0 });
    try {
      const port = first.anchors()[0]!.port;
      let busy: unknown;
      try {
        L7Relay.start({ decisionMap: decisions, anchorMap, textMap: texts, netns: [nsPath], anchorPort: port });
      } catch (e) {
        busy = e;
      }
      expect(busy).toBeInstanceOf(L7RelayError);
      expect((busy as L7RelayError).code).toBe('EADDRINUSE');
      expect((busy as L7RelayError).message).toContain(`127.0.0.1:${port}`);
    } finally {
      first.stop();
    }
  });
});
