// The lab: a client netns and a server netns joined by a veth pair, a mesh cgroup, and one backend
// server process. See index.ts for the picture and the API overview.
import { existsSync, mkdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import {
  FIRST_BACKEND_HOST, LAST_BACKEND_HOST, VIP_RANGE_V4, VIP_RANGE_V6, backendAddress, hostPort, labAddresses, type LabAddresses,
} from './addressing.js';
import { BackendControl } from './backend-control.js';
import type { BackendStats } from './backend-protocol.js';
import type { ClientReport } from './client-report.js';
import { cleanupDaemon, startDaemon, type DaemonHandle, type DaemonOptions } from './daemon.js';
import { claimNetworkNumber, releaseNetworkNumber } from './network-number.js';
import { labScripts, repoRoot, requireCompiled } from './paths.js';
import { ProcessTracker, type LabProcess } from './processes.js';
import { cgroup2Mount, listNetns, run, runOrThrow, runSyncQuiet, sleep, type ExecResult } from './system.js';

export interface BackendSpec {
  /** the name the backend answers with, e.g. "reviews-v2" */
  name: string;
  /** port it listens on (default 9080) */
  port?: number;
  /** host number of its address, 10..250 -> 10.250.N.host (default: the next free one) */
  host?: number;
}

export interface Backend {
  name: string;
  port: number;
  host: number;
  ipv4: string;
  /** null when the lab has no IPv6 */
  ipv6: string | null;
}

export interface LabOptions {
  /** short name; netns kmc-<id>/kms-<id>, cgroup kmesh-lab-<id> (default: random) */
  id?: string;
  /** lab network number N (default: a free one derived from the id, never 1; 1 is the demo's) */
  n?: number;
  servers: BackendSpec[];
  /** also configure IPv6 addresses and let backends listen on them (default false) */
  ipv6?: boolean;
  /**
   * which backend server answers: 'basic' (backend-server.ts: its name on any request, the default) or
   * 'http' (http-backend.ts: a JSON echo, /bytes/N, slow/close/reset modes; for the L7 tests)
   */
  backendKind?: 'basic' | 'http';
}

export interface SpawnOptions {
  /** put the process into the mesh cgroup (before `ip netns exec`) */
  inMeshCgroup: boolean;
  /** stdin is a pipe (default: ignored) */
  pipeStdin?: boolean;
}

export interface ClientRun {
  /** "HOST:PORT" or "[ADDR]:PORT" */
  target: string;
  connections?: number;
  concurrency?: number;
  /** default true: run the client inside the mesh cgroup */
  inMeshCgroup?: boolean;
  durationS?: number;
  timeoutMs?: number;
  intervalMs?: number;
  sequence?: number;
}

export interface ClientLoop {
  readonly process: LabProcess;
  /** SIGTERM the looping client and read its report */
  stop(): Promise<ClientReport>;
}

/** The HTTP/1.1 backend server (LabOptions.backendKind 'http'), compiled by `npx tsc -p tools`. */
export const httpBackendScript = join(repoRoot, 'tools/dist/lab/http-backend.js');

const liveLabs = new Set<Lab>();
let exitHandlersInstalled = false;

function installExitHandlers(): void {
  if (exitHandlersInstalled) return;
  exitHandlersInstalled = true;
  process.on('exit', () => {
    for (const lab of liveLabs) lab.destroySync();
  });
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.on(signal, () => {
      const all = [...liveLabs].map((lab) => lab.destroy().catch(() => lab.destroySync()));
      // Never hang on Ctrl-C: a second chance after 5 s is the synchronous path.
      setTimeout(() => process.exit(code), 5000).unref();
      void Promise.all(all).finally(() => process.exit(code));
    });
  }
}

function parseClientReport(stdout: string, stderr: string, what: string): ClientReport {
  const line = stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as ClientReport;
  } catch {
    throw new Error(`load client (${what}) printed no report; stdout: ${stdout.slice(0, 500)} stderr: ${stderr.slice(0, 2000)}`);
  }
}

