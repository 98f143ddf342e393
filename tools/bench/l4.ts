// The L4 scenario (issue 2): wrk → nginx over veth by three paths, interleaved and repeated.
//   (a) direct:  wrk (client netns)                   → nginx 10.250.N.2:8080
//   (b) kmesh:   wrk (client netns, mesh cgroup) → VIP 10.96.0.10:80, connect4 rewrites → nginx :8080
//   (c) sidecar: wrk → HAProxy 127.0.0.1:15001 (client netns) → HAProxy 10.250.N.2:15006 (server
//                netns) → nginx 127.0.0.1:80 (server netns)
// Each path is checked before anything is measured: a bench that measures a broken path is worse
// than none.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, daemonAvailable, kmeshCli, type DaemonHandle } from '../lab/index.js';
import { ProcessTracker, type LabProcess } from '../lab/processes.js';
import { sleep } from '../lab/system.js';
import { busyCpuSeconds, cpuMsPer1kRequests, loadAverage1, sampleCpu } from './cpu.js';
import { readRewrittenCount } from './kmesh-stats.js';
import { MODES, PATHS, describeMachine, summarize, type BenchSettings, type L4Results, type ModeId, type PathId, type Sample } from './report.js';
import { RESPONSE_BYTES, RESPONSE_MARKER, haproxyConfig, kmeshConfig, nginxConfig } from './servers.js';
import { parseWrkOutput, wrkArgs, wrkFailure, type WrkResult } from './wrk.js';

export interface L4Options {
  rounds: number;
  durationS: number;
  connections: number[];
  modes: ModeId[];
  /** which paths to run (default all three); without 'kmesh' no daemon is started */
  paths: PathId[];
  command: string;
  log: (line: string) => void;
}

export const VIP = '10.96.0.10';
export const VIP_PORT = 80;
export const NGINX_PORT = 8080;
const SIDECAR_OUT_PORT = 15001; // Istio's outbound capture port
const SIDECAR_IN_PORT = 15006; // Istio's inbound capture port
export const NGINX_WORKERS = 1;
const TOOLS = ['wrk', 'nginx', 'haproxy', 'curl', 'ip', 'bpftool'];

/** Where each path sends wrk, and whether wrk runs in the mesh cgroup. */
export function pathTarget(path: PathId, serverIp: string): { url: string; inMeshCgroup: boolean } {
  const table: Record<PathId, { url: string; inMeshCgroup: boolean }> = {
    direct: { url: `http://${serverIp}:${NGINX_PORT}/`, inMeshCgroup: false },
    kmesh: { url: `http://${VIP}:${VIP_PORT}/`, inMeshCgroup: true },
    sidecar: { url: `http://127.0.0.1:${SIDECAR_OUT_PORT}/`, inMeshCgroup: false },
  };
  return table[path];
}

/** Processes the bench starts in the server netns (the lab has no long-running spawn there). */
export class ServerSide {
  readonly tracker = new ProcessTracker();
  /** set before stopping the processes on purpose, so their exit is not reported as a failure */
  stopping = false;
  constructor(private readonly netns: string) {}
  /** Start `cmd` in the server netns; with `cgroup`, inside that cgroup (joined before `ip netns exec`
   * remounts /sys, so children such as nginx workers are born in it). */
  spawn(name: string, cmd: string, args: string[], cgroup?: string): LabProcess {
    const p = cgroup === undefined
      ? this.tracker.spawn('ip', ['netns', 'exec', this.netns, cmd, ...args])
      : this.tracker.spawn('sh', ['-c', `echo $$ > "${cgroup}/cgroup.procs" && exec ip netns exec "${this.netns}" "$@"`, 'kmesh-bench', cmd, ...args]);
    void p.exited.then((e) => {
      if (!stopping && !this.stopping) process.stderr.write(`bench: ${name} (pid ${p.pid}) exited (code ${e.code}, signal ${e.signal}): ${p.stderr().trim()}\n`);
    });
    return p;
  }
}

let stopping = false;

/** Is `tool` an executable on PATH (or in the sbin directories root uses)? */
function which(tool: string): boolean {
  const dirs = (process.env.PATH ?? '').split(':').concat(['/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/bin', '/bin']);
  return dirs.some((d) => d && existsSync(join(d, tool)));
}

export function preflight(withDaemon: boolean): void {
  if (process.getuid?.() !== 0) throw new Error('the L4 bench needs root (network namespaces, cgroups, BPF)');
  const missing = TOOLS.filter((t) => !which(t));
  if (missing.length) throw new Error(`missing tools: ${missing.join(', ')} (npm run setup installs them)`);
  if (withDaemon && !daemonAvailable()) throw new Error(`${kmeshCli} is missing: build @kmesh/controller first (npm run build)`);
}

