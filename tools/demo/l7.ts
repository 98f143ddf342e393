// The demo's L7 part: examples/l7-canary.yaml in a lab of its own (HTTP backends), a daemon whose L7 relay
// serves the client netns, then requests from inside the mesh cgroup, one new connection each:
//   - the canary table: Host reviews → 90% reviews-v1 / 10% reviews-v3 (±5 points);
//   - the header route: end-user: jason → reviews-v2 on every connection, jason2 → never reviews-v2;
//   - a regex route, a direct_response answered by Kmesh itself, and a 404 for a Host with no virtual host.
// Returns what failed (empty = all good). When the L7 path is not there (daemon without the relay, maps
// not pinned), it says so in one clear line and returns that as the failure.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfigText } from '@kmesh/api';
import { BpfMap } from '@kmesh/runtime';
import { Lab, kmeshCli, repoRoot, type BackendSpec, type DaemonHandle } from '../lab/index.js';
import type { L7ClientReport } from './l7-client.js';
import { labHostOf } from './lab-layout.js';
import { TOLERANCE_POINTS } from './shares.js';
import { bold, dim, green, percent, red, renderTable, tick } from './style.js';

export const L7_CONFIG = join(repoRoot, 'examples/l7-canary.yaml');
const L7_PIN_PATH = '/sys/fs/bpf/kmesh-demo-l7';
const L7_LAB_ID = 'demo-l7';
const VIP = '10.96.0.80:80';
const l7ClientScript = join(repoRoot, 'tools/dist/demo/l7-client.js');

const out = (line = ''): void => {
  process.stdout.write(line + '\n');
};
const step = (text: string): void => {
  process.stderr.write(dim(`• ${text}\n`));
};

/** One backend per endpoint of the example (each of its clusters has one), named after the cluster. */
function labFor(configFile: string): { n: number; servers: BackendSpec[] } {
  const t = loadConfigText(readFileSync(configFile, 'utf8'), configFile);
  if (!t.ok) throw new Error(`${configFile} is invalid: ${t.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`);
  const servers: BackendSpec[] = [];
  let n = 0;
  for (const c of t.model.clusters) {
    c.endpoints.forEach((e, i) => {
      const h = labHostOf(e.address);
      if (!h) throw new Error(`${configFile}: cluster ${c.name} endpoint ${e.address.ip} is not a lab backend address (10.250.N.H)`);
      n = h.n;
      servers.push({ name: c.endpoints.length === 1 ? c.name : `${c.name}-${i + 1}`, host: h.host, port: e.address.port });
    });
  }
  return { n, servers };
}

function daemonHasL7(): boolean {
  const r = spawnSync(process.execPath, [kmeshCli, 'run', '--help'], { encoding: 'utf8', timeout: 20_000 });
  return `${r.stdout}${r.stderr}`.includes('--l7-netns');
}

function anchorCount(pinPath: string): number {
  const pin = join(pinPath, 'km_l7_anchor');
  if (!existsSync(pin)) return 0;
  const m = BpfMap.fromPin(pin);
  try {
    return m.keys().length;
  } finally {
    m.close();
  }
}

