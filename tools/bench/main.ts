// `npm run bench -- [options]`: Kmesh benchmarks on the real kernel, in lab namespaces.
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from '../lab/index.js';
import { loadAverage1 } from './cpu.js';
import { runL4 } from './l4.js';
import { mergeL7Section, renderL7Markdown, runL7, type SizeId } from './l7.js';
import { mergeProbeSection, renderProbeMarkdown, runProbe } from './probe.js';
import { mergeSockmapSection, renderSockmapMarkdown, runSockmap } from './sockmap.js';
import { mergeXdsScaleSection, renderXdsScaleMarkdown, runXdsScale } from './xds-scale.js';
import { MODES, PATHS, mergeSection, renderMarkdown, renderP90Chart, type L4Results, type ModeId, type PathId } from './report.js';

const USAGE = `usage: npm run bench -- [--scenario l4] [--rounds N] [--duration S] [--connections 1,4,16,64,256]
                       [--modes keepalive,close] [--paths direct,kmesh,sidecar] [--quick] [--out DIR] [--help]

Scenarios:
  l4   wrk → nginx over veth: (a) direct, (b) Kmesh VIP rewritten by connect4, (c) two HAProxy
       sidecars; keep-alive and new-connection-per-request; runs interleaved a,b,c per concurrency.
  sockmap  wrk → nginx on 127.0.0.1, both in the mesh cgroup, sockmap acceleration on vs off
       (--no-sockmap), interleaved; keep-alive; --modes/--paths do not apply (default -c 1,16,64).
  probe  the (b) Kmesh path with kmesh-probe on vs off (--no-probe), interleaved; --modes apply
       (default keepalive,close), default -c 16,64. Writes its own bench:probe section.
  xds-scale  control-plane scale: --services × --endpoints pushed over ADS (test server) to a
       daemon attached to a cgroup the bench creates; full-push time, --changes one-endpoint
       changes (p50/p99), daemon peak RSS. Writes its own bench:xds-scale section. Run on its own
       (--scenario defaults to l4; there is no "all": the scenarios take minutes each).
       --services N (default 10000) --endpoints N (default 10) --changes N (default 1000)
       --xds-mode delta|sotw (default delta); --quick: 1000 services, 100 changes.
  l7   wrk → nginx (1 KiB and 1 MiB files) by (a) direct, (b) Kmesh L7 (VIP + Host header routed in
       the kernel, relay to nginx), (c) two HAProxy sidecars doing the same Host/path/header routing;
       keep-alive and new connection per request; interleaved; --modes apply, default -c 16,64.
       Writes its own bench:l7 section and docs/bench/l7-results.json.

Options:
  --rounds N        repetitions of the whole sweep (default 3); tables show medians
  --duration S      seconds per wrk run (default 5)
  --connections L   comma-separated wrk connection counts (default 1,4,16,64,256)
  --modes L         keepalive,close (default both)
  --paths L         direct,kmesh,sidecar (default all; a subset is for debugging, ratios need direct)
  --quick           smoke run: 1 round of 2 s at 1,16,256 connections; writes to a temp dir unless --out
  --out DIR         where to write results (default: the repository's docs/: docs/benchmarks.md,
                    docs/bench/l4-results.json, docs/bench/l4-p90-latency.svg)
  --help            this text

Needs root, wrk, nginx, haproxy, curl, bpftool, and built packages (npm run bench builds them).`;

interface Cli { xdsScale: { services: number; endpointsPerService: number; changes: number; mode: 'delta' | 'sotw' }; scenario: string; rounds: number; durationS: number; connections: number[]; modes: ModeId[]; paths: PathId[]; outDir: string; quick: boolean }

