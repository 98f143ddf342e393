// The JSON object the load client (client.ts) prints, and helpers to read it.

export interface LatencySummary { min: number; mean: number; p50: number; p90: number; p99: number; max: number }

export interface ClientReport {
  target: string;
  mode: 'count' | 'duration' | 'until-signal';
  durationMs: number;
  /** connections started */
  attempted: number;
  /** connections that got a 200 answer naming a backend */
  succeeded: number;
  failed: number;
  /** backend name (from the response body) -> connections it answered */
  byBackend: Record<string, number>;
  /** error code (ECONNREFUSED, EHOSTUNREACH, ETIMEDOUT, EBADRESPONSE, ...) -> connections that failed with it */
  errors: Record<string, number>;
  /** getpeername() of each connected socket ("ADDR:PORT", [ADDR]:PORT for IPv6) -> connections */
  peers: Record<string, number>;
  /** milliseconds from connect() to the end of the response, successful connections only (null when none) */
  latencyMs: LatencySummary | null;
  /** outcome of the first connections in the order they were started: a backend name, or "!CODE" */
  sequence: string[];
}

/** Share of successful connections that went to each backend (0..1). */
export function shares(report: ClientReport): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, count] of Object.entries(report.byBackend)) out[name] = report.succeeded ? count / report.succeeded : 0;
  return out;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export function summarizeLatency(samples: number[]): LatencySummary | null {
  if (samples.length === 0) return null;
  const s = [...samples].sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return {
    min: round(s[0]),
    mean: round(s.reduce((a, b) => a + b, 0) / s.length),
    p50: round(percentile(s, 50)),
    p90: round(percentile(s, 90)),
    p99: round(percentile(s, 99)),
    max: round(s[s.length - 1]),
  };
}
