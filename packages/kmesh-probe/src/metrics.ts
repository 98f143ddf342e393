/**
 * Prometheus metrics through OpenTelemetry: connection counters and a duration histogram from probe
 * events, plus the daemon's own health as observable instruments read at scrape time.
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

/** Duration buckets in seconds: from loopback round trips to long-lived streams. */
const durationBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

export class ProbeMetrics {
  private readonly exporter: PrometheusExporter;
  private readonly provider: MeterProvider;
  private readonly serializer = new PrometheusSerializer(undefined, false, undefined, true, true);
  private readonly opened;
  private readonly closed;
  private readonly failures;
  private readonly sent;
  private readonly received;
  private readonly retransmits;
  private readonly duration;

  constructor(health: () => DaemonHealth, probeStats: () => Record<string, number>) {
    // No server of its own: the daemon's admin API serves /metrics.
    this.exporter = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true, withoutTargetInfo: true });
    this.provider = new MeterProvider({ readers: [this.exporter] });
    const meter = this.provider.getMeter('kmesh');
    this.opened = meter.createCounter('kmesh_tcp_connections_opened_total', { description: 'Mesh TCP connections established, by listener, cluster and endpoint' });
    this.closed = meter.createCounter('kmesh_tcp_connections_closed_total', { description: 'Established mesh TCP connections that ended' });
    this.failures = meter.createCounter('kmesh_tcp_connect_failures_total', { description: 'Mesh connects that never completed (refused, timed out, reset, aborted)' });
    this.sent = meter.createCounter('kmesh_tcp_sent_bytes_total', { description: 'Payload bytes sent and acknowledged, counted when the connection closes' });
    this.received = meter.createCounter('kmesh_tcp_received_bytes_total', { description: 'Payload bytes received, counted when the connection closes' });
    this.retransmits = meter.createCounter('kmesh_tcp_retransmits_total', { description: 'TCP segments retransmitted, counted when the connection closes' });
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
    counter('kmesh_sockmap_events_total', 'Sockmap program runs by outcome (km_sock_stats): inserted, insert_failed, redirected, no_peer, not_tcp_family', (h, r) => {
      for (const [outcome, s] of Object.entries(h.sockmap ?? {})) r.observe(s.count, { outcome });
    });
    meter.createObservableCounter('kmesh_probe_events_total', { description: 'Probe ring buffer records by outcome: submitted, ring_full (lost: the daemon fell behind), no_storage, runs (tracepoint runs on the host)' })
      .addCallback((r) => {
        for (const [outcome, n] of Object.entries(probeStats())) r.observe(n, { outcome });
      });
  }

  /** Counts one probe event under its labels. */
  record(event: ProbeEvent, labels: ConnectionLabels): void {
    switch (event.kind) {
      case 'OPEN':
        this.opened.add(1, labels);
        return;
      case 'FAIL':
        this.failures.add(1, labels);
        return;
      case 'CLOSE':
        this.closed.add(1, labels);
        this.sent.add(event.sentBytes, labels);
        this.received.add(event.receivedBytes, labels);
        this.retransmits.add(event.retransmits, labels);
        if (event.startNs > 0n) this.duration.record(Number(event.endNs - event.startNs) / 1e9, labels);
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
