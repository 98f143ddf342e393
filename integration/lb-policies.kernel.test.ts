// Issue 6 part B, with real connections through the kernel: MAGLEV and RING_HASH stickiness and
// bounded disruption, priority failover (overprovisioning 1.4), locality weights, the node's own
// locality preferred (kmesh run --locality), and outlier ejections (part A) spilling load to the
// next priority. One lab, one daemon started with --locality.
//
// Consistent hashing hashes the client's bound source address: the test adds 100 addresses
// (10.250.N.100-199) to the client netns' interface and connects from each of them
// (support/bound-client.mjs binds before connecting, as curl --interface does).
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, type DaemonHandle } from '../tools/lab/index.js';
import { expectShares, requireDaemon, countLog, waitForNewLog, APPLIED } from './support/mesh.js';
import { addClientSources, probeFromSources, stickyBackends } from './support/lb.js';

const id = `lbp${process.pid}`;
const NODE_LOCALITY = 'eu/eu-1/rack-a';
const VIP = { maglev: '10.96.6.1', ring: '10.96.6.2', priority: '10.96.6.3', locality: '10.96.6.4', near: '10.96.6.5', ejection: '10.96.6.6' };
const hashed = ['h-1', 'h-2', 'h-3', 'h-4', 'h-5'];
const servers = [...hashed, 'p0-a', 'p0-b', 'p0-c', 'p0-d', 'p1-a', 'p1-b', 'lw-a', 'lw-b', 'near-1', 'near-2', 'zone-1', 'far-1', 'ej-a', 'ej-b', 'ej-p1'].map((name) => ({ name }));

type Health = 'HEALTHY' | 'UNHEALTHY';
interface Group { priority?: number; locality?: [string, string, string]; weight?: number; endpoints: (string | [string, Health])[] }

/** The knobs the tests turn by live edits of the config file. */
interface Knobs { hashed: string[]; p0Unhealthy: number; nearUnhealthy: boolean }

function config(lab: Lab, k: Knobs): object {
  const lbEndpoint = (e: string | [string, Health]) => {
    const [name, health] = typeof e === 'string' ? [e, 'HEALTHY'] : e;
    return { endpoint: { address: { socket_address: { address: lab.backend(name).ipv4, port_value: 9080 } } }, health_status: health };
  };
  const cluster = (name: string, lbPolicy: string, groups: Group[], extra: object = {}) => ({
    name,
    type: 'STATIC',
    lb_policy: lbPolicy,
    load_assignment: {
      cluster_name: name,
      endpoints: groups.map((g) => ({
        ...(g.priority !== undefined ? { priority: g.priority } : {}),
        ...(g.locality ? { locality: { region: g.locality[0], zone: g.locality[1], sub_zone: g.locality[2] } } : {}),
        ...(g.weight !== undefined ? { load_balancing_weight: g.weight } : {}),
        lb_endpoints: g.endpoints.map(lbEndpoint),
      })),
    },
    ...extra,
  });
  const listener = (name: string, vip: string, clusterName: string) => ({
    name,
    address: { socket_address: { address: vip, port_value: 9080 } },
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', stat_prefix: name, cluster: clusterName, hash_policy: [{ source_ip: {} }] } }] }],
  });
  const p0 = ['p0-a', 'p0-b', 'p0-c', 'p0-d'].map((n, i) => [n, i >= 4 - k.p0Unhealthy ? 'UNHEALTHY' : 'HEALTHY'] as [string, Health]);
  return {
    static_resources: {
      listeners: [
        listener('maglev', VIP.maglev, 'maglev'),
        listener('ring', VIP.ring, 'ring'),
        listener('priority', VIP.priority, 'priority'),
        listener('locality', VIP.locality, 'locality'),
        listener('near', VIP.near, 'near'),
        listener('ejection', VIP.ejection, 'ejection'),
      ],
      clusters: [
        cluster('maglev', 'MAGLEV', [{ endpoints: k.hashed }], { maglev_lb_config: { table_size: 65537 } }),
        cluster('ring', 'RING_HASH', [{ endpoints: k.hashed }]),
        cluster('priority', 'ROUND_ROBIN', [{ priority: 0, endpoints: p0 }, { priority: 1, endpoints: ['p1-a', 'p1-b'] }]),
        // Both localities are far from the node (same tier): only their weights decide.
        cluster('locality', 'ROUND_ROBIN', [
          { locality: ['us', 'us-a', ''], weight: 1, endpoints: ['lw-a'] },
          { locality: ['us', 'us-b', ''], weight: 3, endpoints: ['lw-b'] },
        ], { common_lb_config: { locality_weighted_lb_config: {} } }),
        cluster('near', 'ROUND_ROBIN', [
          { locality: ['eu', 'eu-1', 'rack-a'], endpoints: ['near-1', k.nearUnhealthy ? ['near-2', 'UNHEALTHY'] : 'near-2'] },
          { locality: ['eu', 'eu-1', 'rack-b'], endpoints: ['zone-1'] },
          { locality: ['us', 'us-a', ''], endpoints: ['far-1'] },
        ]),
        // Outlier detection (part A) ejects in the kernel; the daemon folds ejections into the priority loads.
        cluster('ejection', 'ROUND_ROBIN', [{ priority: 0, endpoints: ['ej-a', 'ej-b'] }, { priority: 1, endpoints: ['ej-p1'] }], {
          outlier_detection: { consecutive_5xx: 2, base_ejection_time: '60s', max_ejection_percent: 50 },
        }),
      ],
    },
  };
}

