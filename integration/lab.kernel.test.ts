// The lab itself, without the mesh: backends reachable directly, VIPs unreachable locally, the
// backend control channel works, and destroy() leaves nothing behind.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, VIP_UNREACHABLE_ERROR, listNetns } from '../tools/lab/index.js';

describe.skipIf(process.getuid?.() !== 0)('network lab', () => {
  let lab: Lab;

  beforeAll(async () => {
    lab = await Lab.create({ id: `it-lab-${process.pid}`, servers: [{ name: 'alpha' }, { name: 'beta', port: 8080 }], ipv6: true });
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  it('reaches each backend directly from the client netns, over IPv4 and IPv6', async () => {
    for (const family of [4, 6] as const) {
      const alpha = await lab.runClient({ target: lab.backendTarget('alpha', family), connections: 20, inMeshCgroup: false });
      expect(alpha.failed).toBe(0);
      expect(alpha.byBackend).toEqual({ alpha: 20 });
      expect(Object.keys(alpha.peers)).toEqual([lab.backendTarget('alpha', family)]);
      const beta = await lab.runClient({ target: lab.backendTarget('beta', family), connections: 5, inMeshCgroup: true });
      expect(beta.byBackend).toEqual({ beta: 5 });
    }
  });

  it('answers a raw HTTP/1.0 request and curl-like HTTP/1.1 with the backend name', async () => {
    const script = `const s=require('net').connect(${lab.backend('alpha').port},'${lab.backend('alpha').ipv4}');` +
      `s.on('connect',()=>s.write('GET / HTTP/1.0\\r\\n\\r\\n'));let d='';s.on('data',c=>d+=c);s.on('end',()=>process.stdout.write(d));`;
    const raw = await lab.execInClient(process.execPath, ['-e', script], { inMeshCgroup: false });
    expect(raw.stdout).toMatch(/^HTTP\/1\.[01] 200/);
    expect(raw.stdout.trimEnd().endsWith('\nalpha')).toBe(true);
  });

  it('fails a VIP connect locally with the unreachable error, in and out of the mesh cgroup', async () => {
    for (const target of ['10.96.0.10:9080', '[fd00:96::10]:9080']) {
      for (const inMeshCgroup of [true, false]) {
        const r = await lab.runClient({ target, connections: 3, inMeshCgroup });
        expect(r.succeeded).toBe(0);
        expect(r.errors).toEqual({ [VIP_UNREACHABLE_ERROR]: 3 });
      }
    }
  });

  it('puts inMeshCgroup processes into the mesh cgroup and the others not', async () => {
    const inside = await lab.execInClient('cat', ['/proc/self/cgroup'], { inMeshCgroup: true });
    const outside = await lab.execInClient('cat', ['/proc/self/cgroup'], { inMeshCgroup: false });
    const cgroupName = lab.cgroup.split('/').pop()!;
    expect(inside.stdout).toContain(`0::/${cgroupName}`);
    expect(outside.stdout).not.toContain(cgroupName);
  });

  it('stops and starts one backend on request', async () => {
    await lab.stopBackend('alpha');
    const down = await lab.runClient({ target: lab.backendTarget('alpha'), connections: 3, inMeshCgroup: false });
    expect(down.errors).toEqual({ ECONNREFUSED: 3 });
    await lab.startBackend('alpha');
    const up = await lab.runClient({ target: lab.backendTarget('alpha'), connections: 3, inMeshCgroup: false });
    expect(up.byBackend).toEqual({ alpha: 3 });
    const stats = await lab.backendStats();
    expect(stats.requests.alpha).toBeGreaterThanOrEqual(3);
    expect(Object.keys(stats.peers.alpha)).toContain(lab.addresses.clientV4);
  });

  it('reports totals of a looping client when it is stopped', async () => {
    const loop = await lab.startClientLoop({ target: lab.backendTarget('beta'), intervalMs: 2 });
    await new Promise((r) => setTimeout(r, 500));
    const report = await loop.stop();
    expect(report.mode).toBe('until-signal');
    expect(report.succeeded).toBeGreaterThan(10);
    expect(report.failed).toBe(0);
  });

  it('leaves no netns, cgroup or process behind after destroy(), and destroy() is idempotent', async () => {
    const other = await Lab.create({ id: `it-lab2-${process.pid}`, servers: [{ name: 'gamma' }] });
    expect(other.n).not.toBe(lab.n);
    const loop = await other.startClientLoop({ target: other.backendTarget('gamma'), intervalMs: 5 });
    const pids = other.pids();
    expect(pids).toContain(loop.process.pid);
    await other.destroy();
    await other.destroy();
    const namespaces = await listNetns();
    expect(namespaces).not.toContain(other.clientNetns);
    expect(namespaces).not.toContain(other.serverNetns);
    expect(existsSync(other.cgroup)).toBe(false);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
    // the first lab is untouched
    const r = await lab.runClient({ target: lab.backendTarget('beta'), connections: 2, inMeshCgroup: false });
    expect(r.byBackend).toEqual({ beta: 2 });
  });
});
