// Results of the L4 bench: medians over rounds, ratios to the direct path of the same round, the JSON
// file, the Markdown section of docs/benchmarks.md and the P90 chart.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import type { WrkResult } from './wrk.js';
import { formatMicros, renderLineChart, type Series } from './svg-chart.js';

export type PathId = 'direct' | 'kmesh' | 'sidecar';
export type ModeId = 'keepalive' | 'close';

export const PATHS: readonly { id: PathId; label: string; color: string }[] = [
  { id: 'direct', label: '(a) no mesh: wrk → backend', color: '#1f77b4' },
  { id: 'kmesh', label: '(b) Kmesh: wrk → VIP, connect4 rewrite', color: '#2ca02c' },
  { id: 'sidecar', label: '(c) two HAProxy sidecars', color: '#d62728' },
];

export const MODES: readonly { id: ModeId; label: string }[] = [
  { id: 'keepalive', label: 'keep-alive' },
  { id: 'close', label: 'new connection per request (Connection: close)' },
];

/** The goal the Kmesh path is held to (issue 2). */
export const TARGETS = { minReqPerSecRatio: 0.97, maxP99Ratio: 1.05 } as const;

/** One wrk run. */
export interface Sample {
  round: number;
  mode: ModeId;
  connections: number;
  path: PathId;
  wrk: WrkResult;
  cpuSeconds: number;
  cpuMsPer1k: number;
  /** Kmesh path: growth of km_stats CONNECT_REWRITTEN during the run (proof the traffic was meshed). */
  kmeshRewrites?: number;
  /** 1-minute load average just before the run (≈ connections-independent background load). */
  loadAvg1?: number;
}

export interface Ratios { reqPerSec: number; p50: number; p90: number; p99: number; cpuMsPer1k: number }

export interface PointSummary {
  mode: ModeId;
  connections: number;
  path: PathId;
  rounds: number;
  /** Medians over rounds. Latencies in microseconds. */
  reqPerSec: number;
  p50: number;
  p90: number;
  p99: number;
  cpuMsPer1k: number;
  /** Median over rounds of (this path / direct in the same round); absent for the direct path. */
  ratioToDirect?: Ratios;
  /** For the Kmesh path only: whether the median ratios meet TARGETS. */
  meetsTargets?: { reqPerSec: boolean; p99: boolean };
}

export interface BenchSettings {
  rounds: number;
  durationS: number;
  connections: number[];
  modes: ModeId[];
  command: string;
  responseBytes: number;
  nginxWorkers: number;
  haproxyMode: string;
}

export interface MachineInfo { cpuModel: string; nproc: number; kernel: string; memory: string; cpuFlagsNote: string }

export interface L4Results {
  scenario: 'l4';
  startedAt: string;
  finishedAt: string;
  machine: MachineInfo;
  settings: BenchSettings;
  verification: string[];
  summary: PointSummary[];
  samples: Sample[];
}

