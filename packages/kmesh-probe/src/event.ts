/**
 * The ring buffer record of bpf/kmesh_probe.h (struct km_probe_event), decoded. The offsets are checked
 * against the BTF of the compiled object by test/event.test.ts.
 */

export const ProbeKind = { OPEN: 1, CLOSE: 2, FAIL: 3 } as const;
export type ProbeKindName = keyof typeof ProbeKind;

/** enum km_probe_stat, in index order. */
export const ProbeStatNames = ['submitted', 'ring_full', 'no_storage', 'runs'] as const;
export type ProbeStatName = (typeof ProbeStatNames)[number];

export const eventLayout = {
  size: 120,
  fields: {
    start_ns: 0,
    end_ns: 8,
    cookie: 16,
    bytes_acked: 24,
    bytes_received: 32,
    kind: 40,
    old_state: 44,
    sk_err: 48,
    total_retrans: 52,
    vip: 56,
    source: 76,
    endpoint: 96,
    fin_acked: 116,
    fin_received: 117,
    pad: 118,
  },
} as const;

export interface ProbeAddress {
  family: 4 | 6;
  ip: string;
  port: number;
}

export interface ProbeEvent {
  kind: ProbeKindName;
  cookie: bigint;
  /** CLOCK_MONOTONIC ns at connect(); 0n when the probe did not see the start */
  startNs: bigint;
  endNs: bigint;
  /** payload bytes the peer acknowledged (SYN and FIN removed) */
  sentBytes: number;
  /** payload bytes received (FIN removed) */
  receivedBytes: number;
  retransmits: number;
  /** TCP state before the change (TCP_* numbers) */
  oldState: number;
  /** socket error at the change: ECONNRESET, ECONNREFUSED, ETIMEDOUT or 0 */
  skErr: number;
  vip: ProbeAddress;
  source: ProbeAddress;
  endpoint: ProbeAddress;
}

/** kind code → name, indexed by code */
const kindNames: (ProbeKindName | undefined)[] = [];
for (const [name, code] of Object.entries(ProbeKind)) kindNames[code] = name as ProbeKindName;

function readAddress(buf: Buffer, offset: number): ProbeAddress {
  const port = buf.readUInt16BE(offset + 16); // network order
  const family = buf.readUInt8(offset + 18);
  if (family === 10) {
    const words: string[] = [];
    for (let i = 0; i < 8; i++) words.push(buf.readUInt16BE(offset + i * 2).toString(16));
    return { family: 6, ip: compressIPv6(words), port };
  }
  return { family: 4, ip: `${buf[offset]}.${buf[offset + 1]}.${buf[offset + 2]}.${buf[offset + 3]}`, port };
}

/** RFC 5952 text form: the longest run (>= 2) of zero groups becomes '::'. */
function compressIPv6(words: string[]): string {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return words.join(':');
  return `${words.slice(0, best).join(':')}::${words.slice(best + bestLen).join(':')}`;
}

export function formatAddress(a: ProbeAddress): string {
  return a.family === 6 ? `[${a.ip}]:${a.port}` : `${a.ip}:${a.port}`;
}

/** Decodes one record; throws on a record of the wrong size (an object/daemon version mismatch). */
export function decodeEvent(buf: Buffer): ProbeEvent {
  if (buf.length !== eventLayout.size) {
    throw new Error(`kmesh-probe: ring buffer record of ${buf.length} bytes, expected ${eventLayout.size} (probe object and daemon out of step?)`);
  }
  const f = eventLayout.fields;
  const code = buf.readUInt32LE(f.kind);
  const kind = kindNames[code];
  if (!kind) throw new Error(`kmesh-probe: unknown record kind ${code}`);
  // The sequence space counts SYN (always, once established) and each FIN: remove them to get payload.
  const acked = buf.readBigUInt64LE(f.bytes_acked);
  const received = buf.readBigUInt64LE(f.bytes_received);
  const synAndFin = (kind === 'FAIL' ? 0n : 1n) + BigInt(buf.readUInt8(f.fin_acked));
  return {
    kind,
    cookie: buf.readBigUInt64LE(f.cookie),
    startNs: buf.readBigUInt64LE(f.start_ns),
    endNs: buf.readBigUInt64LE(f.end_ns),
    sentBytes: Number(acked > synAndFin ? acked - synAndFin : 0n),
    receivedBytes: Number(received - BigInt(Math.min(buf.readUInt8(f.fin_received), Number(received)))),
    retransmits: buf.readUInt32LE(f.total_retrans),
    oldState: buf.readUInt32LE(f.old_state),
    skErr: buf.readUInt32LE(f.sk_err),
    vip: readAddress(buf, f.vip),
    source: readAddress(buf, f.source),
    endpoint: readAddress(buf, f.endpoint),
  };
}

/** Linux errno values a TCP socket ends with, and how an access log names them. */
const closeReasons: Record<number, string> = { 0: 'normal', 104: 'reset', 111: 'refused', 110: 'timeout', 113: 'unreachable', 101: 'unreachable' };

/** Why the connection ended: 'normal' (FIN), 'reset', 'refused', 'timeout', 'unreachable', 'aborted'
 *  (a connect closed before it completed, without an error) or 'errno N'. */
export function closeReason(event: ProbeEvent): string {
  if (event.kind === 'FAIL' && event.skErr === 0) return 'aborted';
  return closeReasons[event.skErr] ?? `errno ${event.skErr}`;
}
