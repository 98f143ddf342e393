// Connection accounting and protection in the kernel (issue 6 part A), proven with real
// connections from the lab's client netns through the mesh cgroup:
//   - circuit breaking: max_connections N refuses exactly the excess, capacity returns on close;
//   - local rate limiting: a listener admits max_tokens + tokens_per_fill per fill_interval;
//   - outlier detection: a stopped backend is ejected after the configured consecutive connect
//     failures, returns after base_ejection_time, is ejected longer the second time, and
//     max_ejection_percent keeps a second backend in;
//   - LEAST_REQUEST: a backend holding many long connections gets few new ones (ROUND_ROBIN: its share).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminGet, type Lab } from '../tools/lab/index.js';
import { clusterLoadKey, decodeEndpointLoadKey, encodeLoadKey } from '@kmesh/api';
import { BpfMap } from '@kmesh/runtime';
import { bootstrap, cluster, listener } from './support/envoy.js';
import { startMesh, type Mesh } from './support/mesh.js';
import { clusterView, resilience, sleep, startHolder, stats, withRateLimit, type Holder } from './support/resilience.js';

const id = `rs${process.pid}`;
const VIP = { decay: '10.96.6.6', breaker6: 'fd00:96::61', breaker: '10.96.6.1', limiter: '10.96.6.2', outlier: '10.96.6.3', leastRequest: '10.96.6.4', roundRobin: '10.96.6.5' };
const target = (vip: string) => `${vip}:9080`;
const servers = ['dc-a', 'dc-b', 'dc-c', 'cb6-a', 'cb-a', 'cb-b', 'rl-a', 'od-a', 'od-b', 'od-c', 'lr-a', 'lr-b', 'lr-c', 'rr-a', 'rr-b', 'rr-c'].map((name) => ({ name }));

const BREAKER_MAX = 5;
const BUCKET = { maxTokens: 5, tokensPerFill: 2, fillIntervalMs: 500 };
const OUTLIER = { failures: 3, baseMs: 2000 };
const DECAY = { failures: 2, baseMs: 1000, intervalMs: 500 };

/** phase 'narrow': the least-request and round-robin clusters have only their "a" endpoint; 'no-rr': the round-robin service is gone. */
function config(lab: Lab, phase: 'narrow' | 'wide' | 'no-rr'): object {
  const ep = (name: string) => ({ address: lab.backend(name).ipv4 });
  const spread = (prefix: string) => (phase === 'narrow' ? [ep(`${prefix}-a`)] : [ep(`${prefix}-a`), ep(`${prefix}-b`), ep(`${prefix}-c`)]);
  return bootstrap(
    [
      listener('breaker', VIP.breaker, 9080, 'cb'),
      listener('breaker6', VIP.breaker6, 9080, 'cb6'),
      withRateLimit(listener('limiter', VIP.limiter, 9080, 'rl'), { maxTokens: BUCKET.maxTokens, tokensPerFill: BUCKET.tokensPerFill, fillInterval: `${BUCKET.fillIntervalMs / 1000}s` }),
      listener('outlier', VIP.outlier, 9080, 'od'),
      listener('decay', VIP.decay, 9080, 'dc'),
      listener('least-request', VIP.leastRequest, 9080, 'lr'),
      ...(phase === 'no-rr' ? [] : [listener('round-robin', VIP.roundRobin, 9080, 'rr')]),
    ],
    [
      { ...cluster('cb', 'ROUND_ROBIN', [ep('cb-a'), ep('cb-b')]), circuit_breakers: { thresholds: [{ max_connections: BREAKER_MAX }] } },
      { ...cluster('cb6', 'ROUND_ROBIN', [{ address: lab.backend('cb6-a').ipv6! }]), circuit_breakers: { thresholds: [{ max_connections: 2 }] } },
      cluster('rl', 'ROUND_ROBIN', [ep('rl-a')]),
      {
        ...cluster('od', 'ROUND_ROBIN', [ep('od-a'), ep('od-b'), ep('od-c')]),
        // max_ejection_percent left at Envoy's 10: one of three may be ejected, not two.
        outlier_detection: { consecutive_5xx: OUTLIER.failures, base_ejection_time: `${OUTLIER.baseMs / 1000}s` },
      },
      {
        ...cluster('dc', 'ROUND_ROBIN', [ep('dc-a'), ep('dc-b'), ep('dc-c')]),
        outlier_detection: { consecutive_gateway_failure: DECAY.failures, base_ejection_time: `${DECAY.baseMs / 1000}s`, interval: `${DECAY.intervalMs / 1000}s` },
      },
      { ...cluster('lr', 'ROUND_ROBIN', spread('lr')), lb_policy: 'LEAST_REQUEST' },
      ...(phase === 'no-rr' ? [] : [cluster('rr', 'ROUND_ROBIN', spread('rr'))]),
    ],
  );
}