export function median(values: number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

const metric = {
  reqPerSec: (s: Sample) => s.wrk.reqPerSec,
  p50: (s: Sample) => s.wrk.latencyUs.p50,
  p90: (s: Sample) => s.wrk.latencyUs.p90,
  p99: (s: Sample) => s.wrk.latencyUs.p99,
  cpuMsPer1k: (s: Sample) => s.cpuMsPer1k,
} satisfies Record<keyof Ratios, (s: Sample) => number>;

export function summarize(samples: Sample[]): PointSummary[] {
  const out: PointSummary[] = [];
  const modes = [...new Set(samples.map((s) => s.mode))];
  const conns = [...new Set(samples.map((s) => s.connections))].sort((a, b) => a - b);
  for (const mode of modes) {
    for (const connections of conns) {
      const at = samples.filter((s) => s.mode === mode && s.connections === connections);
      for (const { id: path } of PATHS) {
        const mine = at.filter((s) => s.path === path);
        if (mine.length === 0) continue;
        const point: PointSummary = {
          mode, connections, path, rounds: mine.length,
          reqPerSec: median(mine.map(metric.reqPerSec)),
          p50: median(mine.map(metric.p50)),
          p90: median(mine.map(metric.p90)),
          p99: median(mine.map(metric.p99)),
          cpuMsPer1k: median(mine.map(metric.cpuMsPer1k)),
        };
        if (path !== 'direct') {
          // Ratio per round first: the machine drifts between rounds, a path and direct in the same
          // round saw the same machine.
          const perRound = (f: (s: Sample) => number): number => median(mine.map((s) => {
            const direct = at.find((d) => d.path === 'direct' && d.round === s.round);
            return direct ? f(s) / f(direct) : NaN;
          }));
          point.ratioToDirect = {
            reqPerSec: perRound(metric.reqPerSec), p50: perRound(metric.p50), p90: perRound(metric.p90),
            p99: perRound(metric.p99), cpuMsPer1k: perRound(metric.cpuMsPer1k),
          };
          if (path === 'kmesh') {
            point.meetsTargets = {
              reqPerSec: point.ratioToDirect.reqPerSec >= TARGETS.minReqPerSecRatio,
              p99: point.ratioToDirect.p99 <= TARGETS.maxP99Ratio,
            };
          }
        }
        out.push(point);
      }
    }
  }
  return out;
}

/** stdout and stderr of a short command (nginx -v prints to stderr). */
function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.status === 0 ? `${r.stdout}${r.stderr}`.trim() : '(unavailable)';
}

export function describeMachine(): MachineInfo {
  const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? cpus()[0]?.model ?? 'unknown';
  const mhz = /^cpu MHz\s*:\s*(.+)$/m.exec(cpuinfo)?.[1];
  const hypervisor = /^flags\s*:.*\bhypervisor\b/m.test(cpuinfo) ? 'virtual machine (hypervisor flag set)' : 'no hypervisor flag';
  const free = sh('free', ['-g']).split('\n').find((l) => l.startsWith('Mem:'))?.trim().split(/\s+/);
  return {
    cpuModel: mhz ? `${model} @ ${Number(mhz).toFixed(0)} MHz` : model,
    nproc: Number(sh('nproc', [])) || cpus().length,
    kernel: sh('uname', ['-r']),
    memory: free ? `${free[1]} GiB total, ${free[6] ?? '?'} GiB available (free -g)` : `${Math.round(totalmem() / 2 ** 30)} GiB`,
    cpuFlagsNote: hypervisor,
  };
}

const fmtRate = (v: number): string => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '–');
const fmtRatio = (v: number | undefined): string => (v !== undefined && Number.isFinite(v) ? v.toFixed(2) : '–');
const fmtCpu = (v: number): string => (Number.isFinite(v) ? v.toFixed(1) : '–');
const fmtLat = (v: number): string => (Number.isFinite(v) ? formatMicros(v) : '–');
const label = (id: PathId): string => ({ direct: '(a) direct', kmesh: '(b) Kmesh', sidecar: '(c) sidecars' })[id];

function modeTable(r: L4Results, mode: ModeId): string[] {
  const rows = r.summary.filter((p) => p.mode === mode);
  const lines = [
    '| conns | path | req/s | p50 | p90 | p99 | CPU ms / 1k req | req/s ÷ direct | p50 ÷ direct | p90 ÷ direct | p99 ÷ direct | CPU ÷ direct |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const p of rows) {
    const q = p.ratioToDirect;
    lines.push(`| ${p.connections} | ${label(p.path)} | ${fmtRate(p.reqPerSec)} | ${fmtLat(p.p50)} | ${fmtLat(p.p90)} | ${fmtLat(p.p99)} | ${fmtCpu(p.cpuMsPer1k)} | ${fmtRatio(q?.reqPerSec)} | ${fmtRatio(q?.p50)} | ${fmtRatio(q?.p90)} | ${fmtRatio(q?.p99)} | ${fmtRatio(q?.cpuMsPer1k)} |`);
  }
  return lines;
}

