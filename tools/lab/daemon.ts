// Starting the Kmesh daemon (`kmesh run`) for a lab, and `kmesh cleanup`. The daemon runs in the
// host netns (it needs bpffs and the cgroup tree, and serves its admin API on 127.0.0.1); the
// programs it attaches act only on the lab's mesh cgroup.
import { existsSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { kmeshCli } from './paths.js';
import type { ProcessExit, ProcessTracker } from './processes.js';
import { run, sleep, type ExecResult } from './system.js';

export interface DaemonOptions {
  /** path of the Envoy bootstrap YAML/JSON the daemon watches */
  config: string;
  /** bpffs pin path of this instance, e.g. /sys/fs/bpf/kmesh-it-<id> */
  pinPath: string;
  /** admin listen address "127.0.0.1:PORT" or a port; default: a free loopback port */
  admin?: string | number;
  /** more `kmesh run` arguments */
  extraArgs?: string[];
  /** how long to wait for GET /readyz = 200 (default 20 s) */
  readyTimeoutMs?: number;
}

export interface DaemonHandle {
  readonly pid: number;
  /** http://127.0.0.1:PORT */
  readonly adminUrl: string;
  /** everything the daemon printed (stdout and stderr, interleaved as received) */
  logs(): string;
  /** resolves with the first log line matching `pattern` (also one printed before the call) */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** send a signal and wait until the daemon has exited */
  kill(signal?: NodeJS.Signals): Promise<ProcessExit>;
  readonly exited: Promise<ProcessExit>;
}

export function daemonAvailable(): boolean {
  return existsSync(kmeshCli);
}

function requireDaemon(): string {
  if (!daemonAvailable()) throw new Error(`${kmeshCli} is missing: build @kmesh/controller first (npx nx run @kmesh/controller:build)`);
  return kmeshCli;
}

async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** GET a path on the admin API; status 0 when nothing answers. */
export function adminGet(adminUrl: string, path: string, timeoutMs = 2000): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = http.get(`${adminUrl}${path}`, { agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString('utf8'); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve({ status: 0, body }));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve({ status: 0, body: '' }));
  });
}

export async function startDaemon(tracker: ProcessTracker, cgroup: string, opts: DaemonOptions): Promise<DaemonHandle> {
  const cli = requireDaemon();
  const admin = typeof opts.admin === 'string' ? opts.admin : `127.0.0.1:${opts.admin ?? (await freeLoopbackPort())}`;
  const args = [cli, 'run', '--config', opts.config, '--cgroup', cgroup, '--pin-path', opts.pinPath, '--admin', admin, ...(opts.extraArgs ?? [])];
  const proc = tracker.spawn(process.execPath, args);
  let logs = '';
  const watchers = new Set<() => void>();
  const onData = (c: Buffer) => {
    logs += c.toString('utf8');
    for (const w of watchers) w();
  };
  proc.child.stdout?.on('data', onData);
  proc.child.stderr?.on('data', onData);

  const handle: DaemonHandle = {
    pid: proc.pid,
    adminUrl: `http://${admin}`,
    logs: () => logs,
    exited: proc.exited,
    waitForLog(pattern, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const line = logs.split('\n').find((l) => pattern.test(l));
          if (line === undefined) return false;
          cleanup();
          resolve(line);
          return true;
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`daemon log has no line matching ${pattern} after ${timeoutMs} ms; log:\n${logs}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          watchers.delete(watcher);
        };
        const watcher = () => { check(); };
        if (!check()) watchers.add(watcher);
      });
    },
    async kill(signal = 'SIGTERM') {
      proc.kill(signal);
      return proc.exited;
    },
  };

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 20_000);
  for (;;) {
    if (proc.hasExited()) {
      const e = await proc.exited;
      throw new Error(`kmesh run exited before it was ready (code ${e.code}, signal ${e.signal}); log:\n${logs}`);
    }
    const r = await adminGet(handle.adminUrl, '/readyz', 1000);
    if (r.status === 200) return handle;
    if (Date.now() > deadline) {
      await handle.kill('SIGKILL');
      throw new Error(`kmesh run did not answer GET /readyz with 200 within ${opts.readyTimeoutMs ?? 20_000} ms (last status ${r.status}); log:\n${logs}`);
    }
    await sleep(100);
  }
}

/** `kmesh cleanup --pin-path P [--cgroup CG]`: detach, unpin, remove the instance's state. */
export async function cleanupDaemon(pinPath: string, cgroup?: string): Promise<ExecResult> {
  const cli = requireDaemon();
  return run(process.execPath, [cli, 'cleanup', '--pin-path', pinPath, ...(cgroup ? ['--cgroup', cgroup] : [])]);
}
