// Control-plane scale (issue 3): N services × M endpoints pushed over ADS (the test server,
// tools/xds-server) to a real daemon attached to a cgroup this bench creates (no traffic: the
// timing is about the configuration reaching the kernel). Measured:
//   1. full push: from the push to the kernel serving it (the daemon's own figure, from the
//      response's arrival to its last kernel write, and from outside: push → km_active flip with
//      the last service's listener present, polled by this process);
//   2. incremental one-endpoint changes: the same two figures per change, p50/p99;
//   3. the daemon's peak RSS (VmHWM of /proc/PID/status).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as api from '@kmesh/api';
import { BpfMap } from '@kmesh/runtime';
import { cgroup2Mount, kmeshCli } from '../lab/index.js';
import { requireCompiled } from '../lab/paths.js';
import { XdsServer, type ResourceSet } from '../xds-server/index.js';

export interface XdsScaleOptions {
  services: number;
  endpointsPerService: number;
  changes: number;
  mode: 'sotw' | 'delta';
  command: string;
  log: (line: string) => void;
}

export interface Percentiles { p50: number; p90: number; p99: number; max: number; mean: number }

export interface XdsScaleResults {
  scenario: 'xds-scale';
  startedAt: string;
  finishedAt: string;
  settings: Omit<XdsScaleOptions, 'log'>;
  fullPush: { daemonMs: number; kernelMs: number; externalMs: number; records: Record<string, number> };
  incremental: { changes: number; inPlace: number; daemonMs: Percentiles; kernelMs: Percentiles; externalMs: Percentiles; generationUnchanged: boolean };
  peakRssMb: number;
  targets: { fullPushMs: number; incrementalP99Ms: number; peakRssMb: number };
}

export const XDS_SCALE_TARGETS = { fullPushMs: 2000, incrementalP99Ms: 5, peakRssMb: 150 } as const;

const TCP_PROXY = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';

const serviceName = (i: number) => `svc-${String(i).padStart(5, '0')}`;
/** VIPs 10.96.0.0/16 from 10.96.0.1; service i → 10.96.(i+1 >> 8).((i+1) & 255). */
const vipOf = (i: number) => `10.96.${(i + 1) >> 8}.${(i + 1) & 255}`;
/** Endpoint addresses 10.250.x.y: never dialled (no traffic in this bench). */
const endpointIp = (i: number, j: number, salt = 0) => {
  const n = i * 64 + j + salt * 16;
  return `10.250.${(n >> 8) & 255}.${n & 255}`;
};

function assignment(i: number, endpoints: number, changed?: { index: number; salt: number }) {
  return {
    cluster_name: serviceName(i),
    endpoints: [{
      lb_endpoints: Array.from({ length: endpoints }, (_, j) => ({
        endpoint: { address: { socket_address: { address: endpointIp(i, j, changed?.index === j ? changed.salt : 0), port_value: 8080 } } },
      })),
    }],
  };
}

function resources(services: number, endpoints: number): ResourceSet {
  const ids = Array.from({ length: services }, (_, i) => i);
  return {
    cluster: ids.map((i) => ({ name: serviceName(i), type: 'EDS', eds_cluster_config: { eds_config: { ads: {} } } })),
    endpoint: ids.map((i) => assignment(i, endpoints)),
    listener: ids.map((i) => ({
      name: serviceName(i),
      address: { socket_address: { address: vipOf(i), port_value: 80 } },
      filter_chains: [{ filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP_PROXY, stat_prefix: serviceName(i), cluster: serviceName(i) } }] }],
    })),
    route: [],
  };
}

export function percentiles(samples: number[]): Percentiles {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? NaN;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: s[s.length - 1] ?? NaN, mean: s.reduce((a, b) => a + b, 0) / (s.length || 1) };
}

/** Yield to the event loop (the xDS server in this process must get to write). */
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

interface DaemonProcess { child: ChildProcess; lines: Record<string, unknown>[]; waitFor(match: (l: Record<string, unknown>) => boolean, timeoutMs: number, from?: number): Promise<Record<string, unknown>> }

