// Issue 6 part A over xDS: the same translator serves circuit_breakers and local_ratelimit received
// from an ADS server (the test server, SotW). A raised max_connections takes effect at once and the
// connections already open still count (their counts are keyed by cluster name, not by generation).
// Resources are protobuf objects here (wrappers as {value}, durations as {seconds}), as an ADS server sends them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { XdsServer } from '../tools/xds-server/index.js';
import { edsAssignment, edsCluster as adsCluster, startAdsLab, tcpProxyListener, type AdsLab } from './support/ads.js';
import { startHolder, type Holder } from './support/resilience.js';

const LOCAL_RATELIMIT = 'type.googleapis.com/envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit';
const VIP = { breaker: '10.96.7.1', limiter: '10.96.7.2' };

const edsCluster = (name: string, maxConnections?: number) =>
  adsCluster(name, maxConnections !== undefined ? { circuit_breakers: { thresholds: [{ max_connections: { value: maxConnections } }] } } : {});
const listener = (name: string, vip: string, cluster: string, tokens?: number) =>
  tcpProxyListener(name, vip, cluster, {
    filters:
      tokens !== undefined
        ? [{ name: 'envoy.filters.network.local_ratelimit', typed_config: { '@type': LOCAL_RATELIMIT, stat_prefix: name, token_bucket: { max_tokens: tokens, fill_interval: { seconds: 60 } } } }]
        : [],
  });

describe.skipIf(process.getuid?.() !== 0)('circuit breaking and rate limiting configured over xDS', () => {
  const id = `rx${process.pid}`;
  let ads: AdsLab;
  let server: XdsServer;
  let holder: Holder;
  const configVersion = () => ads.configVersion();
  const waitForVersion = (after: number) => ads.waitForVersion(after);

  beforeAll(async () => {
    ads = await startAdsLab({
      id,
      servers: [{ name: 'a' }, { name: 'b' }],
      resources: (lab) => ({
        cluster: [edsCluster('cb', 2), edsCluster('rl')],
        endpoint: [edsAssignment(lab, 'cb', ['a', 'b']), edsAssignment(lab, 'rl', ['a'])],
        listener: [listener('breaker', VIP.breaker, 'cb'), listener('limiter', VIP.limiter, 'rl', 3)],
      }),
      xdsMode: 'sotw',
    });
    server = ads.server;
    await waitForVersion(0); // the first xDS config is applied
    holder = await startHolder(ads.lab);
  }, 60_000);
  afterAll(async () => {
    await holder?.stop().catch(() => undefined);
    await ads?.teardown();
  });

  it('max_connections from CDS refuses the excess; raised over CDS, the held connections still count', async () => {
    expect(await holder.open(`${VIP.breaker}:9080`, 3)).toMatchObject({ ok: 2, errors: { ECONNREFUSED: 1 } });
    const before = await configVersion();
    server.setResources({ cluster: [edsCluster('cb', 3), edsCluster('rl')] });
    await waitForVersion(before);
    expect(await holder.open(`${VIP.breaker}:9080`, 2)).toMatchObject({ ok: 1, errors: { ECONNREFUSED: 1 } });
    await holder.close(3);
  });

  it('local_ratelimit from LDS admits max_tokens connections', async () => {
    const r = await holder.burst(`${VIP.limiter}:9080`, 10, 200);
    expect(r.ok, JSON.stringify(r)).toBe(3);
    expect(r.errors.ECONNREFUSED ?? 0).toBeGreaterThan(0);
  });
});
