/**
 * The L7 parser and router in the real kernel (kmesh_l4.bpf.o connect4/6 + kmesh_l7.bpf.o sock_ops and
 * sk_msg), without the relay: a python listener inside a private netns plays the anchor, clients in the
 * netns and a private cgroup connect to a VIP and send request heads, and the test reads back the
 * km_l7_decision entry of each client socket (verdict, cluster, endpoint), plus km_l7_stats.
 *
 * Private everything: pin path, cgroup, netns (lo only: the VIP has no route, a connect that is not
 * rewritten fails locally). Needs root.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { BpfMap, BpfObject, type BpfLink } from '../../kmesh-runtime/src/index.js';
import { encodeModel, encodeActive, activeKey } from '../../kmesh-api/src/index.js';
import { L7MapNames, L7Verdict, L7StatNames, L7Structs, l7Offset } from '../../kmesh-api/src/abi/l7-layout.js';
import type { MeshModel, RouteModel } from '../../kmesh-api/src/model.js';
import { objectPaths, l4Programs, l7Programs } from '../src/index.js';

const isRoot = process.getuid?.() === 0;
const id = `kml7p${process.pid}`;
const pinPath = `/sys/fs/bpf/${id}`;
const netns = id;
const work = join(tmpdir(), id);
const anchorPort = 15001;
const vip = '10.96.0.10';

function cgroup2Mount(): string {
  const line = readFileSync('/proc/self/mounts', 'utf8').split('\n').find((l) => l.split(' ')[2] === 'cgroup2');
  if (!line) throw new Error('no cgroup2 filesystem in /proc/self/mounts');
  return line.split(' ')[1]!;
}

const ep = (n: number) => ({ address: { family: 4 as const, ip: `10.250.1.${n}`, port: 8000 + n }, weight: 1, health: 'HEALTHY' as const, priority: 0 });
const clusterNames = ['jason', 'api', 'users', 'canary', 'nouser', 'case', 'default', 'wild', 'pre', 'any', 'ported', 'hdrregex', 'contains', 'w1', 'w3'];
const endpointOf = new Map(clusterNames.map((n, i) => [n, ep(i + 1)]));
const to = (cluster: string, match: Partial<RouteModel['match']>): RouteModel => ({
  match: { caseSensitive: true, headers: [], ...match },
  action: { kind: 'cluster', cluster },
});

const vip6 = 'fd00:96::10';
const vip2 = '10.96.0.11';
const model: MeshModel = {
  clusters: [...clusterNames.map((name) => ({ name, lbPolicy: 'ROUND_ROBIN' as const, endpoints: [endpointOf.get(name)!] })), { name: 'empty', lbPolicy: 'ROUND_ROBIN', endpoints: [] }],
  listeners: [
    {
      name: 'web',
      address: { family: 4, ip: vip, port: 80 },
      route: { clusters: [] },
      http: {
        routeConfig: {
          name: 'web-routes',
          virtualHosts: [
            {
              name: 'app',
              domains: ['app.example.com'],
              routes: [
                to('jason', { path: '/jason' }),
                to('api', { prefix: '/api/' }),
                to('users', { safeRegex: '/users/[0-9]+' }),
                to('canary', { prefix: '/hdr', headers: [{ name: 'X-Canary', kind: 'exact', value: 'yes', invert: false }] }),
                to('nouser', { prefix: '/hdr', headers: [{ name: 'x-user', kind: 'present', invert: true }] }),
                to('hdrregex', { prefix: '/rx', headers: [{ name: 'x-id', kind: 'regex', value: '[a-f0-9]{4}', invert: false }] }),
                to('contains', { prefix: '/ct', headers: [{ name: 'user-agent', kind: 'contains', value: 'bot', invert: false }] }),
                to('case', { prefix: '/CaSe', caseSensitive: false }),
                { match: { prefix: '/teapot', caseSensitive: true, headers: [] }, action: { kind: 'direct_response', status: 418, body: "I'm a teapot" } },
                to('empty', { prefix: '/empty' }),
                to('default', { prefix: '/' }),
              ],
            },
            {
              name: 'canary',
              domains: ['canary.test'],
              routes: [{ match: { prefix: '/', caseSensitive: true, headers: [] }, action: { kind: 'weighted', route: { clusters: [{ name: 'w1', weight: 1 }, { name: 'w3', weight: 3 }] } } }],
            },
            { name: 'ported', domains: ['port.example.com:8080'], routes: [to('ported', { prefix: '/' })] },
            { name: 'wild', domains: ['*.wild.test'], routes: [to('wild', { prefix: '/' })] },
            { name: 'pre', domains: ['pre.*'], routes: [to('pre', { prefix: '/' })] },
            { name: 'any', domains: ['*'], routes: [to('any', { prefix: '/only' })] },
          ],
        },
      },
    },
  ],
};
// A second listener whose route configuration has no '*' virtual host (port stripping).
model.listeners.push({
  name: 'web2',
  address: { family: 4, ip: vip2, port: 80 },
  route: { clusters: [] },
  http: { routeConfig: { name: 'strip-routes', virtualHosts: [{ name: 'strip', domains: ['strip.test'], routes: [to('ported', { prefix: '/' })] }] } },
});
// An IPv6 VIP served by the same route configuration (same inline object: same route config id).
model.listeners.push({ name: 'web6', address: { family: 6, ip: vip6, port: 80 }, route: { clusters: [] }, http: model.listeners[0]!.http! });

/** The anchor: accepts, prints its netns cookie first, reads and discards. */
const anchorPy = `
import socket, sys, threading
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", ${anchorPort})); s.listen(512)
s6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
s6.bind(("::1", ${anchorPort})); s6.listen(512)
cookie = int.from_bytes(s.getsockopt(socket.SOL_SOCKET, 71, 8), sys.byteorder)
print(cookie, flush=True)
def serve(l):
    while True:
        c, _ = l.accept()
        threading.Thread(target=drain, args=(c,), daemon=True).start()
def drain(c):
    try:
        while c.recv(65536): pass
    except OSError: pass
    c.close()
threading.Thread(target=serve, args=(s6,), daemon=True).start()
serve(s)
`;

