// Routing and load balancing through the kernel: one lab, one daemon, one config with a listener
// per behaviour. Every client runs in the lab's client netns; `inMeshCgroup` says whether the mesh
// applies to it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VIP_UNREACHABLE_ERROR, type Lab } from '../tools/lab/index.js';
import { bootstrap, cluster, listener } from './support/envoy.js';
import { expectShares, startMesh, type Mesh } from './support/mesh.js';

const id = `rt${process.pid}`;
const VIP = {
  rr: '10.96.1.1',
  canary: '10.96.1.2',
  weightedRR: '10.96.1.3',
  weightedRandom: '10.96.1.4',
  random: '10.96.1.5',
  health: '10.96.1.6',
  v6: 'fd00:96::1',
  v6ToV4: 'fd00:96::2',
};
const servers = [
  'rr-a', 'rr-b', 'rr-c', 'canary-90', 'canary-10', 'wrr-3', 'wrr-1', 'wrand-3', 'wrand-1',
  'rand-a', 'rand-b', 'rand-c', 'v6-a', 'v6-b', 'hc-a', 'hc-b', 'hc-bad',
].map((name) => ({ name }));

function config(lab: Lab): object {
  const v4 = (name: string, weight?: number, health?: 'UNHEALTHY') => ({ address: lab.backend(name).ipv4, weight, health });
  const v6 = (name: string) => ({ address: lab.backend(name).ipv6! });
  return bootstrap(
    [
      listener('rr', VIP.rr, 9080, 'rr'),
      listener('canary', VIP.canary, 9080, [{ name: 'canary-90', weight: 90 }, { name: 'canary-10', weight: 10 }]),
      listener('weighted-rr', VIP.weightedRR, 9080, 'weighted-rr'),
      listener('weighted-random', VIP.weightedRandom, 9080, 'weighted-random'),
      listener('random', VIP.random, 9080, 'random'),
      listener('health', VIP.health, 9080, 'health'),
      listener('v6', VIP.v6, 9080, 'v6'),
      listener('v6-to-v4', VIP.v6ToV4, 9080, 'rr'),
    ],
    [
      cluster('rr', 'ROUND_ROBIN', [v4('rr-a'), v4('rr-b'), v4('rr-c')]),
      cluster('canary-90', 'ROUND_ROBIN', [v4('canary-90')]),
      cluster('canary-10', 'ROUND_ROBIN', [v4('canary-10')]),
      cluster('weighted-rr', 'ROUND_ROBIN', [v4('wrr-3', 3), v4('wrr-1', 1)]),
      cluster('weighted-random', 'RANDOM', [v4('wrand-3', 3), v4('wrand-1', 1)]),
      cluster('random', 'RANDOM', [v4('rand-a'), v4('rand-b'), v4('rand-c')]),
      cluster('health', 'ROUND_ROBIN', [v4('hc-a'), v4('hc-bad', undefined, 'UNHEALTHY'), v4('hc-b')]),
      cluster('v6', 'ROUND_ROBIN', [v6('v6-a'), v6('v6-b')]),
    ],
  );
}

