// Helpers for the L7 resilience tests (circuit breaker, outlier detection, LEAST_REQUEST on an
// http_connection_manager listener): a client in the mesh cgroup that opens keep-alive HTTP/1.1
// connections, sends a request on each (and more on command), keeps every header of each answer, and
// holds the connections open until told to close them; and a poll for the daemon's /resilience view.
//
// Why not conn-holder.mjs or l7_client.py: the first does not keep the answer's headers, the second
// cannot hold a connection open while the test looks at the daemon; both are shared by other tests.
// The client is small enough to live here as a script for `node -e`.
import { spawn } from 'node:child_process';
import { BACKEND_READY_LINE } from '../../tools/lab/backend-protocol.js';
import { httpBackendScript, type Lab, type LabProcess } from '../../tools/lab/index.js';
import { clusterView, resilience, sleep, type ClusterView } from './resilience.js';

/** One answer as the holder saw it; every header is kept, names lower-case. */
export interface HeldAnswer {
  /** "ok" or the connect error's code (ECONNREFUSED, TIMEOUT, ...) */
  connect: string;
  status?: number;
  headers?: Record<string, string>;
  body?: string;
  /** the connection is still open and held (a keep-alive answer) */
  held: boolean;
  /** the other side closed the connection after the answer (or before one) */
  peerClosed: boolean;
  error?: string;
}

export interface L7Holder {
  /** Opens `count` connections one after the other, each sending GET path and reading one answer. */
  open(target: string, count: number, request: { path: string; host: string }): Promise<HeldAnswer[]>;
  /** Sends one more GET path on each held connection (oldest first) and reads its answer. */
  again(request: { path: string; host: string }): Promise<HeldAnswer[]>;
  /** Closes the oldest `count` held connections; returns how many stay held. */
  close(count: number): Promise<number>;
  /** How many held connections the other side has closed since they were opened. */
  peerClosed(): Promise<number>;
  stop(): Promise<void>;
}

