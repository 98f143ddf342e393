/**
 * The daemon's L7 relay wiring on the real kernel (root): the relay opens the L7 maps pinned under
 * the daemon's pin path (by the L7 parser, installed here the way the daemon installs it), registers
 * its anchor, shows up in /stats and /metrics, and removes its anchor when stopped.
 *   npx vitest run --project kernel packages/kmesh-controller/test/l7.kernel.test.ts
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { BpfMap } from '@kmesh/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonL7, l7DirectObjectPath, withL7AdminRoutes } from '../src/daemon/l7.js';
import { installL7, l7Available, removeL7 } from '../src/kernel/l7.js';
import type { Logger } from '../src/log.js';

function cgroup2Mount(): string {
  const line = readFileSync('/proc/self/mounts', 'utf8').split('\n').find((l) => l.split(' ')[2] === 'cgroup2');
  if (!line) throw new Error('no cgroup2 mount in /proc/self/mounts: this test needs cgroup v2');
  return line.split(' ')[1]!;
}

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const add = (level: string) => (msg: string, fields?: object) => lines.push(`${level} ${msg} ${JSON.stringify(fields ?? {})}`);
  return { lines, debug: add('debug'), info: add('info'), warn: add('warn'), error: add('error') };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe.skipIf(process.getuid?.() !== 0)('daemon L7 relay wiring', () => {
  const pinPath = `/sys/fs/bpf/kmesh-ctl-l7-${process.pid}`;
  const meshCgroup = join(cgroup2Mount(), `kmesh-ctl-l7-mesh-${process.pid}`);
  let anchorMap: BpfMap;

  beforeAll(() => {
    if (!l7Available()) throw new Error('kmesh_l7.bpf.o is not built: npx nx run @kmesh/orchestration:build');
    mkdirSync(meshCgroup);
    mkdirSync(join(pinPath, 'links'), { recursive: true }); // the daemon's install creates it before the L7 part
    installL7({ pinPath, cgroup: meshCgroup });
    anchorMap = BpfMap.fromPin(join(pinPath, 'km_l7_anchor'));
  });

  afterAll(() => {
    anchorMap?.close();
    removeL7(pinPath);
    rmSync(pinPath, { recursive: true, force: true });
    if (existsSync(meshCgroup)) rmdirSync(meshCgroup);
  });

  it('starts on the pinned maps, reports in /stats and /metrics, and unregisters on stop', async () => {
    const log = recordingLogger();
    const port = await freePort();
    const l7 = DaemonL7.start({ enabled: true, netns: [], anchorPort: port }, pinPath, log);
    expect(l7, log.lines.join('\n')).not.toBeNull();
    try {
      expect(anchorMap.keys()).toHaveLength(1);
      expect(anchorMap.lookup(anchorMap.keys()[0]!)!.readUInt16BE(16)).toBe(port);
      expect(log.lines.some((l) => l.startsWith('info L7 relay started') && l.includes(`"port":${port}`))).toBe(true);

      const routes = withL7AdminRoutes(
        { '/stats': () => ({ status: 200, body: { connect_l4: 3 } }), '/metrics': () => ({ status: 200, body: 'kmesh_probe_up 1' }) },
        () => l7,
      );
      const stats = await routes['/stats']();
      expect(stats.body).toMatchObject({ connect_l4: 3, l7Relay: { accepted: 0, activeConnections: 0 } });
      const metrics = await routes['/metrics']();
      expect(metrics.status).toBe(200);
      expect(metrics.body).toContain('kmesh_probe_up 1\n');
      expect(metrics.body).toContain('kmesh_l7_relay_accepted_total 0');
      expect(metrics.body).toContain('kmesh_l7_relay_verdicts_total{verdict="noRoute"} 0');
      expect(metrics.body).toMatch(/kmesh_l7_relay_open_fds [1-9]\d*/);
    } finally {
      l7!.stop();
    }
    expect(anchorMap.keys()).toHaveLength(0);
  });

  it('attaches the direct path to the mesh cgroup while the relay runs, and detaches it on stop', async () => {
    expect(existsSync(l7DirectObjectPath), `${l7DirectObjectPath} missing: build @kmesh/orchestration`).toBe(true);
    const mount = readFileSync('/proc/self/mounts', 'utf8').split('\n').find((l) => l.split(' ')[2] === 'cgroup2')!.split(' ')[1]!;
    const cgroup = join(mount, `kmesh-ctl-l7-${process.pid}`);
    mkdirSync(cgroup);
    const attached = () => execFileSync('bpftool', ['cgroup', 'show', cgroup], { encoding: 'utf8' });
    try {
      const log = recordingLogger();
      const l7 = DaemonL7.start({ enabled: true, netns: [], anchorPort: await freePort() }, pinPath, log, cgroup);
      expect(l7, log.lines.join('\n')).not.toBeNull();
      expect(log.lines.join('\n')).toContain('"directPath":true');
      expect(attached()).toContain('kmesh_l7_direct_sockops'.slice(0, 15));
      l7!.stop();
      expect(attached()).not.toContain('kmesh_l7_direct_sockops'.slice(0, 15));
      expect(anchorMap.keys()).toHaveLength(0);
    } finally {
      rmdirSync(cgroup);
    }
  });

  it('stays off with --no-l7 and when the L7 maps are not pinned, saying why', () => {
    // An anchor a killed daemon left behind is removed even when the relay stays off.
    const stale = Buffer.alloc(8);
    stale.writeBigUInt64LE(12345n);
    anchorMap.update(stale, Buffer.alloc(40));
    const off = recordingLogger();
    expect(DaemonL7.start({ enabled: false, netns: [], anchorPort: 15001 }, pinPath, off)).toBeNull();
    expect(off.lines.join('\n')).toContain('L7 relay off (--no-l7)');
    expect(off.lines.join('\n')).toContain('removed L7 anchors left by a previous daemon');
    expect(anchorMap.keys()).toHaveLength(0);

    const missing = recordingLogger();
    const empty = `/sys/fs/bpf/kmesh-ctl-l7-empty-${process.pid}`;
    expect(existsSync(empty)).toBe(false);
    expect(DaemonL7.start({ enabled: true, netns: [], anchorPort: 15001 }, empty, missing)).toBeNull();
    expect(missing.lines.join('\n')).toMatch(/error L7 relay not started: the L7 parser .* is not attached/);
    expect(anchorMap.keys()).toHaveLength(0);
  });

  it('logs the namespace and errno when an anchor cannot be opened, and keeps nothing registered', () => {
    const log = recordingLogger();
    expect(DaemonL7.start({ enabled: true, netns: ['/run/netns/kmesh-ctl-l7-absent'], anchorPort: 15001 }, pinPath, log)).toBeNull();
    expect(log.lines.join('\n')).toMatch(/error L7 relay failed to start.*\/run\/netns\/kmesh-ctl-l7-absent.*ENOENT/);
    expect(anchorMap.keys()).toHaveLength(0);
  });
});
