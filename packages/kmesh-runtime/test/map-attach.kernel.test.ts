// Kernel test of BpfProgram.attachToMap / detachFromMap (root only): an sk_msg program attached to a
// sockhash runs for the messages of the sockets in the map, and stops running once detached.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileFixture, u32, expectBpfError } from './support.js';

import { BpfError, BpfObject, type BpfMap } from '../src/index.js';




/** sm_counts[slot] (0: messages, 1: bytes the msg_verdict program saw). */
function count(counts: BpfMap, slot: number): number {
  return Number(counts.lookup(u32(slot))!.readBigUInt64LE(0));
}

/** The fd behind a connected node socket (libuv's TCP handle exposes it on Linux). */
function socketFd(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('cannot read the fd of a node TCP socket');
  return fd;
}


describe.skipIf(process.getuid?.() !== 0)('BpfProgram.attachToMap on the real kernel', () => {
  let buildDir: string;
  let object: BpfObject;
  let server: Server;
  let client: Socket;
  const received: Buffer[] = [];

  beforeAll(async () => {
    buildDir = mkdtempSync(join(tmpdir(), 'kmesh-rt-mapattach-'));
    object = BpfObject.open(compileFixture('sockmap_test.bpf.c', buildDir));
    object.load();
    server = createServer((socket) => socket.on('data', (chunk: Buffer) => received.push(chunk)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    client = connect((server.address() as { port: number }).port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => client.once('connect', resolve).once('error', reject));
  });

  afterAll(async () => {
    client?.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    object?.close();
    if (buildDir) rmSync(buildDir, { recursive: true, force: true });
  });

  async function send(text: string): Promise<void> {
    const before = Buffer.concat(received).length;
    await new Promise<void>((resolve, reject) => client.write(text, (error) => (error ? reject(error) : resolve())));
    for (let i = 0; i < 100 && Buffer.concat(received).length < before + text.length; i++) await new Promise((r) => setTimeout(r, 10));
    expect(Buffer.concat(received).subarray(before).toString()).toBe(text); // SK_PASS: delivered unchanged
  }

  it('runs the msg_verdict program for sockets in the map while attached, and not after detach', async () => {
    const socks = object.map('sm_socks');
    const counts = object.map('sm_counts');
    const program = object.program('sm_count_msg');

    // Not attached yet: detaching is an error that names the problem.
    expect(expectBpfError(() => program.detachFromMap(socks, 'msg_verdict')).code).toBe('ENOENT');

    // A socket takes the map's programs when it is inserted, so attach first.
    program.attachToMap(socks, 'msg_verdict');
    socks.update(u32(1), u32(socketFd(client)));
    await send('hello mesh');
    expect(count(counts, 0)).toBeGreaterThanOrEqual(1);
    expect(count(counts, 1)).toBe('hello mesh'.length);

    program.detachFromMap(socks, 'msg_verdict');
    expect(expectBpfError(() => program.detachFromMap(socks, 'msg_verdict')).code).toBe('ENOENT');
    // A socket inserted after the detach does not run the program.
    socks.delete(u32(1));
    socks.update(u32(1), u32(socketFd(client)));
    const messages = count(counts, 0);
    await send('after detach');
    expect(count(counts, 0)).toBe(messages);
  });

  it('refuses a program of another type and an unknown attach type', () => {
    const socks = object.map('sm_socks');
    expect(expectBpfError(() => object.program('sm_not_sk_msg').attachToMap(socks, 'msg_verdict')).code).toBe('EINVAL');
    expect(() => object.program('sm_count_msg').attachToMap(socks, 'sk_lookup' as 'msg_verdict')).toThrow(/unknown map attach type "sk_lookup"/);
  });
});
