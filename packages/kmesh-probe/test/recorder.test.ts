// Ring buffer batches → /metrics counters per label set, the duration histogram, access log lines and
// the in-memory entries of `kmeshctl monitoring`, without the kernel.
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionRecorder, EndpointHealth, eventLayout, ProbeKind, ProbeMetrics } from '../src/index.js';

/** A record from 10.250.1.2:<port> through VIP 10.96.0.10:80 to endpoint 10.250.2.<host>:8080. */
function record(kind: number, o: { host?: number; port?: number; acked?: bigint; received?: bigint; retrans?: number; skErr?: number } = {}): Buffer {
  const b = Buffer.alloc(eventLayout.size);
  const f = eventLayout.fields;
  b.writeBigUInt64LE(1_000_000_000n, f.start_ns);
  b.writeBigUInt64LE(1_002_000_000n, f.end_ns); // 2 ms
  b.writeBigUInt64LE(o.acked ?? 0n, f.bytes_acked);
  b.writeBigUInt64LE(o.received ?? 0n, f.bytes_received);
  b.writeUInt32LE(kind, f.kind);
  b.writeUInt32LE(o.skErr ?? 0, f.sk_err);
  b.writeUInt32LE(o.retrans ?? 0, f.total_retrans);
  const address = (offset: number, ip: number[], port: number) => {
    Buffer.from(ip).copy(b, offset);
    b.writeUInt16BE(port, offset + 16);
    b.writeUInt8(2, offset + 18);
  };
  address(f.vip, [10, 96, 0, 10], 80);
  address(f.source, [10, 250, 1, 2], o.port ?? 40000);
  address(f.endpoint, [10, 250, 2, o.host ?? 2], 8080);
  if (kind === ProbeKind.CLOSE) {
    b.writeUInt8(1, f.fin_acked); // a normal close: both FINs, one sequence number each
    b.writeUInt8(1, f.fin_received);
  }
  return b;
}

const labels = (host: number) => `listener="10.96.0.10:80",cluster="web",endpoint="10.250.2.${host}:8080",direction="outbound"`;

describe('connection recorder', () => {
  let metrics: ProbeMetrics;
  afterEach(() => metrics?.shutdown());

  it('counts each label set, writes one access log line per close or failure, and keeps recent entries', async () => {
    metrics = new ProbeMetrics(() => ({}), () => ({}));
    const lines: string[] = [];
    const recorder = new ConnectionRecorder({ metrics, endpointHealth: new EndpointHealth(), resolveCluster: () => 'web', accessLog: (l) => lines.push(l), recentEntries: 2 });
    recorder.onRecords([record(ProbeKind.OPEN, { host: 2 }), record(ProbeKind.OPEN, { host: 3 }), record(ProbeKind.OPEN, { host: 2, port: 40001 })]);
    recorder.onRecords([
      // payload: 100 sent (SYN and FIN removed), 50 received (FIN removed)
      record(ProbeKind.CLOSE, { host: 2, acked: 102n, received: 51n, retrans: 2 }),
      record(ProbeKind.CLOSE, { host: 2, port: 40001, acked: 12n, received: 6n }),
      record(ProbeKind.FAIL, { host: 4, skErr: 111 }),
      Buffer.alloc(8), // not a record: counted as a decode error, the batch goes on
    ]);
    const text = await metrics.text();
    const value = (metric: string, host: number) => Number(new RegExp(`^${metric}\\{${labels(host)}\\} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(value('kmesh_tcp_connections_opened_total', 2)).toBe(2);
    expect(value('kmesh_tcp_connections_opened_total', 3)).toBe(1);
    expect(value('kmesh_tcp_connections_closed_total', 2)).toBe(2);
    expect(value('kmesh_tcp_sent_bytes_total', 2)).toBe(110);
    expect(value('kmesh_tcp_received_bytes_total', 2)).toBe(55);
    expect(value('kmesh_tcp_retransmits_total', 2)).toBe(2);
    expect(value('kmesh_tcp_connect_failures_total', 4)).toBe(1);
    expect(value('kmesh_tcp_connection_duration_seconds_count', 2)).toBe(2);
    expect(text).toMatch(new RegExp(`^kmesh_tcp_connection_duration_seconds_bucket\\{${labels(2)},le="0.0025"\\} 2$`, 'm'));
    // A series appears with its first event: no closed/failure samples for an endpoint that had none.
    expect(text).not.toMatch(new RegExp(`^kmesh_tcp_connections_closed_total\\{${labels(3)}\\}`, 'm'));
    expect(text).not.toMatch(new RegExp(`^kmesh_tcp_connect_failures_total\\{${labels(2)}\\}`, 'm'));
    expect(text).toMatch(/^# TYPE kmesh_tcp_connections_opened_total counter$/m);

    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toMatchObject([
      { endpoint: '10.250.2.2:8080', bytes_sent: 100, bytes_received: 50, retransmits: 2, close_reason: 'normal', established: true, duration_s: 0.002 },
      { source: '10.250.1.2:40001', bytes_sent: 10 },
      { endpoint: '10.250.2.4:8080', close_reason: 'refused', established: false },
    ]);
    expect(recorder.decodeErrors).toBe(1);
    // Two entries kept: the newest two, oldest first; `since` pages through them.
    expect(recorder.entriesSince(0)).toMatchObject({ next: 3, entries: [{ source: '10.250.1.2:40001' }, { close_reason: 'refused' }] });
    expect(recorder.entriesSince(2)).toMatchObject({ next: 3, entries: [{ close_reason: 'refused' }] });
    expect(recorder.entriesSince(3)).toEqual({ next: 3, entries: [] });
  });

  it('labels a connection with the cluster the resolver finds, and "unknown" when it finds none', async () => {
    metrics = new ProbeMetrics(() => ({}), () => ({}));
    let cluster: string | undefined = 'web';
    const recorder = new ConnectionRecorder({ metrics, endpointHealth: new EndpointHealth(), resolveCluster: () => cluster });
    recorder.onRecords([record(ProbeKind.OPEN)]);
    cluster = undefined;
    recorder.onRecords([record(ProbeKind.OPEN)]);
    const text = await metrics.text();
    expect(text).toMatch(/^kmesh_tcp_connections_opened_total\{[^}]*cluster="web"[^}]*\} 1$/m);
    expect(text).toMatch(/^kmesh_tcp_connections_opened_total\{[^}]*cluster="unknown"[^}]*\} 1$/m);
  });
});