export interface Http { ok: boolean; status: number; headers: string; body: string; error: string }

/** One request with curl in the client netns; never throws. */
export async function curlInClient(lab: Lab, url: string, inMeshCgroup: boolean): Promise<Http> {
  const r = await lab.execInClient('curl', ['-sS', '-m', '3', '-D', '-', '-o', '-', url], { inMeshCgroup, timeoutMs: 10_000 });
  const split = r.stdout.indexOf('\r\n\r\n');
  const headers = split >= 0 ? r.stdout.slice(0, split) : '';
  const status = Number(/^HTTP\/[\d.]+ (\d{3})/.exec(headers)?.[1] ?? 0);
  return { ok: r.code === 0 && status === 200, status, headers, body: split >= 0 ? r.stdout.slice(split + 4) : '', error: r.stderr.trim() || `curl exit ${r.code}` };
}

export function expectNginx(what: string, h: Http): void {
  if (!h.ok || !h.body.startsWith(RESPONSE_MARKER) || Buffer.byteLength(h.body) !== RESPONSE_BYTES) {
    throw new Error(`path check failed: ${what}: ${h.ok ? `answer is not nginx's ${RESPONSE_BYTES}-byte body` : h.error} (status ${h.status})`);
  }
}

export async function waitForListen(lab: Lab, url: string, what: string, proc: LabProcess): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (proc.hasExited()) throw new Error(`${what} exited at start: ${proc.stderr().trim()}`);
    if ((await curlInClient(lab, url, false)).ok) return;
    await sleep(50);
  }
  throw new Error(`${what} does not answer at ${url} after 5 s: ${proc.stderr().trim()}`);
}

/** Per-netns sysctls (our namespaces only): room for many short connections in close mode. */
export async function tuneNamespaces(lab: Lab): Promise<void> {
  const settings = ['net.ipv4.ip_local_port_range=1024 65000', 'net.ipv4.tcp_tw_reuse=1'];
  for (const s of settings) {
    const c = await lab.execInClient('sysctl', ['-q', '-w', s], { inMeshCgroup: false });
    const v = await lab.execInServer('sysctl', ['-q', '-w', s]);
    if (c.code !== 0 || v.code !== 0) throw new Error(`sysctl ${s} failed in the lab namespaces: ${c.stderr}${v.stderr}`);
  }
}

/** A wrk run's result with the machine's CPU time around it and the load average before it. */
export interface WrkMeasurement {
  wrk: WrkResult;
  cpuSeconds: number;
  cpuMsPer1k: number;
  loadAvg1: number;
}

/** One wrk run in the client netns; fails, naming `what`, when wrk fails or saw errors. */
export async function measureWrk(lab: Lab, args: string[], opts: { inMeshCgroup: boolean; durationS: number; what: string }): Promise<WrkMeasurement> {
  const loadAvg1 = loadAverage1();
  const cpu0 = sampleCpu();
  const r = await lab.execInClient('wrk', args, { inMeshCgroup: opts.inMeshCgroup, timeoutMs: (opts.durationS + 30) * 1000 });
  const cpu1 = sampleCpu();
  if (r.code !== 0) throw new Error(`wrk ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}\n${r.stdout}`);
  const wrk = parseWrkOutput(r.stdout);
  const failure = wrkFailure(wrk);
  if (failure) throw new Error(`${opts.what}: ${failure}\n${r.stdout}`);
  const cpuSeconds = busyCpuSeconds(cpu0, cpu1);
  return { wrk, cpuSeconds, cpuMsPer1k: cpuMsPer1kRequests(cpuSeconds, wrk.requests), loadAvg1 };
}

/**
 * The lab of one bench run: no lab backends (the bench starts its own servers on the server side), a
 * temp dir and the pin path. Until close(), an exit hook stops our server-side processes and removes the
 * temp dir even when the run dies.
 */
export interface BenchLab {
  lab: Lab;
  server: ServerSide;
  dir: string;
  pinPath: string;
  /** stop the server-side processes and the daemon, destroy the lab, remove the temp dir */
  close(daemon: DaemonHandle | null): Promise<void>;
}

