// kmesh-probe on the real kernel: connection counters, bytes, retransmits, access log and the mesh
// cgroup filter, checked against what the clients themselves saw.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, type DaemonHandle } from '../tools/lab/index.js';
import { bootstrap, cluster, listener } from './support/envoy.js';
import { requireDaemon } from './support/mesh.js';

const id = `pb${process.pid}`;
const VIP = '10.96.7.1';
const LOSSY_VIP = '10.96.7.2';
const kmeshctl = new URL('../packages/kmesh-controller/dist/cli/kmeshctl.js', import.meta.url).pathname;
const servers = ['pa', 'pb', 'pc', 'lossy'].map((name) => ({ name }));

/** Prometheus text → samples of one metric: labels object and value. */
function samples(text: string, metric: string): { labels: Record<string, string>; value: number }[] {
  const out: { labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(metric + '{') && !line.startsWith(metric + ' ')) continue;
    const m = /^([^{\s]+)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== metric) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ labels, value: Number(m[3]) });
  }
  return out;
}

function sumBy(text: string, metric: string, filter: (l: Record<string, string>) => boolean = () => true): number {
  return samples(text, metric).filter((s) => filter(s.labels)).reduce((a, s) => a + s.value, 0);
}

// A client that sends REQ bytes per connection and reads until the server closes, reporting per peer
// endpoint (from the server's answer) how many bytes it sent and received.
const bytesClient = `
const net = require('net');
const [host, port, count, reqBytes] = process.argv.slice(1).map((v, i) => (i ? Number(v) : v));
const result = {};
let left = count;
const one = () => {
  const s = net.connect(port, host);
  let received = 0;
  const chunks = [];
  s.on('connect', () => s.write('GET / HTTP/1.0\\r\\nX-Pad: ' + 'x'.repeat(reqBytes - 29) + '\\r\\n\\r\\n'));
  s.on('data', (d) => { received += d.length; chunks.push(d); });
  s.on('end', () => s.end());
  s.on('close', () => {
    const body = Buffer.concat(chunks).toString();
    const name = /backend=([\\w-]+)/.exec(body)?.[1] ?? body.split('\\r\\n\\r\\n')[1]?.trim() ?? '?';
    result[name] ??= { connections: 0, sent: 0, received: 0 };
    result[name].connections++; result[name].sent += s.bytesWritten; result[name].received += received;
    if (--left > 0) one(); else console.log(JSON.stringify(result));
  });
  s.on('error', (e) => { console.error(e.message); process.exit(1); });
};
one();
`;