/** Clients: one connection per case, parts written apart; prints one JSON line per case. */
const clientPy = `
import json, socket, sys, time
cases = json.load(sys.stdin)
keep = []
for case in cases:
    fam = socket.AF_INET6 if case.get("v6") else socket.AF_INET
    c = socket.socket(fam, socket.SOCK_STREAM)
    c.settimeout(5)
    out = {"id": case["id"]}
    try:
        c.connect((case["host"], case["port"]))
    except OSError as e:
        out["connect"] = e.errno
        print(json.dumps(out), flush=True); c.close(); continue
    out["peer"] = list(c.getpeername()[:2]); out["local"] = list(c.getsockname()[:2])
    for i, part in enumerate(case["parts"]):
        if i: time.sleep(case.get("gap", 0.05))
        c.sendall(part.encode("latin1"))
    out["sent"] = True
    keep.append(c)
    print(json.dumps(out), flush=True)
time.sleep(0.2)
`;

interface Case {
  id: number;
  parts: string[];
  v6?: boolean;
  /** the IPv4 VIP to dial (default vip) */
  vip?: string;
  /** seconds between writes (default 0.05) */
  gap?: number;
  /** connect to the IPv6 VIP (anchor ::1) */
  ipv6?: boolean;
  /** expected */
  verdict: keyof typeof L7Verdict;
  cluster?: string;
  status?: number;
}

const head = (target: string, host: string | null, extra = '') => `GET ${target} HTTP/1.1\r\n${host === null ? '' : `Host: ${host}\r\n`}${extra}\r\n`;

