// Issue 6 part A over xDS: the same translator serves circuit_breakers and local_ratelimit received
// from an ADS server (the test server, SotW). A raised max_connections takes effect at once and the
// connections already open still count (their counts are keyed by cluster name, not by generation).
// Resources are protobuf objects here (wrappers as {value}, durations as {seconds}), as an ADS server sends them.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, adminGet, type DaemonHandle } from '../tools/lab/index.js';
import { XdsServer } from '../tools/xds-server/index.js';
import { requireDaemon } from './support/mesh.js';
import { startHolder, type Holder } from './support/resilience.js';

const TCP_PROXY = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
const LOCAL_RATELIMIT = 'type.googleapis.com/envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit';
const VIP = { breaker: '10.96.7.1', limiter: '10.96.7.2' };

const edsCluster = (name: string, maxConnections?: number) => ({
  name,
  type: 'EDS',
  eds_cluster_config: { eds_config: { ads: {} } },
  ...(maxConnections !== undefined ? { circuit_breakers: { thresholds: [{ max_connections: { value: maxConnections } }] } } : {}),
});
const listener = (name: string, vip: string, cluster: string, tokens?: number) => ({
  name,
  address: { socket_address: { address: vip, port_value: 9080 } },
  filter_chains: [
    {
      filters: [
        ...(tokens !== undefined
          ? [{ name: 'envoy.filters.network.local_ratelimit', typed_config: { '@type': LOCAL_RATELIMIT, stat_prefix: name, token_bucket: { max_tokens: tokens, fill_interval: { seconds: 60 } } } }]
          : []),
        { name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP_PROXY, stat_prefix: name, cluster } },
      ],
    },
  ],
});

describe.skipIf(process.getuid?.() !== 0)('circuit breaking and rate limiting configured over xDS', () => {
  const id = `rx${process.pid}`;
  const pinPath = `/sys/fs/bpf/kmesh-it-${id}`;
  let lab: Lab;
  let server: XdsServer;
  let daemon: DaemonHandle;
  let holder: Holder;
  let dir: string;
  const assignment = (cluster: string, backends: string[]) => ({
    cluster_name: cluster,
    endpoints: [{ lb_endpoints: backends.map((b) => ({ endpoint: { address: { socket_address: { address: lab.backend(b).ipv4, port_value: 9080 } } } })) }],
  });
  const configVersion = async () => JSON.parse((await adminGet(daemon.adminUrl, '/config_dump')).body).version as number;
  const waitForVersion = async (after: number) => {
    const deadline = Date.now() + 10_000;
    while ((await configVersion()) <= after) {
      if (Date.now() > deadline) throw new Error(`no config version after ${after} within 10 s; log tail:\n${daemon.logs().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  beforeAll(async () => {
    requireDaemon();
    lab = await Lab.create({ id, servers: [{ name: 'a' }, { name: 'b' }] });
    dir = mkdtempSync(join(tmpdir(), `kmesh-${id}-`));
    const config = join(dir, 'static.yaml');
    writeFileSync(config, JSON.stringify({ static_resources: {} }));
    server = new XdsServer();
    server.setResources({
      cluster: [edsCluster('cb', 2), edsCluster('rl')],
      endpoint: [assignment('cb', ['a', 'b']), assignment('rl', ['a'])],
      listener: [listener('breaker', VIP.breaker, 'cb'), listener('limiter', VIP.limiter, 'rl', 3)],
    });
    await server.start(0);
    daemon = await lab.startDaemon({ config, pinPath, extraArgs: ['--xds', server.address, '--xds-mode', 'sotw'] });
    const deadline = Date.now() + 10_000;
    while ((await configVersion()) === 0) {
      if (Date.now() > deadline) throw new Error(`no xDS config applied within 10 s; log tail:\n${daemon.logs().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    holder = await startHolder(lab);
  }, 60_000);
  afterAll(async () => {
    await holder?.stop().catch(() => undefined);
    await server?.stop();
    await lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
    rmSync(pinPath, { recursive: true, force: true });
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