export class Lab {
  readonly id: string;
  readonly n: number;
  readonly addresses: LabAddresses;
  readonly clientNetns: string;
  readonly serverNetns: string;
  /** absolute path of the mesh cgroup (under the cgroup2 mount) */
  readonly cgroup: string;
  readonly ipv6: boolean;
  readonly backends: Backend[] = [];

  private readonly tracker = new ProcessTracker();
  private backendServer: BackendControl | null = null;
  private destroying: Promise<void> | null = null;
  private readonly pinPaths = new Set<string>();
  private backendScript: string = labScripts.backendServer;

  private constructor(id: string, n: number, ipv6: boolean) {
    this.id = id;
    this.n = n;
    this.ipv6 = ipv6;
    this.addresses = labAddresses(n);
    this.clientNetns = `kmc-${id}`;
    this.serverNetns = `kms-${id}`;
    this.cgroup = join(cgroup2Mount(), `kmesh-lab-${id}`);
  }

  static async create(opts: LabOptions): Promise<Lab> {
    if (process.getuid?.() !== 0) throw new Error('the lab needs root (network namespaces, cgroups)');
    const id = opts.id ?? randomBytes(3).toString('hex');
    if (!/^[a-z0-9][a-z0-9-]{0,30}$/.test(id)) throw new Error(`lab id "${id}" must be 1-31 characters of a-z, 0-9 and -`);
    requireCompiled(labScripts.backendServer);
    requireCompiled(labScripts.client);
    const existing = await listNetns();
    for (const ns of [`kmc-${id}`, `kms-${id}`]) {
      if (existing.includes(ns)) throw new Error(`netns ${ns} already exists: another lab with id "${id}" is running or was left behind (ip netns del ${ns})`);
    }
    const n = claimNetworkNumber(id, opts.n);
    const lab = new Lab(id, n, opts.ipv6 ?? false);
    if (opts.backendKind === 'http') lab.backendScript = requireCompiled(httpBackendScript);
    liveLabs.add(lab);
    installExitHandlers();
    try {
      lab.assignBackends(opts.servers);
      await lab.buildNetwork();
      mkdirSync(lab.cgroup);
      await lab.startBackends();
    } catch (err) {
      await lab.destroy().catch(() => lab.destroySync());
      throw err;
    }
    return lab;
  }

  backend(name: string): Backend {
    const b = this.backends.find((x) => x.name === name);
    if (!b) throw new Error(`lab ${this.id} has no backend named ${name} (has ${this.backends.map((x) => x.name).join(', ')})`);
    return b;
  }

  /** "10.250.N.h:port" of a backend (IPv6 "[fd00:6b6d:N::h]:port" with family 6) */
  backendTarget(name: string, family: 4 | 6 = 4): string {
    const b = this.backend(name);
    const ip = family === 4 ? b.ipv4 : b.ipv6;
    if (!ip) throw new Error(`lab ${this.id} was created without ipv6`);
    return hostPort(ip, b.port);
  }

  private assignBackends(specs: BackendSpec[]): void {
    const used = new Set(specs.map((s) => s.host).filter((h): h is number => h !== undefined));
    let next = FIRST_BACKEND_HOST;
    for (const spec of specs) {
      if (this.backends.some((b) => b.name === spec.name)) throw new Error(`backend name ${spec.name} appears twice`);
      let host = spec.host;
      if (host === undefined) {
        while (used.has(next)) next++;
        host = next++;
        used.add(host);
      }
      if (host > LAST_BACKEND_HOST) throw new Error(`too many backends: host number ${host} > ${LAST_BACKEND_HOST}`);
      this.backends.push({
        name: spec.name,
        port: spec.port ?? 9080,
        host,
        ipv4: backendAddress(this.n, host, 4),
        ipv6: this.ipv6 ? backendAddress(this.n, host, 6) : null,
      });
    }
    const hosts = this.backends.map((b) => `${b.host}:${b.port}`);
    if (new Set(hosts).size !== hosts.length) throw new Error(`two backends share an address and port: ${hosts.join(' ')}`);
  }