const cases: Case[] = [
  { id: 1, parts: [head('/jason', 'app.example.com')], verdict: 'FORWARD', cluster: 'jason' },
  { id: 2, parts: [head('/jason2', 'app.example.com')], verdict: 'FORWARD', cluster: 'default' }, // exact /jason must not match /jason2
  { id: 3, parts: [head('/jason?x=1', 'app.example.com')], verdict: 'FORWARD', cluster: 'jason' }, // exact ignores the query
  { id: 4, parts: [head('/api/v1', 'app.example.com')], verdict: 'FORWARD', cluster: 'api' },
  { id: 5, parts: [head('/apix', 'app.example.com')], verdict: 'FORWARD', cluster: 'default' }, // prefix /api/ must not match /apix
  { id: 6, parts: [head('/users/123', 'app.example.com')], verdict: 'FORWARD', cluster: 'users' },
  { id: 7, parts: [head('/users/12a', 'app.example.com')], verdict: 'FORWARD', cluster: 'default' },
  { id: 8, parts: [head('/users/123?q=a', 'APP.Example.COM')], verdict: 'FORWARD', cluster: 'users' }, // regex on the path without query; Host case-insensitive
  { id: 9, parts: [head('/hdr', 'app.example.com', 'x-canary: yes\r\nX-User: bob\r\n')], verdict: 'FORWARD', cluster: 'canary' },
  { id: 10, parts: [head('/hdr', 'app.example.com', 'X-CANARY:   yes  \r\n')], verdict: 'FORWARD', cluster: 'canary' }, // name case, OWS
  { id: 11, parts: [head('/hdr', 'app.example.com', 'x-canary: yess\r\nx-user: bob\r\n')], verdict: 'FORWARD', cluster: 'default' },
  { id: 12, parts: [head('/hdr', 'app.example.com', 'x-canary: no\r\n')], verdict: 'FORWARD', cluster: 'nouser' }, // x-user absent, inverted present
  { id: 13, parts: [head('/hdr', 'app.example.com', 'x-canary: no\r\nx-canary: yes\r\n')], verdict: 'FORWARD', cluster: 'nouser' }, // first occurrence counts
  { id: 14, parts: [head('/rx', 'app.example.com', 'x-id: 0af9\r\n')], verdict: 'FORWARD', cluster: 'hdrregex' },
  { id: 15, parts: [head('/rx', 'app.example.com', 'x-id: 0af\r\n')], verdict: 'FORWARD', cluster: 'default' },
  { id: 16, parts: [head('/ct', 'app.example.com', 'User-Agent: my-bot/1.0\r\n')], verdict: 'FORWARD', cluster: 'contains' },
  { id: 17, parts: [head('/ct', 'app.example.com', 'User-Agent: curl/8\r\n')], verdict: 'FORWARD', cluster: 'default' },
  { id: 18, parts: [head('/case/x', 'app.example.com')], verdict: 'FORWARD', cluster: 'case' },
  { id: 19, parts: [head('/teapot', 'app.example.com')], verdict: 'DIRECT_RESPONSE', status: 418 },
  { id: 20, parts: [head('/empty', 'app.example.com')], verdict: 'NO_ENDPOINT' },
  // virtual hosts
  { id: 21, parts: [head('/', 'app.example.com:80')], verdict: 'NO_ROUTE' }, // as sent: no exact match, '*' matches first (Envoy's order), and '*' has only /only
  { id: 43, vip: vip2, parts: [head('/', 'strip.test:8080')], verdict: 'FORWARD', cluster: 'ported' }, // no '*' here: the port is stripped on the second try
  { id: 44, vip: vip2, parts: [head('/', 'other.test:8080')], verdict: 'NO_ROUTE' },
  { id: 22, parts: [head('/', 'port.example.com:8080')], verdict: 'FORWARD', cluster: 'ported' },
  { id: 23, parts: [head('/only', 'port.example.com')], verdict: 'FORWARD', cluster: 'any' },
  { id: 24, parts: [head('/', 'a.b.wild.test')], verdict: 'FORWARD', cluster: 'wild' },
  { id: 25, parts: [head('/only', '.wild.test')], verdict: 'FORWARD', cluster: 'any' }, // '*' matches at least one byte
  { id: 26, parts: [head('/', 'pre.anything')], verdict: 'FORWARD', cluster: 'pre' },
  { id: 27, parts: [head('/other', 'unknown.test')], verdict: 'NO_ROUTE' },
  { id: 28, parts: [head('/', 'app.example.comx')], verdict: 'NO_ROUTE' }, // exact domain is exact
  // fragmented heads
  { id: 29, parts: ['GET /api/x HTTP/1.1\r\nHo', 'st: app.example.com\r\n', '\r\n'], verdict: 'FORWARD', cluster: 'api' },
  { id: 30, parts: ['GET /jas', 'on HTTP/1.1\r\nHost: app.example.com\r\n\r'], verdict: 'FORWARD', cluster: 'jason' }, // wait: last part lacks LF
  // malformed
  { id: 31, parts: ['HELLO WORLD\r\n\r\n'], verdict: 'BAD_REQUEST' },
  { id: 32, parts: ['\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03'], verdict: 'BAD_REQUEST' }, // a TLS ClientHello
  { id: 33, parts: [head('/', null)], verdict: 'BAD_REQUEST' }, // no Host
  { id: 34, parts: ['GET / HTTP/2.0\r\nHost: app.example.com\r\n\r\n'], verdict: 'BAD_REQUEST' },
  { id: 35, parts: [head('http://app.example.com/', 'app.example.com')], verdict: 'BAD_REQUEST' }, // absolute-form
  { id: 36, parts: [`GET / HTTP/1.1\r\nHost: app.example.com\r\nX-Big: ${'a'.repeat(5000)}\r\n\r\n`], verdict: 'BAD_REQUEST' }, // > 4096 in one write
  { id: 37, parts: [`GET / HTTP/1.1\r\nHost: app.example.com\r\nX-Big: ${'a'.repeat(2000)}`, 'b'.repeat(2000), `${'c'.repeat(1000)}\r\n\r\n`], verdict: 'BAD_REQUEST' }, // > 4096 over writes
  { id: 38, parts: [head('/', 'app.example.com', Array.from({ length: 40 }, (_, i) => `x-h${i}: v\r\n`).join(''))], verdict: 'FORWARD', cluster: 'default' }, // > 32 header lines: the later ones are skipped
  { id: 42, parts: [`GET / HTTP/1.1\r\n${Array.from({ length: 32 }, (_, i) => `x-h${i}: v\r\n`).join('')}Host: app.example.com\r\n\r\n`], verdict: 'BAD_REQUEST' }, // Host as the 33rd header is not seen
  // a dual-stack socket to the v4-mapped VIP (connect6 -> v4-mapped anchor)
  // an IPv6 VIP: connect6 -> ::1 anchor, keyed by the IPv6 client address
  { id: 41, ipv6: true, parts: [head('/only/v6', '[fd00:96::10]:80')], verdict: 'FORWARD', cluster: 'any' }, // bracketed IPv6 Host with port -> '*'
  // keep-alive: the second request on the connection does not change the first one's decision
  { id: 40, parts: [head('/jason', 'app.example.com'), head('/api/x', 'app.example.com')], verdict: 'FORWARD', cluster: 'jason' },
  { id: 39, v6: true, parts: [head('/api/v6', 'app.example.com')], verdict: 'FORWARD', cluster: 'api' },
];
// Case 30's second part ends in CR: the head is incomplete until a third write completes it.
cases.find((c) => c.id === 30)!.parts.push('\n');