function positiveInt(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got "${text}"`);
  return n;
}

function parseCli(argv: string[]): Cli | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      scenario: { type: 'string', default: 'l4' },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      connections: { type: 'string' },
      modes: { type: 'string' },
      paths: { type: 'string' },
      quick: { type: 'boolean', default: false },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
      services: { type: 'string' },
      endpoints: { type: 'string' },
      changes: { type: 'string' },
      'xds-mode': { type: 'string' },
    },
    strict: true,
  });
  if (values.help) return null;
  if (!['l4', 'sockmap', 'probe', 'xds-scale', 'l7'].includes(values.scenario!)) throw new Error(`unknown scenario "${values.scenario}" (known: l4, sockmap, probe, xds-scale, l7)`);
  const quick = values.quick!;
  const connections = values.connections
    ? values.connections.split(',').map((c) => positiveInt('connections', c.trim()))
    : values.scenario === 'l7' ? (quick ? [16] : [16, 64]) : values.scenario === 'sockmap' ? (quick ? [16] : [1, 16, 64]) : values.scenario === 'probe' ? (quick ? [16] : [16, 64]) : quick ? [1, 16, 256] : [1, 4, 16, 64, 256];
  const known = MODES.map((m) => m.id) as string[];
  const modes = (values.modes ? values.modes.split(',').map((m) => m.trim()) : known) as ModeId[];
  for (const m of modes) if (!known.includes(m)) throw new Error(`unknown mode "${m}" (known: ${known.join(', ')})`);
  const knownPaths = PATHS.map((p) => p.id) as string[];
  const paths = (values.paths ? values.paths.split(',').map((p) => p.trim()) : knownPaths) as PathId[];
  for (const p of paths) if (!knownPaths.includes(p)) throw new Error(`unknown path "${p}" (known: ${knownPaths.join(', ')})`);
  if (!paths.includes('direct')) throw new Error('--paths must include direct: every ratio is to the direct path of the same round');
  const xdsMode = values['xds-mode'] ?? 'delta';
  if (xdsMode !== 'delta' && xdsMode !== 'sotw') throw new Error(`--xds-mode must be delta or sotw, got "${xdsMode}"`);
  return {
    xdsScale: {
      services: values.services ? positiveInt('services', values.services) : quick ? 1000 : 10_000,
      endpointsPerService: values.endpoints ? positiveInt('endpoints', values.endpoints) : 10,
      changes: values.changes ? positiveInt('changes', values.changes) : quick ? 100 : 1000,
      mode: xdsMode,
    },
    scenario: values.scenario,
    rounds: values.rounds ? positiveInt('rounds', values.rounds) : quick ? 1 : 3,
    durationS: values.duration ? positiveInt('duration', values.duration) : quick ? 2 : 5,
    connections,
    modes,
    paths,
    quick,
    outDir: values.out ?? (quick ? '/tmp/kmesh-bench-quick' : join(repoRoot, 'docs')),
  };
}

function reproduceCommand(c: Cli): string {
  const parts = ['sudo npm run bench -- --scenario l4', `--rounds ${c.rounds}`, `--duration ${c.durationS}`];
  if (c.connections.join(',') !== '1,4,16,64,256') parts.push(`--connections ${c.connections.join(',')}`);
  if (c.modes.length !== MODES.length) parts.push(`--modes ${c.modes.join(',')}`);
  if (c.paths.length !== PATHS.length) parts.push(`--paths ${c.paths.join(',')}`);
  return parts.join(' ');
}

function writeResults(outDir: string, r: L4Results): string[] {
  const benchDir = join(outDir, 'bench');
  mkdirSync(benchDir, { recursive: true });
  const json = join(benchDir, 'l4-results.json');
  const svg = join(benchDir, 'l4-p90-latency.svg');
  const md = join(outDir, 'benchmarks.md');
  writeFileSync(json, JSON.stringify(r, null, 2) + '\n');
  writeFileSync(svg, renderP90Chart(r));
  writeFileSync(md, mergeSection(existsSync(md) ? readFileSync(md, 'utf8') : null, renderMarkdown(r)));
  return [md, json, svg];
}

function printSummary(r: L4Results): void {
  console.log('\nKmesh ÷ direct and sidecars ÷ direct (median of per-round ratios):');
  for (const p of r.summary.filter((s) => s.path !== 'direct')) {
    const q = p.ratioToDirect!;
    const verdict = p.meetsTargets ? (p.meetsTargets.reqPerSec && p.meetsTargets.p99 ? '  meets targets' : '  MISSES targets') : '';
    console.log(`  ${p.mode.padEnd(9)} c=${String(p.connections).padStart(3)} ${p.path.padEnd(7)} req/s ×${q.reqPerSec.toFixed(2)}  p50 ×${q.p50.toFixed(2)}  p90 ×${q.p90.toFixed(2)}  p99 ×${q.p99.toFixed(2)}  cpu/req ×${q.cpuMsPer1k.toFixed(2)}${verdict}`);
  }
}

async function main(): Promise<number> {
  let cli: Cli | null;
  try {
    cli = parseCli(process.argv.slice(2));
  } catch (err) {
    console.error(`bench: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (!cli) {
    console.log(USAGE);
    return 0;
  }
  if (cli.scenario === 'sockmap') return sockmapMain(cli);
  if (cli.scenario === 'l7') return l7Main(cli);
  if (cli.scenario === 'xds-scale') return xdsScaleMain(cli);
  if (cli.scenario === 'probe') return probeMain(cli);
  const runs = cli.rounds * cli.modes.length * cli.connections.length * cli.paths.length;
  console.log(`bench l4: ${runs} wrk runs of ${cli.durationS} s (≈ ${Math.ceil((runs * (cli.durationS + 0.5)) / 60)} min)`);
  const results = await runL4({
    rounds: cli.rounds, durationS: cli.durationS, connections: cli.connections, modes: cli.modes, paths: cli.paths,
    command: reproduceCommand(cli), log: (line) => console.log(line),
  });
  const written = writeResults(cli.outDir, results);
  printSummary(results);
  console.log(`\nwrote ${written.map((f) => (f.startsWith(repoRoot) ? relative(repoRoot, f) : f)).join(', ')}`);
  return 0;
}

