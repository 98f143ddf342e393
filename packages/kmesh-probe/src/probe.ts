/**
 * The probe: loads bpf/kmesh_probe.bpf.o next to an instance's pinned maps, attaches its tracepoint
 * program (host-wide; the program keeps only this instance's mesh sockets), and turns the ring buffer
 * records into metrics, access log lines and endpoint health signals, on the Node event loop.
 */
import { fileURLToPath } from 'node:url';
import { BpfObject, RingBuffer, type BpfLink, type BpfMap } from '@kmesh/runtime';
import { accessLogEntry, type AccessLogEntry } from './access-log.js';
import { decodeEvent, formatAddress, ProbeStatNames, type ProbeEvent, type ProbeStatName } from './event.js';
import { EndpointHealth } from './health.js';
import { connectionLabels, ProbeMetrics, type DaemonHealth } from './metrics.js';

/** Absolute path of the compiled probe object (same relative path from src/ and dist/). */
export const probeObjectPath = fileURLToPath(new URL('../dist/bpf/kmesh_probe.bpf.o', import.meta.url));

export const probePrograms = ['kmesh_probe_state'] as const;

export interface ProbeOptions {
  /** the instance's bpffs pin path: the probe reuses its km_orig_dst map to recognise mesh sockets */
  pinPath: string;
  /** the cluster of a connection from its listener (VIP:port) and endpoint (IP:port); 'unknown' when undefined */
  resolveCluster?: (listener: string, endpoint: string) => string | undefined;
  /** the daemon's health, read at every scrape of /metrics */
  health?: () => DaemonHealth;
  /** receives each access log line (JSON, no newline) */
  accessLog?: (line: string) => void;
  /** access log entries kept in memory for `kmeshctl monitoring` (default 1000) */
  recentEntries?: number;
  objectPath?: string;
}

export class Probe {
  readonly metrics: ProbeMetrics;
  readonly endpointHealth = new EndpointHealth();
  private readonly object: BpfObject;
  private readonly links: BpfLink[] = [];
  private readonly ring: RingBuffer;
  private readonly statsMap: BpfMap;
  private readonly recent: { seq: number; entry: AccessLogEntry }[] = [];
  private seq = 0;
  private decodeErrors = 0;
  private readonly eventListeners = new Set<(event: ProbeEvent, cluster: string) => void>();
  private closed = false;

  private constructor(private readonly opts: ProbeOptions) {
    this.object = BpfObject.open(opts.objectPath ?? probeObjectPath, { pinRoot: opts.pinPath });
    try {
      this.object.load();
      for (const name of probePrograms) this.links.push(this.object.program(name).attach());
      this.statsMap = this.object.map('km_probe_stats');
      this.ring = RingBuffer.open(this.object.map('km_probe_events'), (records) => this.onRecords(records));
    } catch (error) {
      for (const link of this.links) link.close();
      this.object.close();
      throw error;
    }
    this.metrics = new ProbeMetrics(opts.health ?? (() => ({})), () => this.stats());
  }

  /** Loads and attaches the probe. Throws a BpfError (with the verifier log) when the kernel refuses it. */
  static start(opts: ProbeOptions): Probe {
    return new Probe(opts);
  }

  /** Calls `listener` with every decoded event and its cluster (tests, custom exporters). */
  onEvent(listener: (event: ProbeEvent, cluster: string) => void): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  /** km_probe_stats summed over CPUs, plus records the daemon could not decode. */
  stats(): Record<ProbeStatName | 'decode_errors', number> {
    const result = { decode_errors: this.decodeErrors } as Record<ProbeStatName | 'decode_errors', number>;
    ProbeStatNames.forEach((name, index) => {
      const key = Buffer.alloc(4);
      key.writeUInt32LE(index);
      const value = this.closed ? null : this.statsMap.lookup(key);
      let total = 0n;
      for (let offset = 0; value && offset < value.length; offset += 8) total += value.readBigUInt64LE(offset);
      result[name] = Number(total);
    });
    return result;
  }

  /** Access log entries after sequence number `since` (kept in memory, newest last). */
  accessLogSince(since: number): { next: number; entries: AccessLogEntry[] } {
    return { next: this.seq, entries: this.recent.filter((r) => r.seq > since).map((r) => r.entry) };
  }

  /** Reads what is in the ring now (normally the event loop does it as records arrive). */
  drain(): number {
    return this.ring.consume();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.ring.consume(); // records already submitted are still counted
    this.closed = true;
    this.ring.close();
    for (const link of this.links) link.close();
    this.statsMap.close();
    this.object.close();
    await this.metrics.shutdown();
  }

  private onRecords(records: Buffer[]): void {
    for (const record of records) {
      let event: ProbeEvent;
      try {
        event = decodeEvent(record);
      } catch {
        this.decodeErrors++; // counted, never fatal
        continue;
      }
      this.handle(event);
    }
  }

  private handle(event: ProbeEvent): void {
    const cluster = this.opts.resolveCluster?.(formatAddress(event.vip), formatAddress(event.endpoint)) ?? 'unknown';
    this.metrics.record(event, connectionLabels(event, cluster));
    this.endpointHealth.observe(event, cluster);
    if (event.kind !== 'OPEN') {
      const entry = accessLogEntry(event, cluster, process.hrtime.bigint(), Date.now());
      this.seq++;
      this.recent.push({ seq: this.seq, entry });
      if (this.recent.length > (this.opts.recentEntries ?? 1000)) this.recent.shift();
      this.opts.accessLog?.(JSON.stringify(entry));
    }
    for (const listener of this.eventListeners) listener(event, cluster);
  }
}
