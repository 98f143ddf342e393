/**
 * Connection accounting and protection (issue 6 part A) as the daemon sees it: the per-generation
 * limit maps (written by GenerationStore with the other records) and the live state the kernel
 * keeps (km_cl_load, km_ep_load, km_bucket), decoded for /config_dump, /resilience and /metrics.
 * The daemon never writes live state: counts belong to the kernel.
 */
import { existsSync } from 'node:fs';
import * as api from '@kmesh/api';
import { BpfMap } from '@kmesh/runtime';
import { mapPin } from './pins.js';

const names = api.ResilienceMapNames;

/** km_cl_limits and km_lsn_limit for the generation store, when the loaded object has them. */
export function openResilienceConfigMaps(pinPath: string, opened: BpfMap[]): { clusterLimit?: BpfMap; listenerLimit?: BpfMap } {
  const open = (name: string): BpfMap | undefined => {
    const path = mapPin(pinPath, name);
    if (!existsSync(path)) return undefined;
    const map = BpfMap.fromPin(path);
    opened.push(map);
    return map;
  };
  const clusterLimit = open(names.clusterLimits);
  const listenerLimit = open(names.listenerLimit);
  return { ...(clusterLimit ? { clusterLimit } : {}), ...(listenerLimit ? { listenerLimit } : {}) };
}

export interface EndpointResilience {
  address: string;
  activeConnections: number;
  ejected: boolean;
  /** wall-clock end of the current ejection (null when not ejected) */
  ejectedUntil: string | null;
  ejections: number;
  /** Envoy's ejection multiplier: the next ejection lasts base_ejection_time x (this + 1), less decay */
  ejectionMultiplier: number;
  consecutiveFailures: number;
  connectFailures: number;
}

export interface ClusterResilience {
  name: string;
  limits: api.ClusterLimits;
  activeConnections: number;
  circuitOpenTotal: number;
  ejectionsTotal: number;
  ejectedEndpoints: number;
  endpoints: EndpointResilience[];
}

export interface ListenerResilience {
  name: string;
  rateLimit: api.LocalRateLimitModel;
  tokens: number | null;
  admittedTotal: number;
  rateLimitedTotal: number;
}

export interface ResilienceSnapshot {
  clusters: ClusterResilience[];
  listeners: ListenerResilience[];
}

function formatAddress(a: api.SocketAddress): string {
  return a.family === 6 ? `[${a.ip}]:${a.port}` : `${a.ip}:${a.port}`;
}

/** Reads the kernel's live state; maps are opened on first use and stay open until close(). */
export class ResilienceReader {
  private maps: { clusterLoad: BpfMap; endpointLoad: BpfMap; bucket: BpfMap } | null = null;

  constructor(private readonly pinPath: string) {}

  private open(): { clusterLoad: BpfMap; endpointLoad: BpfMap; bucket: BpfMap } | null {
    if (this.maps) return this.maps;
    const paths = [names.clusterLoad, names.endpointLoad, names.bucket].map((n) => mapPin(this.pinPath, n));
    if (!paths.every((p) => existsSync(p))) return null;
    const [clusterLoad, endpointLoad, bucket] = paths.map((p) => BpfMap.fromPin(p)) as [BpfMap, BpfMap, BpfMap];
    this.maps = { clusterLoad, endpointLoad, bucket };
    return this.maps;
  }

