// Kernel tests of RingBuffer (records delivered from the event loop) and BpfProgram.attach() (root only).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileFixture, cgroup2Mount, u32, removeCgroup } from './support.js';

import { BpfObject, RingBuffer, mountBpffs, type BpfLink, type BpfMap } from '../src/index.js';





function counter(counts: BpfMap, slot: number): number {
  const value = counts.lookup(u32(slot));
  if (value === null) throw new Error(`rb_counts[${slot}] is missing`);
  return Number(value.readBigUInt64LE(0));
}

// `count` TCP connects to 127.0.0.1:port from one process that first moves itself into the cgroup.
function connectFromCgroup(cgroup: string, port: number, count: number): Promise<void> {
  const client =
    'let left=Number(process.env.COUNT);const one=()=>{const s=require("net").connect(Number(process.env.PORT),"127.0.0.1",()=>s.end());' +
    's.on("close",()=>{if(--left>0)one();else process.exit(0)});s.on("error",(e)=>{console.error(e.message);process.exit(1)})};one();';
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$1" -e "$2"', cgroup, process.execPath, client], {
      env: { ...process.env, PORT: String(port), COUNT: String(count) },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`client exited ${code}: ${stderr}`))));
  });
}

async function until(what: string, condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe.skipIf(process.getuid?.() !== 0)('RingBuffer and BpfProgram.attach on the real kernel', () => {
  let buildDir: string;
  let object: BpfObject;
  let cgroup: string;
  let server: Server;
  let port: number;
  let link: BpfLink | undefined;

  beforeAll(async () => {
    mountBpffs();
    buildDir = mkdtempSync(join(tmpdir(), 'kmesh-rb-test-'));
    object = BpfObject.open(compileFixture('ringbuf_test.bpf.c', buildDir, ['-mcpu=v3']));
    object.load();
    cgroup = join(cgroup2Mount(), `kmesh-rb-test-${process.pid}`);
    mkdirSync(cgroup);
    link = object.program('rb_connect4').attachCgroup(cgroup);
    server = createServer((socket) => socket.end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });

  afterAll(async () => {
    link?.close();
    object?.close();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    await removeCgroup(cgroup);
    if (buildDir) rmSync(buildDir, { recursive: true, force: true });
  });

  it('delivers every submitted record, in order, from the event loop without being asked', async () => {
    const seen: Buffer[] = [];
    const ring = RingBuffer.open(object.map('rb_events'), (records) => seen.push(...records));
    try {
      const before = counter(object.map('rb_counts'), 0);
      await connectFromCgroup(cgroup, port, 25);
      await until('25 ring buffer records', () => seen.length >= 25);
      expect(seen).toHaveLength(25);
      expect(seen.every((r) => r.length === 16)).toBe(true);
      expect(seen.map((r) => Number(r.readBigUInt64LE(0)))).toEqual(Array.from({ length: 25 }, (_, i) => before + i));
      expect(seen.every((r) => r.readUInt16BE(8) === port)).toBe(true); // network order in the first 2 bytes
      expect(ring.consume()).toBe(0); // nothing left behind
    } finally {
      ring.close();
    }
  });

  it('keeps records until consumed, counts what did not fit, and drains synchronously with consume()', async () => {
    const seen: Buffer[] = [];
    const ring = RingBuffer.open(object.map('rb_events'), (records) => seen.push(...records));
    ring.close(); // closed: nothing is read while the clients run
    ring.close(); // idempotent
    expect(ring.closed).toBe(true);
    expect(() => ring.consume()).toThrow(/closed/);

    const counts = object.map('rb_counts');
    const droppedBefore = counter(counts, 1);
    await connectFromCgroup(cgroup, port, 200); // more than the 170 records one page holds
    expect(counter(counts, 1) - droppedBefore).toBeGreaterThan(0);

    const drain: Buffer[] = [];
    const second = RingBuffer.open(object.map('rb_events'), (records) => drain.push(...records));
    try {
      const n = second.consume();
      expect(n).toBeGreaterThan(100);
      expect(drain).toHaveLength(n);
      expect(n + (counter(counts, 1) - droppedBefore)).toBe(200);
    } finally {
      second.close();
    }
    expect(seen).toHaveLength(0);
  });

  it('refuses a map that is not a ring buffer', () => {
    expect(() => RingBuffer.open(object.map('rb_counts'), () => {})).toThrow(/not RINGBUF/);
  });

  it('attaches a host-wide raw tracepoint by its section name', async () => {
    const counts = object.map('rb_counts');
    const before = counter(counts, 2);
    const exits = object.program('rb_process_exit').attach();
    try {
      execFileSync('true');
      await until('a process exit to be counted', () => counter(counts, 2) > before);
    } finally {
      exits.close();
    }
    const after = counter(counts, 2);
    execFileSync('true');
    expect(counter(counts, 2)).toBe(after); // closing the link detached it
  });
});
