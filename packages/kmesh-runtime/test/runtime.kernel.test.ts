// Kernel tests of @kmesh/runtime against the real kernel (root only): load, maps, pins, cgroup links.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileFixture, cgroup2Mount, u32, expectBpfError, removeCgroup } from './support.js';

import { BpfError, BpfLink, BpfMap, BpfObject, isBpffs, mountBpffs, possibleCpus, unpinPath } from '../src/index.js';

const pinRoot = `/sys/fs/bpf/kmesh-rt-test-${process.pid}`;
const BPF_MAP_TYPE_HASH = 1;
const BPF_MAP_TYPE_PERCPU_ARRAY = 6;




function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

// Sum of the per-CPU u64 slots of one rt_counts entry.
function connects(counts: BpfMap, slot: number): number {
  const value = counts.lookup(u32(slot));
  if (value === null) throw new Error(`rt_counts[${slot}] is missing`);
  let total = 0n;
  for (let offset = 0; offset < value.length; offset += 8) total += value.readBigUInt64LE(offset);
  return Number(total);
}

// Runs one TCP connect to 127.0.0.1:port from a process that first moves itself into the cgroup.
function connectFromCgroup(cgroup: string, port: number): Promise<void> {
  const client =
    "const s=require('net').connect(Number(process.env.PORT),'127.0.0.1',()=>s.end());" +
    "s.on('close',()=>process.exit(0));s.on('error',(e)=>{console.error(e.message);process.exit(1)});";
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$1" -e "$2"', cgroup, process.execPath, client], {
      env: { ...process.env, PORT: String(port) },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`client exited ${code}: ${stderr}`))));
  });
}


