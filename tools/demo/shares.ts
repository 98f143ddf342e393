// Observed vs expected share of a listener's connections, one row per backend: the demo's verdict.
import type { ServicePlan } from './plan.js';

/** A row passes when its observed share is within this many percentage points of the expected one. */
export const TOLERANCE_POINTS = 5;

/** Pseudo-backend for connections that got no answer (the table shows the error codes next to it). */
export const FAILED_ROW = '(failed)';

export interface ObservedTraffic {
  attempted: number;
  /** backend name -> connections it answered */
  byBackend: Record<string, number>;
  /** error code -> connections that failed with it */
  errors: Record<string, number>;
}

export interface ShareRow {
  backend: string;
  connections: number;
  /** 0..1 of all attempted connections */
  share: number;
  expected: number;
  note: string;
  withinTolerance: boolean;
}

export function compareShares(plan: ServicePlan, observed: ObservedTraffic): ShareRow[] {
  const total = observed.attempted;
  const shareOf = (n: number): number => (total > 0 ? n / total : 0);
  const row = (backend: string, connections: number, expected: number, note: string): ShareRow => {
    const share = shareOf(connections);
    // The epsilon keeps an exact 5.0-point miss (280/400 vs 75%) from failing on float rounding.
    return { backend, connections, share, expected, note, withinTolerance: Math.abs(share - expected) * 100 <= TOLERANCE_POINTS + 1e-9 };
  };

  const rows = plan.expected.map((e) => row(e.backend, observed.byBackend[e.backend] ?? 0, e.share, e.note));
  // A backend that answered although the route cannot reach it is a misroute: it must show, expected 0%.
  const known = new Set(plan.expected.map((e) => e.backend));
  for (const [backend, count] of Object.entries(observed.byBackend)) {
    if (!known.has(backend)) rows.push(row(backend, count, 0, 'not routed here'));
  }
  const failed = Object.values(observed.errors).reduce((a, b) => a + b, 0);
  if (failed > 0 || plan.expectedFailureShare > 0) {
    const codes = Object.entries(observed.errors).map(([code, n]) => `${code}×${n}`).join(' ');
    rows.push(row(FAILED_ROW, failed, plan.expectedFailureShare, codes || 'no usable endpoint'));
  }
  return rows;
}

/** Sums the traffic of several runs against the same target (the demo interleaves rounds). */
export function addTraffic(runs: ObservedTraffic[]): ObservedTraffic {
  const total: ObservedTraffic = { attempted: 0, byBackend: {}, errors: {} };
  for (const r of runs) {
    total.attempted += r.attempted;
    for (const [k, v] of Object.entries(r.byBackend)) total.byBackend[k] = (total.byBackend[k] ?? 0) + v;
    for (const [k, v] of Object.entries(r.errors)) total.errors[k] = (total.errors[k] ?? 0) + v;
  }
  return total;
}