// The holder, run by `node -e` in the client netns (CommonJS, no dependencies). One JSON command per
// stdin line, one JSON answer per stdout line.
const HOLDER_SCRIPT = String.raw`
const net = require('node:net');
const readline = require('node:readline');
const held = [];

function parseTarget(t) {
  const m = /^\[?([^\]]+)\]?:(\d+)$/.exec(t);
  if (!m) throw new Error('bad target ' + t);
  return { host: m[1], port: Number(m[2]) };
}

// The first answer in buf: { answer, rest } or null while incomplete; atClose: a body without
// content-length ends here.
function parseAnswer(buf, atClose) {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(lines[0].split(' ')[1]);
  const headers = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  const body = buf.subarray(end + 4);
  const length = headers['content-length'];
  if (length === undefined ? !atClose : body.length < Number(length)) return null;
  const n = length === undefined ? body.length : Number(length);
  return { answer: { status, headers, body: body.subarray(0, n).toString('utf8').slice(0, 500) }, rest: body.subarray(n) };
}

// A connection that answers requests one at a time.
function connection(target) {
  const { host, port } = parseTarget(target);
  const c = { socket: net.connect({ host, port }), connected: false, peerClosed: false, error: null, buf: Buffer.alloc(0), wake: null };
  const poke = () => { if (c.wake) { const w = c.wake; c.wake = null; w(); } };
  c.socket.on('connect', () => { c.connected = true; poke(); });
  c.socket.on('data', (chunk) => { c.buf = Buffer.concat([c.buf, chunk]); poke(); });
  c.socket.on('error', (e) => { c.error = e.code || e.message; poke(); });
  c.socket.on('close', () => { c.peerClosed = true; poke(); });
  return c;
}

// Sends GET path on c and reads one answer (within 8 s). The answer keeps the connection when it is
// keep-alive; after connection: close it waits for the close.
async function ask(c, path, hostHeader) {
  const deadline = Date.now() + 8000;
  const wait = () => new Promise((res) => { c.wake = res; setTimeout(res, Math.max(0, deadline - Date.now())); });
  while (!c.connected && !c.error && !c.peerClosed && Date.now() < deadline) await wait();
  if (!c.connected) return { connect: c.error || 'TIMEOUT', held: false, peerClosed: true };
  if (!c.peerClosed) c.socket.write('GET ' + path + ' HTTP/1.1\r\nHost: ' + hostHeader + '\r\nUser-Agent: l7-holder\r\n\r\n');
  let got = null;
  for (;;) {
    got = parseAnswer(c.buf, c.peerClosed);
    if (got || c.peerClosed || Date.now() >= deadline) break;
    await wait();
  }
  const shown = JSON.stringify(c.buf.toString('latin1').slice(0, 300));
  if (!got) {
    c.socket.destroy();
    return { connect: 'ok', held: false, peerClosed: c.peerClosed, error: (c.peerClosed ? 'closed' : 'no complete answer within 8 s') + ' after ' + shown };
  }
  c.buf = got.rest;
  if ((got.answer.headers.connection || '').toLowerCase() === 'close') {
    c.socket.end();
    while (!c.peerClosed && Date.now() < deadline) await wait();
    if (!c.peerClosed) c.socket.destroy();
    return { connect: 'ok', ...got.answer, held: false, peerClosed: c.peerClosed };
  }
  return { connect: 'ok', ...got.answer, held: !c.peerClosed, peerClosed: c.peerClosed };
}

async function handle(cmd) {
  if (cmd.op === 'open') {
    const answers = [];
    // One at a time: the kernel sees the requests in order (exact counts at a limit).
    for (let i = 0; i < cmd.count; i++) {
      const c = connection(cmd.target);
      const a = await ask(c, cmd.path, cmd.host);
      if (a.held) held.push(c);
      else c.socket.destroy();
      answers.push(a);
    }
    return { answers };
  }
  if (cmd.op === 'again') {
    // One more request on each held connection, oldest first.
    const answers = [];
    for (const c of held) answers.push(await ask(c, cmd.path, cmd.host));
    return { answers };
  }
  if (cmd.op === 'close') {
    const victims = held.splice(0, cmd.count);
    await Promise.all(victims.map((c) => new Promise((res) => {
      if (c.socket.destroyed) return res();
      c.socket.once('close', res);
      c.socket.end();
      setTimeout(() => c.socket.destroy(), 1000);
    })));
    return { held: held.length };
  }
  if (cmd.op === 'peerClosed') return { peerClosed: held.filter((c) => c.peerClosed).length };
  return { error: 'unknown op ' + cmd.op };
}

const rl = readline.createInterface({ input: process.stdin });
// Commands run one after the other, answers in command order.
let queue = Promise.resolve();
rl.on('line', (line) => {
  if (!line.trim()) return;
  queue = queue.then(async () => {
    let answer;
    try { answer = await handle(JSON.parse(line)); } catch (e) { answer = { error: String(e && e.message || e) }; }
    process.stdout.write(JSON.stringify(answer) + '\n');
  });
});
rl.on('close', () => queue.then(() => { for (const c of held) c.socket.destroy(); process.exit(0); }));
process.stderr.write('l7-holder: ready\n');
`;

/** Starts the holder in the lab's client netns, inside the mesh cgroup. */
export async function startL7Holder(lab: Lab): Promise<L7Holder> {
  const proc: LabProcess = lab.spawnInClient(process.execPath, ['-e', HOLDER_SCRIPT], { inMeshCgroup: true, pipeStdin: true });
  const deadline = Date.now() + 10_000;
  while (!proc.stderr().includes('l7-holder: ready')) {
    if (proc.hasExited()) throw new Error(`l7 holder exited at once: ${proc.stderr()}`);
    if (Date.now() > deadline) throw new Error(`l7 holder did not start within 10 s: ${proc.stderr()}`);
    await sleep(20);
  }
  let asked = 0;
  const send = async <T>(cmd: object, timeoutMs = 60_000): Promise<T> => {
    proc.child.stdin!.write(JSON.stringify(cmd) + '\n');
    const want = ++asked;
    const end = Date.now() + timeoutMs;
    for (;;) {
      const lines = proc.stdout().split('\n').filter((l) => l.trim() !== '');
      if (lines.length >= want) {
        const answer = JSON.parse(lines[want - 1]!) as T & { error?: string };
        if (answer.error) throw new Error(`l7 holder: ${answer.error}`);
        return answer;
      }
      if (proc.hasExited()) throw new Error(`l7 holder exited: ${proc.stderr()}`);
      if (Date.now() > end) throw new Error(`l7 holder did not answer ${JSON.stringify(cmd)} within ${timeoutMs} ms`);
      await sleep(5);
    }
  };
  return {
    open: async (target, count, request) => (await send<{ answers: HeldAnswer[] }>({ op: 'open', target, count, ...request }, 10_000 * count + 10_000)).answers,
    again: async (request) => (await send<{ answers: HeldAnswer[] }>({ op: 'again', ...request }, 120_000)).answers,
    close: async (count) => (await send<{ held: number }>({ op: 'close', count })).held,
    peerClosed: async () => (await send<{ peerClosed: number }>({ op: 'peerClosed' })).peerClosed,
    async stop() {
      proc.child.stdin!.end();
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await proc.exited;
      clearTimeout(timer);
    },
  };
}

