/**
 * The daemon on the real kernel: `kmesh run` as a child process on a cgroup this test
 * creates, a pin path of its own and an admin API on a free loopback port.
 * Root only; run from the repository root:
 *   npx vitest run --project kernel packages/kmesh-controller/test/daemon.kernel.test.ts
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const kmeshJs = join(root, 'dist/cli/kmesh.js');
const fixture = (name: string) => join(root, 'test/fixtures', name);
const pinPath = `/sys/fs/bpf/kmesh-ctl-test-${process.pid}`;
const stateFile = `/run/kmesh/${encodeURIComponent(pinPath)}.json`;
// The L4 object's programs (issue 6 A added sock_ops and sock_release for connection accounting).
const programs = ['kmesh_connect4', 'kmesh_connect6', 'kmesh_getpeername4', 'kmesh_getpeername6', 'kmesh_conn_sockops', 'kmesh_conn_release'];
// Pinned sock_ops of the optional objects that are on by default: sockmap acceleration, the L7 parser.
const pinnedSockOps = ['kmesh_sockops', 'kmesh_l7_sockops'];

/** Program names attached to a cgroup, as the kernel reports them (bpftool). */
function attachedPrograms(cgroup: string): string[] {
  const result = spawnSync('bpftool', ['cgroup', 'show', cgroup, '-j'], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`bpftool cgroup show ${cgroup} failed: ${result.error?.message ?? result.stderr}`);
  return (JSON.parse(result.stdout.trim() || '[]') as { name: string }[]).map((p) => p.name).sort();
}

