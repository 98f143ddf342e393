// Kernel test of the L7 relay's same-node direct path (root only). A stand-in for the parser
// (fixtures/l7_parser_standin.bpf.c: decision + km_l7_client + km_l7_after_decision()) and the
// direct-path object (packages/kmesh-orchestration/bpf/kmesh_l7_direct.bpf.c) on a cgroup of this
// test; client and echo server are python processes inside that cgroup.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { BpfObject, L7Relay, type BpfLink, type BpfMap } from '../src/index.js';
import { cgroup2Mount, removeCgroup } from './support.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../../..');
const peerScript = join(here, 'fixtures', 'l7_direct_peer.py');

function compile(source: string, output: string): string {
  const multiarch = `/usr/include/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`;
  execFileSync('clang', ['-O2', '-g', '-target', 'bpf', '-mcpu=v3', '-I', multiarch, '-I', join(repo, 'kernel/include'),
    '-I', join(repo, 'packages/kmesh-orchestration/bpf'), '-c', source, '-o', output], { stdio: 'pipe' });
  return output;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const port = (server.address() as { port: number }).port;
  await new Promise((res) => server.close(res));
  return port;
}

describe.skipIf(process.getuid?.() !== 0)('L7Relay direct path on the real kernel', () => {
  let buildDir: string;
  let cgroup: string;
  const pinRoot = `/sys/fs/bpf/kmesh-rt-l7direct-${process.pid}`;
  const objects: BpfObject[] = [];
  const links: BpfLink[] = [];
  const maps = new Map<string, BpfMap>();
  const attachedToMaps: Array<[() => void]> = [];
  let server: ChildProcess | undefined;
  let serverPort: number;

  /** Runs a command inside the test cgroup. */
  function inCgroup(args: string[]): ChildProcess {
    return spawn('sh', ['-c', `echo $$ > ${cgroup}/cgroup.procs && exec "$@"`, 'sh', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  }

  const map = (name: string) => maps.get(name)!;

  beforeAll(async () => {
    buildDir = mkdtempSync(join(tmpdir(), 'kmesh-rt-l7direct-'));
    cgroup = join(cgroup2Mount(), `kmesh-rt-l7direct-${process.pid}`);
    mkdirSync(cgroup);
    const standin = BpfObject.open(compile(join(here, 'fixtures/l7_parser_standin.bpf.c'), join(buildDir, 'standin.o')), { pinRoot });
    const direct = BpfObject.open(
      compile(join(repo, 'packages/kmesh-orchestration/bpf/kmesh_l7_direct.bpf.c'), join(buildDir, 'direct.o')),
      { pinRoot },
    );
    for (const o of [standin, direct]) {
      o.load();
      objects.push(o);
    }
    for (const name of ['km_l7_decision', 'km_l7_anchor', 'km_l7_text', 'km_l7_client', 'standin_port', 'standin_decision']) {
      maps.set(name, standin.map(name));
    }
    for (const name of ['km_l7_expect', 'km_l7_upstream', 'km_l7_server', 'km_l7_direct', 'km_l7_peer']) maps.set(name, direct.map(name));
    // Verdict programs first: a socket's programs are fixed when it enters the sockhash.
    const verdicts: Array<[BpfObject, string, string]> = [
      [standin, 'standin_msg', 'km_l7_client'],
      [direct, 'kmesh_l7_upstream_msg', 'km_l7_upstream'],
      [direct, 'kmesh_l7_server_msg', 'km_l7_server'],
    ];
    for (const [o, program, m] of verdicts) {
      o.program(program).attachToMap(map(m), 'msg_verdict');
      attachedToMaps.push([() => o.program(program).detachFromMap(map(m), 'msg_verdict')]);
    }
    links.push(standin.program('standin_sockops').attachCgroup(cgroup));
    links.push(direct.program('kmesh_l7_direct_sockops').attachCgroup(cgroup));

    serverPort = await freePort();
    server = inCgroup(['python3', peerScript, 'server', String(serverPort)]);
    await new Promise<void>((res, rej) => {
      server!.stdout!.once('data', () => res());
      server!.once('exit', (code) => rej(new Error(`echo server exited (${code})`)));
    });
  });

  afterAll(async () => {
    server?.kill();
    for (const [detach] of attachedToMaps) detach();
    for (const link of links) {
      link.detach();
      link.close();
    }
    for (const m of maps.values()) m.close();
    for (const o of objects) o.close();
    rmSync(pinRoot, { recursive: true, force: true });
    await removeCgroup(cgroup);
    if (buildDir) rmSync(buildDir, { recursive: true, force: true });
  });

  async function runClient(relay: L7Relay, mode = 'client', args: string[] = [], endpointPort = serverPort): Promise<{ ok: boolean; sent: number }> {
    const anchorPort = relay.anchors()[0]!.port;
    const port = Buffer.alloc(4);
    port.writeUInt32LE(anchorPort);
    map('standin_port').update(Buffer.alloc(4), port);
    const decision = Buffer.alloc(128); // FORWARD to the echo server
    Buffer.from([127, 0, 0, 1]).copy(decision, 24);
    decision.writeUInt16BE(endpointPort, 40);
    decision.writeUInt8(2, 42);
    map('standin_decision').update(Buffer.alloc(4), decision);
    const client = inCgroup(['python3', peerScript, mode, String(anchorPort), ...args]);
    const line = await createInterface({ input: client.stdout! })[Symbol.asyncIterator]().next();
    return JSON.parse(String(line.value)) as { ok: boolean; sent: number };
  }

  async function idle(relay: L7Relay): Promise<void> {
    for (let i = 0; i < 100 && relay.stats().activeConnections > 0; i++) await new Promise((r) => setTimeout(r, 20));
  }

  it('moves the bytes after the first ones socket to socket, in order, and cleans up its entries', async () => {
    const relay = L7Relay.start({
      decisionMap: map('km_l7_decision'),
      anchorMap: map('km_l7_anchor'),
      textMap: map('km_l7_text'),
      anchorPort: 0,
      direct: { expectMap: map('km_l7_expect'), upstreamMap: map('km_l7_upstream'), directMap: map('km_l7_direct'), peerMap: map('km_l7_peer') },
    });
    try {
      const result = await runClient(relay);
      expect(result.ok, JSON.stringify(result)).toBe(true);
      await idle(relay);
      const stats = relay.stats();
      if (process.env.KMESH_TEST_VERBOSE) console.log(JSON.stringify({ result, stats }));
      expect(stats.directConnections).toBe(1);
      expect(stats.activeConnections).toBe(0);
      // Only the bytes sent before the switch went through the relay.
      expect(stats.bytesToUpstream).toBeGreaterThan(0);
      expect(stats.bytesToUpstream).toBeLessThan(result.sent / 20);
      expect(stats.bytesToClient).toBeLessThan(result.sent / 20);
      for (const name of ['km_l7_direct', 'km_l7_expect', 'km_l7_decision']) expect(map(name).keys(), name).toHaveLength(0);
    } finally {
      relay.stop();
    }
  });

  it('leaves no fd and no map entry behind after 500 direct connections, resets included', async () => {
    const relay = L7Relay.start({
      decisionMap: map('km_l7_decision'),
      anchorMap: map('km_l7_anchor'),
      textMap: map('km_l7_text'),
      anchorPort: 0,
      direct: { expectMap: map('km_l7_expect'), upstreamMap: map('km_l7_upstream'), directMap: map('km_l7_direct'), peerMap: map('km_l7_peer') },
    });
    try {
      const fdsAtStart = relay.stats().openFds;
      const result = await runClient(relay, 'churn');
      expect(result.ok, JSON.stringify(result)).toBe(true);
      await idle(relay);
      const stats = relay.stats();
      expect(stats.accepted).toBe(500);
      expect(stats.directConnections + stats.directMisses).toBe(500);
      expect(stats.directConnections).toBeGreaterThan(450);
      expect(stats.resets).toBeGreaterThanOrEqual(45);
      expect(stats.activeConnections).toBe(0);
      expect(stats.openFds).toBe(fdsAtStart);
      for (const name of ['km_l7_direct', 'km_l7_expect', 'km_l7_decision', 'km_l7_upstream', 'km_l7_server', 'km_l7_client']) {
        expect(map(name).keys(), name).toHaveLength(0);
      }
    } finally {
      relay.stop();
    }
  });

  it('stops announcing an endpoint outside the mesh cgroup after three misses', async () => {
    // An echo endpoint in this test process: not in the test cgroup, so its sockets stay invisible.
    const outside = createServer({ allowHalfOpen: true }, (s) => {
      s.on('error', () => undefined);
      s.pipe(s);
    });
    await new Promise<void>((res) => outside.listen(0, '127.0.0.1', res));
    const relay = L7Relay.start({
      decisionMap: map('km_l7_decision'),
      anchorMap: map('km_l7_anchor'),
      textMap: map('km_l7_text'),
      anchorPort: 0,
      direct: { expectMap: map('km_l7_expect'), upstreamMap: map('km_l7_upstream'), directMap: map('km_l7_direct'), peerMap: map('km_l7_peer') },
    });
    try {
      const result = await runClient(relay, 'churn', ['20', '1'], (outside.address() as { port: number }).port);
      expect(result.ok, JSON.stringify(result)).toBe(true);
      await idle(relay);
      const stats = relay.stats();
      expect(stats.accepted).toBe(20);
      expect(stats.directConnections).toBe(0);
      expect(stats.directMisses).toBe(3);
      expect(map('km_l7_expect').keys()).toHaveLength(0);
    } finally {
      relay.stop();
      await new Promise((res) => outside.close(res));
    }
  });

  it('relays everything itself without the direct maps (same client, same result)', async () => {
    const relay = L7Relay.start({ decisionMap: map('km_l7_decision'), anchorMap: map('km_l7_anchor'), textMap: map('km_l7_text'), anchorPort: 0 });
    try {
      const result = await runClient(relay);
      expect(result.ok, JSON.stringify(result)).toBe(true);
      await idle(relay);
      const stats = relay.stats();
      expect(stats.directConnections).toBe(0);
      expect(stats.bytesToUpstream).toBe(result.sent);
      expect(stats.bytesToClient).toBe(result.sent);
    } finally {
      relay.stop();
    }
  });
});
