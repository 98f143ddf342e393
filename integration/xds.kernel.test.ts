// The daemon fed over xDS (the test ADS server, SotW and delta) on the real kernel: traffic through
// a VIP reaches the EDS endpoints; a NACKed update keeps the old routing; endpoint churn while a
// client loops costs no connection; an ADS server restart is survived.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminGet, type DaemonHandle, type Lab } from '../tools/lab/index.js';
import type { XdsServer } from '../tools/xds-server/index.js';
import { edsAssignment, edsCluster, startAdsLab, tcpProxyListener, type AdsLab } from './support/ads.js';

const VIP = '10.96.3.1';

const listener = (name: string, vip: string, cluster: string, protocol?: 'UDP') => tcpProxyListener(name, vip, cluster, { protocol });

describe.skipIf(process.getuid?.() !== 0).each(['sotw', 'delta'] as const)('daemon configured over xDS (%s)', (mode) => {
  const id = `xd${mode[0]}${process.pid}`;
  let ads: AdsLab;
  let lab: Lab;
  let server: XdsServer;
  let daemon: DaemonHandle;
  const assignment = (cluster: string, backends: string[]) => edsAssignment(lab, cluster, backends);
  // The config version moves on every applied change; the generation only on full ones (an
  // endpoint-only change is applied in place, see eds-inplace.kernel.test.ts).
  const configVersion = () => ads.configVersion();
  const waitForVersion = (after: number) => ads.waitForVersion(after);

  beforeAll(async () => {
    ads = await startAdsLab({
      id,
      servers: [{ name: 'a' }, { name: 'b' }, { name: 'c' }],
      resources: (l) => ({
        cluster: [edsCluster('web'), edsCluster('alt')],
        endpoint: [edsAssignment(l, 'web', ['a', 'b']), edsAssignment(l, 'alt', ['c'])],
        listener: [listener('web', VIP, 'web')],
      }),
      xdsMode: mode,
    });
    ({ lab, server, daemon } = ads);
  });
  afterAll(async () => {
    await ads?.teardown();
  });

  it('routes a VIP to the endpoints received over EDS; /config_dump shows the xDS state', async () => {
    const r = await lab.runClient({ target: `${VIP}:9080`, connections: 40, concurrency: 2 });
    expect(r.failed).toBe(0);
    expect(Object.keys(r.byBackend).sort()).toEqual(['a', 'b']);
    const dump = JSON.parse((await adminGet(daemon.adminUrl, '/config_dump')).body);
    expect(dump.origin).toBe('xds');
    expect(dump.xds.types.cluster.resourceNames).toEqual(['alt', 'web']);
    expect(dump.xds.types.endpoint.subscribed).toEqual(['alt', 'web']);
    expect(dump.xds.connected).toBe(true);
  });

  it('a NACKed update keeps the old routing', async () => {
    const before = server.requests.length;
    // accepted, this would send the VIP to c; the UDP listener makes the whole response invalid
    server.setResources({ listener: [listener('web', VIP, 'alt'), listener('dns', '10.96.3.53', 'alt', 'UDP')] });
    const nack = await server.waitForRequest((q) => q.meaning === 'nack', 10_000, before);
    expect(nack.errorDetail?.message).toContain('dns');
    const r = await lab.runClient({ target: `${VIP}:9080`, connections: 40, concurrency: 2 });
    expect(r.failed).toBe(0);
    expect(Object.keys(r.byBackend).sort()).toEqual(['a', 'b']);
    const dump = JSON.parse((await adminGet(daemon.adminUrl, '/config_dump')).body);
    expect(dump.xds.types.listener.lastNack.reason).toContain('dns');
    server.setResources({ listener: [listener('web', VIP, 'web')] }); // back to valid
  });

  it('endpoint churn over EDS while a client loops: no failed connection', async () => {
    const loop = await lab.startClientLoop({ target: `${VIP}:9080`, concurrency: 4 });
    const sets = [['a'], ['a', 'b'], ['b'], ['a', 'b', 'c'], ['c'], ['a', 'b']];
    for (let i = 0; i < 12; i++) {
      const version = await configVersion();
      server.setResources({ endpoint: [assignment('web', sets[i % sets.length]), assignment('alt', ['c'])] });
      await waitForVersion(version);
      await new Promise((r) => setTimeout(r, 100));
    }
    const report = await loop.stop();
    expect(report.succeeded).toBeGreaterThan(100);
    expect(report.errors).toEqual({});
    expect(Object.keys(report.byBackend).sort()).toEqual(['a', 'b', 'c']);
  });

  it('keeps serving while the ADS server is down, reconnects when it is back', async () => {
    const port = server.port;
    await server.stop();
    await daemon.waitForLog(/xDS: stream closed/);
    const during = await lab.runClient({ target: `${VIP}:9080`, connections: 20, concurrency: 2 });
    expect(during.failed).toBe(0);
    expect(Object.keys(during.byBackend).sort()).toEqual(['a', 'b']);
    const before = server.requests.length;
    await server.start(port);
    await server.waitForRequest((q) => q.kind === 'cluster' && q.meaning === 'subscribe', 20_000, before);
    const version = await configVersion();
    server.setResources({ endpoint: [assignment('web', ['c']), assignment('alt', ['c'])] });
    await waitForVersion(version);
    const after = await lab.runClient({ target: `${VIP}:9080`, connections: 20, concurrency: 2 });
    expect(after.failed).toBe(0);
    expect(after.byBackend).toEqual({ c: 20 });
  });
});
