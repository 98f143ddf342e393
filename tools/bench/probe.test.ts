// Unit tests of the probe scenario's report: metric sums, per-round ratios and the ≤ 3% verdict.
import { describe, expect, it } from 'vitest';
import { mergeProbeSection, summarizeProbe, sumMetric, type ProbeSample } from './probe.js';
import type { WrkResult } from './wrk.js';

function wrk(reqPerSec: number, p50: number): WrkResult {
  return { reqPerSec, requests: reqPerSec * 5, elapsedS: 5, latencyUs: { p50, p75: p50, p90: p50, p99: p50 * 2, avg: p50, max: p50 * 3 }, errors: { connect: 0, read: 0, write: 0, timeout: 0, non2xx: 0 } };
}

function sample(round: number, probe: 'on' | 'off', reqPerSec: number): ProbeSample {
  return { round, mode: 'close', connections: 16, probe, wrk: wrk(reqPerSec, 1000), loadAvg1: 1, rewrites: reqPerSec * 5, daemonCpuMsPer1k: 1 };
}

describe('probe bench report', () => {
  it('sums a counter over the label sets that match', () => {
    const text = [
      '# TYPE kmesh_tcp_connections_opened_total counter',
      'kmesh_tcp_connections_opened_total{listener="10.96.0.10:80",cluster="a",endpoint="10.250.1.2:8080",direction="outbound"} 3',
      'kmesh_tcp_connections_opened_total{listener="10.96.0.10:80",cluster="b",endpoint="10.250.1.3:8080",direction="outbound"} 4',
      'kmesh_tcp_connections_opened_total{listener="10.96.0.11:80",cluster="c",endpoint="10.250.1.4:8080",direction="outbound"} 100',
      'kmesh_tcp_connections_opened_totalx 9',
    ].join('\n');
    expect(sumMetric(text, 'kmesh_tcp_connections_opened_total', 'listener="10.96.0.10:80"')).toBe(7);
    expect(sumMetric(text, 'kmesh_tcp_connections_opened_total')).toBe(107);
  });

  it('takes the median of per-round ratios and judges the 3% target on it', () => {
    const samples = [
      sample(1, 'on', 980), sample(1, 'off', 1000),
      sample(2, 'on', 500), sample(2, 'off', 1000), // one disturbed round does not decide
      sample(3, 'on', 1990), sample(3, 'off', 2000),
    ];
    const [s] = summarizeProbe(samples);
    expect(s.ratio.reqPerSec).toBeCloseTo(0.98, 3);
    expect(s.meetsTarget).toBe(true);
    const [worse] = summarizeProbe(samples.map((x) => (x.probe === 'on' ? { ...x, wrk: wrk(x.wrk.reqPerSec * 0.9, 1000) } : x)));
    expect(worse.meetsTarget).toBe(false);
  });

  it('replaces only its own section of benchmarks.md', () => {
    const section = '<!-- bench:probe:start x -->\nnew\n<!-- bench:probe:end -->\n';
    const page = '# Benchmarks\n\nkeep me\n\n<!-- bench:probe:start y -->\nold\n<!-- bench:probe:end -->\nafter\n';
    expect(mergeProbeSection(page, section)).toBe('# Benchmarks\n\nkeep me\n\n' + section + 'after\n');
    expect(mergeProbeSection('# B\n', section)).toBe('# B\n\n' + section);
  });
});
