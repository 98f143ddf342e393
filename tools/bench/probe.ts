// The probe scenario (issue 5): what kmesh-probe costs the data path. The L4 scenario's Kmesh path
// (wrk in the client netns and mesh cgroup → VIP 10.96.0.10:80, connect4 rewrites → nginx in the
// server netns), with the daemon started with the probe (default, access log to a file) and with
// `--no-probe`, interleaved. The probe's work is per connection (one OPEN and one CLOSE record, an
// access-log line, metric updates), so new-connection-per-request is the mode that shows its cost;
// keep-alive shows that established connections pay nothing.
//
// Before anything is measured: the VIP answers through the mesh, and with the probe on /metrics
// counts the connection and the access log has its line (both kept in the results as a sample).
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, type DaemonHandle } from '../lab/index.js';
import { adminGet } from '../lab/daemon.js';
import { sleep } from '../lab/system.js';
import { clockTicksPerSecond, loadAverage1 } from './cpu.js';
import { readRewrittenCount } from './kmesh-stats.js';
import { NGINX_PORT, NGINX_WORKERS, ServerSide, VIP, VIP_PORT, curlInClient, expectNginx, pathTarget, preflight, tuneNamespaces, waitForListen } from './l4.js';
import { describeMachine, median, type MachineInfo, type ModeId } from './report.js';
import { RESPONSE_BYTES, kmeshConfig, nginxConfig } from './servers.js';
import { parseWrkOutput, wrkArgs, wrkFailure, type WrkResult } from './wrk.js';

export type ProbeSetting = 'on' | 'off';
export interface ProbeOptions { rounds: number; durationS: number; connections: number[]; modes: ModeId[]; command: string; log: (line: string) => void }
export interface ProbeSample {
  round: number; mode: ModeId; connections: number; probe: ProbeSetting; wrk: WrkResult; loadAvg1: number;
  /** km_stats CONNECT_REWRITTEN growth: proof the run went through the mesh */
  rewrites: number;
  /** CPU the daemon used during the run (user + system), ms per 1,000 requests */
  daemonCpuMsPer1k: number;
  /** probe on: kmesh_tcp_connections_opened_total and ring_full drops after the run (the daemon is fresh per run) */
  probeOpened?: number;
  probeRingFull?: number;
}
interface Point { reqPerSec: number; p50: number; p99: number; daemonCpuMsPer1k: number }
export interface ProbeSummary {
  mode: ModeId; connections: number; on: Point; off: Point; ratio: { reqPerSec: number; p50: number; p99: number }; meetsTarget: boolean;
  /** req/s on ÷ off of each round: their spread is the noise the median has to beat */
  roundRatios: number[];
}
export interface ProbeEvidence { metrics: string[]; accessLog: string }
export interface ProbeResults {
  scenario: 'probe'; startedAt: string; finishedAt: string; machine: MachineInfo; settings: Omit<ProbeOptions, 'log'>;
  verification: string[]; evidence: ProbeEvidence; summary: ProbeSummary[]; samples: ProbeSample[];
}

/** The goal (issue 5): the probe costs at most 3% of req/s. */
export const PROBE_TARGET = { minReqPerSecRatio: 0.97 } as const;

/** Sum of one Prometheus counter over all its label sets (optionally only lines matching `labels`). */
export function sumMetric(text: string, name: string, labels = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (labels && !line.includes(labels)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
  }
  return sum;
}

/** utime + stime of a process in seconds (/proc/PID/stat fields 14 and 15, after the command name). */
function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clockTicksPerSecond();
}

async function metricsText(daemon: DaemonHandle): Promise<{ status: number; body: string }> {
  return adminGet(daemon.adminUrl, '/metrics', 5000);
}