describe.skipIf(process.getuid?.() !== 0)('connection accounting and protection in the kernel', () => {
  let mesh: Mesh;
  let lab: Lab;
  let holder: Holder;
  const adminUrl = () => mesh.daemon.adminUrl;

  beforeAll(async () => {
    mesh = await startMesh({ id, servers, ipv6: true, config: (l) => config(l, 'narrow') });
    lab = mesh.lab;
    holder = await startHolder(lab);
  }, 60_000);
  afterAll(async () => {
    await holder?.stop().catch(() => undefined);
    await mesh?.teardown();
  });

  it('circuit breaker: max_connections refuses exactly the excess at once, and capacity returns as connections close', async () => {
    const before = await stats(adminUrl());
    expect(await holder.open(target(VIP.breaker), BREAKER_MAX)).toMatchObject({ ok: BREAKER_MAX, errors: {} });

    const started = Date.now();
    const over = await holder.open(target(VIP.breaker), 3);
    expect(over).toMatchObject({ ok: 0, errors: { ECONNREFUSED: 3 } });
    expect(Date.now() - started, 'refusals are immediate, not timeouts').toBeLessThan(1000);
    expect(clusterView(await resilience(adminUrl()), 'cb')).toMatchObject({ activeConnections: BREAKER_MAX, circuitOpenTotal: 3 });

    // Two close: exactly two new connects fit again.
    expect((await holder.close(2)).held).toBe(BREAKER_MAX - 2);
    expect(await holder.open(target(VIP.breaker), 3)).toMatchObject({ ok: 2, errors: { ECONNREFUSED: 1 } });

    const after = await stats(adminUrl());
    expect(after.connect_circuit_open! - before.connect_circuit_open!).toBe(4);
    const metrics = await (await fetch(`${adminUrl()}/metrics`)).text();
    expect(metrics).toMatch(/kmesh_cluster_circuit_open_total\{cluster="cb"\} 4/);

    await holder.close(BREAKER_MAX);
    expect(clusterView(await resilience(adminUrl()), 'cb').activeConnections).toBe(0);
    expect(await holder.open(target(VIP.breaker), BREAKER_MAX)).toMatchObject({ ok: BREAKER_MAX, errors: {} });
    await holder.close(BREAKER_MAX);
  });

  it('circuit breaker on an IPv6 listener (connect6): the same exact count', async () => {
    expect(await holder.open(`[${VIP.breaker6}]:9080`, 3)).toMatchObject({ ok: 2, errors: { ECONNREFUSED: 1 } });
    await holder.close(2);
    expect(clusterView(await resilience(adminUrl()), 'cb6').activeConnections).toBe(0);
  });

  it('local rate limit: a listener admits max_tokens, then tokens_per_fill per fill_interval', async () => {
    const before = await stats(adminUrl());
    // Last attempt about 2.2 s after the first: 4 whole fill intervals, away from a boundary.
    const r = await holder.burst(target(VIP.limiter), 25, 2250);
    const attempts = r.ok + Object.values(r.errors).reduce((a, b) => a + b, 0);
    const expected = BUCKET.maxTokens + BUCKET.tokensPerFill * 4;
    expect(Math.abs(r.ok - expected), `admitted ${r.ok} of ${attempts}, expected ${expected} ±1 (${JSON.stringify(r)})`).toBeLessThanOrEqual(1);
    expect(Object.keys(r.errors)).toEqual(['ECONNREFUSED']);
    const after = await stats(adminUrl());
    expect(after.connect_rate_limited! - before.connect_rate_limited!).toBe(attempts - r.ok);
    const view = await resilience(adminUrl());
    expect(view.listeners.find((l) => l.name === 'limiter')).toMatchObject({ admittedTotal: r.ok, rateLimitedTotal: attempts - r.ok });
  });

  it('outlier detection: ejected after consecutive failures, back after base_ejection_time, longer the second time, max_ejection_percent honoured', async () => {
    const od = async () => clusterView(await resilience(adminUrl()), 'od');
    const odc = async () => (await od()).endpoints.find((e) => e.address.startsWith(lab.backend('od-c').ipv4))!;

    // 1. od-c stops: exactly the configured number of connects fail, then it gets none.
    await lab.stopBackend('od-c');
    const first = await holder.burst(target(VIP.outlier), 10, 400);
    expect(first.errors, JSON.stringify(first)).toEqual({ ECONNREFUSED: OUTLIER.failures });
    const ejectedAt = Date.now();
    expect(await odc()).toMatchObject({ ejected: true, ejections: 1 });
    expect((await od()).ejectedEndpoints).toBe(1);
    const dump = JSON.parse((await adminGet(adminUrl(), '/config_dump')).body) as { resilience: { clusters: { name: string; endpoints: { address: string; ejected: boolean; ejectedUntil: string | null; ejections: number }[] }[] } };
    const dumped = dump.resilience.clusters.find((c) => c.name === 'od')!.endpoints.find((e) => e.address.startsWith(lab.backend('od-c').ipv4))!;
    expect(dumped).toMatchObject({ ejected: true, ejections: 1 });
    expect(Date.parse(dumped.ejectedUntil!) - Date.now()).toBeGreaterThan(OUTLIER.baseMs / 2);
    const during = await lab.runClient({ target: target(VIP.outlier), connections: 30 });
    expect(during.failed, JSON.stringify(during.errors)).toBe(0);
    expect(Object.keys(during.byBackend).sort()).toEqual(['od-a', 'od-b']);

    // 2. After base_ejection_time it is tried again; restarted, it takes connections.
    await lab.startBackend('od-c');
    await sleep(Math.max(0, ejectedAt + OUTLIER.baseMs + 200 - Date.now()));
    const back = await lab.runClient({ target: target(VIP.outlier), connections: 30 });
    expect(back.failed).toBe(0);
    expect(back.byBackend['od-c'] ?? 0, JSON.stringify(back.byBackend)).toBeGreaterThan(0);
    expect(await odc()).toMatchObject({ ejected: false });

    // 3. Second ejection: 2 x base_ejection_time.
    await lab.stopBackend('od-c');
    const second = await holder.burst(target(VIP.outlier), 10, 400);
    expect(second.errors).toEqual({ ECONNREFUSED: OUTLIER.failures });
    const ejectedAgainAt = Date.now();
    expect(await odc()).toMatchObject({ ejected: true, ejections: 2 });

    // 4. While od-c is ejected, od-b fails too: 10% of three endpoints is below one, and one is
    //    already out, so od-b is not ejected: its failures keep coming.
    await lab.stopBackend('od-b');
    const both = await holder.burst(target(VIP.outlier), 10, 300);
    expect(both.errors.ECONNREFUSED ?? 0, JSON.stringify(both)).toBeGreaterThan(OUTLIER.failures + 2);
    const odb = (await od()).endpoints.find((e) => e.address.startsWith(lab.backend('od-b').ipv4))!;
    expect(odb.ejected).toBe(false);
    expect((await od()).ejectedEndpoints).toBe(1);
    await lab.startBackend('od-b');

    // 5. Past one base_ejection_time od-c is still out (the second ejection lasts two).
    await sleep(Math.max(0, ejectedAgainAt + OUTLIER.baseMs + 300 - Date.now()));
    expect(Date.now() - ejectedAgainAt).toBeLessThan(2 * OUTLIER.baseMs - 300);
    const stillOut = await holder.burst(target(VIP.outlier), 10, 200);
    expect(stillOut.errors, JSON.stringify(stillOut)).toEqual({});

    // 6. Past two base_ejection_times it is tried again (still stopped: refused again).
    await sleep(Math.max(0, ejectedAgainAt + 2 * OUTLIER.baseMs + 200 - Date.now()));
    const retried = await holder.burst(target(VIP.outlier), 10, 200);
    expect(retried.errors.ECONNREFUSED ?? 0, JSON.stringify(retried)).toBeGreaterThan(0);
    await lab.startBackend('od-c');
    // Refused connects were counted at connect() and given back at their TCP close: nothing leaks.
    expect((await od()).activeConnections).toBe(0);
    const metrics = await (await fetch(`${adminUrl()}/metrics`)).text();
    expect(metrics).toMatch(/kmesh_outlier_ejections_total\{cluster="od"\} [3-9]/);
  }, 60_000);

  it('outlier detection: each interval an endpoint spends not ejected lowers its ejection multiplier (Envoy)', async () => {
    const dcc = async () => clusterView(await resilience(adminUrl()), 'dc').endpoints.find((e) => e.address.startsWith(lab.backend('dc-c').ipv4))!;
    await lab.stopBackend('dc-c');
    expect((await holder.burst(target(VIP.decay), 10, 300)).errors).toEqual({ ECONNREFUSED: DECAY.failures });
    const ejectedAt = Date.now();
    expect(await dcc()).toMatchObject({ ejected: true, ejections: 1, ejectionMultiplier: 1 });
    await lab.startBackend('dc-c');
    // Back after 1 s, then three intervals (1.5 s) not ejected: the multiplier decays from 1 to 0.
    await sleep(Math.max(0, ejectedAt + DECAY.baseMs + 3 * DECAY.intervalMs + 200 - Date.now()));
    const back = await lab.runClient({ target: target(VIP.decay), connections: 15 });
    expect(back.byBackend['dc-c'] ?? 0).toBeGreaterThan(0);
    await lab.stopBackend('dc-c');
    expect((await holder.burst(target(VIP.decay), 10, 300)).errors).toEqual({ ECONNREFUSED: DECAY.failures });
    const again = await dcc();
    // Without the decay this second ejection would last 2 x base_ejection_time.
    expect(again).toMatchObject({ ejected: true, ejections: 2, ejectionMultiplier: 1 });
    expect(Date.parse(again.ejectedUntil!) - Date.now()).toBeLessThan(DECAY.baseMs + 300);
    await lab.startBackend('dc-c');
  }, 30_000);

  it('LEAST_REQUEST steers new connections away from an endpoint holding long connections (ROUND_ROBIN does not)', async () => {
    // Phase narrow: only lr-a / rr-a exist; 30 long connections each land there.
    expect(await holder.open(target(VIP.leastRequest), 30)).toMatchObject({ ok: 30 });
    expect(await holder.open(target(VIP.roundRobin), 30)).toMatchObject({ ok: 30 });
    // Phase wide: three endpoints each. Counts are keyed by cluster name and endpoint address,
    // so the held connections still count after the configuration change.
    await mesh.applyConfig(config(lab, 'wide'));
    const lrA = clusterView(await resilience(adminUrl()), 'lr').endpoints.find((e) => e.address.startsWith(lab.backend('lr-a').ipv4))!;
    expect(lrA.activeConnections).toBe(30);

    const lr = await lab.runClient({ target: target(VIP.leastRequest), connections: 90 });
    const rr = await lab.runClient({ target: target(VIP.roundRobin), connections: 90 });
    expect(lr.failed + rr.failed).toBe(0);
    // Two random choices: lr-a only when both picks are lr-a, about 1 in 9.
    expect(lr.byBackend['lr-a'] ?? 0, JSON.stringify(lr.byBackend)).toBeLessThanOrEqual(20);
    expect(rr.byBackend['rr-a'] ?? 0, JSON.stringify(rr.byBackend)).toBeGreaterThanOrEqual(25);
    await holder.close(60);
  }, 60_000);

  it('live counts of a removed cluster are deleted once no generation names it', async () => {
    const loads = BpfMap.fromPin(`${mesh.pinPath}/km_cl_load`);
    const endpointLoads = BpfMap.fromPin(`${mesh.pinPath}/km_ep_load`);
    try {
      const rrKey = encodeLoadKey(clusterLoadKey('rr'));
      const rrEndpoints = () => endpointLoads.keys().filter((k) => decodeEndpointLoadKey(k).loadKey === clusterLoadKey('rr')).length;
      expect(loads.lookup(rrKey), 'the rr cluster has live counts').not.toBeNull();
      expect(rrEndpoints()).toBe(3);
      await mesh.applyConfig(config(lab, 'no-rr'));
      const deadline = Date.now() + 5000; // grace period (500 ms) + sweep
      while (loads.lookup(rrKey) !== null && Date.now() < deadline) await sleep(100);
      expect(loads.lookup(rrKey)).toBeNull();
      expect(rrEndpoints()).toBe(0);
      expect(loads.lookup(encodeLoadKey(clusterLoadKey('lr'))), 'clusters still configured keep theirs').not.toBeNull();
    } finally {
      loads.close();
      endpointLoads.close();
    }
  });
});
