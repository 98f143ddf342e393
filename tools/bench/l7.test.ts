import { describe, expect, it } from 'vitest';
import { ROUTED_HOST, l7KmeshConfig, l7WrkArgs, mergeL7Section, outboundSidecarConfig, renderL7Markdown, summarizeL7, type L7Results, type L7Sample } from './l7.js';
import type { WrkResult } from './wrk.js';

function wrk(reqPerSec: number): WrkResult {
  return { requests: reqPerSec * 5, elapsedS: 5, reqPerSec, latencyUs: { avg: 100, max: 900, p50: 90, p75: 120, p90: 150, p99: 300 }, errors: { connect: 0, read: 0, write: 0, timeout: 0, non2xx: 0 } };
}

function sample(round: number, path: L7Sample['path'], reqPerSec: number, size: L7Sample['size'] = '1k'): L7Sample {
  return { round, size, mode: 'keepalive', connections: 16, path, wrk: wrk(reqPerSec), bodyBytesPerSec: reqPerSec * 1024, cpuMsPer1k: 10, loadAvg1: 0.5 };
}

describe('L7 bench', () => {
  it('ratios are per round (this path ÷ direct of the same round), then the median', () => {
    const samples = [
      sample(1, 'direct', 1000), sample(1, 'kmesh', 900), sample(1, 'sidecar', 200),
      sample(2, 'direct', 2000), sample(2, 'kmesh', 1000), sample(2, 'sidecar', 400),
      sample(3, 'direct', 1000), sample(3, 'kmesh', 850), sample(3, 'sidecar', 250),
    ];
    const kmesh = summarizeL7(samples).find((s) => s.path === 'kmesh')!;
    expect(kmesh.ratioToDirect).toBeCloseTo(0.85);
    expect(kmesh.ratioToSidecar).toBeCloseTo(3.4);
    expect(kmesh.targets!.map((t) => [t.name.slice(0, 10), t.met])).toEqual([['req/s ≥ 0.', true], ['req/s ≥ 3×', true]]);
    const sidecar = summarizeL7(samples).find((s) => s.path === 'sidecar')!;
    expect(sidecar.ratioToDirect).toBeCloseTo(0.2);
    expect(sidecar.targets).toBeUndefined();
  });

  it('1 MiB: the throughput target applies, and a miss is reported', () => {
    const s = summarizeL7([sample(1, 'direct', 1000, '1m'), sample(1, 'kmesh', 500, '1m'), sample(1, 'sidecar', 400, '1m')]).find((x) => x.path === 'kmesh')!;
    expect(s.targets!.find((t) => t.name.startsWith('throughput'))).toMatchObject({ met: false, got: 0.5 });
  });

  it('wrk sends the routed Host header (and Connection: close in close mode)', () => {
    const args = l7WrkArgs('http://10.96.0.10:80/files/1k.bin', 16, 5, false);
    expect(args).toContain(`Host: ${ROUTED_HOST}`);
    expect(args).toContain('Connection: close');
    expect(args[args.length - 1]).toBe('http://10.96.0.10:80/files/1k.bin');
  });

  it('both meshes route the same: Kmesh and the outbound HAProxy send x-canary and /admin/ to the decoy', () => {
    const k = l7KmeshConfig({ vip: '10.96.0.10', vipPort: 80, backend: '10.250.3.2', backendPort: 8080, decoy: '10.250.3.3' });
    expect(k).toContain('http_connection_manager');
    expect(k).toMatch(/x-canary[\s\S]*cluster: decoy[\s\S]*\/admin\/[\s\S]*decoy[\s\S]*\/files\/[\s\S]*bench-nginx/);
    const h = outboundSidecarConfig({ bind: '127.0.0.1:15001', upstream: '10.250.3.2:15006', decoy: '10.250.3.2:8081' });
    expect(h).toContain('use_backend decoy if host_bench canary');
    expect(h).toContain('use_backend decoy if host_bench admin');
    expect(h).toContain('use_backend upstream if host_bench files');
    expect(h.indexOf('http-request return status 404')).toBeLessThan(h.indexOf('use_backend'));
  });

  it('the markdown section replaces its own markers only', () => {
    const r = { scenario: 'l7', startedAt: 'now', finishedAt: 'now', machine: { cpuModel: 'cpu', nproc: 2, kernel: '6.18', memory: '', cpuFlagsNote: '' },
      settings: { rounds: 1, durationS: 1, connections: [16], modes: ['keepalive'], sizes: ['1k'], command: 'cmd', nginxWorkers: 1, haproxy: '' },
      verification: [], summary: summarizeL7([sample(1, 'direct', 1000), sample(1, 'kmesh', 900), sample(1, 'sidecar', 200)]), samples: [] } as unknown as L7Results;
    const section = renderL7Markdown(r);
    const doc = `# B\n\nbefore\n\n<!-- bench:l7:start old -->\nold\n<!-- bench:l7:end -->\nafter\n`;
    const merged = mergeL7Section(doc, section);
    expect(merged).toContain('before');
    expect(merged).toContain('after');
    expect(merged).not.toContain('\nold\n');
    expect(merged).toContain('**×0.90**');
    expect(mergeL7Section('# B\n', section)).toContain('bench:l7:end');
  });
});
