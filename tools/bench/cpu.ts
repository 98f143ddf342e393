// Whole-machine CPU time from /proc/stat, sampled around each load run.
//
// Whole-machine on purpose: the cost of a path is spread over wrk, the kernel (softirq for veth), the
// proxies and nginx, and a per-process view would miss the kernel work that Kmesh moves into connect().
// The load generator is included in every path alike, so differences between paths are the path's cost.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface CpuSample { busyTicks: number; totalTicks: number }

/** Fields of the aggregate "cpu" line, in the order the kernel prints them (proc(5)). */
const FIELDS = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal', 'guest', 'guest_nice'] as const;
/** idle and iowait are not work; guest time is already counted inside user/nice. */
const NOT_BUSY = new Set(['idle', 'iowait', 'guest', 'guest_nice']);

export function parseProcStat(text: string): CpuSample {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) throw new Error('/proc/stat has no aggregate "cpu " line');
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  let busyTicks = 0;
  let totalTicks = 0;
  FIELDS.forEach((name, i) => {
    const v = values[i] ?? 0;
    if (name === 'guest' || name === 'guest_nice') return;
    totalTicks += v;
    if (!NOT_BUSY.has(name)) busyTicks += v;
  });
  return { busyTicks, totalTicks };
}

export function sampleCpu(): CpuSample {
  return parseProcStat(readFileSync('/proc/stat', 'utf8'));
}

let ticksPerSecond: number | undefined;
/** USER_HZ, the unit of /proc/stat (100 on practically every Linux, asked anyway). */
export function clockTicksPerSecond(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** Busy CPU-seconds between two samples, all CPUs together. */
export function busyCpuSeconds(before: CpuSample, after: CpuSample, hz = clockTicksPerSecond()): number {
  return (after.busyTicks - before.busyTicks) / hz;
}

/** CPU-milliseconds per 1,000 requests (= CPU-microseconds per request). */
export function cpuMsPer1kRequests(cpuSeconds: number, requests: number): number {
  return requests > 0 ? (cpuSeconds * 1000 * 1000) / requests : NaN;
}

/** 1-minute load average: other work on the machine shows here, and in the whole-machine CPU. */
export function loadAverage1(): number {
  try {
    return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  } catch {
    return NaN;
  }
}