function cgroup2Mount(): string {
  const line = readFileSync('/proc/self/mounts', 'utf8').split('\n').find((l) => l.split(' ')[2] === 'cgroup2');
  if (!line) throw new Error('no cgroup2 mount in /proc/self/mounts: this test needs cgroup v2');
  return line.split(' ')[1];
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface Daemon {
  child: ChildProcess;
  log: () => string;
  exited: Promise<number | null>;
}

function startDaemon(configFile: string, cgroup: string, port: number): Daemon {
  const child = spawn(process.execPath, [kmeshJs, 'run', '--config', configFile, '--cgroup', cgroup, '--pin-path', pinPath, '--admin', `127.0.0.1:${port}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, log: () => output, exited };
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, log: () => string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}; daemon output:\n${log()}`);
}

async function get(port: number, path: string): Promise<{ status: number; body: any }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  const text = await response.text();
  return { status: response.status, body: response.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text };
}

const ready = (port: number) => async () => {
  try {
    const r = await get(port, '/readyz');
    return r.status === 200 ? r.body : undefined;
  } catch {
    return undefined; // not listening yet
  }
};

function logRecords(output: string): { level: string; msg: string; fields?: any }[] {
  return output.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
}

describe.skipIf(process.getuid?.() !== 0)('kmesh run on the real kernel', () => {
  const cgroup = join(cgroup2Mount(), `kmesh-ctl-test-${process.pid}`);
  const otherCgroup = join(cgroup2Mount(), `kmesh-ctl-test-${process.pid}-other`);
  const workDir = mkdtempSync(join(tmpdir(), 'kmesh-ctl-test-'));
  const configFile = join(workDir, 'envoy.yaml');
  const started: Daemon[] = [];

  beforeAll(() => {
    if (!existsSync(kmeshJs)) throw new Error(`${kmeshJs} is missing: npx nx run @kmesh/controller:build`);
    mkdirSync(cgroup);
    mkdirSync(otherCgroup);
    copyFileSync(fixture('canary.yaml'), configFile);
  });

  afterAll(async () => {
    for (const d of started) if (d.child.exitCode === null && d.child.signalCode === null) {
      d.child.kill('SIGKILL');
      await d.exited;
    }
    spawnSync(process.execPath, [kmeshJs, 'cleanup', '--pin-path', pinPath]);
    for (const dir of [cgroup, otherCgroup]) if (existsSync(dir)) rmdirSync(dir);
    rmSync(workDir, { recursive: true, force: true });
  });

  it('refuses an invalid config at start with every reason, leaving nothing attached', async () => {
    const invalid = join(workDir, 'invalid.yaml');
    copyFileSync(fixture('invalid.yaml'), invalid);
    const daemon = startDaemon(invalid, cgroup, await freePort());
    started.push(daemon);
    expect(await daemon.exited).toBe(1);
    const record = logRecords(daemon.log()).find((r) => r.level === 'error');
    expect(record?.msg).toBe('invalid config; nothing attached');
    expect(record?.fields.errors).toHaveLength(2);
    expect(existsSync(pinPath)).toBe(false);
    expect(attachedPrograms(cgroup)).toEqual([]);
  });

  it('loads, attaches, applies, serves the admin API, applies valid edits and rejects invalid ones', async () => {
    const port = await freePort();
    const daemon = startDaemon(configFile, cgroup, port);
    started.push(daemon);
    expect(await waitFor('/readyz', ready(port), daemon.log)).toMatchObject({ ready: true, gen: 1, version: 1 });
    expect((await get(port, '/healthz')).status).toBe(200);
    expect((await get(port, '/nope')).status).toBe(404);

    const dump = (await get(port, '/config_dump')).body;
    expect(dump).toMatchObject({ version: 1, generation: 1, source: configFile, lastRejected: null });
    expect(dump.model.listeners[0]).toMatchObject({ name: 'web', address: { ip: '10.96.0.10', port: 80 } });
    expect(dump.model.clusters.map((c: { name: string }) => c.name)).toEqual(['web-v1', 'web-v2']);

    const maps = (await get(port, '/maps')).body;
    expect(maps.active).toEqual({ gen: 1, version: 1 });
    expect(maps.generations).toHaveLength(1);
    expect(maps.generations[0]).toMatchObject({ gen: 1, active: true });
    expect(maps.generations[0].listeners).toHaveLength(1);
    expect(maps.generations[0].clusters).toHaveLength(2);
    expect(maps.generations[0].endpoints).toHaveLength(2); // the UNHEALTHY endpoint is not in the kernel
    for (const program of programs) expect(existsSync(join(pinPath, 'links', program))).toBe(true);
    // sock_ops: sockmap acceleration and the L7 parser's client insertion (pinned), the L7 direct path
    // (the relay's, attached while the daemon runs)
    expect(attachedPrograms(cgroup)).toEqual([...programs, ...pinnedSockOps, 'kmesh_l7_direct_sockops'].sort());
    expect(JSON.parse(readFileSync(stateFile, 'utf8')).cgroup).toBe(cgroup);

    const stats = (await get(port, '/stats')).body;
    expect(stats).toHaveProperty('connect_rewritten');

    // A valid edit, saved the way editors do (write elsewhere, rename over).
    const edited = readFileSync(configFile, 'utf8').replace('weight: 90', 'weight: 50').replace('weight: 10 }', 'weight: 50 }');
    writeFileSync(configFile + '.tmp', edited);
    renameSync(configFile + '.tmp', configFile);
    await waitFor('generation 2', async () => ((await get(port, '/config_dump')).body.generation === 2 ? true : undefined), daemon.log);
    const applied = logRecords(daemon.log()).find((r) => r.msg === 'config applied' && r.fields.gen === 2);
    expect(applied?.fields.summary).toBe('listeners +0 -0 ~1, clusters +0 -0 ~0, endpoints +0 -0 ~0');
    // The retired generation is gone after the grace period.
    await waitFor('generation 1 swept', async () => ((await get(port, '/maps')).body.generations.length === 1 ? true : undefined), daemon.log);
    expect((await get(port, '/maps')).body.generations[0].listeners[0].value.cumWeights).toEqual([50, 100]);

    // An invalid edit: every reason logged, generation 2 keeps serving.
    copyFileSync(fixture('invalid.yaml'), configFile);
    const rejected = await waitFor('rejection', async () => (await get(port, '/config_dump')).body.lastRejected ?? undefined, daemon.log);
    expect(rejected.errors).toHaveLength(2);
    expect(logRecords(daemon.log()).some((r) => r.level === 'error' && r.msg === 'config rejected; generation 2 keeps serving')).toBe(true);
    expect((await get(port, '/maps')).body.active.gen).toBe(2);

    daemon.child.kill('SIGTERM');
    expect(await daemon.exited).toBe(0);
    for (const program of programs) expect(existsSync(join(pinPath, 'links', program))).toBe(true);
    // traffic keeps flowing: everything pinned stays; the relay (and its direct path) left with the daemon
    expect(attachedPrograms(cgroup)).toEqual([...programs, ...pinnedSockOps].sort());
  });

  it('a second daemon on another cgroup is refused; on the same cgroup it adopts without reloading', async () => {
    copyFileSync(fixture('canary.yaml'), configFile);
    const intruder = startDaemon(configFile, otherCgroup, await freePort());
    started.push(intruder);
    expect(await intruder.exited).toBe(1);
    expect(intruder.log()).toContain(`is attached to cgroup ${cgroup}, not ${otherCgroup}`);
    expect(attachedPrograms(otherCgroup)).toEqual([]);

    const port = await freePort();
    const daemon = startDaemon(configFile, cgroup, port);
    started.push(daemon);
    await waitFor('/readyz', ready(port), daemon.log);
    await waitFor('generation 3', async () => ((await get(port, '/config_dump')).body.generation === 3 ? true : undefined), daemon.log);
    expect(logRecords(daemon.log()).map((r) => r.msg)).toContain('adopted pinned state gen=2');
    expect(daemon.log()).not.toContain('"msg":"attached"');
    daemon.child.kill('SIGTERM');
    expect(await daemon.exited).toBe(0);
  });

  it('kmesh cleanup removes the pin dir and the state file, and a second cleanup finds nothing', () => {
    const first = spawnSync(process.execPath, [kmeshJs, 'cleanup', '--pin-path', pinPath], { encoding: 'utf8' });
    expect(first.status).toBe(0);
    expect(first.stdout).toContain(`detached and unpinned link ${pinPath}/links/kmesh_connect4`);
    expect(first.stdout).toContain(`removed ${pinPath}\n`);
    expect(existsSync(pinPath)).toBe(false);
    expect(existsSync(stateFile)).toBe(false);
    expect(attachedPrograms(cgroup)).toEqual([]);
    const second = spawnSync(process.execPath, [kmeshJs, 'cleanup', '--pin-path', pinPath], { encoding: 'utf8' });
    expect(second.status).toBe(0);
    expect(second.stdout.trim()).toBe(`nothing to clean up at ${pinPath}`);
  });
});