  /** The state of every cluster and rate-limited listener of `model`; null when the maps are missing. */
  snapshot(model: api.MeshModel | null): ResilienceSnapshot | null {
    const maps = this.open();
    if (!maps || !model) return maps ? { clusters: [], listeners: [] } : null;
    const nowMono = process.hrtime.bigint(); // CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns
    const nowWall = Date.now();
    const clusters = model.clusters.map((cluster): ClusterResilience => {
      const loadKey = api.clusterLoadKey(cluster.name);
      const raw = maps.clusterLoad.lookup(api.encodeLoadKey(loadKey));
      const load = raw ? api.decodeClusterLoad(raw) : { active: 0, circuitOpen: 0, ejections: 0, ejectedUntilNs: [] };
      const endpoints = cluster.endpoints.map((e): EndpointResilience => {
        const value = maps.endpointLoad.lookup(api.encodeEndpointLoadKey(loadKey, e.address));
        const ep = value ? api.decodeEndpointLoad(value) : null;
        const ejected = ep !== null && ep.ejectedFlag && ep.ejectedUntilNs > nowMono;
        return {
          address: formatAddress(e.address),
          activeConnections: ep?.active ?? 0,
          ejected,
          ejectedUntil: ejected ? new Date(nowWall + Number((ep!.ejectedUntilNs - nowMono) / 1_000_000n)).toISOString() : null,
          ejections: ep?.ejections ?? 0,
          ejectionMultiplier: ep?.multiplier ?? 0,
          consecutiveFailures: ep?.consecutiveFailures ?? 0,
          connectFailures: ep?.connectFailures ?? 0,
        };
      });
      return {
        name: cluster.name,
        limits: api.clusterLimits(cluster),
        activeConnections: load.active,
        circuitOpenTotal: load.circuitOpen,
        ejectionsTotal: load.ejections,
        // By time, not the kernel's lazily lowered count: an expired ejection is over even if unseen.
        ejectedEndpoints: endpoints.filter((e) => e.ejected).length,
        endpoints,
      };
    });
    const listeners = model.listeners
      .filter((l) => l.rateLimit !== undefined)
      .map((l): ListenerResilience => {
        const value = maps.bucket.lookup(api.encodeLoadKey(api.bucketKey(l)));
        const bucket = value ? api.decodeTokenBucket(value) : null;
        return { name: l.name, rateLimit: l.rateLimit!, tokens: bucket?.tokens ?? null, admittedTotal: bucket?.admitted ?? 0, rateLimitedTotal: bucket?.limited ?? 0 };
      });
    return { clusters, listeners };
  }

  close(): void {
    if (!this.maps) return;
    for (const map of Object.values(this.maps)) map.close();
    this.maps = null;
  }
}

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/** Prometheus text for a snapshot. */
export function resilienceMetrics(snapshot: ResilienceSnapshot): string {
  const families: { name: string; type: 'gauge' | 'counter'; help: string; samples: [string, number][] }[] = [
    { name: 'kmesh_cluster_active_connections', type: 'gauge', help: 'Connections counted against the cluster (circuit_breakers max_connections) and not yet closed', samples: snapshot.clusters.map((c) => [`cluster="${escapeLabel(c.name)}"`, c.activeConnections]) },
    { name: 'kmesh_cluster_max_connections', type: 'gauge', help: 'The cluster max_connections enforced in the kernel', samples: snapshot.clusters.map((c) => [`cluster="${escapeLabel(c.name)}"`, c.limits.maxConnections]) },
    { name: 'kmesh_cluster_circuit_open_total', type: 'counter', help: 'Connects refused because the cluster was at max_connections', samples: snapshot.clusters.map((c) => [`cluster="${escapeLabel(c.name)}"`, c.circuitOpenTotal]) },
    { name: 'kmesh_outlier_ejections_total', type: 'counter', help: 'Endpoints ejected by outlier detection', samples: snapshot.clusters.map((c) => [`cluster="${escapeLabel(c.name)}"`, c.ejectionsTotal]) },
    { name: 'kmesh_outlier_ejected_endpoints', type: 'gauge', help: 'Endpoints ejected now', samples: snapshot.clusters.map((c) => [`cluster="${escapeLabel(c.name)}"`, c.ejectedEndpoints]) },
    {
      name: 'kmesh_endpoint_active_connections',
      type: 'gauge',
      help: 'Connections to the endpoint counted and not yet closed (LEAST_REQUEST reads these)',
      samples: snapshot.clusters.flatMap((c) => c.endpoints.map((e): [string, number] => [`cluster="${escapeLabel(c.name)}",endpoint="${escapeLabel(e.address)}"`, e.activeConnections])),
    },
    { name: 'kmesh_listener_rate_limited_total', type: 'counter', help: 'Connects refused by the listener local_ratelimit token bucket', samples: snapshot.listeners.map((l) => [`listener="${escapeLabel(l.name)}"`, l.rateLimitedTotal]) },
    { name: 'kmesh_listener_rate_limit_admitted_total', type: 'counter', help: 'Connects that took a token of the listener local_ratelimit bucket', samples: snapshot.listeners.map((l) => [`listener="${escapeLabel(l.name)}"`, l.admittedTotal]) },
  ];
  return families
    .map((f) => [`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`, ...f.samples.map(([labels, v]) => `${f.name}{${labels}} ${v}`)].join('\n'))
    .join('\n');
}

type Routes = Record<string, (query: URLSearchParams) => { status: number; body: unknown } | Promise<{ status: number; body: unknown }>>;