export async function runProbe(o: ProbeOptions): Promise<ProbeResults> {
  preflight(true);
  const startedAt = new Date().toISOString();
  const dir = mkdtempSync(join(tmpdir(), 'kmesh-bench-probe-'));
  const lab = await Lab.create({ id: `bpr${process.pid % 100000}`, servers: [] });
  const server = new ServerSide(lab.serverNetns);
  const pinPath = `/sys/fs/bpf/kmesh-bench-${lab.id}`;
  const accessLog = join(dir, 'access.log');
  let daemon: DaemonHandle | null = null;
  const onExit = (): void => server.tracker.killAllSync();
  process.on('exit', onExit);

  const setProbe = async (s: ProbeSetting): Promise<DaemonHandle> => {
    if (daemon) await daemon.kill('SIGTERM');
    daemon = null;
    // The access log goes to a file, as a deployment would have it (stdout is the lab's pipe).
    const d = await lab.startDaemon({ config: join(dir, 'kmesh.yaml'), pinPath, extraArgs: s === 'off' ? ['--no-probe'] : ['--access-log', accessLog] });
    daemon = d;
    if (s === 'on') await d.waitForLog(/"msg":"probe attached"/, 10_000);
    else if ((await metricsText(d)).status !== 503) throw new Error('--no-probe: /metrics should answer 503 (no probe), the probe is running anyway');
    return d;
  };

  try {
    const a = lab.addresses;
    o.log(`lab ${lab.id}: client netns ${lab.clientNetns}, server netns ${lab.serverNetns} (${a.serverV4}), cgroup ${lab.cgroup}`);
    await tuneNamespaces(lab);
    const nginxConf = join(dir, 'nginx.conf');
    writeFileSync(nginxConf, nginxConfig({ dir, listen: [`${a.serverV4}:${NGINX_PORT}`], workers: NGINX_WORKERS }));
    const nginx = server.spawn('nginx', 'nginx', ['-p', dir, '-e', join(dir, 'nginx-error.log'), '-c', nginxConf]);
    await waitForListen(lab, pathTarget('direct', a.serverV4).url, 'nginx', nginx);
    writeFileSync(join(dir, 'kmesh.yaml'), kmeshConfig({ vip: VIP, vipPort: VIP_PORT, backend: a.serverV4, backendPort: NGINX_PORT }));
    const vipUrl = pathTarget('kmesh', a.serverV4).url;

    // Checks: the probe sees a mesh connection (metrics and access log); --no-probe has no /metrics.
    const verification: string[] = [];
    let d = await setProbe('on');
    expectNginx(`Kmesh ${vipUrl}`, await curlInClient(lab, vipUrl, true));
    const listener = `listener="${VIP}:${VIP_PORT}"`;
    let metrics = '';
    for (let i = 0; i < 50 && sumMetric(metrics, 'kmesh_tcp_connections_closed_total', listener) < 1; i++) {
      await sleep(100);
      metrics = (await metricsText(d)).body;
    }
    const opened = sumMetric(metrics, 'kmesh_tcp_connections_opened_total', listener);
    const closed = sumMetric(metrics, 'kmesh_tcp_connections_closed_total', listener);
    if (opened < 1 || closed < 1) throw new Error(`probe check failed: after one curl to ${vipUrl}, /metrics has opened=${opened} closed=${closed} for ${listener}:\n${metrics}`);
    const logLine = existsSync(accessLog) ? readFileSync(accessLog, 'utf8').split('\n').find((l) => l.includes(`${VIP}:${VIP_PORT}`)) : undefined;
    if (!logLine) throw new Error(`probe check failed: the access log ${accessLog} has no line for ${VIP}:${VIP_PORT}`);
    verification.push(`probe on: one curl ${vipUrl} in the mesh cgroup → /metrics kmesh_tcp_connections_opened_total{${listener}} = ${opened}, closed = ${closed}, and one access-log line`);
    const evidence: ProbeEvidence = { metrics: metrics.split('\n').filter((l) => l.includes(listener) && !l.includes('_bucket{')), accessLog: logLine };
    d = await setProbe('off');
    expectNginx(`Kmesh ${vipUrl} with --no-probe`, await curlInClient(lab, vipUrl, true));
    verification.push('probe off (--no-probe): the VIP still answers through the mesh, /metrics answers 503');
    for (const v of verification) o.log(`check: ${v}`);

    const samples: ProbeSample[] = [];
    const total = o.rounds * o.modes.length * o.connections.length * 2;
    for (let round = 1; round <= o.rounds; round++) {
      for (const mode of o.modes) {
        for (const [ci, connections] of o.connections.entries()) {
          // Alternate which setting goes first, so drift in the machine's load favours neither.
          const order: ProbeSetting[] = (round + ci + o.modes.indexOf(mode)) % 2 ? ['on', 'off'] : ['off', 'on'];
          for (const probe of order) {
            d = await setProbe(probe);
            const rw0 = readRewrittenCount(pinPath);
            const loadAvg1 = loadAverage1();
            const cpu0 = processCpuSeconds(d.pid);
            const args = wrkArgs({ url: vipUrl, connections, durationS: o.durationS, keepAlive: mode === 'keepalive' });
            const r = await lab.execInClient('wrk', args, { inMeshCgroup: true, timeoutMs: (o.durationS + 30) * 1000 });
            if (r.code !== 0) throw new Error(`wrk ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}\n${r.stdout}`);
            const wrk = parseWrkOutput(r.stdout);
            const daemonCpuMsPer1k = ((processCpuSeconds(d.pid) - cpu0) * 1e6) / Math.max(1, wrk.requests);
            const failure = wrkFailure(wrk);
            if (failure) throw new Error(`probe ${probe}, ${mode}, ${connections} connections: ${failure}\n${r.stdout}`);
            if (nginx.hasExited()) throw new Error(`nginx died: ${nginx.stderr().trim()}`);
            const rewrites = readRewrittenCount(pinPath) - rw0;
            const minimum = mode === 'keepalive' ? connections : wrk.requests;
            if (rewrites < minimum) throw new Error(`only ${rewrites} rewrites for ${minimum} connections wrk made; traffic bypassed the mesh`);
            const sample: ProbeSample = { round, mode, connections, probe, wrk, loadAvg1, rewrites, daemonCpuMsPer1k };
            if (probe === 'on') {
              await sleep(300); // the last CLOSE records are read from the ring asynchronously
              const text = (await metricsText(d)).body;
              sample.probeOpened = sumMetric(text, 'kmesh_tcp_connections_opened_total', listener);
              sample.probeRingFull = sumMetric(text, 'kmesh_probe_events_total', 'outcome="ring_full"');
              if (sample.probeOpened < 1) throw new Error(`probe on: /metrics counted no connection during a run of ${wrk.requests} requests`);
            }
            samples.push(sample);
            o.log(`[${samples.length}/${total}] round ${round} ${mode.padEnd(9)} c=${String(connections).padStart(3)} probe ${probe.padEnd(3)} ${Math.round(wrk.reqPerSec).toString().padStart(7)} req/s  p50 ${wrk.latencyUs.p50}us  p99 ${wrk.latencyUs.p99}us  rewrites ${rewrites}  daemon cpu ${daemonCpuMsPer1k.toFixed(1)} ms/1k${sample.probeOpened !== undefined ? `  probe opened ${sample.probeOpened} ring_full ${sample.probeRingFull}` : ''}  load ${loadAvg1.toFixed(2)}`);
          }
        }
      }
    }
    const { log: _log, ...settings } = o;
    void _log;
    return { scenario: 'probe', startedAt, finishedAt: new Date().toISOString(), machine: describeMachine(), settings, verification, evidence, summary: summarizeProbe(samples), samples };
  } finally {
    server.stopping = true;
    await server.tracker.stopAll();
    if (daemon) await (daemon as DaemonHandle).kill('SIGTERM');
    await lab.destroy(); // our processes, `kmesh cleanup` of the pin path, the netns and the cgroup
    rmSync(dir, { recursive: true, force: true });
    process.off('exit', onExit);
  }
}

