// An endpoint-only change over xDS is applied in place on the real kernel: the generation stays,
// the cluster record points at a fresh endpoint set, the old set is deleted after the grace
// period, a client looping through the VIP meanwhile sees no failed connection, and the new
// endpoint receives traffic.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as api from '@kmesh/api';
import { BpfMap } from '@kmesh/runtime';
import { Lab, adminGet, type DaemonHandle } from '../tools/lab/index.js';
import { XdsServer } from '../tools/xds-server/index.js';
import { requireDaemon } from './support/mesh.js';

const TCP_PROXY = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
const VIP = '10.96.4.1';
const IN_PLACE_SET_BIT = 0x8000_0000;

describe.skipIf(process.getuid?.() !== 0)('endpoint-only xDS changes applied in place', () => {
  const id = `eip${process.pid}`;
  const pinPath = `/sys/fs/bpf/kmesh-it-${id}`;
  let lab: Lab;
  let server: XdsServer;
  let daemon: DaemonHandle;
  let dir: string;
  const maps = new Map<string, BpfMap>();
  const assignment = (backends: string[]) => ({
    cluster_name: 'web',
    endpoints: [{ lb_endpoints: backends.map((b) => ({ endpoint: { address: { socket_address: { address: lab.backend(b).ipv4, port_value: 9080 } } } })) }],
  });
  const openMap = (name: string) => {
    let m = maps.get(name);
    if (!m) maps.set(name, (m = BpfMap.fromPin(join(pinPath, name))));
    return m;
  };
  const active = () => api.decodeActive(openMap(api.MapNames.active).lookup(api.activeKey())!);
  /** The web cluster's record in the active generation (id 1: the only cluster). */
  const webCluster = () => api.decodeClusterValue(openMap(api.MapNames.cluster).lookup(api.encodeClusterKey(active().gen, 1))!);
  const endpointSets = () => [...new Set(openMap(api.MapNames.endpoint).keys().map((k) => api.decodeEndpointKey(k).set))].sort((a, b) => a - b);
  const waitFor = async (what: string, ok: () => boolean) => {
    const deadline = Date.now() + 10_000;
    while (!ok()) {
      if (Date.now() > deadline) throw new Error(`${what}: not within 10 s; daemon log tail:\n${daemon.logs().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  beforeAll(async () => {
    requireDaemon();
    lab = await Lab.create({ id, servers: [{ name: 'a' }, { name: 'b' }, { name: 'c' }] });
    dir = mkdtempSync(join(tmpdir(), `kmesh-${id}-`));
    const config = join(dir, 'static.yaml');
    writeFileSync(config, JSON.stringify({ static_resources: {} }));
    server = new XdsServer();
    server.setResources({
      cluster: [{ name: 'web', type: 'EDS', eds_cluster_config: { eds_config: { ads: {} } } }],
      endpoint: [assignment(['a', 'b'])],
      listener: [{
        name: 'web',
        address: { socket_address: { address: VIP, port_value: 9080 } },
        filter_chains: [{ filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP_PROXY, stat_prefix: 'web', cluster: 'web' } }] }],
      }],
    });
    await server.start(0);
    daemon = await lab.startDaemon({ config, pinPath, extraArgs: ['--xds', server.address, '--xds-mode', 'delta'] });
  });
  afterAll(async () => {
    for (const m of maps.values()) m.close();
    await server?.stop();
    await lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
    rmSync(pinPath, { recursive: true, force: true });
  });

  it('keeps the generation, switches the endpoint set, loses no connection, and the new endpoint gets traffic', async () => {
    const first = await lab.runClient({ target: `${VIP}:9080`, connections: 20, concurrency: 2 });
    expect(first.failed).toBe(0);
    const genBefore = active().gen;
    const setBefore = webCluster().endpointSet;
    expect(setBefore).toBe(genBefore); // a full push names the endpoints by the generation

    const loop = await lab.startClientLoop({ target: `${VIP}:9080`, concurrency: 4 });
    const sets: number[] = [];
    for (const backends of [['a', 'b', 'c'], ['c'], ['b', 'c'], ['a', 'b', 'c']]) {
      const previous = webCluster().endpointSet;
      server.setResources({ endpoint: [assignment(backends)] });
      await waitFor(`endpoint set change for ${backends.join(',')}`, () => webCluster().endpointSet !== previous);
      expect(webCluster().endpointCount).toBe(backends.length);
      sets.push(webCluster().endpointSet);
      await new Promise((r) => setTimeout(r, 600)); // past the grace period: old sets are swept meanwhile
    }
    const report = await loop.stop();

    expect(active().gen).toBe(genBefore); // in place: no new generation
    for (const set of sets) expect(set).toBeGreaterThanOrEqual(IN_PLACE_SET_BIT);
    expect(new Set(sets).size).toBe(sets.length);
    expect(report.succeeded).toBeGreaterThan(100);
    expect(report.errors).toEqual({});
    expect(report.byBackend.c ?? 0).toBeGreaterThan(0); // the endpoint added in place took connections
    expect(await daemon.waitForLog(/endpoints applied in place/)).toContain('xdsToKernelMs');

    // After the grace period only the set the cluster names is left.
    await waitFor('old endpoint sets deleted', () => endpointSets().length === 1);
    expect(endpointSets()).toEqual([webCluster().endpointSet]);
    const after = await lab.runClient({ target: `${VIP}:9080`, connections: 30, concurrency: 2 });
    expect(after.failed).toBe(0);
    expect(Object.keys(after.byBackend).sort()).toEqual(['a', 'b', 'c']);
    const dump = JSON.parse((await adminGet(daemon.adminUrl, '/config_dump')).body);
    expect(dump.generation).toBe(genBefore);
  });
});
