// Small wrappers over the commands the lab runs as root (ip, and plain files for cgroups).
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface ExecResult { code: number; stdout: string; stderr: string }

/** Run a command to completion; never throws for a non-zero exit (the caller decides). */
export function run(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: opts.timeoutMs ?? 30_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) || (err && code !== 0 && !stderr ? err.message : '') });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Run a command and throw an error naming it when it fails. */
export async function runOrThrow(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** Synchronous variant for process-exit cleanup; returns false instead of throwing. */
export function runSyncQuiet(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

/**
 * Mount point of the cgroup v2 hierarchy, read from /proc/self/mounts
 * (/sys/fs/cgroup on most distros, /sys/fs/cgroup/unified on hybrid setups).
 */
export function cgroup2Mount(): string {
  const mounts = readFileSync('/proc/self/mounts', 'utf8');
  for (const line of mounts.split('\n')) {
    const [, mountPoint, fsType] = line.split(' ');
    if (fsType === 'cgroup2') return mountPoint.replace(/\\040/g, ' ');
  }
  throw new Error('no cgroup2 filesystem is mounted (see /proc/self/mounts); the lab needs cgroup v2');
}

/** Network namespaces that exist now (names only). */
export async function listNetns(): Promise<string[]> {
  const r = await run('ip', ['netns', 'list']);
  return r.stdout.split('\n').map((l) => l.split(' ')[0]).filter(Boolean);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