/**
 * Adds connection accounting to the admin API: /resilience (the snapshot), a `resilience` section in
 * /config_dump (per endpoint: ejected, until, ejections), and its metrics appended to /metrics
 * (alone when the probe is off).
 */
export function withResilienceAdminRoutes<R extends Routes>(routes: R, reader: () => ResilienceReader | null, model: () => api.MeshModel | null): R {
  const snapshot = () => reader()?.snapshot(model()) ?? null;
  const configDump = routes['/config_dump'];
  const metrics = routes['/metrics'];
  return {
    ...routes,
    '/resilience': () => {
      const s = snapshot();
      return s ? { status: 200, body: s } : { status: 503, body: { error: 'resilience maps not loaded' } };
    },
    '/config_dump': async (query: URLSearchParams) => {
      const response = configDump ? await configDump(query) : { status: 404, body: {} };
      if (response.status !== 200 || typeof response.body !== 'object' || response.body === null) return response;
      return { status: 200, body: { ...(response.body as object), resilience: snapshot() } };
    },
    '/metrics': async (query: URLSearchParams) => {
      const s = snapshot();
      const ours = s ? resilienceMetrics(s) : '';
      const response = metrics ? await metrics(query) : null;
      if (response && response.status === 200 && typeof response.body === 'string') return { status: 200, body: ours ? `${response.body}\n${ours}` : response.body };
      return { status: 200, body: ours };
    },
  };
}

/**
 * Deletes live state nothing needs any more: counts of clusters and endpoints the configuration no
 * longer has (when no connection is counted on them and no ejection is in force) and token buckets
 * of removed listeners. Without it, endpoint churn (new pod addresses on every rollout) would slowly
 * fill km_ep_load, after which new endpoints would go uncounted. Run after a sweep of retired
 * generations: the kernel may still count a connection of the old generation until then.
 */
export class ResilienceJanitor {
  private model: api.MeshModel | null = null;

  constructor(private readonly pinPath: string) {}

  /** The model just applied as a full generation. */
  noteModel(model: api.MeshModel): void {
    this.model = model;
  }

  /** Clusters whose endpoints were replaced in place. */
  noteEndpoints(changed: readonly api.ClusterModel[]): void {
    if (!this.model) return;
    const byName = new Map(changed.map((c) => [c.name, c]));
    this.model = { ...this.model, clusters: this.model.clusters.map((c) => byName.get(c.name) ?? c) };
  }

  /** Returns the number of entries deleted. */
  sweep(): number {
    const model = this.model;
    if (!model) return 0;
    const paths = [names.clusterLoad, names.endpointLoad, names.bucket].map((n) => mapPin(this.pinPath, n));
    if (!paths.every((p) => existsSync(p))) return 0;
    const [clusterLoad, endpointLoad, bucket] = paths.map((p) => BpfMap.fromPin(p)) as [BpfMap, BpfMap, BpfMap];
    try {
      const nowMono = process.hrtime.bigint();
      const clusters = new Map(model.clusters.map((c) => [api.clusterLoadKey(c.name), new Set(c.endpoints.map((e) => formatAddress(e.address)))]));
      const buckets = new Set(model.listeners.filter((l) => l.rateLimit).map((l) => api.bucketKey(l)));
      let deleted = 0;
      for (const key of clusterLoad.keys()) {
        if (clusters.has(key.readBigUInt64LE(0))) continue;
        const value = clusterLoad.lookup(key);
        if (value && api.decodeClusterLoad(value).active === 0 && clusterLoad.delete(key)) deleted++;
      }
      for (const key of endpointLoad.keys()) {
        const { loadKey, address } = api.decodeEndpointLoadKey(key);
        const endpoints = clusters.get(loadKey);
        if (endpoints?.has(formatAddress(address))) continue;
        const value = endpointLoad.lookup(key);
        if (!value) continue;
        const ep = api.decodeEndpointLoad(value);
        // An ejection in force is kept while its cluster exists: the endpoint may come back (EDS flap).
        const ejectedNow = ep.ejectedFlag && ep.ejectedUntilNs > nowMono;
        if (ep.active === 0 && (!ejectedNow || !endpoints) && endpointLoad.delete(key)) deleted++;
      }
      for (const key of bucket.keys()) if (!buckets.has(key.readBigUInt64LE(0)) && bucket.delete(key)) deleted++;
      return deleted;
    } finally {
      for (const map of [clusterLoad, endpointLoad, bucket]) map.close();
    }
  }
}