describe.skipIf(process.getuid?.() !== 0)('kmesh-probe: connection metrics and access logs', () => {
  let lab: Lab;
  let daemon: DaemonHandle;
  let dir: string;
  let accessLog: string;
  const pinPath = `/sys/fs/bpf/kmesh-it-${id}`;
  const metrics = async () => {
    const res = await fetch(`${daemon.adminUrl}/metrics`);
    expect(res.status).toBe(200);
    return res.text();
  };
  const endpointOf = (name: string) => `${lab.backend(name).ipv4}:${lab.backend(name).port}`;

  beforeAll(async () => {
    requireDaemon();
    lab = await Lab.create({ id, servers });
    dir = mkdtempSync(join(tmpdir(), `kmesh-${id}-`));
    accessLog = join(dir, 'access.log');
    const config = join(dir, 'mesh.json');
    const v4 = (name: string) => ({ address: lab.backend(name).ipv4 });
    writeFileSync(config, JSON.stringify(bootstrap(
      [listener('web', VIP, 9080, 'web'), listener('lossy', LOSSY_VIP, 9080, 'lossy')],
      [cluster('web', 'ROUND_ROBIN', [v4('pa'), v4('pb'), v4('pc')]), cluster('lossy', 'ROUND_ROBIN', [v4('lossy')])],
    )));
    daemon = await lab.startDaemon({ config, pinPath, extraArgs: ['--access-log', accessLog] });
    await daemon.waitForLog(/"msg":"probe attached"/, 10_000);
  });

  afterAll(async () => {
    try {
      await lab?.execInServer('nft', ['delete', 'table', 'inet', `kmloss${id}`]).catch(() => undefined);
      await lab?.destroy();
    } finally {
      if (dir) rmSync(dir, { recursive: true, force: true });
      rmSync(pinPath, { recursive: true, force: true });
    }
  });

  it('N connections through a VIP: opened and closed per endpoint sum to N and match the clients', async () => {
    const before = await metrics();
    const r = await lab.runClient({ target: `${VIP}:9080`, connections: 60, concurrency: 4 });
    expect(r.failed).toBe(0);
    expect(r.succeeded).toBe(60);
    const after = await waitForCount('kmesh_tcp_connections_closed_total', 60, before);
    for (const name of ['pa', 'pb', 'pc']) {
      const mine = (l: Record<string, string>) => l.endpoint === endpointOf(name) && l.listener === `${VIP}:9080`;
      const opened = sumBy(after, 'kmesh_tcp_connections_opened_total', mine) - sumBy(before, 'kmesh_tcp_connections_opened_total', mine);
      const closed = sumBy(after, 'kmesh_tcp_connections_closed_total', mine) - sumBy(before, 'kmesh_tcp_connections_closed_total', mine);
      expect({ name, opened, closed }).toEqual({ name, opened: r.byBackend[name], closed: r.byBackend[name] });
    }
    const labels = samples(after, 'kmesh_tcp_connections_opened_total').find((s) => s.labels.endpoint === endpointOf('pa'))!.labels;
    expect(labels).toEqual({ listener: `${VIP}:9080`, cluster: 'web', endpoint: endpointOf('pa'), direction: 'outbound' });
    expect(sumBy(after, 'kmesh_tcp_connection_duration_seconds_count', (l) => l.listener === `${VIP}:9080`)).toBeGreaterThanOrEqual(60);
  });

  async function waitForCount(metric: string, delta: number, before: string, filter?: (l: Record<string, string>) => boolean): Promise<string> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const text = await metrics();
      if (sumBy(text, metric, filter) - sumBy(before, metric, filter) >= delta) return text;
      if (Date.now() > deadline) throw new Error(`${metric} did not grow by ${delta} within 10 s:\n${text}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('sent and received bytes per endpoint equal what the client wrote and read', async () => {
    const before = await metrics();
    const res = await lab.execInClient(process.execPath, ['-e', bytesClient, VIP, '9080', '9', '1000'], { inMeshCgroup: true });
    expect(res.code, res.stderr).toBe(0);
    const seen = JSON.parse(res.stdout.trim().split('\n').pop()!) as Record<string, { connections: number; sent: number; received: number }>;
    expect(Object.values(seen).reduce((a, s) => a + s.connections, 0)).toBe(9);
    const after = await waitForCount('kmesh_tcp_connections_closed_total', 9, before);
    for (const [name, s] of Object.entries(seen)) {
      const mine = (l: Record<string, string>) => l.endpoint === endpointOf(name);
      const delta = (metric: string) => sumBy(after, metric, mine) - sumBy(before, metric, mine);
      expect({ name, sent: delta('kmesh_tcp_sent_bytes_total'), received: delta('kmesh_tcp_received_bytes_total') }).toEqual({ name, sent: s.sent, received: s.received });
    }
  });

  it('connections from outside the mesh cgroup, or not to a VIP, are not reported', async () => {
    const before = await metrics();
    const outside = await lab.runClient({ target: lab.backendTarget('pa'), connections: 10, inMeshCgroup: false });
    expect(outside.succeeded).toBe(10);
    const direct = await lab.runClient({ target: lab.backendTarget('pb'), connections: 10, inMeshCgroup: true });
    expect(direct.succeeded).toBe(10);
    // One mesh connection afterwards: once it is counted, the 20 above would have been too.
    await lab.runClient({ target: `${VIP}:9080`, connections: 1 });
    const after = await waitForCount('kmesh_tcp_connections_closed_total', 1, before);
    expect(sumBy(after, 'kmesh_tcp_connections_opened_total') - sumBy(before, 'kmesh_tcp_connections_opened_total')).toBe(1);
  });

  it('writes one access log line per closed connection with every field', async () => {
    const lines = readFileSync(accessLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.length).toBeGreaterThanOrEqual(70);
    const last = lines[lines.length - 1];
    expect(Object.keys(last).sort()).toEqual(
      ['bytes_received', 'bytes_sent', 'close_reason', 'cluster', 'duration_s', 'endpoint', 'established', 'original_destination', 'retransmits', 'source', 'start'].sort(),
    );
    expect(last).toMatchObject({ original_destination: `${VIP}:9080`, cluster: 'web', close_reason: 'normal', established: true, retransmits: 0 });
    expect(last.source).toMatch(/^10\.250\.\d+\.\d+:[1-9]\d*$/); // the client's real port, not 0
    expect(Date.now() - Date.parse(last.start as string)).toBeLessThan(120_000);
    expect(last.duration_s as number).toBeGreaterThan(0);
    const page = (await (await fetch(`${daemon.adminUrl}/access_log?since=0`)).json()) as { next: number; entries: unknown[] };
    expect(page.entries.length).toBe(Math.min(lines.length, 1000));
    // kmeshctl monitoring prints the same connections as a table.
    const admin = daemon.adminUrl.replace('http://', '');
    const table = execFileSync(process.execPath, [kmeshctl, 'monitoring', '--once', '--admin', admin], { encoding: 'utf8' }).trim().split('\n');
    expect(table[0]).toMatch(/^START\s+DURATION\s+SOURCE\s+DESTINATION\s+ENDPOINT\s+CLUSTER\s+SENT\s+RECEIVED\s+RETX\s+CLOSE$/);
    expect(table.length - 1).toBe(page.entries.length);
    expect(table[table.length - 1]).toContain(`${VIP}:9080`);
  });

  it('counts retransmits under packet loss injected in the server namespace', async () => {
    const table = `kmloss${id}`;
    const nft = async (...args: string[]) => {
      const r = await lab.execInServer('nft', args);
      if (r.code !== 0) throw new Error(`nft ${args.join(' ')}: ${r.stderr}`);
    };
    await nft('add', 'table', 'inet', table);
    await nft('add', 'chain', 'inet', table, 'in', '{ type filter hook input priority 0 ; }');
    // Drop 30% of the client's segments to the lossy backend (not its SYNs: those wait a whole second).
    await nft('add', 'rule', 'inet', table, 'in', 'ip', 'daddr', lab.backend('lossy').ipv4, 'tcp', 'dport', '9080', 'tcp', 'flags', '&', 'syn', '==', '0', 'numgen', 'random', 'mod', '10', '<', '3', 'drop');
    const before = await metrics();
    const mine = (l: Record<string, string>) => l.endpoint === endpointOf('lossy');
    try {
      const r = await lab.runClient({ target: `${LOSSY_VIP}:9080`, connections: 30, concurrency: 10, timeoutMs: 30_000 });
      expect(r.succeeded).toBe(30);
    } finally {
      await nft('delete', 'table', 'inet', table);
    }
    const after = await waitForCount('kmesh_tcp_connections_closed_total', 30, before, mine);
    expect(sumBy(after, 'kmesh_tcp_retransmits_total', mine) - sumBy(before, 'kmesh_tcp_retransmits_total', mine)).toBeGreaterThan(0);
  });

  it('exposes the ring buffer overflow counter and the daemon health', async () => {
    const text = await metrics();
    expect(samples(text, 'kmesh_probe_events_total').find((s) => s.labels.outcome === 'ring_full')?.value).toBe(0);
    expect(samples(text, 'kmesh_probe_events_total').find((s) => s.labels.outcome === 'submitted')!.value).toBeGreaterThan(100);
    expect(samples(text, 'kmesh_config_version')[0]?.value).toBeGreaterThan(0);
    expect(samples(text, 'kmesh_config_applied_total')[0]?.value).toBe(1);
    expect(samples(text, 'kmesh_config_rejected_total')[0]?.value).toBe(0);
    expect(samples(text, 'kmesh_map_entries').find((s) => s.labels.map === 'km_listener')?.value).toBe(2);
    expect(samples(text, 'kmesh_program_outcomes_total').find((s) => s.labels.outcome === 'connect_rewritten')!.value).toBeGreaterThanOrEqual(100);
  });
});