function targetTable(r: L4Results): { lines: string[]; met: number; total: number } {
  const lines = [
    '| mode | conns | Kmesh req/s ÷ direct (≥ 0.97) | Kmesh p99 ÷ direct (≤ 1.05) | meets both |',
    '|---|---:|---:|---:|---|',
  ];
  let met = 0;
  let total = 0;
  for (const p of r.summary.filter((s) => s.path === 'kmesh')) {
    const ok = p.meetsTargets!.reqPerSec && p.meetsTargets!.p99;
    total += 1;
    if (ok) met += 1;
    const mark = (b: boolean): string => (b ? 'yes' : '**no**');
    lines.push(`| ${p.mode} | ${p.connections} | ${fmtRatio(p.ratioToDirect?.reqPerSec)} ${p.meetsTargets!.reqPerSec ? '' : '(missed)'} | ${fmtRatio(p.ratioToDirect?.p99)} ${p.meetsTargets!.p99 ? '' : '(missed)'} | ${mark(ok)} |`);
  }
  return { lines, met, total };
}

export const SECTION_START = '<!-- bench:l4:start (generated by `npm run bench -- --scenario l4`; edits inside are overwritten) -->';
export const SECTION_END = '<!-- bench:l4:end -->';

export function renderMarkdown(r: L4Results): string {
  const m = r.machine;
  const s = r.settings;
  const targets = targetTable(r);
  const out: string[] = [
    SECTION_START,
    '## L4: direct vs Kmesh (connect4 rewrite) vs two sidecar proxies',
    '',
    `Measured ${r.finishedAt.slice(0, 16).replace('T', ' ')} UTC. Raw samples of every round: [bench/l4-results.json](bench/l4-results.json).`,
    '',
    '### Machine',
    `- CPU: ${m.cpuModel}; ${m.cpuFlagsNote}`,
    `- nproc: ${m.nproc}`,
    `- kernel: ${m.kernel}`,
    `- memory: ${m.memory}`,
    '',
    'A small, shared virtual machine: wrk, nginx, the proxies and the kernel\'s veth work all compete for the',
    'same CPUs, so absolute numbers are modest and noisy. Compare paths through the ratios, which are',
    'taken within a round (path ÷ direct in the same round, then the median over rounds).',
    '',
    '### Reproduce',
    '```sh',
    s.command,
    '```',
    '',
    '### Setup',
    '- Two network namespaces joined by a veth pair: client `kmc-<id>` (10.250.N.1) and server `kms-<id>`',
    '  (10.250.N.2). The client namespace has no default route and `unreachable` routes for the VIP ranges,',
    '  so a connect() to a VIP that nothing rewrote fails locally.',
    `- Backend: ${sh('nginx', ['-v']).replace(/^nginx version: /, '')} in the server namespace, \`worker_processes ${s.nginxWorkers}\`, \`return 200\` with a ${s.responseBytes}-byte body,`,
    '  access log off, its own config/pid/log/temp paths under a temporary directory.',
    '  One worker: the machine has 2 CPUs, and wrk needs the other one; `auto` would make nginx fight wrk.',
    '- (a) direct: wrk (client namespace) → nginx at 10.250.N.2:8080.',
    '- (b) Kmesh: wrk runs inside the mesh cgroup and connects to the VIP 10.96.0.10:80; `kmesh run` (static',
    '  Envoy bootstrap: listener on the VIP → tcp_proxy → STATIC cluster with the nginx endpoint) has',
    '  cgroup/connect4 rewrite the destination to 10.250.N.2:8080. No proxy in the data path. The daemon runs',
    '  with `--no-probe`: this table is the cost of the routing path; the probe\'s own cost is in the probe section.',
    `- (c) sidecars: wrk → HAProxy in the client namespace (127.0.0.1:15001) → HAProxy in the server`,
    '  namespace (10.250.N.2:15006) → nginx on 127.0.0.1:80 there: three TCP connections, as Istio places',
    `  its Envoys. ${s.haproxyMode}`,
    `- wrk: \`-t min(2,c) -c c -d ${s.durationS}s --latency\`; the "new connection per request" mode adds`,
    "  `-H 'Connection: close'` (every request pays a TCP handshake, and for (b) a connect4 lookup).",
    `- Runs are interleaved (a, b, c at one concurrency, then the next concurrency; ${s.rounds} rounds of the`,
    '  whole sweep) and tables show medians over rounds.',
    '- CPU ms / 1k req: whole-machine busy time from /proc/stat (user+nice+system+irq+softirq+steal)',
    '  around each wrk run, divided by the requests it completed. It includes wrk itself, which is the same',
    '  for every path, so the differences are the path\'s cost.',
    '- Before measuring, the bench checks each path: one curl through it answered by nginx; for (b) also',
    '  that the VIP is unreachable from the client namespace without the mesh, and that the daemon\'s',
    '  rewrite counter grew.',
    '',
    `Median 1-minute load average before a run: ${median(r.samples.map((x) => x.loadAvg1 ?? NaN)).toFixed(2)} `+
      '(wrk itself keeps it near 1-2; much more means other work shared the machine and the numbers are noisier).',
    '',
    '### Path checks of this run',
    ...r.verification.map((v) => `- ${v}`),
    '',
    '### Targets',
    `Kmesh req/s ≥ ${TARGETS.minReqPerSecRatio}× direct and p99 ≤ ${TARGETS.maxP99Ratio}× direct at every concurrency (median of per-round ratios).`,
    `Met at ${targets.met} of ${targets.total} points.`,
    '',
    ...targets.lines,
    '',
  ];
  for (const mode of MODES) {
    if (!r.summary.some((p) => p.mode === mode.id)) continue;
    out.push(`### ${mode.label}`, '', ...modeTable(r, mode.id), '');
  }
  out.push('### P90 latency', '', '![P90 latency vs connections](bench/l4-p90-latency.svg)', '', SECTION_END);
  return out.join('\n') + '\n';
}