let anchor: ChildProcess | undefined;
let cgroup = '';
const links: BpfLink[] = [];
const objects: BpfObject[] = [];
let cookie = 0n;
let clusterIds = new Map<string, number>();

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function runClients(list: Case[]): Map<number, { connect?: number; peer?: [string, number]; local?: [string, number] }> {
  const script = join(work, 'client.py');
  writeFileSync(script, clientPy);
  const input = JSON.stringify(list.map((c) => ({ id: c.id, host: c.ipv6 ? vip6 : c.v6 ? `::ffff:${vip}` : (c.vip ?? vip), port: 80, parts: c.parts, v6: (c.v6 ?? false) || (c.ipv6 ?? false), gap: c.gap ?? 0.05 })));
  // Join the cgroup first, then enter the netns (ip netns exec remounts /sys).
  const out = execFileSync('sh', ['-c', `echo $$ > ${cgroup}/cgroup.procs && exec ip netns exec ${netns} python3 ${script}`], { input, encoding: 'utf8', timeout: 60_000 });
  return new Map(out.trim().split('\n').map((l) => JSON.parse(l)).map((r) => [r.id, r]));
}

function decisionKey(localIp: string, localPort: number): Buffer {
  const key = Buffer.alloc(L7Structs.km_l7_conn_key.size);
  key.writeBigUInt64LE(cookie, l7Offset('km_l7_conn_key', 'netns'));
  const v4 = localIp.replace(/^::ffff:/, '');
  if (v4.includes('.')) {
    Buffer.from(v4.split('.').map(Number)).copy(key, l7Offset('km_l7_conn_key', 'client_ip'));
    key.writeUInt8(2, l7Offset('km_l7_conn_key', 'family'));
  } else {
    // Only ::1 is used as an IPv6 client address here (the anchor is ::1).
    if (localIp !== '::1') throw new Error(`unexpected IPv6 client address ${localIp}`);
    key[l7Offset('km_l7_conn_key', 'client_ip') + 15] = 1;
    key.writeUInt8(10, l7Offset('km_l7_conn_key', 'family'));
  }
  key.writeUInt16BE(localPort, l7Offset('km_l7_conn_key', 'client_port'));
  return key;
}

