// Issue 6 part B over xDS (the test ADS server, SotW): the same translator turns a MAGLEV cluster
// and a prioritised EDS assignment into kernel records, and EDS updates are applied in place
// (endpoints, weights and the Maglev table under a fresh endpoint set, no new generation):
// removing one of N endpoints moves only its clients; marking half of priority 0 unhealthy
// spills 30 % to priority 1.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, adminGet, type DaemonHandle } from '../tools/lab/index.js';
import { XdsServer } from '../tools/xds-server/index.js';
import { expectShares, requireDaemon } from './support/mesh.js';
import { addClientSources, probeFromSources, stickyBackends } from './support/lb.js';

const TCP_PROXY = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
const VIP = { hash: '10.96.8.1', prio: '10.96.8.2' };
const hashed = ['h-1', 'h-2', 'h-3', 'h-4'];

const listener = (name: string, vip: string, cluster: string) => ({
  name,
  address: { socket_address: { address: vip, port_value: 9080 } },
  filter_chains: [{ filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP_PROXY, stat_prefix: name, cluster } }] }],
});
const edsCluster = (name: string, extra: object) => ({ name, type: 'EDS', eds_cluster_config: { eds_config: { ads: {} } }, ...extra });

describe.skipIf(process.getuid?.() !== 0)('load-balancing policies over xDS (issue 6 part B)', () => {
  const id = `lbx${process.pid}`;
  const pinPath = `/sys/fs/bpf/kmesh-it-${id}`;
  let lab: Lab;
  let server: XdsServer;
  let daemon: DaemonHandle;
  let dir: string;
  let sources: string[] = [];

  const lbEndpoint = (name: string, health = 'HEALTHY') => ({ endpoint: { address: { socket_address: { address: lab.backend(name).ipv4, port_value: 9080 } } }, health_status: health });
  const hashAssignment = (names: string[]) => ({ cluster_name: 'hash', endpoints: [{ lb_endpoints: names.map((n) => lbEndpoint(n)) }] });
  const prioAssignment = (p0Unhealthy: number) => ({
    cluster_name: 'prio',
    endpoints: [
      { priority: 0, lb_endpoints: ['p0-a', 'p0-b', 'p0-c', 'p0-d'].map((n, i) => lbEndpoint(n, i >= 4 - p0Unhealthy ? 'UNHEALTHY' : 'HEALTHY')) },
      { priority: 1, lb_endpoints: [lbEndpoint('p1-a')] },
    ],
  });
  const dump = async () => JSON.parse((await adminGet(daemon.adminUrl, '/config_dump')).body) as { version: number; generation: number };
  const waitForVersion = async (after: number) => {
    const deadline = Date.now() + 10_000;
    while ((await dump()).version <= after) {
      if (Date.now() > deadline) throw new Error(`no config version after ${after} within 10 s; log tail:\n${daemon.logs().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const setEndpoints = async (endpoint: object[]) => {
    const version = (await dump()).version;
    server.setResources({ endpoint });
    await waitForVersion(version);
  };

  beforeAll(async () => {
    requireDaemon();
    lab = await Lab.create({ id, servers: [...hashed, 'p0-a', 'p0-b', 'p0-c', 'p0-d', 'p1-a'].map((name) => ({ name })) });
    dir = mkdtempSync(join(tmpdir(), `kmesh-${id}-`));
    try {
      sources = await addClientSources(lab, 60);
      const config = join(dir, 'static.yaml');
      writeFileSync(config, JSON.stringify({ static_resources: {} }));
      server = new XdsServer();
      server.setResources({
        cluster: [edsCluster('hash', { lb_policy: 'MAGLEV', maglev_lb_config: { table_size: { value: 4099 } } }), edsCluster('prio', { lb_policy: 'ROUND_ROBIN' })],
        endpoint: [hashAssignment(hashed), prioAssignment(0)],
        listener: [listener('hash', VIP.hash, 'hash'), listener('prio', VIP.prio, 'prio')],
      });
      await server.start(0);
      daemon = await lab.startDaemon({ config, pinPath, extraArgs: ['--xds', server.address] });
    } catch (error) {
      await server?.stop();
      await lab.destroy().catch(() => undefined);
      throw error;
    }
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
    await lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
    rmSync(pinPath, { recursive: true, force: true });
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
