// Issue 6 part B over xDS (the test ADS server, SotW): the same translator turns a MAGLEV cluster
// and a prioritised EDS assignment into kernel records, and EDS updates are applied in place
// (endpoints, weights and the Maglev table under a fresh endpoint set, no new generation):
// removing one of N endpoints moves only its clients; marking half of priority 0 unhealthy
// spills 30 % to priority 1.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../tools/lab/index.js';
import { edsCluster, lbEndpoint as endpointOf, startAdsLab, tcpProxyListener as listener, type AdsLab } from './support/ads.js';
import { expectShares } from './support/mesh.js';
import { addClientSources, probeFromSources, stickyBackends } from './support/lb.js';

const VIP = { hash: '10.96.8.1', prio: '10.96.8.2' };
const hashed = ['h-1', 'h-2', 'h-3', 'h-4'];

describe.skipIf(process.getuid?.() !== 0)('load-balancing policies over xDS (issue 6 part B)', () => {
  const id = `lbx${process.pid}`;
  let ads: AdsLab;
  let lab: Lab;
  let sources: string[] = [];

  const lbEndpoint = (name: string, health = 'HEALTHY') => ({ ...endpointOf(lab, name), health_status: health });
  const hashAssignment = (names: string[]) => ({ cluster_name: 'hash', endpoints: [{ lb_endpoints: names.map((n) => lbEndpoint(n)) }] });
  const prioAssignment = (p0Unhealthy: number) => ({
    cluster_name: 'prio',
    endpoints: [
      { priority: 0, lb_endpoints: ['p0-a', 'p0-b', 'p0-c', 'p0-d'].map((n, i) => lbEndpoint(n, i >= 4 - p0Unhealthy ? 'UNHEALTHY' : 'HEALTHY')) },
      { priority: 1, lb_endpoints: [lbEndpoint('p1-a')] },
    ],
  });
  const dump = () => ads.configDump();
  const waitForVersion = (after: number) => ads.waitForVersion(after);
  const setEndpoints = async (endpoint: object[]) => {
    const version = (await dump()).version;
    ads.server.setResources({ endpoint });
    await waitForVersion(version);
  };

  beforeAll(async () => {
    ads = await startAdsLab({
      id,
      servers: [...hashed, 'p0-a', 'p0-b', 'p0-c', 'p0-d', 'p1-a'].map((name) => ({ name })),
      prepare: async (l) => {
        lab = l; // the assignments below name its backends
        sources = await addClientSources(l, 60);
      },
      resources: () => ({
        cluster: [edsCluster('hash', { lb_policy: 'MAGLEV', maglev_lb_config: { table_size: { value: 4099 } } }), edsCluster('prio', { lb_policy: 'ROUND_ROBIN' })],
        endpoint: [hashAssignment(hashed), prioAssignment(0)],
        listener: [listener('hash', VIP.hash, 'hash'), listener('prio', VIP.prio, 'prio')],
      }),
    });
  }, 120_000);

  afterAll(async () => {
    await ads?.teardown();
  });

  it('MAGLEV from CDS/EDS: sticky clients; an EDS update removing one of 4 endpoints moves only about 1/4', async () => {
    const before = stickyBackends(await probeFromSources(lab, `${VIP.hash}:9080`, sources, 2));
    expect(new Set(Object.values(before)).size).toBe(4);
    const generation = (await dump()).generation;
    await setEndpoints([hashAssignment(hashed.slice(0, 3)), prioAssignment(0)]);
    // Applied in place: the endpoints and the new Maglev table under a fresh set, same generation.
    expect((await dump()).generation).toBe(generation);
    const after = stickyBackends(await probeFromSources(lab, `${VIP.hash}:9080`, sources, 2));
    const onRemoved = sources.filter((s) => before[s] === 'h-4').length;
    const moved = sources.filter((s) => before[s] !== after[s]).length;
    for (const s of sources) if (before[s] === 'h-4') expect(after[s]).not.toBe('h-4');
    expect(moved, `${moved} of ${sources.length} moved, ${onRemoved} were on h-4`).toBeLessThanOrEqual(onRemoved + 5);
  });

  it('priority failover from EDS health: 2 of 4 P0 endpoints UNHEALTHY -> 70 % P0 / 30 % P1 (±4 %)', async () => {
    const healthy = await lab.runClient({ target: `${VIP.prio}:9080`, connections: 200 });
    expect(healthy.failed).toBe(0);
    expect(Object.keys(healthy.byBackend).sort()).toEqual(['p0-a', 'p0-b', 'p0-c', 'p0-d']);
    const generation = (await dump()).generation;
    await setEndpoints([hashAssignment(hashed), prioAssignment(2)]);
    expect((await dump()).generation).toBe(generation); // a health change is an in-place endpoint change
    const r = await lab.runClient({ target: `${VIP.prio}:9080`, connections: 2000 });
    expect(r.failed).toBe(0);
    expectShares(r.byBackend, { 'p0-a': 0.35, 'p0-b': 0.35, 'p1-a': 0.3 }, 0.04);
  });
});