function readDecision(value: Buffer) {
  const addrAt = l7Offset('km_l7_decision', 'endpoint');
  return {
    verdict: value.readUInt32LE(l7Offset('km_l7_decision', 'verdict')),
    status: value.readUInt32LE(l7Offset('km_l7_decision', 'status')),
    clusterId: value.readUInt32LE(l7Offset('km_l7_decision', 'cluster_id')),
    endpoint: `${[...value.subarray(addrAt, addrAt + 4)].join('.')}:${value.readUInt16BE(addrAt + 16)}`,
    vip: `${[...value.subarray(l7Offset('km_l7_decision', 'vip'), l7Offset('km_l7_decision', 'vip') + 4)].join('.')}:${value.readUInt16BE(l7Offset('km_l7_decision', 'vip') + 16)}`,
  };
}

function stats(): Record<string, number> {
  const map = BpfMap.fromPin(join(pinPath, L7MapNames.stats));
  try {
    return Object.fromEntries(
      L7StatNames.map((name, i) => {
        const k = Buffer.alloc(4);
        k.writeUInt32LE(i);
        const v = map.lookup(k)!;
        let sum = 0n;
        for (let at = 0; at < v.length; at += 8) sum += v.readBigUInt64LE(at);
        return [name, Number(sum)];
      }),
    );
  } finally {
    map.close();
  }
}

