// Sockmap acceleration (issue 5): sockets of the mesh cgroup whose peer is a socket of the same
// node, netns and cgroup exchange payload by sk_msg redirect instead of the TCP/IP stack.
//
// Both ends run in the lab's client netns on 127.0.0.1, inside the mesh cgroup: one python3 process
// per case, server and client as two threads (both sockets belong to the mesh cgroup). km_sock is
// keyed with the netns cookie, so a pair is accelerated only within one namespace (see
// kernel/include/kmesh_sockmap.h); loopback in one netns is the case that benefits.
//
// The steps run in order: sockmap on (default) → restart with --no-sockmap → restart without it.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, type DaemonHandle } from '../tools/lab/index.js';
import { run } from '../tools/lab/system.js';
import { countSockets, readSockStats, type SockStats } from '../packages/kmesh-controller/src/kernel/sockmap.js';
import { bootstrap, cluster, listener } from './support/envoy.js';
import { requireDaemon } from './support/mesh.js';

const id = `sm${process.pid}`;
const MiB = 1 << 20;

/** The peers: one process, a server thread and a client thread on 127.0.0.1, results as JSON. */
const PEERS = String.raw`
import hashlib, json, os, socket, struct, sys, threading, time

def listen():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    s.listen(512)
    return s, s.getsockname()[1]

def recv_all(sock, limit=None):
    h, n = hashlib.sha256(), 0
    while limit is None or n < limit:
        b = sock.recv(1 << 16)
        if not b:
            break
        h.update(b)
        n += len(b)
    return n, h.hexdigest()

def digest(b):
    return hashlib.sha256(b).hexdigest()

def bulk(size):
    # both directions at once: each side sends its own random payload while reading the other's
    srv, port = listen()
    up, down = os.urandom(size), os.urandom(size)
    res = {}
    def server():
        c, _ = srv.accept()
        t = threading.Thread(target=c.sendall, args=(down,)); t.start()
        res['server_got'] = recv_all(c, size); t.join(); c.close()
    st = threading.Thread(target=server); st.start()
    cl = socket.create_connection(('127.0.0.1', port))
    t = threading.Thread(target=cl.sendall, args=(up,)); t.start()
    got = recv_all(cl, size); t.join(); st.join(); cl.close()
    return {'up_bytes': res['server_got'][0], 'up_ok': res['server_got'][1] == digest(up),
            'down_bytes': got[0], 'down_ok': got[1] == digest(down)}

def halfclose(up_size, down_size):
    # client sends, shuts down its write side; the server reads to EOF, then sends the rest and closes
    srv, port = listen()
    up, down = os.urandom(up_size), os.urandom(down_size)
    res = {}
    def server():
        c, _ = srv.accept()
        res['server_got'] = recv_all(c)
        c.sendall(down); c.close()
    st = threading.Thread(target=server); st.start()
    cl = socket.create_connection(('127.0.0.1', port)); cl.settimeout(20)
    cl.sendall(up); cl.shutdown(socket.SHUT_WR)
    got = recv_all(cl); st.join(); cl.close()
    return {'server_saw_eof_after': res['server_got'][0], 'up_ok': res['server_got'][1] == digest(up),
            'down_bytes': got[0], 'down_ok': got[1] == digest(down)}

def reset():
    # the server reads a request and aborts (SO_LINGER 0: RST); the client must see ECONNRESET, not hang
    srv, port = listen()
    def server():
        c, _ = srv.accept()
        c.recv(100)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0)); c.close()
    st = threading.Thread(target=server); st.start()
    cl = socket.create_connection(('127.0.0.1', port)); cl.settimeout(10)
    cl.sendall(b'hello')
    st.join()
    started = time.monotonic()
    try:
        outcome = 'data:%r' % cl.recv(100)
        cl.sendall(b'x' * 100000)
        outcome += ' then send ok'
    except ConnectionResetError:
        outcome = 'ECONNRESET'
    except BrokenPipeError:
        outcome = 'EPIPE'
    except socket.timeout:
        outcome = 'hang'
    return {'outcome': outcome, 'seconds': round(time.monotonic() - started, 3)}

def churn(count):
    # many short connections: request, echo, close from both sides
    srv, port = listen()
    def server():
        for _ in range(count):
            c, _ = srv.accept()
            c.sendall(c.recv(100)); c.close()
    st = threading.Thread(target=server); st.start()
    bad = 0
    for i in range(count):
        cl = socket.create_connection(('127.0.0.1', port))
        msg = b'req-%06d' % i
        cl.sendall(msg)
        if cl.recv(100) != msg:
            bad += 1
        cl.close()
    st.join()
    return {'connections': count, 'bad_echoes': bad}

mode = sys.argv[1]
args = [int(a) for a in sys.argv[2:]]
print(json.dumps({'bulk': bulk, 'halfclose': halfclose, 'reset': reset, 'churn': churn}[mode](*args)))
`;

