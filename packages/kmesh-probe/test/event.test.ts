// Decoding of ring buffer records, close reasons, access log rows and endpoint health signals.
import { describe, expect, it } from 'vitest';
import { accessLogEntry, accessLogHeader, closeReason, decodeEvent, EndpointHealth, eventLayout, formatAccessLogRow, ProbeKind, type EndpointSignal } from '../src/index.js';

function record(o: { kind: number; acked?: bigint; received?: bigint; finAcked?: number; finReceived?: number; skErr?: number; start?: bigint; end?: bigint; v6?: boolean }): Buffer {
  const b = Buffer.alloc(eventLayout.size);
  const f = eventLayout.fields;
  b.writeBigUInt64LE(o.start ?? 1_000_000_000n, f.start_ns);
  b.writeBigUInt64LE(o.end ?? 1_250_000_000n, f.end_ns);
  b.writeBigUInt64LE(o.acked ?? 0n, f.bytes_acked);
  b.writeBigUInt64LE(o.received ?? 0n, f.bytes_received);
  b.writeUInt32LE(o.kind, f.kind);
  b.writeUInt32LE(o.skErr ?? 0, f.sk_err);
  b.writeUInt32LE(3, f.total_retrans);
  // vip 10.96.0.1:9080, source 10.250.3.2:40000, endpoint 10.250.3.10:9080 (or fd00:6b6d:3::10)
  Buffer.from([10, 96, 0, 1]).copy(b, f.vip);
  b.writeUInt16BE(9080, f.vip + 16);
  b.writeUInt8(2, f.vip + 18);
  Buffer.from([10, 250, 3, 2]).copy(b, f.source);
  b.writeUInt16BE(40000, f.source + 16);
  b.writeUInt8(2, f.source + 18);
  if (o.v6) {
    Buffer.from('fd006b6d000300000000000000000010', 'hex').copy(b, f.endpoint);
    b.writeUInt8(10, f.endpoint + 18);
  } else {
    Buffer.from([10, 250, 3, 10]).copy(b, f.endpoint);
    b.writeUInt8(2, f.endpoint + 18);
  }
  b.writeUInt16BE(9080, f.endpoint + 16);
  b.writeUInt8(o.finAcked ?? 0, f.fin_acked);
  b.writeUInt8(o.finReceived ?? 0, f.fin_received);
  return b;
}

describe('probe events', () => {
  it('removes SYN and FIN from the sequence-space byte counts', () => {
    const e = decodeEvent(record({ kind: ProbeKind.CLOSE, acked: 1002n, received: 51n, finAcked: 1, finReceived: 1 }));
    expect(e).toMatchObject({ kind: 'CLOSE', sentBytes: 1000, receivedBytes: 50, retransmits: 3 });
    expect(e.vip).toEqual({ family: 4, ip: '10.96.0.1', port: 9080 });
    expect(e.source).toEqual({ family: 4, ip: '10.250.3.2', port: 40000 });
    const reset = decodeEvent(record({ kind: ProbeKind.CLOSE, acked: 101n, received: 7n, skErr: 104 }));
    expect([reset.sentBytes, reset.receivedBytes, closeReason(reset)]).toEqual([100, 7, 'reset']);
  });

  it('names failures and decodes IPv6 endpoints', () => {
    const refused = decodeEvent(record({ kind: ProbeKind.FAIL, skErr: 111, v6: true }));
    expect(closeReason(refused)).toBe('refused');
    expect(refused.endpoint).toEqual({ family: 6, ip: 'fd00:6b6d:3::10', port: 9080 });
    expect(closeReason(decodeEvent(record({ kind: ProbeKind.FAIL })))).toBe('aborted');
  });

  it('refuses records of another size or kind instead of misreading them', () => {
    expect(() => decodeEvent(Buffer.alloc(64))).toThrow(/64 bytes, expected 120/);
    expect(() => decodeEvent(record({ kind: 9 }))).toThrow(/unknown record kind 9/);
  });

  it('turns a close into an access log entry with wall-clock start and a table row', () => {
    const e = decodeEvent(record({ kind: ProbeKind.CLOSE, acked: 11n, received: 5n, finAcked: 1 }));
    // monotonic now = 2 s, wall now = 2024-01-01T00:00:02Z: the start (1 s monotonic) was at 00:00:01.
    const entry = accessLogEntry(e, 'web', 2_000_000_000n, Date.parse('2024-01-01T00:00:02Z'));
    expect(entry).toEqual({
      start: '2024-01-01T00:00:01.000Z', duration_s: 0.25, source: '10.250.3.2:40000', original_destination: '10.96.0.1:9080',
      endpoint: '10.250.3.10:9080', cluster: 'web', bytes_sent: 9, bytes_received: 5, retransmits: 3, close_reason: 'normal', established: true,
    });
    expect(accessLogHeader()).toMatch(/^START\s+DURATION\s+SOURCE\s+DESTINATION\s+ENDPOINT\s+CLUSTER/);
    expect(formatAccessLogRow(entry)).toMatch(/250\.0ms\s+10\.250\.3\.2:40000\s+10\.96\.0\.1:9080\s+10\.250\.3\.10:9080\s+web\s+9\s+5\s+3\s+normal$/);
  });

  it('signals connect failures and resets per endpoint, not normal closes', () => {
    const health = new EndpointHealth();
    const signals: EndpointSignal[] = [];
    const stop = health.subscribe((s) => signals.push(s));
    health.observe(decodeEvent(record({ kind: ProbeKind.FAIL, skErr: 111 })), 'web');
    health.observe(decodeEvent(record({ kind: ProbeKind.CLOSE, skErr: 104 })), 'web');
    health.observe(decodeEvent(record({ kind: ProbeKind.CLOSE })), 'web');
    stop();
    health.observe(decodeEvent(record({ kind: ProbeKind.FAIL, skErr: 110 })), 'web');
    expect(signals.map((s) => [s.kind, s.reason, s.endpoint])).toEqual([
      ['connect_failure', 'refused', '10.250.3.10:9080'],
      ['reset', 'reset', '10.250.3.10:9080'],
    ]);
    expect(health.snapshot()['10.250.3.10:9080']).toMatchObject({ connectFailures: 2, resets: 1 });
  });
});