/** The l7 scenario writes only its own `bench:l7` section of benchmarks.md (and a JSON). */
async function l7Main(cli: Cli): Promise<number> {
  const sizes: SizeId[] = ['1k', '1m'];
  const command = `sudo npm run bench -- --scenario l7 --rounds ${cli.rounds} --duration ${cli.durationS} --connections ${cli.connections.join(',')} --modes ${cli.modes.join(',')}`;
  const runs = cli.rounds * sizes.length * cli.modes.length * cli.connections.length * cli.paths.length;
  console.log(`bench l7: ${runs} wrk runs of ${cli.durationS} s (≈ ${Math.ceil((runs * (cli.durationS + 0.5)) / 60)} min, load average ${loadAverage1().toFixed(2)})`);
  const r = await runL7({ rounds: cli.rounds, durationS: cli.durationS, connections: cli.connections, modes: cli.modes, sizes, paths: cli.paths, command, log: (line) => console.log(line) });
  mkdirSync(join(cli.outDir, 'bench'), { recursive: true });
  const json = join(cli.outDir, 'bench', 'l7-results.json');
  const md = join(cli.outDir, 'benchmarks.md');
  writeFileSync(json, JSON.stringify(r, null, 2) + '\n');
  writeFileSync(md, mergeL7Section(existsSync(md) ? readFileSync(md, 'utf8') : '# Benchmarks\n', renderL7Markdown(r)));
  for (const s of r.summary.filter((x) => x.path !== 'direct')) {
    const targets = s.targets?.map((t) => `${t.met ? 'meets' : 'MISSES'} ${t.name}`).join('; ') ?? '';
    console.log(`  ${s.size} ${s.mode.padEnd(9)} c=${String(s.connections).padStart(3)} ${s.path.padEnd(7)} ${Math.round(s.reqPerSec)} req/s ÷direct ×${s.ratioToDirect?.toFixed(2)}${s.ratioToSidecar !== null ? ` ÷sidecars ×${s.ratioToSidecar.toFixed(2)}` : ''}  ${targets}`);
  }
  console.log(`\nwrote ${[md, json].map((f) => (f.startsWith(repoRoot) ? relative(repoRoot, f) : f)).join(', ')}`);
  return 0;
}

