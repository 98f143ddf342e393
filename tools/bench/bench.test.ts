// Unit tests of the bench's parsers and reports (no root, no load). Run:
//   cd /work/main && npx vitest run --root . tools/bench/bench.test.ts
import { describe, expect, it } from 'vitest';
import { parseWrkOutput, parseWrkTime, parseWrkCount, wrkArgs, wrkFailure } from './wrk.js';
import { busyCpuSeconds, cpuMsPer1kRequests, parseProcStat } from './cpu.js';
import { logTicks, renderLineChart } from './svg-chart.js';
import { median, mergeSection, summarize, SECTION_END, type Sample } from './report.js';
import { haproxyConfig, kmeshConfig, nginxConfig, responseBody, RESPONSE_BYTES } from './servers.js';
import { sumPercpu } from './kmesh-stats.js';

const WRK_OUTPUT = `Running 5s test @ http://10.96.0.10:80/
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   520.52us  120.92us  14.15ms   98.68%
    Req/Sec    15.84k     2.15k   23.80k    90.91%
  Latency Distribution
     50%  426.00us
     75%  642.00us
     90%    1.59ms
     99%    2.01s
  158346 requests in 5.10s, 23.05MB read
  Socket errors: connect 0, read 12, write 0, timeout 3
  Non-2xx or 3xx responses: 2
Requests/sec:  31048.52
Transfer/sec:      4.59MB
`;

describe('wrk', () => {
  it('parses every unit of its times and counts', () => {
    expect(parseWrkTime('126.00us')).toBe(126);
    expect(parseWrkTime('1.20ms')).toBeCloseTo(1200);
    expect(parseWrkTime('2.01s')).toBeCloseTo(2_010_000);
    expect(parseWrkTime('1.50m')).toBeCloseTo(90_000_000);
    expect(parseWrkCount('15.84k')).toBeCloseTo(15840);
    expect(() => parseWrkTime('12.0xs')).toThrow(/no known unit/);
  });

  it('parses a --latency report into microseconds and counts errors', () => {
    const r = parseWrkOutput(WRK_OUTPUT);
    expect(r.requests).toBe(158346);
    expect(r.elapsedS).toBeCloseTo(5.1);
    expect(r.reqPerSec).toBeCloseTo(31048.52);
    expect(r.latencyUs).toMatchObject({ p50: 426, p75: 642, p99: 2_010_000, avg: 520.52, max: 14_150 });
    expect(r.latencyUs.p90).toBeCloseTo(1590);
    expect(r.errors).toEqual({ connect: 0, read: 12, write: 0, timeout: 3, non2xx: 2 });
    expect(wrkFailure(r)).toBeNull(); // 5 bad of 158k is noise, not a broken path
  });

  it('refuses output without the latency distribution and flags a failing path', () => {
    expect(() => parseWrkOutput('unable to connect to 10.96.0.10:80 Connection refused')).toThrow(/50% latency|thread latency/);
    const broken = parseWrkOutput(WRK_OUTPUT.replace('connect 0', 'connect 9000'));
    expect(wrkFailure(broken)).toMatch(/9000 connect/);
  });

  it('builds the command line of both modes', () => {
    expect(wrkArgs({ url: 'http://x/', connections: 1, durationS: 5, keepAlive: true })).toEqual(['-t', '1', '-c', '1', '-d', '5s', '--timeout', '5s', '--latency', 'http://x/']);
    expect(wrkArgs({ url: 'http://x/', connections: 256, durationS: 5, keepAlive: false })).toEqual(['-t', '2', '-c', '256', '-d', '5s', '--timeout', '5s', '--latency', '-H', 'Connection: close', 'http://x/']);
  });
});

describe('cpu', () => {
  it('counts busy jiffies without idle, iowait or the guest time already inside user', () => {
    const a = parseProcStat('cpu  100 0 50 1000 7 0 10 0 20 0\ncpu0 1 2 3\n');
    const b = parseProcStat('cpu  300 0 150 1200 9 0 30 0 60 0\n');
    expect(a.busyTicks).toBe(160);
    expect(busyCpuSeconds(a, b, 100)).toBeCloseTo(3.2);
    expect(cpuMsPer1kRequests(3.2, 100_000)).toBeCloseTo(32); // 32 µs of CPU per request
  });
});

describe('svg chart', () => {
  it('draws one path per series with axis labels and legend, on log axes', () => {
    const svg = renderLineChart({
      title: 'T <1>', xLabel: 'connections', yLabel: 'P90',
      panels: [{ title: 'keep-alive', series: [
        { name: 'direct', color: '#00f', points: [{ x: 1, y: 50 }, { x: 4, y: 80 }, { x: 256, y: 4000 }] },
        { name: 'sidecars', color: '#f00', points: [{ x: 1, y: 300 }, { x: 256, y: 30000 }] },
      ] }],
    });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<path /g)).toHaveLength(2);
    expect(svg).toContain('T &lt;1&gt;');
    expect(svg).toContain('>256<');
    expect(svg).toContain('>sidecars<');
    expect(logTicks(50, 50000)).toEqual([50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000]);
  });
});

