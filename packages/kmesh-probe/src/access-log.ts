/** One JSON line per closed mesh connection (established or failed). */
import { closeReason, formatAddress, type ProbeEvent } from './event.js';

export interface AccessLogEntry {
  /** ISO time the connect() started (null when the probe did not see it) */
  start: string | null;
  /** seconds from connect() to close (null when the start is unknown) */
  duration_s: number | null;
  source: string;
  /** original destination: the listener VIP:port the client dialled */
  original_destination: string;
  endpoint: string;
  cluster: string;
  bytes_sent: number;
  bytes_received: number;
  retransmits: number;
  /** 'normal', 'reset', 'refused', 'timeout', 'unreachable', 'aborted' or 'errno N' */
  close_reason: string;
  /** false for a connect that never completed */
  established: boolean;
}

/**
 * Builds the entry of a CLOSE or FAIL event. `monotonicNowNs` and `wallNowMs` are read together, so the
 * kernel's CLOCK_MONOTONIC start time converts to wall time.
 */
export function accessLogEntry(event: ProbeEvent, cluster: string, monotonicNowNs: bigint, wallNowMs: number): AccessLogEntry {
  const known = event.startNs > 0n;
  return {
    start: known ? new Date(wallNowMs - Number(monotonicNowNs - event.startNs) / 1e6).toISOString() : null,
    duration_s: known ? Number(event.endNs - event.startNs) / 1e9 : null,
    source: formatAddress(event.source),
    original_destination: formatAddress(event.vip),
    endpoint: formatAddress(event.endpoint),
    cluster,
    bytes_sent: event.sentBytes,
    bytes_received: event.receivedBytes,
    retransmits: event.retransmits,
    close_reason: closeReason(event),
    established: event.kind === 'CLOSE',
  };
}

/** Columns of `kmeshctl monitoring`, in order: header, width, cell. */
const columns: [string, number, (e: AccessLogEntry) => string][] = [
  ['START', 24, (e) => e.start ?? '-'],
  ['DURATION', 10, (e) => (e.duration_s === null ? '-' : e.duration_s < 1 ? `${(e.duration_s * 1000).toFixed(1)}ms` : `${e.duration_s.toFixed(2)}s`)],
  ['SOURCE', 22, (e) => e.source],
  ['DESTINATION', 22, (e) => e.original_destination],
  ['ENDPOINT', 22, (e) => e.endpoint],
  ['CLUSTER', 16, (e) => e.cluster],
  ['SENT', 10, (e) => String(e.bytes_sent)],
  ['RECEIVED', 10, (e) => String(e.bytes_received)],
  ['RETX', 5, (e) => String(e.retransmits)],
  ['CLOSE', 10, (e) => e.close_reason],
];

export function accessLogHeader(): string {
  return columns.map(([name, width]) => name.padEnd(width)).join(' ').trimEnd();
}

export function formatAccessLogRow(entry: AccessLogEntry): string {
  return columns.map(([, width, cell]) => cell(entry).padEnd(width)).join(' ').trimEnd();
}