/** Replaces the generated section of the benchmarks page, or appends it; other text stays. */
export function mergeSection(existing: string | null, section: string): string {
  const header = '# Benchmarks\n\nHow Kmesh compares with no mesh and with a sidecar-proxy path, measured on the real kernel with real\nclients. Sections between `bench:*` markers are written by `npm run bench`.\n\n';
  if (!existing) return header + section;
  const start = existing.indexOf(SECTION_START.slice(0, 22));
  const end = existing.indexOf(SECTION_END);
  if (start >= 0 && end > start) return existing.slice(0, start) + section + existing.slice(end + SECTION_END.length + 1);
  return existing.replace(/\n*$/, '\n\n') + section;
}

export function renderP90Chart(r: L4Results): string {
  const panels = MODES.filter((m) => r.summary.some((p) => p.mode === m.id)).map((mode) => ({
    title: mode.id === 'keepalive' ? 'keep-alive' : 'new connection per request',
    series: PATHS.map((path): Series => ({
      name: path.label,
      color: path.color,
      dashed: path.id === 'kmesh',
      points: r.summary.filter((p) => p.mode === mode.id && p.path === path.id).map((p) => ({ x: p.connections, y: p.p90 })),
    })),
  }));
  return renderLineChart({
    title: `L4 P90 latency vs connections (median of ${r.settings.rounds} round${r.settings.rounds === 1 ? '' : 's'} of ${r.settings.durationS} s)`,
    xLabel: 'concurrent connections (wrk -c, log scale)',
    yLabel: 'P90 latency (log scale)',
    panels,
    formatY: formatMicros,
  });
}