function sample(round: number, path: Sample['path'], rps: number, p99: number): Sample {
  return {
    round, path, mode: 'keepalive', connections: 4, cpuSeconds: 1, cpuMsPer1k: 10,
    wrk: { requests: rps * 5, elapsedS: 5, reqPerSec: rps, latencyUs: { avg: 1, max: 1, p50: 1, p75: 1, p90: 1, p99 }, errors: { connect: 0, read: 0, write: 0, timeout: 0, non2xx: 0 } },
  };
}

describe('report', () => {
  it('takes the ratio within each round before the median, and judges the targets from it', () => {
    // The machine was twice as fast in round 2: per-round ratios stay 0.99 and 0.5 while medians of
    // absolute numbers would mix the rounds.
    const s = [
      sample(1, 'direct', 1000, 100), sample(1, 'kmesh', 990, 104), sample(1, 'sidecar', 500, 500),
      sample(2, 'direct', 2000, 100), sample(2, 'kmesh', 1980, 104), sample(2, 'sidecar', 1000, 500),
      sample(3, 'direct', 1000, 100), sample(3, 'kmesh', 900, 120), sample(3, 'sidecar', 500, 500),
    ];
    const [direct, kmesh, sidecar] = summarize(s);
    expect(direct.reqPerSec).toBe(1000);
    expect(direct.ratioToDirect).toBeUndefined();
    expect(kmesh.ratioToDirect!.reqPerSec).toBeCloseTo(0.99);
    expect(kmesh.ratioToDirect!.p99).toBeCloseTo(1.04);
    expect(kmesh.meetsTargets).toEqual({ reqPerSec: true, p99: true });
    expect(sidecar.ratioToDirect!.reqPerSec).toBeCloseTo(0.5);
    expect(sidecar.meetsTargets).toBeUndefined();
    expect(median([3, 1, 2, 10])).toBe(2.5);
  });

  it('replaces only its own section of the benchmarks page', () => {
    const section = `<!-- bench:l4:start (generated) -->\nNEW\n${SECTION_END}\n`;
    const page = `# Benchmarks\n\nintro\n\n<!-- bench:l4:start (generated) -->\nOLD\n${SECTION_END}\n\n## Other\nkept\n`;
    const merged = mergeSection(page, section);
    expect(merged).toContain('NEW');
    expect(merged).not.toContain('OLD');
    expect(merged).toContain('## Other\nkept');
    expect(mergeSection(null, section)).toMatch(/^# Benchmarks[\s\S]*NEW/);
  });
});

describe('servers', () => {
  it('answers with exactly 1 KiB and keeps nginx off the system paths', () => {
    expect(Buffer.byteLength(responseBody())).toBe(RESPONSE_BYTES);
    const conf = nginxConfig({ dir: '/tmp/b', listen: ['10.250.3.2:8080'], workers: 1 });
    expect(conf).toContain('pid /tmp/b/nginx.pid;');
    expect(conf).not.toMatch(/\/var\/(log|run|lib)/);
  });
});

describe('servers', () => {
  it('runs each sidecar as a one-thread HTTP proxy that tags what it forwarded', () => {
    const conf = haproxyConfig({ name: 'outbound', bind: '127.0.0.1:15001', upstream: '10.250.3.2:15006', tag: 'x-bench-outbound' });
    expect(conf).toMatch(/nbthread 1\n/);
    expect(conf).toMatch(/mode http\n/);
    expect(conf).toContain('http-response set-header x-bench-outbound 1');
    expect(conf).toContain('server upstream 10.250.3.2:15006');
  });

  it('points the Kmesh listener on the VIP at the nginx endpoint', () => {
    const yaml = kmeshConfig({ vip: '10.96.0.10', vipPort: 80, backend: '10.250.3.2', backendPort: 8080 });
    expect(yaml).toContain('socket_address: { address: 10.96.0.10, port_value: 80 }');
    expect(yaml).toContain('socket_address: { address: 10.250.3.2, port_value: 8080 }');
    expect(yaml).toContain('cluster: bench-nginx');
  });
});

describe('kmesh stats', () => {
  it('sums a per-CPU counter from both forms bpftool prints', () => {
    expect(sumPercpu({ key: 0, values: [{ cpu: 0, value: 5 }, { cpu: 1, value: 7 }] })).toBe(12);
    expect(sumPercpu([{ key: ['0x00'], values: [{ cpu: 0, value: ['0x01', '0x01', '0', '0', '0', '0', '0', '0'] }, { cpu: 1, value: ['0x02', '0', '0', '0', '0', '0', '0', '0'] }] }])).toBe(259);
    expect(sumPercpu([{ formatted: { values: [{ cpu: 0, value: 3 }] } }])).toBe(3);
    expect(() => sumPercpu({ error: 'no such map' })).toThrow(/not a per-CPU/);
  });
});
