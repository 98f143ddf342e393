// Drives one listener: N connections to the VIP from inside the mesh cgroup, interleaved round by round
// with N connections straight to one backend of the service (same client, same cgroup), so both latency
// figures see the same machine noise.
import { hostPort, type ClientReport, type Lab } from '../lab/index.js';
import type { ServicePlan } from './plan.js';
import type { LatencyComparison } from './report.js';
import { addTraffic, type ObservedTraffic } from './shares.js';

/** Rounds per target: enough to interleave, few enough that each round has a meaningful p99. */
const ROUNDS = 4;
/** The client's per-connection timeout: a lab connection takes well under a millisecond. */
const CONNECT_TIMEOUT_MS = 2000;

export interface ServiceMeasurement {
  viaVip: ObservedTraffic;
  /** getpeername() result -> connections, through the VIP */
  peers: Record<string, number>;
  latency: LatencyComparison;
}

/** Splits n into `rounds` nearly equal positive parts (fewer when n is small). */
export function splitRounds(n: number, rounds: number): number[] {
  const k = Math.max(1, Math.min(rounds, n));
  return Array.from({ length: k }, (_, i) => Math.floor(n / k) + (i < n % k ? 1 : 0));
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Median over rounds of each round's p50 and p99 (the client reports summaries, not samples). */
function combineLatency(reports: ClientReport[]): { p50: number; p99: number } | null {
  const summaries = reports.map((r) => r.latencyMs).filter((l): l is NonNullable<typeof l> => l !== null);
  if (summaries.length === 0) return null;
  return { p50: median(summaries.map((l) => l.p50)), p99: median(summaries.map((l) => l.p99)) };
}

export async function measureService(lab: Lab, service: ServicePlan, connections: number): Promise<ServiceMeasurement> {
  const vip = hostPort(service.vip.ip, service.vip.port);
  const direct = service.direct ? hostPort(service.direct.address.ip, service.direct.address.port) : null;
  const viaVip: ClientReport[] = [];
  const straight: ClientReport[] = [];
  const rounds = splitRounds(connections, ROUNDS);
  for (const [i, count] of rounds.entries()) {
    const runVip = async () => viaVip.push(await lab.runClient({ target: vip, connections: count, timeoutMs: CONNECT_TIMEOUT_MS }));
    const runDirect = async () => {
      if (direct) straight.push(await lab.runClient({ target: direct, connections: count, timeoutMs: CONNECT_TIMEOUT_MS }));
    };
    // Alternate which goes first, so neither always runs on a "warmer" machine.
    if (i % 2 === 0) {
      await runVip();
      await runDirect();
    } else {
      await runDirect();
      await runVip();
    }
  }
  const peers: Record<string, number> = {};
  for (const r of viaVip) for (const [p, n] of Object.entries(r.peers)) peers[p] = (peers[p] ?? 0) + n;
  return {
    viaVip: addTraffic(viaVip),
    peers,
    latency: { vip: combineLatency(viaVip), direct: combineLatency(straight), directBackend: service.direct?.name ?? '(none)', rounds: rounds.length },
  };
}