function startDaemon(args: string[]): DaemonProcess {
  // KMESH_BENCH_DAEMON_NODE_ARGS: extra node flags for the daemon, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
  // to profile it under this load (NODE_OPTIONS refuses --cpu-prof).
  const nodeArgs = (process.env.KMESH_BENCH_DAEMON_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const child = spawn(process.execPath, [...nodeArgs, requireCompiled(kmeshCli), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  let buffer = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        lines.push({ msg: line });
      }
    }
    for (const w of [...waiters]) w();
  });
  return {
    child,
    lines,
    waitFor(match, timeoutMs, from = 0) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = lines.slice(from).find(match);
          if (!found) return false;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`daemon: no matching log line within ${timeoutMs} ms; last lines:\n${lines.slice(-8).map((l) => JSON.stringify(l)).join('\n')}`));
        }, timeoutMs);
        if (!check()) waiters.add(check);
      });
    },
  };
}

const fieldsOf = (l: Record<string, unknown>) => (l.fields ?? {}) as Record<string, unknown>;

function vmHwmMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return Number(m[1]) / 1024;
}

export async function runXdsScale(opts: XdsScaleOptions): Promise<XdsScaleResults> {
  if (process.getuid?.() !== 0) throw new Error('the xds-scale bench needs root (it loads BPF and attaches to a cgroup it creates)');
  const startedAt = new Date().toISOString();
  const id = `kmesh-bench-xds-${process.pid}`;
  const cgroup = join(cgroup2Mount(), id);
  const pinPath = `/sys/fs/bpf/${id}`;
  const server = new XdsServer();
  let daemon: DaemonProcess | null = null;
  const maps: BpfMap[] = [];
  mkdirSync(cgroup);
  try {
    // A one-service config first: the daemon attaches with it, then the full set is the push measured.
    const full = resources(opts.services, opts.endpointsPerService);
    server.setResources(resources(1, opts.endpointsPerService));
    await server.start(0);
    daemon = startDaemon(['run', '--xds', server.address, '--xds-mode', opts.mode, '--cgroup', cgroup, '--pin-path', pinPath, '--admin', 'off']);
    await daemon.waitFor((l) => l.msg === 'attached', 30_000);
    const open = (name: string) => {
      const m = BpfMap.fromPin(join(pinPath, name));
      maps.push(m);
      return m;
    };
    const active = open(api.MapNames.active);
    const listener = open(api.MapNames.listener);
    const cluster = open(api.MapNames.cluster);
    const activeGen = () => api.decodeActive(active.lookup(api.activeKey())!).gen;

    // 1. full push
    opts.log(`full push: ${opts.services} services × ${opts.endpointsPerService} endpoints (${opts.mode})`);
    const lastVip = { address: { family: 4 as const, ip: vipOf(opts.services - 1), port: 80 } };
    const fromLine = daemon.lines.length;
    const pushedAt = performance.now();
    server.setResources(full);
    const gen0 = activeGen();
    let externalMs = NaN;
    const deadline = pushedAt + 120_000;
    for (;;) {
      const gen = activeGen();
      if (gen !== gen0 && listener.lookup(api.encodeListenerKey(gen, lastVip))) {
        externalMs = performance.now() - pushedAt;
        break;
      }
      if (performance.now() > deadline) throw new Error('the full push did not reach the kernel within 120 s');
      await tick();
    }
    const applied = await daemon.waitFor((l) => l.msg === 'config applied' && (fieldsOf(l).records as { listeners?: number } | undefined)?.listeners === opts.services, 60_000, fromLine);
    const records = fieldsOf(applied).records as Record<string, number>;
    const fullPush = { daemonMs: Number(fieldsOf(applied).xdsToKernelMs), kernelMs: Number(fieldsOf(applied).kernelMs), externalMs, records };
    opts.log(`  daemon (response arrival → last kernel write): ${fullPush.daemonMs.toFixed(1)} ms (kernel part ${fullPush.kernelMs.toFixed(1)} ms); outside (push → visible): ${externalMs.toFixed(1)} ms; records ${JSON.stringify(records)}`);
    await new Promise((r) => setTimeout(r, 1500)); // let the retired generation's sweep run

    // 2. incremental one-endpoint changes
    opts.log(`incremental: ${opts.changes} one-endpoint changes`);
    const genBefore = activeGen();
    const daemonMs: number[] = [];
    const kernelMs: number[] = [];
    const outsideMs: number[] = [];
    let inPlace = 0;
    const current = full.endpoint.slice();
    for (let n = 0; n < opts.changes; n++) {
      const i = (n * 7919) % opts.services; // spread over the clusters, deterministic
      current[i] = assignment(i, opts.endpointsPerService, { index: n % opts.endpointsPerService, salt: 1 + (n % 3) });
      const clusterKey = api.encodeClusterKey(genBefore, i + 1); // ids are 1..N in name order
      const before = cluster.lookup(clusterKey);
      const from = daemon.lines.length;
      server.setResources({ endpoint: current });
      const t0 = performance.now(); // the response is written: the server's own hashing is not counted
      for (;;) {
        const now = cluster.lookup(clusterKey);
        if (now && before && !now.equals(before)) break;
        if (performance.now() - t0 > 10_000) throw new Error(`change ${n} (cluster ${serviceName(i)}) did not reach the kernel within 10 s`);
        await tick();
      }
      outsideMs.push(performance.now() - t0);
      const line = await daemon.waitFor((l) => l.msg === 'endpoints applied in place' || l.msg === 'config applied', 10_000, from);
      if (line.msg === 'endpoints applied in place') inPlace++;
      daemonMs.push(Number(fieldsOf(line).xdsToKernelMs));
      kernelMs.push(Number(fieldsOf(line).kernelMs));
      if ((n + 1) % 250 === 0) opts.log(`  ${n + 1}/${opts.changes}`);
    }
    const generationUnchanged = activeGen() === genBefore;
    const peakRssMb = vmHwmMb(daemon.child.pid!);
    const incremental = { changes: opts.changes, inPlace, daemonMs: percentiles(daemonMs), kernelMs: percentiles(kernelMs), externalMs: percentiles(outsideMs), generationUnchanged };
    opts.log(`  daemon p50 ${incremental.daemonMs.p50.toFixed(2)} ms p99 ${incremental.daemonMs.p99.toFixed(2)} ms (kernel part p50 ${incremental.kernelMs.p50.toFixed(2)} p99 ${incremental.kernelMs.p99.toFixed(2)} ms); outside p50 ${incremental.externalMs.p50.toFixed(2)} ms p99 ${incremental.externalMs.p99.toFixed(2)} ms; in place ${inPlace}/${opts.changes}`);
    opts.log(`peak RSS of the daemon: ${peakRssMb.toFixed(1)} MB`);
    const { log: _log, ...settings } = opts;
    return { scenario: 'xds-scale', startedAt, finishedAt: new Date().toISOString(), settings, fullPush, incremental, peakRssMb, targets: { ...XDS_SCALE_TARGETS } };
  } finally {
    for (const m of maps) m.close();
    if (daemon && daemon.child.exitCode === null) {
      const exited = new Promise((r) => daemon!.child.once('exit', r));
      daemon.child.kill('SIGTERM');
      await exited;
    }
    await server.stop();
    // The daemon leaves its programs attached by design: detach and remove them like `kmesh cleanup`.
    await new Promise<void>((resolve) => {
      const c = spawn(process.execPath, [requireCompiled(kmeshCli), 'cleanup', '--pin-path', pinPath], { stdio: 'ignore' });
      c.once('exit', () => resolve());
    });
    rmSync(pinPath, { recursive: true, force: true });
    try {
      rmdirSync(cgroup);
    } catch (error) {
      opts.log(`could not remove cgroup ${cgroup}: ${(error as Error).message}`);
    }
  }
}