async function drive(lab: Lab, host: string, opts: { headers?: string[]; path?: string; connections: number }): Promise<L7ClientReport> {
  const args = [l7ClientScript, '--target', VIP, '--host', host, '--path', opts.path ?? '/', '--connections', String(opts.connections), '--concurrency', '8'];
  for (const h of opts.headers ?? []) args.push('--header', h);
  const r = await lab.execInClient(process.execPath, args, { inMeshCgroup: true, timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`L7 client failed (exit ${r.code}): ${r.stderr.trim()}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as L7ClientReport;
}

function describeTraffic(r: L7ClientReport): string {
  const parts = Object.entries(r.byBackend).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ×${v}`);
  for (const [k, v] of Object.entries(r.errors)) parts.push(red(`${k} ×${v}`));
  return parts.join(', ') || 'nothing';
}

export function printL7Verdict(failures: string[]): void {
  if (failures.length === 0) out(green(bold('PASS')) + ' L7: canary shares within ±5 points, header, regex, direct_response and 404 routes as configured');
  else {
    out(red(bold('FAIL')) + ' L7');
    for (const f of failures) out(`  ${red('✗')} ${f}`);
  }
}

/** The L7 part; returns the failures (empty when everything held). */
export async function runL7Demo(connections: number): Promise<string[]> {
  out();
  out(bold('L7 (HTTP/1.1) routing in the kernel') + dim(` — ${L7_CONFIG}`));
  if (!daemonHasL7()) {
    const why = `L7 part not run: \`kmesh run\` (${kmeshCli}) has no L7 relay (no --l7-netns flag); build the L7 pieces (npx nx run-many -t build)`;
    out(`  ${tick(false)} ${why}`);
    return [why];
  }
  const layout = labFor(L7_CONFIG);
  step(`creating the L7 lab (network 10.250.${layout.n}.0/24, ${layout.servers.length} HTTP backends)`);
  const lab = await Lab.create({ id: L7_LAB_ID, n: layout.n, servers: layout.servers, backendKind: 'http' });
  let daemon: DaemonHandle | null = null;
  try {
    if (existsSync(L7_PIN_PATH)) await lab.cleanupDaemon(L7_PIN_PATH);
    step(`starting kmesh run on ${L7_CONFIG} with the L7 relay serving ${lab.clientNetns}`);
    daemon = await lab.startDaemon({ config: L7_CONFIG, pinPath: L7_PIN_PATH }); // the lab adds --l7-netns
    for (let i = 0; i < 50 && anchorCount(L7_PIN_PATH) === 0; i++) await new Promise((r) => setTimeout(r, 100));
    if (anchorCount(L7_PIN_PATH) === 0) {
      const l7Lines = daemon.logs().split('\n').filter((l) => /L7|l7/.test(l)).slice(-3).join('\n    ');
      const why = `L7 part: the daemon started but registered no L7 anchor (km_l7_anchor is empty or not pinned under ${L7_PIN_PATH})`;
      out(`  ${tick(false)} ${why}${l7Lines ? `\n    ${dim(l7Lines)}` : ''}`);
      return [why];
    }
    const failures: string[] = [];

    // 1. the canary table
    const canary = await drive(lab, 'reviews', { connections });
    const expected: [string, number, string][] = [['reviews-v1', 0.9, 'weight 90'], ['reviews-v3', 0.1, 'weight 10'], ['reviews-v2', 0, 'only for end-user: jason']];
    const rows: string[][] = [];
    const seen = new Set<string>();
    for (const [name, share, note] of expected) {
      seen.add(name);
      const got = (canary.byBackend[name] ?? 0) / Math.max(1, canary.attempted);
      const ok = Math.abs(got - share) * 100 <= TOLERANCE_POINTS + 1e-9;
      if (!ok) failures.push(`L7 canary: ${name} got ${percent(got)} of the connections, expected ${percent(share)}`);
      rows.push([name, String(canary.byBackend[name] ?? 0), percent(got), percent(share), dim(note), tick(ok)]);
    }
    for (const [name, n] of Object.entries(canary.byBackend)) {
      if (seen.has(name)) continue;
      failures.push(`L7 canary: ${name} answered ${n} connections but is not routed for Host reviews`);
      rows.push([name, String(n), percent(n / canary.attempted), percent(0), dim('not routed here'), tick(false)]);
    }
    for (const [code, n] of Object.entries(canary.errors)) {
      failures.push(`L7 canary: ${n} connections failed with ${code}`);
      rows.push([red('(failed)'), String(n), percent(n / canary.attempted), percent(0), dim(code), tick(false)]);
    }
    out(`  ${bold('canary')}  ${dim(`Host: reviews, ${canary.attempted} new connections to ${VIP} (per-connection weighted choice)`)}`);
    for (const line of renderTable([
      { header: 'backend', align: 'left' }, { header: 'conns', align: 'right' }, { header: 'share', align: 'right' },
      { header: 'expected', align: 'right' }, { header: '', align: 'left' }, { header: '', align: 'left' },
    ], rows, '    ')) out(line);

    // 2. the header route and the other route kinds, one line each
    const checks: { what: string; host: string; headers?: string[]; path?: string; n: number; want: (r: L7ClientReport) => boolean; wanted: string }[] = [
      { what: 'header route', host: 'reviews', headers: ['end-user: jason'], n: 200, want: (r) => r.byBackend['reviews-v2'] === r.attempted, wanted: 'reviews-v2 on every connection' },
      { what: 'header route, negative', host: 'reviews', headers: ['end-user: jason2'], n: 200, want: (r) => !r.byBackend['reviews-v2'] && (r.byBackend['reviews-v1'] ?? 0) > 0, wanted: 'never reviews-v2 (exact match): the canary split' },
      { what: 'regex route', host: 'productpage', path: '/api/v1/products/42?x=1', n: 20, want: (r) => r.byBackend.productpage === r.attempted, wanted: 'productpage' },
      { what: 'regex, negative', host: 'productpage', path: '/api/v1/products/42/reviews', n: 5, want: (r) => r.byBackend['kmesh 404'] === r.attempted, wanted: '404 (the regex matches the whole path)' },
      { what: 'direct_response', host: 'productpage', path: '/healthz', n: 5, want: (r) => r.byBackend['kmesh 200'] === r.attempted && r.sample?.body === 'ok', wanted: '200 "ok" from Kmesh, no backend' },
      { what: 'no virtual host', host: 'nowhere.example', n: 5, want: (r) => r.byBackend['kmesh 404'] === r.attempted, wanted: '404 with x-kmesh-reason' },
    ];
    out(`  ${bold('routes')}`);
    for (const c of checks) {
      const r = await drive(lab, c.host, { headers: c.headers, path: c.path, connections: c.n });
      const ok = c.want(r);
      const request = `Host: ${c.host}${c.headers ? `, ${c.headers.join(', ')}` : ''}${c.path ? `, ${c.path}` : ''}`;
      const reason = r.sample?.reason ? dim(` (x-kmesh-reason: ${r.sample.reason})`) : '';
      out(`    ${tick(ok)} ${c.what.padEnd(23)} ${request.padEnd(48)} → ${describeTraffic(r)}${reason}`);
      if (!ok) failures.push(`L7 ${c.what} (${request}): expected ${c.wanted}, got ${describeTraffic(r)}`);
    }
    return failures;
  } catch (err) {
    const why = `L7 part failed: ${(err as Error).message}`;
    out(`  ${tick(false)} ${why}`);
    if (daemon) process.stderr.write(dim(`last daemon log lines:\n${daemon.logs().trim().split('\n').slice(-10).join('\n')}\n`));
    return [why];
  } finally {
    step('cleaning up the L7 lab');
    if (daemon) await daemon.kill('SIGTERM');
    await lab.destroy().catch((err: Error) => process.stderr.write(red(`cleanup: ${err.message}\n`)));
  }
}