export async function openBenchLab(idPrefix: string, tmpPrefix: string): Promise<BenchLab> {
  const dir = mkdtempSync(join(tmpdir(), tmpPrefix));
  const lab = await Lab.create({ id: `${idPrefix}${process.pid % 100000}`, servers: [] });
  const server = new ServerSide(lab.serverNetns);
  const onExit = (): void => {
    server.tracker.killAllSync();
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', onExit);
  return {
    lab,
    server,
    dir,
    pinPath: `/sys/fs/bpf/kmesh-bench-${lab.id}`,
    async close(daemon) {
      server.stopping = true;
      await server.tracker.stopAll();
      if (daemon) await daemon.kill('SIGTERM');
      // lab.destroy() runs `kmesh cleanup` for the pin path, deletes both netns and the cgroup.
      await lab.destroy();
      rmSync(dir, { recursive: true, force: true });
      process.off('exit', onExit);
    },
  };
}

export async function runL4(o: L4Options): Promise<L4Results> {
  const withKmesh = o.paths.includes('kmesh');
  preflight(withKmesh);
  const startedAt = new Date().toISOString();
  const bench = await openBenchLab('bench', 'kmesh-bench-');
  const { lab, server, dir, pinPath } = bench;
  let daemon: DaemonHandle | null = null;

  // Ctrl-C: the lab's own handler destroys the lab (its processes, the daemon and its pins, the netns)
  // and exits; our server-side processes are not the lab's, so stop them here first, by pid.
  const onSignal = (): void => {
    stopping = true;
    o.log('bench: interrupted, cleaning up');
    server.tracker.killAllSync();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const a = lab.addresses;
    o.log(`lab ${lab.id}: client netns ${lab.clientNetns} (${a.clientV4}), server netns ${lab.serverNetns} (${a.serverV4}), cgroup ${lab.cgroup}`);
    await tuneNamespaces(lab);
    const verification: string[] = [];

    // Backend and sidecars.
    const nginxConf = join(dir, 'nginx.conf');
    writeFileSync(nginxConf, nginxConfig({ dir, listen: [`${a.serverV4}:${NGINX_PORT}`, `127.0.0.1:80`], workers: NGINX_WORKERS }));
    const nginx = server.spawn('nginx', 'nginx', ['-p', dir, '-e', join(dir, 'nginx-error.log'), '-c', nginxConf]);
    const directUrl = pathTarget('direct', a.serverV4).url;
    await waitForListen(lab, directUrl, 'nginx', nginx);

    const inConf = join(dir, 'haproxy-inbound.cfg');
    const outConf = join(dir, 'haproxy-outbound.cfg');
    writeFileSync(inConf, haproxyConfig({ name: 'inbound', bind: `${a.serverV4}:${SIDECAR_IN_PORT}`, upstream: '127.0.0.1:80', tag: 'x-bench-inbound' }));
    writeFileSync(outConf, haproxyConfig({ name: 'outbound', bind: `127.0.0.1:${SIDECAR_OUT_PORT}`, upstream: `${a.serverV4}:${SIDECAR_IN_PORT}`, tag: 'x-bench-outbound' }));
    const inbound = server.spawn('haproxy (inbound sidecar)', 'haproxy', ['-db', '-f', inConf]);
    const outbound = lab.spawnInClient('haproxy', ['-db', '-f', outConf], { inMeshCgroup: false });
    const sidecarUrl = pathTarget('sidecar', a.serverV4).url;
    await waitForListen(lab, sidecarUrl, 'haproxy sidecars', outbound.hasExited() ? outbound : inbound);

    // (a)
    expectNginx(`direct ${directUrl}`, await curlInClient(lab, directUrl, false));
    verification.push(`(a) curl ${directUrl} from ${lab.clientNetns}: 200, nginx's ${RESPONSE_BYTES}-byte body`);
    // (c): both sidecars must have handled it (each tags the response).
    const viaSidecars = await curlInClient(lab, sidecarUrl, false);
    expectNginx(`sidecars ${sidecarUrl}`, viaSidecars);
    for (const tag of ['x-bench-outbound', 'x-bench-inbound']) {
      if (!new RegExp(`^${tag}:`, 'mi').test(viaSidecars.headers)) throw new Error(`path check failed: the sidecar answer lacks the ${tag} header, so it did not pass both HAProxies:\n${viaSidecars.headers}`);
    }
    verification.push(`(c) curl ${sidecarUrl}: 200, nginx's body, tagged by both HAProxies (outbound in ${lab.clientNetns}, inbound in ${lab.serverNetns})`);

    if (withKmesh) {
      // (b): the VIP must be unreachable without the mesh, then reachable with it, through a rewrite.
      const vipUrl = pathTarget('kmesh', a.serverV4).url;
      const before = await curlInClient(lab, vipUrl, true);
      if (before.ok) throw new Error(`path check failed: ${vipUrl} answered before the daemon ran; the VIP would not prove the mesh works`);
      verification.push(`(b) before \`kmesh run\`: curl ${vipUrl} in the mesh cgroup fails (${before.error.replace(/^curl: \(\d+\) /, '')})`);
      const configPath = join(dir, 'kmesh-bench.yaml');
      writeFileSync(configPath, kmeshConfig({ vip: VIP, vipPort: VIP_PORT, backend: a.serverV4, backendPort: NGINX_PORT }));
      // --no-probe: this scenario measures the routing path; the probe's cost has its own scenario.
      daemon = await lab.startDaemon({ config: configPath, pinPath, extraArgs: ['--no-probe'] });
      o.log(`kmesh run: pid ${daemon.pid}, admin ${daemon.adminUrl}, pins ${pinPath}`);
      const rewrittenBefore = readRewrittenCount(pinPath);
      expectNginx(`Kmesh ${vipUrl}`, await curlInClient(lab, vipUrl, true));
      const rewrittenAfter = readRewrittenCount(pinPath);
      if (rewrittenAfter <= rewrittenBefore) throw new Error(`path check failed: ${vipUrl} answered but km_stats[CONNECT_REWRITTEN] did not grow (${rewrittenBefore} → ${rewrittenAfter})`);
      verification.push(`(b) with \`kmesh run\`: curl ${vipUrl} in the mesh cgroup gets nginx's body; km_stats CONNECT_REWRITTEN ${rewrittenBefore} → ${rewrittenAfter}`);
      const outside = await curlInClient(lab, vipUrl, false);
      if (outside.ok) throw new Error(`path check failed: ${vipUrl} answered a client outside the mesh cgroup; the daemon is not scoped to its cgroup`);
      verification.push(`(b) the same curl outside the mesh cgroup still fails: the rewrite is scoped to the mesh cgroup`);
    }
    for (const v of verification) o.log(`check: ${v}`);

    // Measurement: rounds × modes × connections × paths, the three paths back to back.
    const samples: Sample[] = [];
    const total = o.rounds * o.modes.length * o.connections.length * PATHS.length;
    for (let round = 1; round <= o.rounds; round++) {
      for (const mode of o.modes) {
        for (const connections of o.connections) {
          for (const path of PATHS.map((p) => p.id).filter((p) => o.paths.includes(p))) {
            const t = pathTarget(path, a.serverV4);
            const args = wrkArgs({ url: t.url, connections, durationS: o.durationS, keepAlive: mode === 'keepalive' });
            const rw0 = path === 'kmesh' ? readRewrittenCount(pinPath) : 0;
            const { wrk, cpuSeconds, cpuMsPer1k, loadAvg1 } = await measureWrk(lab, args, { inMeshCgroup: t.inMeshCgroup, durationS: o.durationS, what: `path ${path}, ${mode}, ${connections} connections` });
            for (const p of [nginx, inbound, outbound]) if (p.hasExited()) throw new Error(`a server of the bench died during the run: ${p.stderr().trim()}`);
            const sample: Sample = { round, mode, connections, path, wrk, cpuSeconds, cpuMsPer1k, loadAvg1 };
            if (path === 'kmesh') {
              // Every connection wrk opened to the VIP must have been rewritten (keep-alive: one per
              // wrk connection; close mode: about one per request).
              sample.kmeshRewrites = readRewrittenCount(pinPath) - rw0;
              const minimum = mode === 'keepalive' ? connections : wrk.requests;
              if (sample.kmeshRewrites < minimum) throw new Error(`Kmesh path: only ${sample.kmeshRewrites} rewrites for ${minimum} connections wrk made; traffic bypassed the mesh`);
            }
            samples.push(sample);
            o.log(`[${samples.length}/${total}] round ${round} ${MODES.find((m) => m.id === mode)!.id.padEnd(9)} c=${String(connections).padStart(3)} ${path.padEnd(7)} ${Math.round(wrk.reqPerSec).toString().padStart(7)} req/s  p50 ${wrk.latencyUs.p50}us  p90 ${wrk.latencyUs.p90}us  p99 ${wrk.latencyUs.p99}us  cpu ${sample.cpuMsPer1k.toFixed(1)} ms/1k${sample.kmeshRewrites !== undefined ? `  rewrites ${sample.kmeshRewrites}` : ''}`);
          }
        }
      }
    }

    const settings: BenchSettings = {
      rounds: o.rounds, durationS: o.durationS, connections: o.connections, modes: o.modes, command: o.command,
      responseBytes: RESPONSE_BYTES, nginxWorkers: NGINX_WORKERS,
      haproxyMode: 'HAProxy 2.x `mode http`, `nbthread 1` per sidecar (an Istio sidecar runs 1-2 Envoy workers; this machine has 2 CPUs), `http-reuse always` keep-alive upstream pool like Envoy\'s; each sidecar adds one response header, as Envoy does.',
    };
    return { scenario: 'l4', startedAt, finishedAt: new Date().toISOString(), machine: describeMachine(), settings, verification, summary: summarize(samples), samples };
  } finally {
    stopping = true;
    await bench.close(daemon);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