/** Medians per setting, and the median of the per-round ratios on ÷ off (same round, same load). */
export function summarizeProbe(samples: ProbeSample[]): ProbeSummary[] {
  const out: ProbeSummary[] = [];
  const modes = [...new Set(samples.map((s) => s.mode))];
  const conns = [...new Set(samples.map((s) => s.connections))].sort((a, b) => a - b);
  for (const mode of modes) {
    for (const connections of conns) {
      const of = (p: ProbeSetting) => samples.filter((x) => x.mode === mode && x.connections === connections && x.probe === p);
      if (of('on').length === 0 || of('off').length === 0) continue;
      const point = (p: ProbeSetting): Point => ({
        reqPerSec: median(of(p).map((x) => x.wrk.reqPerSec)),
        p50: median(of(p).map((x) => x.wrk.latencyUs.p50)),
        p99: median(of(p).map((x) => x.wrk.latencyUs.p99)),
        daemonCpuMsPer1k: median(of(p).map((x) => x.daemonCpuMsPer1k)),
      });
      const pairs = of('on').flatMap((on) => {
        const off = of('off').find((x) => x.round === on.round);
        return off ? [{ on: on.wrk, off: off.wrk }] : [];
      });
      const ratio = {
        reqPerSec: median(pairs.map((p) => p.on.reqPerSec / p.off.reqPerSec)),
        p50: median(pairs.map((p) => p.on.latencyUs.p50 / p.off.latencyUs.p50)),
        p99: median(pairs.map((p) => p.on.latencyUs.p99 / p.off.latencyUs.p99)),
      };
      const roundRatios = pairs.map((p) => p.on.reqPerSec / p.off.reqPerSec);
      out.push({ mode, connections, on: point('on'), off: point('off'), ratio, meetsTarget: ratio.reqPerSec >= PROBE_TARGET.minReqPerSecRatio, roundRatios });
    }
  }
  return out;
}