// One-shot echo server (server netns) and its client (client netns, mesh cgroup); the client retries
// while the server is still starting.
const ECHO_ONCE = `
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1)
c, _ = s.accept(); c.sendall(c.recv(100)); c.close()
`;
const CONNECT_ECHO = `
import socket, sys, time
for _ in range(100):
    try:
        c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5); break
    except (ConnectionRefusedError, OSError):
        time.sleep(0.05)
c.sendall(b'hello'); print(c.recv(100).decode())
`;

describe.skipIf(process.getuid?.() !== 0)('sockmap acceleration of same-node connections', () => {
  let lab: Lab;
  let daemon: DaemonHandle | null = null;
  let dir: string;
  let configFile: string;
  let script: string;
  const pinPath = `/sys/fs/bpf/kmesh-it-${id}`;

  async function startDaemon(extraArgs: string[] = []): Promise<DaemonHandle> {
    if (daemon) await daemon.kill('SIGTERM');
    daemon = await lab.startDaemon({ config: configFile, pinPath, extraArgs });
    return daemon;
  }

  async function peers(mode: string, ...args: number[]): Promise<Record<string, unknown>> {
    const r = await lab.execInClient('python3', [script, mode, ...args.map(String)], { inMeshCgroup: true, timeoutMs: 90_000 });
    if (r.code !== 0) throw new Error(`python3 peers ${mode} exited ${r.code}: ${r.stderr.trim()}`);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  }

  function stats(): SockStats {
    const s = readSockStats(pinPath);
    if (!s) throw new Error(`${pinPath}/km_sock_stats is not pinned: the sockmap object is not installed`);
    return s;
  }

  beforeAll(async () => {
    requireDaemon();
    if ((await run('python3', ['-c', 'print(1)'])).code !== 0) throw new Error('python3 is needed for the sockmap peers');
    lab = await Lab.create({ id, servers: [] });
    dir = mkdtempSync(join(tmpdir(), `kmesh-${id}-`));
    script = join(dir, 'peers.py');
    writeFileSync(script, PEERS);
    configFile = join(dir, 'mesh.json');
    // The L4 config is irrelevant here (no VIP is dialled); the daemon needs one to start.
    writeFileSync(configFile, JSON.stringify(bootstrap([listener('unused', '10.96.5.1', 80, 'unused')], [cluster('unused', 'ROUND_ROBIN', [{ address: lab.addresses.serverV4 }])])));
    const d = await startDaemon();
    await d.waitForLog(/"msg":"sockmap acceleration attached"/, 10_000);
  }, 60_000);

  afterAll(async () => {
    try {
      await lab?.destroy(); // stops the daemon, `kmesh cleanup` of the pin path, netns and cgroup
    } finally {
      if (dir) rmSync(dir, { recursive: true, force: true });
      rmSync(pinPath, { recursive: true, force: true });
    }
  });

  it('16 MiB both ways at once arrive byte-exact, through the redirect', async () => {
    const before = stats();
    const r = await peers('bulk', 16 * MiB);
    expect(r).toEqual({ up_bytes: 16 * MiB, up_ok: true, down_bytes: 16 * MiB, down_ok: true });
    const after = stats();
    expect(after.inserted.count - before.inserted.count, 'both ends inserted into km_sock').toBe(2);
    expect(after.redirected.bytes - before.redirected.bytes, 'every payload byte was redirected').toBe(32 * MiB);
    expect(after.no_peer.count - before.no_peer.count).toBe(0);
  }, 60_000);

  it('half-close: the server reads to EOF, then still sends 4 MiB that arrive intact', async () => {
    const r = await peers('halfclose', MiB + 17, 4 * MiB);
    expect(r).toEqual({ server_saw_eof_after: MiB + 17, up_ok: true, down_bytes: 4 * MiB, down_ok: true });
  }, 30_000);

  it('reset: the client sees ECONNRESET at once, no hang', async () => {
    const r = await peers('reset');
    expect(r.outcome).toBe('ECONNRESET');
    expect(r.seconds as number).toBeLessThan(2);
  }, 30_000);

  it('2,000 short connections all echo correctly and leave no stale km_sock entry', async () => {
    const before = stats();
    const r = await peers('churn', 2000);
    expect(r).toEqual({ connections: 2000, bad_echoes: 0 });
    const after = stats();
    expect(after.inserted.count - before.inserted.count).toBe(4000);
    expect(after.redirected.count - before.redirected.count).toBeGreaterThanOrEqual(4000);
    expect(countSockets(pinPath), 'sockets left in km_sock after every connection closed').toBe(0);
  }, 120_000);

  it('a connection to another namespace (over veth) is not put in km_sock: its sends keep the normal path', async () => {
    const server = spawn('ip', ['netns', 'exec', lab.serverNetns, 'python3', '-c', ECHO_ONCE, lab.addresses.serverV4, '18080'], { stdio: 'ignore' });
    try {
      const before = stats();
      const r = await lab.execInClient('python3', ['-c', CONNECT_ECHO, lab.addresses.serverV4, '18080'], { inMeshCgroup: true, timeoutMs: 20_000 });
      expect(r.stdout.trim(), r.stderr).toBe('hello');
      const after = stats();
      expect(after.inserted.count - before.inserted.count, 'a peer in another netns can never be found: not inserted').toBe(0);
      expect(after.not_local_peer.count - before.not_local_peer.count).toBe(1);
      expect(after.no_peer.count - before.no_peer.count, 'no sk_msg run on its sends').toBe(0);
    } finally {
      server.kill('SIGKILL');
    }
  }, 30_000);

  it('--no-sockmap: the restarted daemon removes the sockhash and sock_ops; traffic stays byte-exact', async () => {
    const d = await startDaemon(['--no-sockmap']);
    await d.waitForLog(/"msg":"sockmap acceleration removed/, 10_000);
    expect(existsSync(join(pinPath, 'km_sock'))).toBe(false);
    expect(existsSync(join(pinPath, 'links', 'kmesh_sockops'))).toBe(false);
    const attached = await run('bpftool', ['-j', 'cgroup', 'show', lab.cgroup]);
    // Only the sockmap's own sock_ops goes (other objects attach sock_ops programs of their own, e.g. kmesh_conn_sockops).
    expect(attached.stdout).not.toMatch(/"name":"kmesh_sockops"/);
    expect(await peers('bulk', 4 * MiB)).toEqual({ up_bytes: 4 * MiB, up_ok: true, down_bytes: 4 * MiB, down_ok: true });
  }, 60_000);

  it('started again without the flag: attached afresh, new counters, redirect again, no entry left', async () => {
    const d = await startDaemon();
    await d.waitForLog(/"msg":"sockmap acceleration attached"/, 10_000);
    expect(countSockets(pinPath)).toBe(0);
    const r = await peers('bulk', 2 * MiB);
    expect(r).toMatchObject({ up_ok: true, down_ok: true });
    expect(stats().redirected.bytes).toBe(4 * MiB);
    expect(countSockets(pinPath)).toBe(0);
  }, 60_000);
});