const initial: Knobs = { hashed, p0Unhealthy: 0, nearUnhealthy: false };

describe.skipIf(process.getuid?.() !== 0)('load-balancing policies in the kernel (issue 6 part B)', () => {
  let lab: Lab;
  let daemon: DaemonHandle;
  let dir: string;
  let knobs: Knobs = initial;
  const pinPath = `/sys/fs/bpf/kmesh-it-${id}`;
  let sources: string[] = [];

  const writeConfig = (k: Knobs) => {
    knobs = k;
    const tmp = join(dir, '.mesh.yaml.tmp');
    writeFileSync(tmp, JSON.stringify(config(lab, k), null, 2));
    renameSync(tmp, join(dir, 'mesh.yaml'));
  };
  const applyConfig = async (k: Knobs) => {
    const before = countLog(daemon, APPLIED);
    writeConfig(k);
    await waitForNewLog(daemon, APPLIED, before);
  };

  const probe = (vip: string, perSource: number) => probeFromSources(lab, `${vip}:9080`, sources, perSource);

  beforeAll(async () => {
    requireDaemon();
    lab = await Lab.create({ id, servers });
    dir = mkdtempSync(join(tmpdir(), `kmesh-${id}-`));
    try {
      sources = await addClientSources(lab, 100);
      writeConfig(initial);
      daemon = await lab.startDaemon({ config: join(dir, 'mesh.yaml'), pinPath, extraArgs: ['--locality', NODE_LOCALITY] });
    } catch (error) {
      await lab.destroy().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }, 120_000);

  afterAll(async () => {
    try {
      await lab?.destroy();
    } finally {
      if (dir) rmSync(dir, { recursive: true, force: true });
      rmSync(pinPath, { recursive: true, force: true });
    }
  });

  describe.each([
    ['MAGLEV', VIP.maglev],
    ['RING_HASH', VIP.ring],
  ])('%s', (_policy, vip) => {
    let before: Record<string, string>;

    it('sends every client (bound source address) to the same endpoint on every connection, spread over all endpoints', async () => {
      if (knobs.hashed.length !== hashed.length) await applyConfig(initial);
      before = stickyBackends(await probe(vip, 3));
      expect(Object.keys(before)).toHaveLength(sources.length);
      const perBackend = hashed.map((b) => Object.values(before).filter((x) => x === b).length);
      // 100 clients over 5 endpoints (20 each on average): none starved, none taking most.
      for (const n of perBackend) {
        expect(n, `clients per endpoint ${JSON.stringify(perBackend)}`).toBeGreaterThanOrEqual(4);
        expect(n, `clients per endpoint ${JSON.stringify(perBackend)}`).toBeLessThanOrEqual(40);
      }
    });

    it('keeps an unbound client (one network namespace) on one endpoint', async () => {
      const r = await lab.runClient({ target: `${vip}:9080`, connections: 30 });
      expect(r.failed).toBe(0);
      expect(Object.keys(r.byBackend)).toHaveLength(1);
    });

    it('moves only about 1/N of the clients when one of N endpoints is removed by a live edit', async () => {
      await applyConfig({ ...knobs, hashed: hashed.slice(0, 4) });
      const after = await probe(vip, 1);
      let moved = 0;
      for (const src of sources) {
        const was = before[src]!;
        const now = after[src]![0]!;
        expect(now.startsWith('!'), `${src}: ${now}`).toBe(false);
        if (was === 'h-5') expect(now).not.toBe('h-5');
        if (now !== was) moved++;
      }
      const removedShare = Object.values(before).filter((b) => b === 'h-5').length;
      // The removed endpoint's clients must move; of the others, only a few may (1/N = 20 % + margin).
      expect(moved).toBeGreaterThanOrEqual(removedShare);
      expect(moved, `${moved} of ${sources.length} clients moved; ${removedShare} were on the removed endpoint`).toBeLessThanOrEqual(removedShare + 8);
      await applyConfig(initial);
    });
  });

  it('priority failover: P0 takes everything while healthy; at 2 of 4 healthy, 70 % P0 / 30 % P1 (±4 %), interleaved', async () => {
    const healthy = await lab.runClient({ target: `${VIP.priority}:9080`, connections: 400 });
    expect(healthy.failed).toBe(0);
    expectShares(healthy.byBackend, { 'p0-a': 0.25, 'p0-b': 0.25, 'p0-c': 0.25, 'p0-d': 0.25 });

    await applyConfig({ ...knobs, p0Unhealthy: 2 });
    const r = await lab.runClient({ target: `${VIP.priority}:9080`, connections: 2000 });
    expect(r.failed).toBe(0);
    expectShares(r.byBackend, { 'p0-a': 0.35, 'p0-b': 0.35, 'p1-a': 0.15, 'p1-b': 0.15 }, 0.04);
    // Round robin steps through the scaled weights: P1 appears early, not after a run of 700,000 turns.
    const first20 = r.sequence.slice(0, 20);
    expect(first20.filter((b: string) => b.startsWith('p1-')).length, first20.join(' ')).toBeGreaterThanOrEqual(3);
    await applyConfig({ ...knobs, p0Unhealthy: 0 });
  });

  it('locality weights: localities 1 : 3 get 25 % / 75 % of the connections (±3 %)', async () => {
    const r = await lab.runClient({ target: `${VIP.locality}:9080`, connections: 2000 });
    expect(r.failed).toBe(0);
    expectShares(r.byBackend, { 'lw-a': 0.25, 'lw-b': 0.75 });
  });

  it('node locality: the node\'s own sub_zone takes everything, then spills 30 % to its zone when half of it is unhealthy', async () => {
    const local = await lab.runClient({ target: `${VIP.near}:9080`, connections: 400 });
    expect(local.failed).toBe(0);
    expectShares(local.byBackend, { 'near-1': 0.5, 'near-2': 0.5 });

    await applyConfig({ ...knobs, nearUnhealthy: true });
    const r = await lab.runClient({ target: `${VIP.near}:9080`, connections: 2000 });
    expect(r.failed).toBe(0);
    // Tier 0 at 1 of 2 healthy: 70 %; the same zone (rack-b) takes the rest; other regions nothing.
    expectShares(r.byBackend, { 'near-1': 0.7, 'zone-1': 0.3 }, 0.04);
    await applyConfig({ ...knobs, nearUnhealthy: false });
  });

  it('outlier ejection counts as unhealthy for failover: a stopped P0 endpoint is ejected, then 70 % P0 / 30 % P1', async () => {
    await lab.stopBackend('ej-a');
    try {
      // Round robin alternates ej-a / ej-b: two refused connections to ej-a eject it (consecutive_5xx: 2).
      const warm = await lab.runClient({ target: `${VIP.ejection}:9080`, connections: 20 });
      expect(warm.errors.ECONNREFUSED ?? 0, JSON.stringify(warm.errors)).toBeGreaterThanOrEqual(2);
      await daemon.waitForLog(/endpoint shares recomputed for outlier ejections/, 10_000);
      const r = await lab.runClient({ target: `${VIP.ejection}:9080`, connections: 2000 });
      expect(r.failed, JSON.stringify(r.errors)).toBe(0);
      // P0 at 1 of 2 serving: health 70 -> 70 % to ej-b, 30 % spills to priority 1.
      expectShares(r.byBackend, { 'ej-b': 0.7, 'ej-p1': 0.3 }, 0.04);
    } finally {
      await lab.startBackend('ej-a');
    }
  });
});