describe.skipIf(!isRoot)('L7 parser and router in the kernel (sk_msg)', () => {
  beforeAll(async () => {
    mkdirSync(work, { recursive: true });
    mkdirSync(pinPath, { recursive: true });
    cgroup = join(cgroup2Mount(), id);
    mkdirSync(cgroup);
    sh('ip', ['netns', 'add', netns]);
    sh('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);

    // L4 object: connect4/6 (the anchor branch) and getpeername4/6 on our cgroup.
    const l4 = BpfObject.open(objectPaths.l4, { pinRoot: pinPath });
    objects.push(l4);
    l4.load();
    for (const p of l4Programs) links.push(l4.program(p.name).attachCgroup(cgroup));
    // L7 object: sk_msg on km_l7_client first, then sock_ops on the cgroup.
    const l7 = BpfObject.open(objectPaths.l7, { pinRoot: pinPath });
    objects.push(l7);
    l7.load();
    const verdict = l7Programs.find((p) => p.attach === 'msg_verdict')!.name;
    const sockops = l7Programs.find((p) => p.attach === 'sock_ops')!.name;
    l7.program(verdict).attachToMap(l7.map(L7MapNames.client), 'msg_verdict');
    links.push(l7.program(sockops).attachCgroup(cgroup));

    // Configuration: generation 1 with its route tables, then the flip.
    const records = encodeModel(model, 1);
    clusterIds = records.clusterIds;
    const write = (map: string, list: { key: Buffer; value: Buffer }[] | undefined) => {
      const m = l7.map(map);
      for (const r of list ?? []) m.update(r.key, r.value);
    };
    write('km_endpoint', records.endpoints);
    write('km_cluster', records.clusters);
    write('km_listener', records.listeners);
    write(L7MapNames.vhost, records.l7Vhosts);
    write(L7MapNames.route, records.l7Routes);
    write(L7MapNames.headerMatch, records.l7HeaderMatches);
    write(L7MapNames.headerNames, records.l7HeaderNames);
    write(L7MapNames.dfa, records.l7Dfa);
    write(L7MapNames.text, records.l7Texts);
    l7.map('km_active').update(activeKey(), encodeActive(1, 1));

    // The anchor, and its netns cookie in km_l7_anchor.
    const script = join(work, 'anchor.py');
    writeFileSync(script, anchorPy);
    anchor = spawn('ip', ['netns', 'exec', netns, 'python3', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    cookie = await new Promise<bigint>((res, rej) => {
      const timer = setTimeout(() => rej(new Error('the anchor did not print its netns cookie within 5 s')), 5000);
      anchor!.stdout!.once('data', (b: Buffer) => {
        clearTimeout(timer);
        res(BigInt(b.toString().trim()));
      });
      anchor!.once('exit', (code) => rej(new Error(`the anchor exited with ${code}`)));
    });
    const a = Buffer.alloc(L7Structs.km_l7_anchor.size);
    Buffer.from([127, 0, 0, 1]).copy(a, 0);
    a.writeUInt16BE(anchorPort, 16);
    a.writeUInt8(2, 18);
    const key = Buffer.alloc(8);
    key.writeBigUInt64LE(cookie);
    Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]).copy(a, 20);
    a.writeUInt16BE(anchorPort, 20 + 16);
    a.writeUInt8(10, 20 + 18);
    l7.map(L7MapNames.anchor).update(key, a);
  }, 60_000);

  afterAll(async () => {
    if (anchor?.pid) {
      anchor.kill('SIGKILL');
      await new Promise((r) => (anchor!.exitCode !== null ? r(null) : anchor!.once('exit', r)));
    }
    for (const l of links) {
      try {
        l.detach();
        l.close();
      } catch {
        // best effort
      }
    }
    for (const o of objects) o.close();
    try {
      execFileSync('ip', ['netns', 'del', netns], { stdio: 'ignore' });
    } catch {
      // already gone
    }
    if (existsSync(pinPath)) {
      for (const f of readdirSync(pinPath)) rmSync(join(pinPath, f), { recursive: true });
      rmdirSync(pinPath);
    }
    for (let i = 0; i < 50 && cgroup && existsSync(cgroup); i++) {
      try {
        rmdirSync(cgroup);
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    rmSync(work, { recursive: true, force: true });
  }, 30_000);

  it('routes every request head to the expected decision, read back by client address', () => {
    const results = runClients(cases);
    const decisions = BpfMap.fromPin(join(pinPath, L7MapNames.decision));
    const got: Record<number, unknown> = {};
    const want: Record<number, unknown> = {};
    try {
      for (const c of cases) {
        const r = results.get(c.id);
        expect(r?.connect, `case ${c.id}: connect failed with errno ${r?.connect}`).toBeUndefined();
        // getpeername shows the VIP, not the anchor.
        expect(r!.peer![0].replace(/^::ffff:/, ''), `case ${c.id}: getpeername`).toBe(c.ipv6 ? vip6 : (c.vip ?? vip));
        expect(r!.peer![1]).toBe(80);
        const value = decisions.lookup(decisionKey(r!.local![0], r!.local![1]));
        const d = value ? readDecision(value) : undefined;
        const verdictName = d ? Object.entries(L7Verdict).find(([, v]) => v === d.verdict)?.[0] : 'missing';
        got[c.id] = { verdict: verdictName, ...(c.cluster ? { cluster: [...clusterIds].find(([, v]) => v === d?.clusterId)?.[0], endpoint: d?.endpoint } : {}), ...(c.status ? { status: d?.status } : {}) };
        const e = c.cluster ? endpointOf.get(c.cluster)! : undefined;
        want[c.id] = { verdict: c.verdict, ...(c.cluster ? { cluster: c.cluster, endpoint: `${e!.address.ip}:${e!.address.port}` } : {}), ...(c.status ? { status: c.status } : {}) };
        if (d && !c.ipv6) expect(d.vip, `case ${c.id}: decision.vip`).toBe(`${c.vip ?? vip}:80`);
      }
    } finally {
      decisions.close();
    }
    expect(got).toEqual(want);
  }, 90_000);

  it('a direct response carries its status and the km_l7_text id of its body', () => {
    const results = runClients([{ id: 1, parts: [head('/teapot', 'app.example.com')], verdict: 'DIRECT_RESPONSE' }]);
    const r = results.get(1)!;
    const decisions = BpfMap.fromPin(join(pinPath, L7MapNames.decision));
    const texts = BpfMap.fromPin(join(pinPath, L7MapNames.text));
    try {
      const d = decisions.lookup(decisionKey(r.local![0], r.local![1]))!;
      const bodyId = d.readUInt32LE(l7Offset('km_l7_decision', 'body_id'));
      expect(d.readUInt32LE(l7Offset('km_l7_decision', 'status'))).toBe(418);
      const key = Buffer.alloc(4);
      key.writeUInt32LE(bodyId);
      const t = texts.lookup(key)!;
      expect(t.subarray(4, 4 + t.readUInt32LE(0)).toString()).toBe("I'm a teapot");
    } finally {
      decisions.close();
      texts.close();
    }
  });

  it('weighted clusters split connections by weight (1:3 over 400 connections)', () => {
    const list: Case[] = Array.from({ length: 400 }, (_, i) => ({ id: 1000 + i, parts: [head('/', 'canary.test')], verdict: 'FORWARD' }));
    const results = runClients(list);
    const decisions = BpfMap.fromPin(join(pinPath, L7MapNames.decision));
    const counts = new Map<string, number>();
    try {
      for (const c of list) {
        const r = results.get(c.id)!;
        const d = readDecision(decisions.lookup(decisionKey(r.local![0], r.local![1]))!);
        const name = [...clusterIds].find(([, v]) => v === d.clusterId)?.[0] ?? `id ${d.clusterId}`;
        counts.set(name, (counts.get(name) ?? 0) + 1);
      }
    } finally {
      decisions.close();
    }
    expect([...counts.keys()].sort()).toEqual(['w1', 'w3']);
    // 300 expected for w3; binomial sd ~8.7: +-40 is more than 4 sd.
    expect(counts.get('w3')!).toBeGreaterThan(260);
    expect(counts.get('w3')!).toBeLessThan(340);
  }, 60_000);

  it('fuzz: 600 mutated heads, each terminated, in 1-3 writes: every connection gets a decision, none hangs', () => {
    let x = 0x2545f491;
    const rand = (n: number) => {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      return x % n;
    };
    const specials = ['\0', '\r', '\n', ':', ' ', '\t', '\x7f', '\xff', '?', '/', '*', '['];
    const base = [head('/api/v1?x=1', 'app.example.com', 'x-canary: yes\r\nuser-agent: bot\r\n'), head('/users/12', 'a.wild.test:80'), head('/', '[::1]:8080')];
    const list: Case[] = Array.from({ length: 600 }, (_, i) => {
      let h = base[i % base.length]!.slice(0, -2); // without the final CRLF
      for (let m = rand(4); m >= 0; m--) {
        const at = rand(h.length + 1);
        const op = rand(4);
        const ch = rand(3) === 0 ? specials[rand(specials.length)]! : String.fromCharCode(rand(256));
        if (op === 0) h = h.slice(0, at) + ch + h.slice(at);
        else if (op === 1) h = h.slice(0, at) + h.slice(at + 1);
        else if (op === 2) h = h.slice(0, at) + ch + h.slice(at + 1);
        else h = h.slice(0, at) + h.slice(at, at + rand(400)).repeat(1 + rand(12)) + h.slice(at);
      }
      const text = `${h}\r\n\r\n`;
      const cuts = [rand(text.length), rand(text.length)].sort((a, b) => a - b);
      const parts = [text.slice(0, cuts[0]), text.slice(cuts[0], cuts[1]), text.slice(cuts[1])].filter((p) => p.length > 0);
      return { id: 5000 + i, parts, gap: 0.003, verdict: 'FORWARD' as const };
    });
    const results = runClients(list);
    const decisions = BpfMap.fromPin(join(pinPath, L7MapNames.decision));
    const missing: number[] = [];
    const verdicts = new Map<string, number>();
    try {
      for (const c of list) {
        const r = results.get(c.id);
        expect(r?.local, `fuzz case ${c.id} did not connect`).toBeDefined();
        const value = decisions.lookup(decisionKey(r!.local![0], r!.local![1]));
        if (!value) {
          missing.push(c.id);
          continue;
        }
        const d = readDecision(value);
        const name = Object.entries(L7Verdict).find(([, v]) => v === d.verdict)?.[0] ?? `unknown ${d.verdict}`;
        verdicts.set(name, (verdicts.get(name) ?? 0) + 1);
      }
    } finally {
      decisions.close();
    }
    expect(missing.map((id) => JSON.stringify(list.find((c) => c.id === id)!.parts))).toEqual([]);
    expect([...verdicts.keys()].every((v) => v in L7Verdict)).toBe(true);
    // Both outcomes occur: the mutations leave some heads routable and break others.
    expect(verdicts.get('BAD_REQUEST') ?? 0).toBeGreaterThan(0);
    expect((verdicts.get('FORWARD') ?? 0) + (verdicts.get('NO_ROUTE') ?? 0)).toBeGreaterThan(0);
  }, 90_000);

  it('counts outcomes in km_l7_stats', () => {
    const s = stats();
    expect(s.sock_inserted).toBeGreaterThanOrEqual(cases.length);
    expect(s.corked).toBeGreaterThanOrEqual(4); // cases 29, 30, 37 wrote their heads in pieces
    expect(s.forward).toBeGreaterThanOrEqual(cases.filter((c) => c.verdict === 'FORWARD').length + 400);
    expect(s.later_message).toBeGreaterThanOrEqual(1); // case 40's second request
    expect(s.too_large).toBeGreaterThanOrEqual(2); // cases 36 and 37
    expect(s.no_vhost + s.no_route).toBeGreaterThanOrEqual(2);
    expect(s.direct_response).toBeGreaterThanOrEqual(1);
    expect(s.no_endpoint).toBeGreaterThanOrEqual(1);
    expect(s.decision_failed).toBe(0);
    expect(s.scratch_busy).toBe(0);
  });

  it('a VIP that is not an http listener is not sent to the anchor (connect fails: no route)', () => {
    const script = join(work, 'other.py');
    writeFileSync(script, 'import socket\nc=socket.socket()\nc.settimeout(2)\ntry:\n  c.connect(("10.96.0.99",80)); print("connected")\nexcept OSError as e: print(e.errno)\n');
    const out = execFileSync('sh', ['-c', `echo $$ > ${cgroup}/cgroup.procs && exec ip netns exec ${netns} python3 ${script}`], { encoding: 'utf8' }).trim();
    expect(out).toBe('101'); // ENETUNREACH
  });
});

