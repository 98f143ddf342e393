// Every process the lab starts is tracked here, so destroy() can stop exactly those (by pid) and
// nothing else. Children are always waited for (PID 1 on the lab machines does not reap orphans).
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { sleep } from './system.js';

export interface ProcessExit { code: number | null; signal: NodeJS.Signals | null }

export interface LabProcess {
  readonly pid: number;
  readonly child: ChildProcess;
  /** what it printed so far (when stdout/stderr are piped) */
  stdout(): string;
  stderr(): string;
  /** resolves when the process has exited (never rejects) */
  readonly exited: Promise<ProcessExit>;
  /** true once it exited */
  hasExited(): boolean;
  kill(signal?: NodeJS.Signals): void;
}

export class ProcessTracker {
  private readonly live = new Set<LabProcess>();

  spawn(cmd: string, args: string[], opts: { stdio?: StdioOptions; env?: NodeJS.ProcessEnv; cwd?: string } = {}): LabProcess {
    const child = spawn(cmd, args, { stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'], env: opts.env, cwd: opts.cwd });
    let out = '';
    let err = '';
    child.stdout?.on('data', (c: Buffer) => { out += c.toString('utf8'); });
    child.stderr?.on('data', (c: Buffer) => { err += c.toString('utf8'); });
    let done = false;
    const exited = new Promise<ProcessExit>((resolve) => {
      child.on('error', (e) => {
        err += `spawn ${cmd} failed: ${e.message}\n`;
        done = true;
        resolve({ code: 127, signal: null });
      });
      child.on('close', (code, signal) => {
        done = true;
        resolve({ code, signal });
      });
    });
    if (child.pid === undefined) {
      // spawn failed synchronously (ENOENT and friends); 'error' follows.
    }
    const proc: LabProcess = {
      pid: child.pid ?? -1,
      child,
      stdout: () => out,
      stderr: () => err,
      exited,
      hasExited: () => done,
      kill: (signal = 'SIGTERM') => {
        if (!done && child.pid !== undefined) {
          try { process.kill(child.pid, signal); } catch { /* already gone */ }
        }
      },
    };
    this.live.add(proc);
    void exited.then(() => this.live.delete(proc));
    return proc;
  }

  pids(): number[] {
    return [...this.live].map((p) => p.pid).filter((p) => p > 0);
  }

  /** SIGTERM every tracked process, wait up to graceMs, then SIGKILL the rest and wait for them. */
  async stopAll(graceMs = 2000): Promise<void> {
    const procs = [...this.live];
    for (const p of procs) p.kill('SIGTERM');
    const deadline = Date.now() + graceMs;
    while (procs.some((p) => !p.hasExited()) && Date.now() < deadline) await sleep(20);
    for (const p of procs) if (!p.hasExited()) p.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
  }

  /** For process-exit cleanup, where nothing asynchronous runs any more. */
  killAllSync(): void {
    for (const p of this.live) p.kill('SIGKILL');
  }
}