/** An answer in one line for an assertion message. */
export function showAnswer(a: HeldAnswer): string {
  if (a.connect !== 'ok') return `connect ${a.connect}`;
  const h = a.headers ?? {};
  return `${a.status ?? 'no answer'} backend=${h['x-backend'] ?? '-'} reason=${h['x-kmesh-reason'] ?? '-'} overloaded=${h['x-envoy-overloaded'] ?? '-'} connection=${h.connection ?? '-'} held=${a.held} peerClosed=${a.peerClosed}${a.error ? ` error=${a.error}` : ''}`;
}

/**
 * Polls /resilience until the cluster's view satisfies `done` (connection counts are released when a
 * socket closes, a moment after the client's close returns); returns the last view either way.
 */
export async function waitForCluster(adminUrl: string, name: string, done: (c: ClusterView) => boolean, timeoutMs = 5000): Promise<ClusterView> {
  const deadline = Date.now() + timeoutMs;
  let view = clusterView(await resilience(adminUrl), name);
  while (!done(view) && Date.now() < deadline) {
    await sleep(100);
    view = clusterView(await resilience(adminUrl), name);
  }
  return view;
}

/**
 * The lab's HTTP backend (tools/lab/http-backend.ts) as one more "pod" on this node: in the server netns,
 * inside the mesh cgroup, listening on the server netns' own address. The L7 direct path
 * (kmesh_l7_direct.bpf.o on the mesh cgroup) sees its accepted sockets, so the relay hands such
 * connections to the kernel instead of relaying them. (The lab only runs its own backends outside the
 * mesh cgroup, hence this process of our own; stop() ends it by its pid.)
 */
export async function startMeshBackend(lab: Lab, name: string, port: number, side: 'server' | 'client' = 'server'): Promise<{ address: string; port: number; stop(): Promise<void> }> {
  // 'client': a pod calling a service that resolves to itself (the endpoint in the client's own netns).
  const address = side === 'server' ? lab.addresses.serverV4 : lab.addresses.clientV4;
  const netns = side === 'server' ? lab.serverNetns : lab.clientNetns;
  const child = spawn('sh', ['-c', 'echo $$ > "$1/cgroup.procs" && exec ip netns exec "$2" "$3" "$4"', 'sh', lab.cgroup, netns, process.execPath, httpBackendScript], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => { out += c.toString('utf8'); });
  child.stderr!.on('data', (c: Buffer) => { err += c.toString('utf8'); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const kill = () => {
    try { if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
  };
  const waitFor = async (line: string, what: string) => {
    const deadline = Date.now() + 10_000;
    while (!out.split('\n').includes(line)) {
      if (child.exitCode !== null || Date.now() > deadline) {
        kill();
        throw new Error(`mesh backend ${name}: no ${what} (stdout ${JSON.stringify(out)}, stderr ${JSON.stringify(err.slice(-1000))})`);
      }
      await sleep(20);
    }
  };
  await waitFor(BACKEND_READY_LINE, 'ready line');
  child.stdin!.write(JSON.stringify({ id: 1, op: 'listen', name, host: address, port }) + '\n');
  await waitFor(JSON.stringify({ id: 1, ok: true }), `listen on ${address}:${port}`);
  return {
    address,
    port,
    async stop() {
      child.stdin!.end(); // the backend server exits when its control channel closes
      const timer = setTimeout(kill, 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