const START = '<!-- bench:probe:start';
const END = '<!-- bench:probe:end -->';

export function renderProbeMarkdown(r: ProbeResults): string {
  const rows = r.summary.map((s) =>
    `| ${s.mode} | ${s.connections} | ${Math.round(s.off.reqPerSec)} | ${Math.round(s.on.reqPerSec)} | **×${s.ratio.reqPerSec.toFixed(3)}** | ${s.roundRatios.map((x) => x.toFixed(2)).join(', ')} | ${s.off.p50} | ${s.on.p50} | ×${s.ratio.p50.toFixed(2)} | ${s.off.p99} | ${s.on.p99} | ${s.off.daemonCpuMsPer1k.toFixed(1)} | ${s.on.daemonCpuMsPer1k.toFixed(1)} | ${s.meetsTarget ? 'yes' : '**no**'} |`);
  const loads = r.samples.map((s) => s.loadAvg1);
  const ringFull = r.samples.reduce((n, s) => n + (s.probeRingFull ?? 0), 0);
  return `${START} (generated by \`npm run bench -- --scenario probe\`; edits inside are overwritten) -->
## Probe overhead: the Kmesh path with kmesh-probe on vs off (bench:probe)

The L4 scenario's Kmesh path (wrk in the client netns and mesh cgroup → VIP ${VIP}:${VIP_PORT}, connect4 rewrite
→ nginx, 1 worker, ${RESPONSE_BYTES}-byte answers, in the server netns). **on**: \`kmesh run --access-log FILE\` (the
probe's tracepoint program, ring buffer reader, metrics and one JSON access-log line per connection);
**off**: \`kmesh run --no-probe\`. ${r.settings.rounds} interleaved rounds of ${r.settings.durationS} s; the daemon is restarted with the
setting before each run and the order alternates. Every run was checked to go through the mesh (km_stats
CONNECT_REWRITTEN grew by at least one per connection) and, with the probe on, /metrics counted the
connections. Ratios are the median of the per-round ratios on ÷ off; latencies in µs, medians. Target:
req/s on ÷ off ≥ ${PROBE_TARGET.minReqPerSecRatio} (≤ 3% overhead).

| mode | wrk -c | off req/s | on req/s | req/s on÷off | per round | off p50 | on p50 | p50 on÷off | off p99 | on p99 | daemon CPU ms/1k req off | on | meets ≤ 3% |
|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|
${rows.join('\n')}

Probe records dropped because the ring was full, over all runs: ${ringFull}. 1-minute load average
before the runs: ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)} on ${r.machine.nproc} CPUs (the machine is shared with other work: the per-round ratios
show how much one run moves; a median closer to 1 than that spread is not a measured overhead).

Machine: ${r.machine.nproc} × ${r.machine.cpuModel}, kernel ${r.machine.kernel}. Run ${r.startedAt}. Reproduce: \`${r.settings.command}\`.
${END}
`;
}

export function mergeProbeSection(existing: string, section: string): string {
  const start = existing.indexOf(START);
  const end = existing.indexOf(END);
  if (start >= 0 && end > start) return existing.slice(0, start) + section + existing.slice(end + END.length + 1);
  return existing.replace(/\n*$/, '\n\n') + section;
}
