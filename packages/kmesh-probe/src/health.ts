/**
 * Endpoint health signals: connect failures and resets per endpoint, for a controller to subscribe to
 * (outlier detection, circuit breaking). A signal is emitted for every failure or reset as it happens;
 * totals are kept for a snapshot.
 */
import { closeReason, formatAddress, type ProbeEvent } from './event.js';

export interface EndpointSignal {
  /** IP:port of the endpoint */
  endpoint: string;
  cluster: string;
  /** 'connect_failure' (the connect never completed) or 'reset' (an established connection was reset) */
  kind: 'connect_failure' | 'reset';
  reason: string;
  at: string;
}

export interface EndpointHealthTotals {
  connectFailures: number;
  resets: number;
  lastSignal: string | null;
}

export type EndpointSignalListener = (signal: EndpointSignal) => void;

export class EndpointHealth {
  private readonly totals = new Map<string, EndpointHealthTotals>();
  private readonly listeners = new Set<EndpointSignalListener>();

  /** Calls `listener` for each failure or reset; returns the unsubscribe function. */
  subscribe(listener: EndpointSignalListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  observe(event: ProbeEvent, cluster: string): void {
    const reason = closeReason(event);
    const kind = event.kind === 'FAIL' ? 'connect_failure' : event.kind === 'CLOSE' && reason === 'reset' ? 'reset' : null;
    if (kind === null) return;
    const endpoint = formatAddress(event.endpoint);
    const at = new Date().toISOString();
    const totals = this.totals.get(endpoint) ?? { connectFailures: 0, resets: 0, lastSignal: null };
    if (kind === 'connect_failure') totals.connectFailures++;
    else totals.resets++;
    totals.lastSignal = at;
    this.totals.set(endpoint, totals);
    const signal: EndpointSignal = { endpoint, cluster, kind, reason, at };
    for (const listener of this.listeners) listener(signal);
  }

  /** Per endpoint (IP:port) totals since the probe started. */
  snapshot(): Record<string, EndpointHealthTotals> {
    return Object.fromEntries([...this.totals].map(([k, v]) => [k, { ...v }]));
  }
}
