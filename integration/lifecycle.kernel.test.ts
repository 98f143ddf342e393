// The daemon's life around live traffic: config edits (valid and invalid), SIGKILL, restart on the
// same pins, and `kmesh cleanup`. The steps depend on each other and run in order.
import { existsSync, readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VIP_UNREACHABLE_ERROR, type Lab } from '../tools/lab/index.js';
import { run } from '../tools/lab/system.js';
import { bootstrap, cluster, listener } from './support/envoy.js';
import { APPLIED, REJECTED, countLog, expectShares, startMesh, waitForNewLog, type Mesh } from './support/mesh.js';

const id = `lc${process.pid}`;
const VIP = '10.96.2.1:9080';

/** reviews VIP split between two clusters; `endpointWeight` and `secondCluster` let a test break it. */
function split(lab: Lab, v1: number, v2: number, opts: { endpointWeight?: number; secondCluster?: string } = {}): object {
  return bootstrap(
    [listener('reviews', '10.96.2.1', 9080, [{ name: 'reviews-v1', weight: v1 }, { name: opts.secondCluster ?? 'reviews-v2', weight: v2 }])],
    [
      cluster('reviews-v1', 'ROUND_ROBIN', [{ address: lab.backend('reviews-v1').ipv4, weight: opts.endpointWeight }]),
      cluster('reviews-v2', 'ROUND_ROBIN', [{ address: lab.backend('reviews-v2').ipv4 }]),
    ],
  );
}

/** The split over new connections (a random choice per connection: 2,000 keep 90/10 within ±3 % at ~4.5 sd). */
async function measure(lab: Lab, connections = 2000) {
  const r = await lab.runClient({ target: VIP, connections, concurrency: 8 });
  expect(r.failed, JSON.stringify(r.errors)).toBe(0);
  return r;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(process.getuid?.() !== 0)('daemon lifecycle under traffic', () => {
  let mesh: Mesh;
  let lab: Lab;

  beforeAll(async () => {
    mesh = await startMesh({ id, servers: [{ name: 'reviews-v1' }, { name: 'reviews-v2' }], config: (l) => split(l, 90, 10) });
    lab = mesh.lab;
  });
  afterAll(async () => {
    await mesh?.teardown();
  });

  it('serves the initial 90/10 split', async () => {
    expectShares((await measure(lab)).byBackend, { 'reviews-v1': 0.9, 'reviews-v2': 0.1 });
  });

  it('a live config edit changes the split with zero failed connections while a client loops', async () => {
    const loop = await lab.startClientLoop({ target: VIP, concurrency: 2, intervalMs: 1 });
    await sleep(500);
    await mesh.applyConfig(split(lab, 10, 90));
    await sleep(500);
    const during = await loop.stop();
    expect(during.succeeded).toBeGreaterThan(100);
    expect(during.failed, JSON.stringify(during.errors)).toBe(0);
    expectShares((await measure(lab)).byBackend, { 'reviews-v1': 0.1, 'reviews-v2': 0.9 });
  });

  it.each([
    ['an endpoint weight of 0', { endpointWeight: 0 }, /load_balancing_weight/],
    ['a route to an unknown cluster', { secondCluster: 'no-such-cluster' }, /no-such-cluster/],
  ])('an invalid edit (%s) keeps the old behaviour and the daemon logs why', async (_what, broken, reason) => {
    const before = countLog(mesh.daemon, REJECTED);
    mesh.writeConfig(split(lab, 50, 50, broken));
    const line = await waitForNewLog(mesh.daemon, REJECTED, before);
    expect(line).toMatch(reason);
    expectShares((await measure(lab)).byBackend, { 'reviews-v1': 0.1, 'reviews-v2': 0.9 });
  });

  it('a SIGKILLed daemon fails no connection, and the split still holds without it', async () => {
    mesh.writeConfig(split(lab, 10, 90)); // back to the valid config that is still serving
    const loop = await lab.startClientLoop({ target: VIP, concurrency: 2, intervalMs: 1 });
    await sleep(300);
    const exit = await mesh.daemon.kill('SIGKILL');
    expect(exit.signal).toBe('SIGKILL');
    await sleep(1000);
    const during = await loop.stop();
    expect(during.succeeded).toBeGreaterThan(100);
    expect(during.failed, JSON.stringify(during.errors)).toBe(0);
    expectShares((await measure(lab)).byBackend, { 'reviews-v1': 0.1, 'reviews-v2': 0.9 });
  });

  it('a restarted daemon adopts the pinned state, and a later edit applies', async () => {
    const daemon = await mesh.restartDaemon();
    await daemon.waitForLog(/adopted pinned state/);
    expectShares((await measure(lab)).byBackend, { 'reviews-v1': 0.1, 'reviews-v2': 0.9 });
    const before = countLog(daemon, APPLIED);
    mesh.writeConfig(split(lab, 50, 50));
    await waitForNewLog(daemon, APPLIED, before);
    // 50/50 is the widest random share: 6,000 connections keep ±3 % at ~4.6 standard deviations
    expectShares((await measure(lab, 6000)).byBackend, { 'reviews-v1': 0.5, 'reviews-v2': 0.5 });
  });

  it('kmesh cleanup removes pins and programs, and the VIP fails locally again', async () => {
    const exit = await mesh.daemon.kill('SIGTERM');
    expect(exit.code).toBe(0);
    // SIGTERM leaves the programs attached: traffic still flows
    expect((await measure(lab, 100)).succeeded).toBe(100);
    const cleanup = await lab.cleanupDaemon(mesh.pinPath);
    expect(cleanup.code, cleanup.stderr).toBe(0);
    expect(existsSync(mesh.pinPath) ? readdirSync(mesh.pinPath, { recursive: true }) : []).toEqual([]);
    const attached = await run('bpftool', ['cgroup', 'show', lab.cgroup]);
    expect(attached.stdout.trim()).toBe('');
    const r = await lab.runClient({ target: VIP, connections: 5 });
    expect(r.succeeded).toBe(0);
    expect(r.errors).toEqual({ [VIP_UNREACHABLE_ERROR]: 5 });
  });
});
