/**
 * The probe: loads bpf/kmesh_probe.bpf.o next to an instance's pinned maps, attaches its tracepoint
 * program (host-wide; the program keeps only this instance's mesh sockets), and turns the ring buffer
 * records into metrics, access log lines and endpoint health signals, on the Node event loop.
 */
import { fileURLToPath } from 'node:url';
import { BpfObject, RingBuffer, type BpfLink, type BpfMap } from '@kmesh/runtime';
import type { AccessLogEntry } from './access-log.js';
import { ProbeStatNames, type ProbeEvent, type ProbeStatName } from './event.js';
import { EndpointHealth } from './health.js';
import { ProbeMetrics, type DaemonHealth } from './metrics.js';
import { ConnectionRecorder } from './recorder.js';

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
  private readonly recorder: ConnectionRecorder;
  private closed = false;

  private constructor(opts: ProbeOptions) {
    this.metrics = new ProbeMetrics(opts.health ?? (() => ({})), () => this.stats());
    this.recorder = new ConnectionRecorder({ ...opts, metrics: this.metrics, endpointHealth: this.endpointHealth });
    this.object = BpfObject.open(opts.objectPath ?? probeObjectPath, { pinRoot: opts.pinPath });
    try {
      this.object.load();
      for (const name of probePrograms) this.links.push(this.object.program(name).attach());
      this.statsMap = this.object.map('km_probe_stats');
      this.ring = RingBuffer.open(this.object.map('km_probe_events'), (records) => this.recorder.onRecords(records));
    } catch (error) {
      for (const link of this.links) link.close();
      this.object.close();
      void this.metrics.shutdown();
      throw error;
    }
  }

  /** Loads and attaches the probe. Throws a BpfError (with the verifier log) when the kernel refuses it. */
  static start(opts: ProbeOptions): Probe {
    return new Probe(opts);
  }

  /** Calls `listener` with every decoded event and its cluster (tests, custom exporters). */
  onEvent(listener: (event: ProbeEvent, cluster: string) => void): () => void {
    this.recorder.eventListeners.add(listener);
    return () => this.recorder.eventListeners.delete(listener);
  }

  /** km_probe_stats summed over CPUs, plus records the daemon could not decode. */
  stats(): Record<ProbeStatName | 'decode_errors', number> {
    const result = { decode_errors: this.recorder.decodeErrors } as Record<ProbeStatName | 'decode_errors', number>;
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
    return this.recorder.entriesSince(since);
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
}
