/**
 * Prometheus metrics through OpenTelemetry: connection counters and a duration histogram from probe
 * events, plus the daemon's own health as observable instruments read at scrape time.
 *
 * Cost per connection matters (a busy node closes thousands a second, each one OPEN and one CLOSE
 * record): the SDK hashes the attributes of every synchronous add()/record() call, which was most of
 * the daemon's CPU per connection. So the connection counters are plain numbers in one ConnectionSeries
 * per label set, reported by observable counters at scrape time; only the duration histogram (no
 * observable form in OpenTelemetry) is recorded per connection, with the series' one attributes object.
 */
import type { Attributes, ObservableResult } from '@opentelemetry/api';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { formatAddress, type ProbeEvent } from './event.js';

/** What the daemon knows about itself, read at every scrape. Every field is optional. */
export interface DaemonHealth {
  configVersion?: number;
  configGeneration?: number;
  /** configs applied (ACK) and rejected (NACK) since the daemon started */
  configApplied?: number;
  configRejected?: number;
  /** entries and capacity per BPF map name */
  maps?: Record<string, { entries: number; capacity: number }>;
  /** km_stats: outcomes of the orchestration programs (each connect/getpeername run counts once) */
  programOutcomes?: Record<string, number>;
  /** km_sock_stats, when sockmap acceleration is on: messages and bytes per outcome (inserted,
   *  redirected, no_peer, ...). Redirected payload bypasses TCP, so the connection byte counters miss it. */
  sockmap?: Record<string, { count: number; bytes: number }>;
}

/** Labels of one connection: listener (VIP:port), cluster, endpoint (IP:port), direction. */
export interface ConnectionLabels extends Attributes {
  listener: string;
  cluster: string;
  endpoint: string;
  direction: 'outbound';
}

/** The counters of one label set, kept in plain numbers and read at scrape time. A counter appears in
 *  /metrics once its first event was seen (opened: an OPEN; closed, bytes, retransmits: a CLOSE;
 *  failures: a FAIL), as a synchronous counter's series would. */
export class ConnectionSeries {
  opened = 0;
  closed = 0;
  failures = 0;
  sentBytes = 0;
  receivedBytes = 0;
  retransmits = 0;
  constructor(readonly labels: Readonly<ConnectionLabels>) {}
}

/** Duration buckets in seconds: from loopback round trips to long-lived streams. */
const durationBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

export class ProbeMetrics {
  private readonly exporter: PrometheusExporter;
  private readonly provider: MeterProvider;
  private readonly serializer = new PrometheusSerializer(undefined, false, undefined, true, true);
  private readonly duration;
  /** by `cluster listener endpoint` */
  private readonly seriesByKey = new Map<string, ConnectionSeries>();