const fmt = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));
const verdict = (ok: boolean, over: string) => (ok ? 'meets' : `**misses** (${over})`);

export function renderXdsScaleMarkdown(r: XdsScaleResults): string {
  const t = r.targets;
  const full = Math.max(r.fullPush.daemonMs, r.fullPush.externalMs);
  const p99 = Math.max(r.incremental.daemonMs.p99, r.incremental.externalMs.p99);
  return [
    `<!-- bench:xds-scale:start (generated by \`npm run bench -- --scenario xds-scale\`; edits inside are overwritten) -->`,
    `## Control-plane scale: ${r.settings.services.toLocaleString('en-US')} services × ${r.settings.endpointsPerService} endpoints over ADS (${r.settings.mode})`,
    '',
    `Run ${r.startedAt} → ${r.finishedAt}: \`${r.settings.command}\`. The test ADS server (tools/xds-server) and a real daemon`,
    'attached to a cgroup the bench creates (no traffic). "Daemon" figures are measured by the daemon from the',
    "response's arrival (gRPC has decoded it) to its last kernel write (log field `xdsToKernelMs`; the kernel",
    'part, `kernelMs`, is the GenerationStore call alone); "outside"',
    'figures are measured by the bench from the push to the change being visible in the pinned maps (polled),',
    'so they also count the transfer and protobuf decoding.',
    '',
    '| measure | daemon | outside | target | verdict |',
    '|---|---|---|---|---|',
    `| full push (one generation of ${r.fullPush.records.listeners} listeners, ${r.fullPush.records.clusters} clusters, ${r.fullPush.records.endpoints} endpoints) | ${fmt(r.fullPush.daemonMs)} ms | ${fmt(r.fullPush.externalMs)} ms | ≤ ${t.fullPushMs} ms | ${verdict(full <= t.fullPushMs, `${(full / t.fullPushMs).toFixed(1)}× the target`)} |`,
    `| of which the kernel writes (encode, write, flip) | ${fmt(r.fullPush.kernelMs)} ms | | | |`,
    `| one-endpoint change, p50 (${r.incremental.changes} changes) | ${fmt(r.incremental.daemonMs.p50)} ms | ${fmt(r.incremental.externalMs.p50)} ms | | |`,
    `| one-endpoint change, p99 | ${fmt(r.incremental.daemonMs.p99)} ms | ${fmt(r.incremental.externalMs.p99)} ms | ≤ ${t.incrementalP99Ms} ms | ${verdict(p99 <= t.incrementalP99Ms, `${(p99 / t.incrementalP99Ms).toFixed(1)}× the target`)} |`,
    `| of which the kernel writes (encode, write, switch), p50 / p99 | ${fmt(r.incremental.kernelMs.p50)} / ${fmt(r.incremental.kernelMs.p99)} ms | | | |`,
    `| one-endpoint change, max | ${fmt(r.incremental.daemonMs.max)} ms | ${fmt(r.incremental.externalMs.max)} ms | | |`,
    `| daemon peak RSS (VmHWM) | ${r.peakRssMb.toFixed(0)} MB | | ≤ ${t.peakRssMb} MB | ${verdict(r.peakRssMb <= t.peakRssMb, `${(r.peakRssMb - t.peakRssMb).toFixed(0)} MB over`)} |`,
    '',
    `Incremental changes applied in place (same generation, the cluster record pointed at a fresh endpoint set): ${r.incremental.inPlace} of ${r.incremental.changes}; generation unchanged over the run: ${r.incremental.generationUnchanged ? 'yes' : 'no'}.`,
    '',
    '<!-- bench:xds-scale:notes -->',
    '<!-- bench:xds-scale:end -->',
  ].join('\n');
}

/** Replace (or append) the xds-scale section; the notes written by hand below the marker are kept. */
export function mergeXdsScaleSection(existing: string, section: string): string {
  const start = existing.indexOf('<!-- bench:xds-scale:start');
  const end = existing.indexOf('<!-- bench:xds-scale:end -->');
  if (start < 0 || end < 0) return `${existing.trimEnd()}\n\n${section}\n`;
  const notesAt = existing.indexOf('<!-- bench:xds-scale:notes -->', start);
  const notes = notesAt >= 0 && notesAt < end ? existing.slice(notesAt + '<!-- bench:xds-scale:notes -->'.length, end) : '\n';
  const withNotes = section.replace('<!-- bench:xds-scale:notes -->\n<!-- bench:xds-scale:end -->', `<!-- bench:xds-scale:notes -->${notes}<!-- bench:xds-scale:end -->`);
  return existing.slice(0, start) + withNotes + existing.slice(end + '<!-- bench:xds-scale:end -->'.length);
}