describe.skipIf(process.getuid?.() !== 0)('@kmesh/runtime on the real kernel', () => {
  let buildDir: string;
  let fixture: string;
  let rejected: string;
  let cgroup: string;
  let server: Server;
  let port: number;
  const toClose: { close(): void }[] = [];
  const open = (path: string, pin = true): BpfObject => {
    const object = BpfObject.open(path, pin ? { pinRoot } : {});
    toClose.push(object);
    return object;
  };

  beforeAll(async () => {
    mountBpffs(); // the pins below need a bpffs at /sys/fs/bpf
    buildDir = mkdtempSync(join(tmpdir(), 'kmesh-rt-test-'));
    fixture = compileFixture('runtime_test.bpf.c', buildDir);
    rejected = compileFixture('verifier_reject.bpf.c', buildDir);
    cgroup = join(cgroup2Mount(), `kmesh-rt-test-${process.pid}`);
    mkdirSync(cgroup);
    server = createServer((socket) => socket.end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });

  afterAll(async () => {
    for (const handle of toClose) handle.close();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(pinRoot, { recursive: true, force: true });
    // The last client may still be leaving the cgroup: rmdir answers EBUSY until it has.
    await removeCgroup(cgroup);
    if (buildDir) rmSync(buildDir, { recursive: true, force: true });
  });

  it('mountBpffs leaves an existing bpffs alone and isBpffs tells bpffs from other filesystems', () => {
    expect(mountBpffs('/sys/fs/bpf')).toBe(false);
    expect(isBpffs('/sys/fs/bpf')).toBe(true);
    expect(isBpffs('/proc')).toBe(false);
    expect(isBpffs(`/sys/fs/bpf/absent-${process.pid}`)).toBe(false);
  });

  it('opens and loads an object and describes its programs and maps', () => {
    const object = open(fixture);
    expect(object.programs.map((p) => [p.name, p.section])).toEqual([
      ['rt_connect4_a', 'cgroup/connect4'],
      ['rt_connect4_b', 'cgroup/connect4'],
    ]);
    expect(() => object.map('rt_hash')).toThrow(/call load\(\) first/);
    object.load();
    const shapes = object.maps.map((m) => [m.name, m.type, m.keySize, m.valueSize, m.maxEntries]);
    expect(shapes).toEqual([
      ['rt_hash', BPF_MAP_TYPE_HASH, 4, 8, 16],
      ['rt_counts', BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 2],
      ['rt_shared', BPF_MAP_TYPE_HASH, 4, 8, 8],
    ]);
    expect(() => object.program('nope')).toThrow(/has no program named "nope"/);
    expect(() => object.map('nope')).toThrow(/has no map named "nope"/);
  });

  it('creates, reads, lists and deletes map elements', () => {
    const object = open(fixture);
    object.load();
    const hash = object.map('rt_hash');
    toClose.push(hash);
    expect(hash.lookup(u32(1))).toBeNull();
    hash.update(u32(1), u64(100));
    hash.update(u32(2), u64(200), 'noexist');
    hash.update(u32(1), u64(101), 'exist');
    expect(hash.lookup(u32(1))).toEqual(u64(101));
    expect(hash.keys().map((k) => k.readUInt32LE()).sort()).toEqual([1, 2]);
    expect(hash.delete(u32(2))).toBe(true);
    expect(hash.delete(u32(2))).toBe(false);
    expect(hash.keys().map((k) => k.readUInt32LE())).toEqual([1]);
  });

  it('rejects buffers of the wrong size before calling the kernel', () => {
    const object = open(fixture);
    object.load();
    const hash = object.map('rt_hash');
    toClose.push(hash);
    expect(() => hash.update(u32(1), Buffer.alloc(4))).toThrow(/BpfMap "rt_hash": value must be 8 bytes, got 4/);
    expect(() => hash.lookup(Buffer.alloc(8))).toThrow(/BpfMap "rt_hash": key must be 4 bytes, got 8/);
    expect(() => hash.delete(Buffer.alloc(2))).toThrow(RangeError);
    expect(hash.keys()).toEqual([]);
    const counts = object.map('rt_counts');
    toClose.push(counts);
    expect(() => counts.update(u32(0), u64(1))).toThrow(/per-CPU/);
  });

  it('reads and writes per-CPU values as one 8-byte slot per possible CPU', () => {
    const object = open(fixture);
    object.load();
    const counts = object.map('rt_counts');
    toClose.push(counts);
    const cpus = possibleCpus();
    expect(cpus).toBeGreaterThan(0);
    expect(counts.valueBufferSize).toBe(8 * cpus);
    const value = Buffer.alloc(8 * cpus);
    for (let cpu = 0; cpu < cpus; cpu++) value.writeBigUInt64LE(BigInt(cpu + 10), cpu * 8);
    counts.update(u32(1), value);
    expect(counts.lookup(u32(1))).toEqual(value);
    expect(counts.keys().map((k) => k.readUInt32LE())).toEqual([0, 1]); // arrays list every index
  });

  it('reports failures as BpfError with errno, code, operation and subject', () => {
    const object = open(fixture);
    object.load();
    const hash = object.map('rt_hash');
    toClose.push(hash);
    hash.update(u32(5), u64(5));
    const exists = expectBpfError(() => hash.update(u32(5), u64(6), 'noexist'));
    expect([exists.code, exists.errno, exists.op]).toEqual(['EEXIST', 17, 'bpf_map_update_elem']);
    expect(exists.message).toMatch(/bpf_map_update_elem failed for map "rt_hash": File exists \(EEXIST\)/);
    for (let key = 100; key < 115; key++) hash.update(u32(key), u64(key)); // fills all 16 entries
    expect(expectBpfError(() => hash.update(u32(999), u64(1))).code).toBe('E2BIG');
    const missing = expectBpfError(() => BpfMap.fromPin(`${pinRoot}/absent`));
    expect([missing.code, missing.op]).toEqual(['ENOENT', 'bpf_obj_get']);
    expect(missing.message).toContain(`${pinRoot}/absent`);
    expect(expectBpfError(() => BpfObject.open('/nonexistent.bpf.o')).code).toBe('ENOENT');
    expect(() => hash.update(u32(1), u64(1), 'sometimes' as never)).toThrow(/update flag must be/);
  });

  it('throws a clear error, not a crash, on closed handles', () => {
    const object = BpfObject.open(fixture, { pinRoot });
    object.load();
    const hash = object.map('rt_hash');
    const program = object.program('rt_connect4_a');
    object.close();
    object.close(); // idempotent
    hash.update(u32(3), u64(3)); // a map handle owns its own fd and survives its object
    expect(hash.lookup(u32(3))).toEqual(u64(3));
    expect(() => object.program('rt_connect4_a')).toThrow(/BpfObject .* is closed/);
    expect(() => program.attachCgroup(cgroup)).toThrow(/BpfObject .* is closed/);
    hash.close();
    expect(() => hash.lookup(u32(3))).toThrow('BpfMap "rt_hash" is closed');
    expect(() => hash.keys()).toThrow(/is closed/);
  });

  it('shares LIBBPF_PIN_BY_NAME maps between objects opened with the same pinRoot', () => {
    const first = open(fixture);
    first.load();
    expect(existsSync(`${pinRoot}/rt_shared`)).toBe(true);
    const second = open(fixture);
    second.load(); // reuses the pinned map instead of creating a new one
    const fromFirst = first.map('rt_shared');
    const fromSecond = second.map('rt_shared');
    const fromPin = BpfMap.fromPin(`${pinRoot}/rt_shared`);
    toClose.push(fromFirst, fromSecond, fromPin);
    fromFirst.update(u32(7), u64(70));
    expect(fromSecond.lookup(u32(7))).toEqual(u64(70));
    fromSecond.update(u32(8), u64(80));
    expect(fromFirst.lookup(u32(8))).toEqual(u64(80));
    expect([fromPin.name, fromPin.type, fromPin.keySize, fromPin.valueSize, fromPin.maxEntries]).toEqual([
      'rt_shared', BPF_MAP_TYPE_HASH, 4, 8, 8,
    ]);
    expect(fromPin.lookup(u32(7))).toEqual(u64(70));
    // Maps without PIN_BY_NAME are private to each object.
    first.map('rt_hash').update(u32(1), u64(1));
    expect(second.map('rt_hash').lookup(u32(1))).toBeNull();
    // An explicit pin, and unpinPath that tolerates a missing pin.
    fromFirst.pin(`${pinRoot}/explicit`);
    expect(BpfMap.fromPin(`${pinRoot}/explicit`).lookup(u32(8))).toEqual(u64(80));
    unpinPath(`${pinRoot}/explicit`);
    expect(existsSync(`${pinRoot}/explicit`)).toBe(false);
    expect(() => unpinPath(`${pinRoot}/explicit`)).not.toThrow();
  });

  it('attaches to a cgroup, swaps programs atomically, and detaches a link reopened from its pin', async () => {
    const object = open(fixture);
    object.load();
    const counts = object.map('rt_counts');
    toClose.push(counts);
    const link = object.program('rt_connect4_a').attachCgroup(cgroup);
    toClose.push(link);

    const before = [connects(counts, 0), connects(counts, 1)];
    await connectFromCgroup(cgroup, port);
    expect([connects(counts, 0), connects(counts, 1)]).toEqual([before[0]! + 1, before[1]]);

    link.update(object.program('rt_connect4_b'));
    await connectFromCgroup(cgroup, port);
    expect([connects(counts, 0), connects(counts, 1)]).toEqual([before[0]! + 1, before[1]! + 1]);

    // A pinned link outlives the handle that created it (what a daemon restart relies on).
    const linkPin = `${pinRoot}/links/rt_connect4`;
    mkdirSync(dirname(linkPin), { recursive: true });
    link.pin(linkPin);
    link.close();
    await connectFromCgroup(cgroup, port);
    expect(connects(counts, 1)).toBe(before[1]! + 2);

    // What `kmesh cleanup` does: reopen the pin, detach, unpin.
    const pinned = BpfLink.fromPin(linkPin);
    toClose.push(pinned);
    pinned.detach();
    await connectFromCgroup(cgroup, port);
    await connectFromCgroup(cgroup, port);
    expect([connects(counts, 0), connects(counts, 1)]).toEqual([before[0]! + 1, before[1]! + 2]);
    pinned.unpin();
    expect(existsSync(linkPin)).toBe(false);
    expect(() => BpfLink.fromPin(`${pinRoot}/rt_shared`)).toThrow(/is not a pinned BPF link \(it is bpf-map\)/);
  });

  it('surfaces the verifier log when load() is rejected', () => {
    const object = open(rejected, false);
    const error = expectBpfError(() => object.load());
    expect(error.op).toBe('bpf_object__load');
    expect(error.code).toBe('EACCES');
    expect(error.message).toContain(rejected);
    expect(error.message).toMatch(/invalid mem access 'map_value_or_null'/);
  });
});