  private async buildNetwork(): Promise<void> {
    const a = this.addresses;
    const c = this.clientNetns;
    const s = this.serverNetns;
    const ip = (args: string) => runOrThrow('ip', args.split(' '));
    await ip(`netns add ${c}`);
    await ip(`netns add ${s}`);
    // The veth ends are created directly inside the namespaces, so "eth0" never meets the host's.
    await ip(`link add eth0 netns ${c} type veth peer name eth0 netns ${s}`);
    for (const ns of [c, s]) {
      await ip(`-n ${ns} link set lo up`);
      await ip(`-n ${ns} link set eth0 up`);
    }
    await ip(`-n ${c} addr add ${a.clientV4}/24 dev eth0`);
    await ip(`-n ${s} addr add ${a.serverV4}/24 dev eth0`);
    if (this.ipv6) {
      await ip(`-n ${c} -6 addr add ${a.clientV6}/64 dev eth0 nodad`);
      await ip(`-n ${s} -6 addr add ${a.serverV6}/64 dev eth0 nodad`);
    }
    const hosts = new Set(this.backends.map((b) => b.host));
    for (const host of hosts) {
      await ip(`-n ${s} addr add ${backendAddress(this.n, host, 4)}/32 dev eth0`);
      if (this.ipv6) await ip(`-n ${s} -6 addr add ${backendAddress(this.n, host, 6)}/128 dev eth0 nodad`);
    }
    // No default route in the client netns, and the VIP ranges explicitly unreachable: a VIP
    // connect() that the mesh did not rewrite fails locally (EHOSTUNREACH), never leaves the box.
    await ip(`-n ${c} route add unreachable ${VIP_RANGE_V4}`);
    await ip(`-n ${c} -6 route add unreachable ${VIP_RANGE_V6}`);
  }