describe.skipIf(process.getuid?.() !== 0)('routing and load balancing in the kernel', () => {
  let mesh: Mesh;
  let lab: Lab;

  beforeAll(async () => {
    mesh = await startMesh({ id, servers, ipv6: true, config });
    lab = mesh.lab;
  });
  afterAll(async () => {
    await mesh?.teardown();
  });

  it('round robin: 30 sequential connections cycle over the 3 endpoints in a fixed order', async () => {
    const r = await lab.runClient({ target: `${VIP.rr}:9080`, connections: 30, concurrency: 1 });
    expect(r.failed).toBe(0);
    const cycle = r.sequence.slice(0, 3);
    expect(new Set(cycle)).toEqual(new Set(['rr-a', 'rr-b', 'rr-c']));
    expect(r.sequence).toEqual(Array.from({ length: 30 }, (_, i) => cycle[i % 3]));
  });

  it('weighted clusters: 90/10 within ±3% over 2,000 connections', async () => {
    const r = await lab.runClient({ target: `${VIP.canary}:9080`, connections: 2000, concurrency: 8 });
    expect(r.failed).toBe(0);
    expectShares(r.byBackend, { 'canary-90': 0.9, 'canary-10': 0.1 });
  });

  // A round robin is exact; a random choice needs 4,500 connections for ±3 % at ~4.5 standard deviations.
  it.each([
    ['ROUND_ROBIN', 2000, VIP.weightedRR, 'wrr'],
    ['RANDOM', 4500, VIP.weightedRandom, 'wrand'],
  ] as const)('weighted endpoints (%s): 3:1 within 3 points over %i connections', async (_policy, connections, vip, prefix) => {
    const r = await lab.runClient({ target: `${vip}:9080`, connections, concurrency: 8 });
    expect(r.failed).toBe(0);
    expectShares(r.byBackend, { [`${prefix}-3`]: 0.75, [`${prefix}-1`]: 0.25 });
  });

  it('RANDOM: an even spread over 5,000 connections (±3%) that does not follow a fixed cycle', async () => {
    const r = await lab.runClient({ target: `${VIP.random}:9080`, connections: 5000, concurrency: 8 });
    expect(r.failed).toBe(0);
    expectShares(r.byBackend, { 'rand-a': 1 / 3, 'rand-b': 1 / 3, 'rand-c': 1 / 3 });
    const seq = r.sequence.slice(0, 60);
    const periodic = seq.every((b, i) => b === seq[i % 3]);
    expect(periodic, `sequence looks like round robin: ${seq.join(' ')}`).toBe(false);
  });

  it('getpeername() returns the VIP, not the backend', async () => {
    const r = await lab.runClient({ target: `${VIP.rr}:9080`, connections: 30, concurrency: 2 });
    expect(r.failed).toBe(0);
    expect(r.peers).toEqual({ [`${VIP.rr}:9080`]: 30 });
    // ...while the backends saw the client's real connection
    expect(Object.keys(r.byBackend).sort()).toEqual(['rr-a', 'rr-b', 'rr-c']);
  });

  it('IPv6 listener: reaches IPv6 endpoints and getpeername() returns the IPv6 VIP', async () => {
    const r = await lab.runClient({ target: `[${VIP.v6}]:9080`, connections: 200, concurrency: 4 });
    expect(r.failed).toBe(0);
    expectShares(r.byBackend, { 'v6-a': 0.5, 'v6-b': 0.5 });
    expect(r.peers).toEqual({ [`[${VIP.v6}]:9080`]: 200 });
  });

  it('IPv6 listener to a cluster of IPv4 endpoints (dual-stack client socket)', async () => {
    const r = await lab.runClient({ target: `[${VIP.v6ToV4}]:9080`, connections: 30, concurrency: 1 });
    expect(r.errors).toEqual({});
    expect(Object.keys(r.byBackend).sort()).toEqual(['rr-a', 'rr-b', 'rr-c']);
    expect(r.peers).toEqual({ [`[${VIP.v6ToV4}]:9080`]: 30 });
  });

  it('leaves non-listener traffic alone: a backend address reaches exactly that backend', async () => {
    const r = await lab.runClient({ target: lab.backendTarget('rr-b'), connections: 20, concurrency: 2 });
    expect(r.byBackend).toEqual({ 'rr-b': 20 });
    expect(r.peers).toEqual({ [lab.backendTarget('rr-b')]: 20 });
  });

  it('leaves a VIP port that is not a listener alone: it fails locally', async () => {
    const r = await lab.runClient({ target: `${VIP.rr}:9999`, connections: 5 });
    expect(r.succeeded).toBe(0);
    expect(r.errors).toEqual({ [VIP_UNREACHABLE_ERROR]: 5 });
  });

  it('leaves processes outside the mesh cgroup alone: the VIP fails locally for them', async () => {
    for (const target of [`${VIP.rr}:9080`, `[${VIP.v6}]:9080`]) {
      const r = await lab.runClient({ target, connections: 5, inMeshCgroup: false });
      expect(r.succeeded).toBe(0);
      expect(r.errors).toEqual({ [VIP_UNREACHABLE_ERROR]: 5 });
    }
  });

  it('sends nothing to an UNHEALTHY endpoint', async () => {
    await lab.resetBackendStats();
    const r = await lab.runClient({ target: `${VIP.health}:9080`, connections: 300, concurrency: 4 });
    expect(r.failed).toBe(0);
    expectShares(r.byBackend, { 'hc-a': 0.5, 'hc-b': 0.5 });
    const stats = await lab.backendStats();
    expect(stats.requests['hc-bad']).toBe(0);
    expect(stats.requests['hc-a'] + stats.requests['hc-b']).toBe(300);
  });
});
