/**
 * What the probe does with its ring buffer records, apart from the kernel: decode each record, count it
 * in its connection series, tell endpoint health, and for a CLOSE or FAIL write an access log line and
 * keep the entry for `kmeshctl monitoring`. Records arrive in batches (one ring buffer read); the clocks
 * that convert kernel start times to wall time are read once per batch.
 */
import { accessLogEntry, type AccessLogEntry } from './access-log.js';
import { decodeEvent, formatAddress, type ProbeEvent } from './event.js';
import type { EndpointHealth } from './health.js';
import type { ProbeMetrics } from './metrics.js';

export interface RecorderOptions {
  metrics: ProbeMetrics;
  endpointHealth: EndpointHealth;
  /** the cluster of a connection from its listener (VIP:port) and endpoint (IP:port); 'unknown' when undefined */
  resolveCluster?: (listener: string, endpoint: string) => string | undefined;
  /** receives each access log line (JSON, no newline) */
  accessLog?: (line: string) => void;
  /** access log entries kept in memory (default 1000) */
  recentEntries?: number;
}

export class ConnectionRecorder {
  /** records the daemon could not decode (wrong size or kind) */
  decodeErrors = 0;
  readonly eventListeners = new Set<(event: ProbeEvent, cluster: string) => void>();
  /** the last `capacity` entries, a ring: entry with sequence number n is at (n - 1) % capacity */
  private readonly recent: AccessLogEntry[] = [];
  private readonly capacity: number;
  private seq = 0;

  constructor(private readonly opts: RecorderOptions) {
    this.capacity = Math.max(1, opts.recentEntries ?? 1000);
  }

  /** One ring buffer read. */
  onRecords(records: Buffer[]): void {
    const monotonicNowNs = process.hrtime.bigint();
    const wallNowMs = Date.now();
    for (const record of records) {
      let event: ProbeEvent;
      try {
        event = decodeEvent(record);
      } catch {
        this.decodeErrors++; // counted, never fatal
        continue;
      }
      this.handle(event, monotonicNowNs, wallNowMs);
    }
  }

  /** Access log entries after sequence number `since` (oldest first). */
  entriesSince(since: number): { next: number; entries: AccessLogEntry[] } {
    const first = Math.max(since + 1, this.seq - this.recent.length + 1, 1);
    const entries: AccessLogEntry[] = [];
    for (let n = first; n <= this.seq; n++) entries.push(this.recent[(n - 1) % this.capacity]);
    return { next: this.seq, entries };
  }

  private handle(event: ProbeEvent, monotonicNowNs: bigint, wallNowMs: number): void {
    const listener = formatAddress(event.vip);
    const endpoint = formatAddress(event.endpoint);
    const cluster = this.opts.resolveCluster?.(listener, endpoint) ?? 'unknown';
    this.opts.metrics.record(event, this.opts.metrics.series(listener, cluster, endpoint));
    this.opts.endpointHealth.observe(event, cluster);
    if (event.kind !== 'OPEN') {
      const entry = accessLogEntry(event, cluster, monotonicNowNs, wallNowMs);
      this.recent[this.seq % this.capacity] = entry;
      this.seq++;
      this.opts.accessLog?.(JSON.stringify(entry));
    }
    for (const listener of this.eventListeners) listener(event, cluster);
  }
}
