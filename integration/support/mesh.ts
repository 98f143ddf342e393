// A lab plus a running daemon, as every mesh test needs them: config in a temp dir, pin path
// /sys/fs/bpf/kmesh-it-<id>, and a teardown that removes all of it even after a failure.
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { Lab, daemonAvailable, kmeshCli, type BackendSpec, type DaemonHandle } from '../../tools/lab/index.js';

export interface Mesh {
  lab: Lab;
  daemon: DaemonHandle;
  configFile: string;
  pinPath: string;
  /** replace the config file atomically (the daemon watches its directory) */
  writeConfig(config: object | string): void;
  /** write a config and wait until the daemon logged that it applied it */
  applyConfig(config: object): Promise<void>;
  /** start a new `kmesh run` on the same pin path, cgroup and config */
  restartDaemon(): Promise<DaemonHandle>;
  teardown(): Promise<void>;
}

/** Number of log lines so far that match `pattern`. */
export function countLog(daemon: DaemonHandle, pattern: RegExp): number {
  return daemon.logs().split('\n').filter((l) => pattern.test(l)).length;
}

/** Wait until more than `already` log lines match `pattern`; returns the newest one. */
export async function waitForNewLog(daemon: DaemonHandle, pattern: RegExp, already: number, timeoutMs = 15_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = daemon.logs().split('\n').filter((l) => pattern.test(l));
    if (lines.length > already) return lines[lines.length - 1];
    if (Date.now() > deadline) throw new Error(`daemon logged no new line matching ${pattern} within ${timeoutMs} ms; log tail:\n${daemon.logs().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const APPLIED = /"msg":"config applied"/;
export const REJECTED = /"msg":"config rejected/;

export function requireDaemon(): void {
  if (!daemonAvailable()) throw new Error(`the Kmesh daemon is not built (${kmeshCli} missing): run npx nx run @kmesh/controller:build`);
}

export async function startMesh(opts: { id: string; servers: BackendSpec[]; ipv6?: boolean; n?: number; config: (lab: Lab) => object | string }): Promise<Mesh> {
  requireDaemon();
  const lab = await Lab.create({ id: opts.id, servers: opts.servers, ipv6: opts.ipv6, n: opts.n });
  const dir = mkdtempSync(join(tmpdir(), `kmesh-${opts.id}-`));
  const configFile = join(dir, 'mesh.yaml');
  const pinPath = `/sys/fs/bpf/kmesh-it-${opts.id}`;
  const writeConfig = (config: object | string) => {
    const tmp = join(dir, '.mesh.yaml.tmp');
    writeFileSync(tmp, typeof config === 'string' ? config : JSON.stringify(config, null, 2));
    renameSync(tmp, configFile);
  };
  let daemon: DaemonHandle;
  try {
    writeConfig(opts.config(lab));
    daemon = await lab.startDaemon({ config: configFile, pinPath });
  } catch (err) {
    await lab.destroy().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const mesh: Mesh = {
    lab,
    daemon,
    configFile,
    pinPath,
    writeConfig,
    async applyConfig(config) {
      const before = countLog(mesh.daemon, APPLIED);
      writeConfig(config);
      await waitForNewLog(mesh.daemon, APPLIED, before);
    },
    async restartDaemon() {
      mesh.daemon = await lab.startDaemon({ config: configFile, pinPath });
      return mesh.daemon;
    },
    async teardown() {
      try {
        await lab.destroy(); // stops the daemon, runs kmesh cleanup on the pin path, removes netns and cgroup
      } finally {
        rmSync(dir, { recursive: true, force: true });
        rmSync(pinPath, { recursive: true, force: true });
      }
    },
  };
  return mesh;
}

/** Expect each backend's share of the successful connections to be within ±tolerance of `expected`. */
/**
 * Each backend's share within ±tolerance of the expected one. For a random choice the sample must be
 * large enough that the tolerance is at least ~4.5 standard deviations of the share
 * (sqrt(p(1-p)/n)): 3:1 at ±3 % needs ~4,500 connections, 70 % ~5,000, 90 % ~2,000; a round robin is
 * exact at any size.
 */
export function expectShares(byBackend: Record<string, number>, expected: Record<string, number>, tolerance = 0.03): void {
  const total = Object.values(byBackend).reduce((a, b) => a + b, 0);
  expect(total).toBeGreaterThan(0);
  const unexpected = Object.keys(byBackend).filter((b) => !(b in expected));
  expect(unexpected, `backends outside the expected set got traffic: ${JSON.stringify(byBackend)}`).toEqual([]);
  for (const [name, share] of Object.entries(expected)) {
    const actual = (byBackend[name] ?? 0) / total;
    expect(Math.abs(actual - share), `${name}: ${(actual * 100).toFixed(1)}% of ${total}, expected ${(share * 100).toFixed(1)}% ±${tolerance * 100}% (${JSON.stringify(byBackend)})`).toBeLessThanOrEqual(tolerance);
  }
}