  constructor(health: () => DaemonHealth, probeStats: () => Record<string, number>) {
    // No server of its own: the daemon's admin API serves /metrics.
    this.exporter = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true, withoutTargetInfo: true });
    this.provider = new MeterProvider({ readers: [this.exporter] });
    const meter = this.provider.getMeter('kmesh');
    // Connection counters: one callback each, reading the series (registration order is /metrics order).
    const connectionCounters: [string, string, (s: ConnectionSeries) => number, (s: ConnectionSeries) => boolean][] = [
      ['kmesh_tcp_connections_opened_total', 'Mesh TCP connections established, by listener, cluster and endpoint', (x) => x.opened, (x) => x.opened > 0],
      ['kmesh_tcp_connections_closed_total', 'Established mesh TCP connections that ended', (x) => x.closed, (x) => x.closed > 0],
      ['kmesh_tcp_connect_failures_total', 'Mesh connects that never completed (refused, timed out, reset, aborted)', (x) => x.failures, (x) => x.failures > 0],
      ['kmesh_tcp_sent_bytes_total', 'Payload bytes sent and acknowledged, counted when the connection closes', (x) => x.sentBytes, (x) => x.closed > 0],
      ['kmesh_tcp_received_bytes_total', 'Payload bytes received, counted when the connection closes', (x) => x.receivedBytes, (x) => x.closed > 0],
      ['kmesh_tcp_retransmits_total', 'TCP segments retransmitted, counted when the connection closes', (x) => x.retransmits, (x) => x.closed > 0],
    ];
    for (const [name, description, value, seen] of connectionCounters) {
      meter.createObservableCounter(name, { description }).addCallback((r) => {
        for (const series of this.seriesByKey.values()) if (seen(series)) r.observe(value(series), series.labels);
      });
    }
    this.duration = meter.createHistogram('kmesh_tcp_connection_duration_seconds', {
      description: 'From connect() to close of established mesh connections',
      advice: { explicitBucketBoundaries: durationBuckets },
    });

    const gauge = (name: string, description: string, read: (h: DaemonHealth, r: ObservableResult) => void) =>
      meter.createObservableGauge(name, { description }).addCallback((r) => read(health(), r));
    const counter = (name: string, description: string, read: (h: DaemonHealth, r: ObservableResult) => void) =>
      meter.createObservableCounter(name, { description }).addCallback((r) => read(health(), r));
    gauge('kmesh_config_version', 'Version of the configuration applied to the kernel', (h, r) => h.configVersion !== undefined && r.observe(h.configVersion));
    gauge('kmesh_config_generation', 'Generation active in the kernel', (h, r) => h.configGeneration !== undefined && r.observe(h.configGeneration));
    counter('kmesh_config_applied_total', 'Configurations applied (ACK) since the daemon started', (h, r) => h.configApplied !== undefined && r.observe(h.configApplied));
    counter('kmesh_config_rejected_total', 'Configurations rejected (NACK) since the daemon started', (h, r) => h.configRejected !== undefined && r.observe(h.configRejected));
    gauge('kmesh_map_entries', 'Entries in each BPF map', (h, r) => {
      for (const [map, m] of Object.entries(h.maps ?? {})) r.observe(m.entries, { map });
    });
    gauge('kmesh_map_capacity', 'max_entries of each BPF map', (h, r) => {
      for (const [map, m] of Object.entries(h.maps ?? {})) r.observe(m.capacity, { map });
    });
    counter('kmesh_program_outcomes_total', 'Runs of the orchestration programs by outcome (km_stats)', (h, r) => {
      for (const [outcome, n] of Object.entries(h.programOutcomes ?? {})) r.observe(n, { outcome });
    });
    counter('kmesh_sockmap_redirected_messages_total', 'Messages sk_msg redirected socket to socket (same-node acceleration, km_sock_stats)', (h, r) => h.sockmap?.redirected && r.observe(h.sockmap.redirected.count));
    counter('kmesh_sockmap_redirected_bytes_total', 'Payload bytes sk_msg redirected socket to socket; not in kmesh_tcp_*_bytes_total', (h, r) => h.sockmap?.redirected && r.observe(h.sockmap.redirected.bytes));
    counter('kmesh_sockmap_events_total', 'Sockmap program runs by outcome (km_sock_stats): inserted, insert_failed, redirected, no_peer, not_tcp_family, not_local_peer, l7_client, l7_endpoint', (h, r) => {
      for (const [outcome, s] of Object.entries(h.sockmap ?? {})) r.observe(s.count, { outcome });
    });
    meter.createObservableCounter('kmesh_probe_events_total', { description: 'Probe ring buffer records by outcome: submitted, ring_full (lost: the daemon fell behind), no_storage, runs (tracepoint runs on the host)' })
      .addCallback((r) => {
        for (const [outcome, n] of Object.entries(probeStats())) r.observe(n, { outcome });
      });
  }

  /** The series of one label set, created on first use and kept for the life of the probe. */
  series(listener: string, cluster: string, endpoint: string): ConnectionSeries {
    const key = `${cluster} ${listener} ${endpoint}`;
    let series = this.seriesByKey.get(key);
    if (!series) {
      series = new ConnectionSeries(Object.freeze<ConnectionLabels>({ listener, cluster, endpoint, direction: 'outbound' }));
      this.seriesByKey.set(key, series);
    }
    return series;
  }

  /** Counts one probe event in its series. */
  record(event: ProbeEvent, series: ConnectionSeries): void {
    switch (event.kind) {
      case 'OPEN':
        series.opened++;
        return;
      case 'FAIL':
        series.failures++;
        return;
      case 'CLOSE':
        series.closed++;
        series.sentBytes += event.sentBytes;
        series.receivedBytes += event.receivedBytes;
        series.retransmits += event.retransmits;
        if (event.startNs > 0n) this.duration.record(Number(event.endNs - event.startNs) / 1e9, series.labels);
        return;
    }
  }

  /** The Prometheus text exposition of every instrument. */
  async text(): Promise<string> {
    const { resourceMetrics, errors } = await this.exporter.collect();
    if (errors.length) throw new Error(`metrics collection failed: ${errors.map((e) => String(e)).join('; ')}`);
    return this.serializer.serialize(resourceMetrics);
  }

  async shutdown(): Promise<void> {
    await this.provider.shutdown();
  }
}

export function connectionLabels(event: ProbeEvent, cluster: string): ConnectionLabels {
  return { listener: formatAddress(event.vip), cluster, endpoint: formatAddress(event.endpoint), direction: 'outbound' };
}