/** The sockmap scenario writes only its own `bench:sockmap` section of benchmarks.md (and a JSON). */
async function sockmapMain(cli: Cli): Promise<number> {
  const command = `sudo npm run bench -- --scenario sockmap --rounds ${cli.rounds} --duration ${cli.durationS} --connections ${cli.connections.join(',')}`;
  console.log(`bench sockmap: ${cli.rounds * cli.connections.length * 2} wrk runs of ${cli.durationS} s`);
  const r = await runSockmap({ rounds: cli.rounds, durationS: cli.durationS, connections: cli.connections, command, log: (line) => console.log(line) });
  mkdirSync(join(cli.outDir, 'bench'), { recursive: true });
  const json = join(cli.outDir, 'bench', 'sockmap-results.json');
  const md = join(cli.outDir, 'benchmarks.md');
  writeFileSync(json, JSON.stringify(r, null, 2) + '\n');
  writeFileSync(md, mergeSockmapSection(existsSync(md) ? readFileSync(md, 'utf8') : '# Benchmarks\n', renderSockmapMarkdown(r)));
  for (const s of r.summary) {
    console.log(`  c=${String(s.connections).padStart(3)} req/s on÷off ×${s.ratio.reqPerSec.toFixed(2)}  p50 on÷off ×${s.ratio.p50.toFixed(2)}  (on ${Math.round(s.on.reqPerSec)} vs off ${Math.round(s.off.reqPerSec)} req/s)`);
  }
  console.log(`\nwrote ${[md, json].map((f) => (f.startsWith(repoRoot) ? relative(repoRoot, f) : f)).join(', ')}`);
  return 0;
}

/** The probe scenario writes only its own `bench:probe` section of benchmarks.md (and a JSON). */
async function probeMain(cli: Cli): Promise<number> {
  const command = `sudo npm run bench -- --scenario probe --rounds ${cli.rounds} --duration ${cli.durationS} --connections ${cli.connections.join(',')} --modes ${cli.modes.join(',')}`;
  console.log(`bench probe: ${cli.rounds * cli.modes.length * cli.connections.length * 2} wrk runs of ${cli.durationS} s (load average ${loadAverage1().toFixed(2)})`);
  const r = await runProbe({ rounds: cli.rounds, durationS: cli.durationS, connections: cli.connections, modes: cli.modes, command, log: (line) => console.log(line) });
  mkdirSync(join(cli.outDir, 'bench'), { recursive: true });
  const json = join(cli.outDir, 'bench', 'probe-results.json');
  const md = join(cli.outDir, 'benchmarks.md');
  writeFileSync(json, JSON.stringify(r, null, 2) + '\n');
  writeFileSync(md, mergeProbeSection(existsSync(md) ? readFileSync(md, 'utf8') : '# Benchmarks\n', renderProbeMarkdown(r)));
  for (const s of r.summary) {
    console.log(`  ${s.mode.padEnd(9)} c=${String(s.connections).padStart(3)} req/s on÷off ×${s.ratio.reqPerSec.toFixed(3)}  p50 on÷off ×${s.ratio.p50.toFixed(2)}  (on ${Math.round(s.on.reqPerSec)} vs off ${Math.round(s.off.reqPerSec)} req/s)  ${s.meetsTarget ? 'meets' : 'MISSES'} ≤ 3%`);
  }
  console.log(`\nwrote ${[md, json].map((f) => (f.startsWith(repoRoot) ? relative(repoRoot, f) : f)).join(', ')}`);
  return 0;
}

/** The xds-scale scenario writes only its own `bench:xds-scale` section of benchmarks.md (and a JSON). */
async function xdsScaleMain(cli: Cli): Promise<number> {
  const x = cli.xdsScale;
  const command = `sudo npm run bench -- --scenario xds-scale --services ${x.services} --endpoints ${x.endpointsPerService} --changes ${x.changes} --xds-mode ${x.mode}`;
  const r = await runXdsScale({ ...x, command, log: (line) => console.log(line) });
  mkdirSync(join(cli.outDir, 'bench'), { recursive: true });
  const json = join(cli.outDir, 'bench', 'xds-scale-results.json');
  const md = join(cli.outDir, 'benchmarks.md');
  writeFileSync(json, JSON.stringify(r, null, 2) + '\n');
  writeFileSync(md, mergeXdsScaleSection(existsSync(md) ? readFileSync(md, 'utf8') : '# Benchmarks\n', renderXdsScaleMarkdown(r)));
  console.log(`\nwrote ${[md, json].map((f) => (f.startsWith(repoRoot) ? relative(repoRoot, f) : f)).join(', ')}`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`bench: ${err.message}`);
    process.exit(1);
  },
);
