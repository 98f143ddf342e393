// An endpoint-only change over xDS is applied in place on the real kernel: the generation stays,
// the cluster record points at a fresh endpoint set, the old set is deleted after the grace
// period, a client looping through the VIP meanwhile sees no failed connection, and the new
// endpoint receives traffic.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as api from '@kmesh/api';
import { BpfMap } from '@kmesh/runtime';
import { adminGet, type DaemonHandle, type Lab } from '../tools/lab/index.js';
import type { XdsServer } from '../tools/xds-server/index.js';
import { edsAssignment, edsCluster, startAdsLab, tcpProxyListener, type AdsLab } from './support/ads.js';

const VIP = '10.96.4.1';
const IN_PLACE_SET_BIT = 0x8000_0000;

describe.skipIf(process.getuid?.() !== 0)('endpoint-only xDS changes applied in place', () => {
  const id = `eip${process.pid}`;
  let ads: AdsLab;
  let lab: Lab;
  let server: XdsServer;
  let daemon: DaemonHandle;
  let pinPath: string;
  const maps = new Map<string, BpfMap>();
  const assignment = (backends: string[]) => edsAssignment(lab, 'web', backends);
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
    ads = await startAdsLab({
      id,
      servers: [{ name: 'a' }, { name: 'b' }, { name: 'c' }],
      resources: (l) => ({ cluster: [edsCluster('web')], endpoint: [edsAssignment(l, 'web', ['a', 'b'])], listener: [tcpProxyListener('web', VIP, 'web')] }),
      xdsMode: 'delta',
    });
    ({ lab, server, daemon, pinPath } = ads);
  });
  afterAll(async () => {
    for (const m of maps.values()) m.close();
    await ads?.teardown();
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