  private async startBackends(): Promise<void> {
    const proc = this.tracker.spawn('ip', ['netns', 'exec', this.serverNetns, process.execPath, this.backendScript], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.backendServer = new BackendControl(proc);
    await this.backendServer.waitReady();
    for (const b of this.backends) {
      await this.backendServer.send({ op: 'listen', name: b.name, host: b.ipv4, port: b.port });
      if (b.ipv6) await this.backendServer.send({ op: 'listen', name: b.name, host: b.ipv6, port: b.port });
    }
  }

  private requireBackendServer(): BackendControl {
    if (!this.backendServer) throw new Error(`lab ${this.id} has no backend server (destroyed?)`);
    return this.backendServer;
  }

  /** Close a backend's listening sockets: new connections to it are refused. */
  async stopBackend(name: string): Promise<void> {
    this.backend(name);
    await this.requireBackendServer().send({ op: 'stop', name });
  }

  async startBackend(name: string): Promise<void> {
    this.backend(name);
    await this.requireBackendServer().send({ op: 'start', name });
  }

  /** Requests each backend answered (as counted by the backend server) since the last reset. */
  async backendStats(): Promise<BackendStats> {
    return this.requireBackendServer().stats();
  }

  async resetBackendStats(): Promise<void> {
    await this.requireBackendServer().send({ op: 'reset' });
  }

  /** argv that runs `cmd args` in the client netns, optionally inside the mesh cgroup. */
  private clientArgv(cmd: string, args: string[], inMeshCgroup: boolean): [string, string[]] {
    if (!inMeshCgroup) return ['ip', ['netns', 'exec', this.clientNetns, cmd, ...args]];
    // Join the cgroup first: `ip netns exec` remounts /sys, after which the host's cgroup tree is
    // out of sight. `exec` keeps the pid, so the pid we track is the process that runs.
    const script = `echo $$ > "${this.cgroup}/cgroup.procs" && exec ip netns exec "${this.clientNetns}" "$@"`;
    return ['sh', ['-c', script, 'kmesh-lab', cmd, ...args]];
  }

  /** Start a process in the client netns; it is tracked and stopped by destroy(). */
  spawnInClient(cmd: string, args: string[], opts: SpawnOptions): LabProcess {
    const [c, a] = this.clientArgv(cmd, args, opts.inMeshCgroup);
    return this.tracker.spawn(c, a, { stdio: [opts.pipeStdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  }

  /** Run a command in the client netns to completion. */
  async execInClient(cmd: string, args: string[], opts: SpawnOptions & { timeoutMs?: number }): Promise<ExecResult> {
    const proc = this.spawnInClient(cmd, args, opts);
    const timer = setTimeout(() => proc.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    const e = await proc.exited;
    clearTimeout(timer);
    return { code: e.code ?? 128, stdout: proc.stdout(), stderr: proc.stderr() };
  }

  /** Run a command in the server netns to completion (never in the mesh cgroup). */
  async execInServer(cmd: string, args: string[], timeoutMs = 120_000): Promise<ExecResult> {
    const proc = this.tracker.spawn('ip', ['netns', 'exec', this.serverNetns, cmd, ...args]);
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    const e = await proc.exited;
    clearTimeout(timer);
    return { code: e.code ?? 128, stdout: proc.stdout(), stderr: proc.stderr() };
  }

  private clientArgs(r: ClientRun, mode: 'count' | 'loop'): string[] {
    const args = [labScripts.client, '--target', r.target];
    if (mode === 'loop') args.push('--until-signal');
    if (r.connections !== undefined) args.push('--connections', String(r.connections));
    if (r.concurrency !== undefined) args.push('--concurrency', String(r.concurrency));
    if (r.durationS !== undefined) args.push('--duration', String(r.durationS));
    if (r.timeoutMs !== undefined) args.push('--timeout-ms', String(r.timeoutMs));
    if (r.intervalMs !== undefined) args.push('--interval-ms', String(r.intervalMs));
    if (r.sequence !== undefined) args.push('--sequence', String(r.sequence));
    return args;
  }

  /** Run the load client (tools/lab/client.ts) to completion and return its report. */
  async runClient(r: ClientRun): Promise<ClientReport> {
    const res = await this.execInClient(process.execPath, this.clientArgs(r, 'count'), { inMeshCgroup: r.inMeshCgroup ?? true });
    if (res.code !== 0) throw new Error(`load client exited ${res.code}: ${res.stderr.trim()}`);
    return parseClientReport(res.stdout, res.stderr, r.target);
  }

  /** Start the load client looping until stop() (bounded by durationS, default 300 s). */
  async startClientLoop(r: ClientRun): Promise<ClientLoop> {
    const proc = this.spawnInClient(process.execPath, this.clientArgs(r, 'loop'), { inMeshCgroup: r.inMeshCgroup ?? true });
    const deadline = Date.now() + 10_000;
    while (!proc.stderr().includes('client: started')) {
      if (proc.hasExited()) throw new Error(`looping client exited at once: ${proc.stderr().trim()}`);
      if (Date.now() > deadline) throw new Error(`looping client did not start within 10 s: ${proc.stderr().trim()}`);
      await sleep(20);
    }
    return {
      process: proc,
      async stop() {
        proc.kill('SIGTERM');
        const e = await proc.exited;
        if (e.code !== 0) throw new Error(`looping client exited ${e.code ?? e.signal}: ${proc.stderr().trim()}`);
        return parseClientReport(proc.stdout(), proc.stderr(), r.target);
      },
    };
  }

  /** Start `kmesh run` on this lab's mesh cgroup; the daemon is stopped by destroy(). */
  async startDaemon(opts: DaemonOptions): Promise<DaemonHandle> {
    this.pinPaths.add(opts.pinPath);
    // The L7 relay serves the client netns (its anchor must be where the clients connect from),
    // unless the caller chose the L7 flags itself.
    const extra = opts.extraArgs ?? [];
    const l7Chosen = extra.some((a) => a === '--no-l7' || a === '--l7-netns' || a.startsWith('--l7-netns='));
    const l7Args = l7Chosen ? [] : ['--l7-netns', `/run/netns/${this.clientNetns}`];
    return startDaemon(this.tracker, this.cgroup, { ...opts, extraArgs: [...l7Args, ...extra] });
  }

  /** `kmesh cleanup` for a pin path (and this lab's cgroup). */
  async cleanupDaemon(pinPath: string): Promise<ExecResult> {
    return cleanupDaemon(pinPath, this.cgroup);
  }

  /** Pids of the processes this lab started that are still running. */
  pids(): number[] {
    return this.tracker.pids();
  }

  /**
   * Stop our processes (SIGTERM, then SIGKILL), delete both netns, remove the mesh cgroup and the
   * pin paths of daemons this lab started (after `kmesh cleanup` when it exists). Idempotent.
   */
  destroy(): Promise<void> {
    this.destroying ??= this.teardown();
    return this.destroying;
  }

  private async teardown(): Promise<void> {
    const problems: string[] = [];
    this.backendServer?.close();
    this.backendServer = null;
    await this.tracker.stopAll();
    for (const pinPath of this.pinPaths) {
      if (!existsSync(pinPath)) continue;
      const r = await cleanupDaemon(pinPath, this.cgroup).catch((e: Error) => ({ code: 1, stdout: '', stderr: e.message }));
      if (r.code !== 0) problems.push(`kmesh cleanup ${pinPath}: ${r.stderr.trim()}`);
      // Whatever cleanup left (or when it does not exist yet): unpinning the links detaches them.
      rmSync(pinPath, { recursive: true, force: true });
    }
    await this.killCgroupLeftovers();
    for (const ns of [this.clientNetns, this.serverNetns]) {
      if ((await listNetns()).includes(ns)) {
        const r = await run('ip', ['netns', 'del', ns]);
        if (r.code !== 0) problems.push(`ip netns del ${ns}: ${r.stderr.trim()}`);
      }
    }
    if (!(await this.removeCgroup())) problems.push(`cgroup ${this.cgroup} could not be removed (processes left: ${this.cgroupProcs().join(' ')})`);
    releaseNetworkNumber(this.n);
    liveLabs.delete(this);
    if (problems.length) throw new Error(`lab ${this.id} teardown incomplete:\n  ${problems.join('\n  ')}`);
  }

  private cgroupProcs(): number[] {
    try {
      return readFileSync(join(this.cgroup, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
    } catch {
      return [];
    }
  }

  /** Processes still in the mesh cgroup were started by our processes (only ours join it). */
  private async killCgroupLeftovers(): Promise<void> {
    for (const pid of this.cgroupProcs()) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
  }

  private async removeCgroup(): Promise<boolean> {
    for (let i = 0; i < 100; i++) {
      if (!existsSync(this.cgroup)) return true;
      try {
        rmdirSync(this.cgroup);
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EBUSY') throw err;
        await sleep(50);
      }
    }
    return false;
  }

  /** Best effort, synchronous: for process exit, where no promise runs any more. */
  destroySync(): void {
    this.tracker.killAllSync();
    for (const pid of this.cgroupProcs()) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
    for (const pinPath of this.pinPaths) rmSync(pinPath, { recursive: true, force: true });
    runSyncQuiet('ip', ['netns', 'del', this.clientNetns]);
    runSyncQuiet('ip', ['netns', 'del', this.serverNetns]);
    // Killed processes take a moment to leave the cgroup; spin briefly.
    const until = Date.now() + 2000;
    while (existsSync(this.cgroup) && Date.now() < until) {
      try { rmdirSync(this.cgroup); } catch { /* EBUSY: retry */ }
    }
    releaseNetworkNumber(this.n);
    liveLabs.delete(this);
  }
}
