// A lab plus a daemon fed over ADS by the test xDS server, as the xDS kernel tests need them: an empty
// static config in a temp dir, pin path /sys/fs/bpf/kmesh-it-<id>, and a teardown that removes all of it
// even after a failure. Resources are protobuf-shaped objects, as an ADS server sends them.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, adminGet, type BackendSpec, type DaemonHandle } from '../../tools/lab/index.js';
import { XdsServer, type ResourceSet } from '../../tools/xds-server/index.js';
import { requireDaemon } from './mesh.js';

export const TCP_PROXY = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
/** The port every lab backend listens on, and the port of the test listeners. */
export const BACKEND_PORT = 9080;

/** A listener on vip:9080 whose filter chain ends in tcp_proxy to `cluster`, after `filters` (if any). */
export function tcpProxyListener(name: string, vip: string, cluster: string, opts: { protocol?: 'UDP'; filters?: object[] } = {}) {
  return {
    name,
    address: { socket_address: { address: vip, port_value: BACKEND_PORT, ...(opts.protocol ? { protocol: opts.protocol } : {}) } },
    filter_chains: [{ filters: [...(opts.filters ?? []), { name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP_PROXY, stat_prefix: name, cluster } }] }],
  };
}

/** A cluster whose endpoints come over ADS (EDS), plus `extra` fields (lb_policy, circuit_breakers, ...). */
export function edsCluster(name: string, extra: object = {}) {
  return { name, type: 'EDS', eds_cluster_config: { eds_config: { ads: {} } }, ...extra };
}

/** The lb_endpoint of lab backend `backend` (its IPv4 address, port 9080). */
export function lbEndpoint(lab: Lab, backend: string) {
  return { endpoint: { address: { socket_address: { address: lab.backend(backend).ipv4, port_value: BACKEND_PORT } } } };
}

/** A ClusterLoadAssignment with the lab backends `backends`, all in one locality. */
export function edsAssignment(lab: Lab, cluster: string, backends: string[]) {
  return { cluster_name: cluster, endpoints: [{ lb_endpoints: backends.map((b) => lbEndpoint(lab, b)) }] };
}

export interface AdsLab {
  lab: Lab;
  server: XdsServer;
  daemon: DaemonHandle;
  pinPath: string;
  /** the daemon's /config_dump body */
  configDump(): Promise<{ version: number; generation: number; [key: string]: unknown }>;
  /** moves on every applied change (the generation only on full ones: endpoint-only changes apply in place) */
  configVersion(): Promise<number>;
  /** wait until the config version is past `after` (10 s) */
  waitForVersion(after: number): Promise<void>;
  teardown(): Promise<void>;
}

export async function startAdsLab(opts: {
  id: string;
  servers: BackendSpec[];
  /** the resources the ADS server starts with */
  resources: (lab: Lab) => Partial<ResourceSet>;
  /** --xds-mode (default: the daemon's) */
  xdsMode?: 'sotw' | 'delta';
  /** runs after the lab exists, before the daemon starts (e.g. extra client addresses) */
  prepare?: (lab: Lab) => Promise<void>;
}): Promise<AdsLab> {
  requireDaemon();
  const lab = await Lab.create({ id: opts.id, servers: opts.servers });
  const dir = mkdtempSync(join(tmpdir(), `kmesh-${opts.id}-`));
  const pinPath = `/sys/fs/bpf/kmesh-it-${opts.id}`;
  const server = new XdsServer();
  const teardown = async (): Promise<void> => {
    try {
      await server.stop();
      await lab.destroy(); // stops the daemon, runs kmesh cleanup on the pin path, removes netns and cgroup
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(pinPath, { recursive: true, force: true });
    }
  };
  let daemon: DaemonHandle;
  try {
    await opts.prepare?.(lab);
    const config = join(dir, 'static.yaml');
    writeFileSync(config, JSON.stringify({ static_resources: {} }));
    server.setResources(opts.resources(lab));
    await server.start(0);
    const mode = opts.xdsMode ? ['--xds-mode', opts.xdsMode] : [];
    daemon = await lab.startDaemon({ config, pinPath, extraArgs: ['--xds', server.address, ...mode] });
  } catch (error) {
    await teardown().catch(() => undefined);
    throw error;
  }
  const configDump = async () => JSON.parse((await adminGet(daemon.adminUrl, '/config_dump')).body) as Awaited<ReturnType<AdsLab['configDump']>>;
  const configVersion = async () => (await configDump()).version;
  return {
    lab,
    server,
    daemon,
    pinPath,
    configDump,
    configVersion,
    async waitForVersion(after) {
      const deadline = Date.now() + 10_000;
      while ((await configVersion()) <= after) {
        if (Date.now() > deadline) throw new Error(`no config version after ${after} within 10 s; log tail:\n${daemon.logs().slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    teardown,
  };
}
