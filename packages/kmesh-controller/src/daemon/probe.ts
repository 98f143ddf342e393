/**
 * The daemon's side of kmesh-probe: starts the probe next to the instance's pinned maps, labels its
 * connections with the cluster from the applied model, writes the access log (stdout or a file) and
 * gives the admin API its /metrics, /access_log and /endpoint_health answers.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { isIP } from 'node:net';
import type { MeshModel, SocketAddress, WeightedRoute } from '@kmesh/api';
import { Probe, type DaemonHealth } from '@kmesh/probe';
import type { AdminResponse } from '../admin/server.js';
import { readSockStats } from '../kernel/sockmap.js';
import type { Logger } from '../log.js';

export interface DaemonProbeOptions {
  pinPath: string;
  /** access log file (appended); undefined: stdout */
  accessLog?: string;
  log: Logger;
  /** the model applied now (null when adopted state was not replaced yet: cluster label 'unknown') */
  model: () => MeshModel | null;
  health: () => DaemonHealth;
}

function formatSocketAddress(a: SocketAddress): string {
  return a.family === 6 || isIP(a.ip) === 6 ? `[${a.ip}]:${a.port}` : `${a.ip}:${a.port}`;
}

function routeClusters(route: WeightedRoute | undefined): string[] {
  return route?.clusters.map((c) => c.name) ?? [];
}

/**
 * The cluster of a connection: among the clusters the listener routes to (exact listener, or the
 * tcp_proxy chains of a wildcard listener on that port), the one that holds the endpoint. The kernel
 * picked it; this finds it again from what it was configured with.
 */
export function clusterResolver(model: () => MeshModel | null): (listener: string, endpoint: string) => string | undefined {
  let cachedFor: MeshModel | null = null;
  let cache = new Map<string, string | undefined>();
  return (listener, endpoint) => {
    const current = model();
    if (!current) return undefined;
    if (current !== cachedFor) {
      cachedFor = current;
      cache = new Map();
    }
    const key = `${listener} ${endpoint}`;
    if (cache.has(key)) return cache.get(key);
    const port = Number(listener.slice(listener.lastIndexOf(':') + 1));
    const exact = current.listeners.find((l) => formatSocketAddress(l.address) === listener);
    const candidates = exact
      ? routeClusters(exact.route)
      : current.listeners
          .filter((l) => l.address.port === port && l.filterChains)
          .flatMap((l) => l.filterChains!.flatMap((c) => (c.action.kind === 'tcp_proxy' ? routeClusters(c.action.route) : [])));
    const found = current.clusters.find((c) => candidates.includes(c.name) && c.endpoints.some((e) => formatSocketAddress(e.address) === endpoint));
    cache.set(key, found?.name);
    return found?.name;
  };
}

/**
 * The access log output: lines are gathered and written in one call per event-loop turn (the probe
 * hands over a whole ring buffer batch synchronously). A file is written with writeSync: an append to a
 * regular file is one short system call, where an fs.WriteStream sends each write through the libuv
 * thread pool and cost the daemon more CPU per connection than the rest of the probe's work.
 */
export class AccessLogSink {
  private pending = '';
  private scheduled = false;
  private failed = false;
  private readonly fd: number | null;

  constructor(
    private readonly path: string | undefined,
    private readonly log: Logger,
  ) {
    this.fd = path ? openSync(path, 'a') : null;
  }

  readonly write = (line: string): void => {
    this.pending += line + '\n';
    if (this.pending.length >= 1 << 16) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  };

  readonly flush = (): void => {
    this.scheduled = false;
    const chunk = this.pending;
    this.pending = '';
    if (!chunk) return;
    if (this.fd === null) {
      process.stdout.write(chunk);
      return;
    }
    try {
      writeSync(this.fd, chunk);
    } catch (error) {
      // Said once: a full disk would otherwise log at the rate of connections.
      if (!this.failed) this.log.error('access log write failed', { file: this.path, error: (error as Error).message });
      this.failed = true;
    }
  };

  close(): void {
    this.flush();
    if (this.fd !== null) closeSync(this.fd);
  }
}

export class DaemonProbe {
  private constructor(
    readonly probe: Probe,
    private readonly accessLog: AccessLogSink,
  ) {}

  static start(opts: DaemonProbeOptions): DaemonProbe {
    const accessLog = new AccessLogSink(opts.accessLog, opts.log);
    try {
      // Sockmap counters join the daemon's health: the bytes it redirects never reach TCP's counters.
      const health = (): DaemonHealth => ({ ...opts.health(), sockmap: readSockStats(opts.pinPath) ?? undefined });
      const probe = Probe.start({ pinPath: opts.pinPath, resolveCluster: clusterResolver(opts.model), health, accessLog: accessLog.write });
      return new DaemonProbe(probe, accessLog);
    } catch (error) {
      accessLog.close();
      throw error;
    }
  }

  /** Admin routes: Prometheus text, recent access log entries, per-endpoint failures and resets. */
  routes(): Record<string, (query: URLSearchParams) => AdminResponse | Promise<AdminResponse>> {
    return {
      '/metrics': async () => ({ status: 200, body: (await this.probe.metrics.text()).trimEnd() }),
      '/access_log': (query) => ({ status: 200, body: this.probe.accessLogSince(Number(query.get('since') ?? 0) || 0) }),
      '/endpoint_health': () => ({ status: 200, body: this.probe.endpointHealth.snapshot() }),
      '/probe_stats': () => ({ status: 200, body: this.probe.stats() }),
    };
  }

  async close(): Promise<void> {
    await this.probe.close();
    this.accessLog.close(); // after the probe's last records
  }
}

const probePaths = ['/metrics', '/access_log', '/endpoint_health', '/probe_stats'] as const;

/** The probe's admin routes, registered before the probe starts: 503 until it runs (or with --no-probe). */
export function probeAdminRoutes(current: () => DaemonProbe | null): Record<string, (query: URLSearchParams) => AdminResponse | Promise<AdminResponse>> {
  return Object.fromEntries(
    probePaths.map((path) => [
      path,
      (query: URLSearchParams) => {
        const probe = current();
        if (!probe) return { status: 503, body: { error: 'the probe is not running (started with --no-probe, or it failed to start: see the daemon log)' } };
        return probe.routes()[path](query);
      },
    ]),
  );
}
