// wrk: the command line for one load run, and the parser of its text report (`--latency` form).
//
// wrk prints times with a unit chosen per value ("126.00us", "1.20ms", "2.01s") and counts with an
// optional k/M/G suffix ("15.84k"). Every time here is normalised to microseconds.

export interface WrkRun {
  url: string;
  connections: number;
  durationS: number;
  /** false: one new TCP connection per request (`Connection: close`, as a client without pooling). */
  keepAlive: boolean;
  threads?: number;
  /** wrk's per-request timeout; a slow path should show as latency, not as a dropped sample. */
  timeoutS?: number;
}

export interface WrkLatency { p50: number; p75: number; p90: number; p99: number }

export interface WrkResult {
  requests: number;
  elapsedS: number;
  reqPerSec: number;
  /** Latency percentiles and mean in microseconds. */
  latencyUs: WrkLatency & { avg: number; max: number };
  errors: { connect: number; read: number; write: number; timeout: number; non2xx: number };
}

/** wrk threads for a run: two (this machine has 2 CPUs) but never more than connections. */
export function wrkThreads(connections: number): number {
  return Math.max(1, Math.min(2, connections));
}

export function wrkArgs(run: WrkRun): string[] {
  const args = [
    '-t', String(run.threads ?? wrkThreads(run.connections)),
    '-c', String(run.connections),
    '-d', `${run.durationS}s`,
    '--timeout', `${run.timeoutS ?? 5}s`,
    '--latency',
  ];
  if (!run.keepAlive) args.push('-H', 'Connection: close');
  args.push(run.url);
  return args;
}

const timeUnitsUs: Record<string, number> = { us: 1, ms: 1_000, s: 1_000_000, m: 60_000_000, h: 3_600_000_000 };
const countUnits: Record<string, number> = { '': 1, k: 1e3, K: 1e3, M: 1e6, G: 1e9 };

/** "126.00us" → 126, "1.20ms" → 1200, "2.01s" → 2010000. */
export function parseWrkTime(text: string): number {
  const m = /^(-?[\d.]+)(us|ms|s|m|h)$/.exec(text.trim());
  if (!m) throw new Error(`wrk time "${text}" has no known unit (us, ms, s, m, h)`);
  // Rounded to a nanosecond: wrk prints two decimals, and 2.01 * 1e6 is not exact in binary.
  return Math.round(Number(m[1]) * timeUnitsUs[m[2]] * 1000) / 1000;
}

/** "15.84k" → 15840. */
export function parseWrkCount(text: string): number {
  const m = /^([\d.]+)([kKMG]?)$/.exec(text.trim());
  if (!m) throw new Error(`wrk count "${text}" is not a number with an optional k/M/G suffix`);
  return Number(m[1]) * countUnits[m[2]];
}

export function parseWrkOutput(text: string): WrkResult {
  const need = (re: RegExp, what: string): RegExpExecArray => {
    const m = re.exec(text);
    if (!m) throw new Error(`wrk output has no ${what} line (was --latency given? did wrk fail?):\n${text}`);
    return m;
  };
  const percentile = (p: number): number => parseWrkTime(need(new RegExp(`^\\s*${p}%\\s+(\\S+)\\s*$`, 'm'), `${p}% latency`)[1]);
  const thread = need(/^\s*Latency\s+(\S+)\s+(\S+)\s+(\S+)/m, 'thread latency');
  const total = need(/^\s*(\d+) requests in (\S+),/m, '"N requests in T"');
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  return {
    requests: Number(total[1]),
    elapsedS: parseWrkTime(total[2]) / 1e6,
    reqPerSec: Number(need(/^Requests\/sec:\s+([\d.]+)/m, 'Requests/sec')[1]),
    latencyUs: { avg: parseWrkTime(thread[1]), max: parseWrkTime(thread[3]), p50: percentile(50), p75: percentile(75), p90: percentile(90), p99: percentile(99) },
    errors: {
      connect: socket ? Number(socket[1]) : 0,
      read: socket ? Number(socket[2]) : 0,
      write: socket ? Number(socket[3]) : 0,
      timeout: socket ? Number(socket[4]) : 0,
      non2xx: non2xx ? Number(non2xx[1]) : 0,
    },
  };
}

/**
 * Errors that make a run unusable. Read errors are not counted: with `Connection: close` wrk reports the
 * server's close of a finished exchange as a read error on some versions, which is the mode working.
 */
export function wrkFailure(r: WrkResult): string | null {
  if (r.requests === 0) return 'wrk completed no request';
  const bad = r.errors.connect + r.errors.write + r.errors.timeout + r.errors.non2xx;
  if (bad > r.requests * 0.001) {
    return `wrk saw ${r.errors.connect} connect, ${r.errors.write} write, ${r.errors.timeout} timeout errors and ${r.errors.non2xx} non-2xx responses in ${r.requests} requests`;
  }
  return null;
}
