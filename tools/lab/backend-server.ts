// Backend server of the lab: ONE long-lived process in the server netns that serves every backend.
//
// Each backend (a name such as `reviews-v2`) listens on one or more address:port pairs and answers
// every HTTP request with a body naming it (`reviews-v2\n`, plus an `X-Backend` header), whether the
// client speaks HTTP/1.1 (curl, wrk) or a bare `GET / HTTP/1.0`. The lab drives it with JSON lines on
// stdin (see backend-protocol.ts); the process exits when stdin closes, so it never outlives the lab.
import http from 'node:http';
import type { Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { BACKEND_READY_LINE, type BackendCommand, type BackendReply, type BackendStats } from './backend-protocol.js';

interface Backend {
  name: string;
  addresses: { host: string; port: number }[];
  servers: http.Server[];
  requests: number;
  peers: Map<string, number>;
}

const backends = new Map<string, Backend>();

function backendNamed(name: string): Backend {
  let b = backends.get(name);
  if (!b) {
    b = { name, addresses: [], servers: [], requests: 0, peers: new Map() };
    backends.set(name, b);
  }
  return b;
}

function listen(b: Backend, host: string, port: number): Promise<http.Server> {
  const body = `${b.name}\n`;
  const server = http.createServer((req, res) => {
    b.requests++;
    const peer = req.socket.remoteAddress ?? '?';
    b.peers.set(peer, (b.peers.get(peer) ?? 0) + 1);
    req.resume();
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body), 'X-Backend': b.name });
    res.end(body);
  });
  // A client that sends garbage gets a 400 from Node; a reset socket must not crash the process.
  server.on('clientError', (_err, socket: Socket) => socket.destroy());
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, backlog: 4096 }, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

async function closeAll(b: Backend): Promise<void> {
  const servers = b.servers;
  b.servers = [];
  await Promise.all(
    servers.map(
      (s) =>
        new Promise<void>((resolve) => {
          s.close(() => resolve());
          s.closeAllConnections();
        }),
    ),
  );
}

function stats(): BackendStats {
  const result: BackendStats = { requests: {}, peers: {} };
  for (const b of backends.values()) {
    result.requests[b.name] = b.requests;
    result.peers[b.name] = Object.fromEntries(b.peers);
  }
  return result;
}

async function handle(cmd: BackendCommand): Promise<BackendReply> {
  switch (cmd.op) {
    case 'listen': {
      const b = backendNamed(cmd.name);
      b.servers.push(await listen(b, cmd.host, cmd.port));
      b.addresses.push({ host: cmd.host, port: cmd.port });
      return { id: cmd.id, ok: true };
    }
    case 'stop': {
      const b = backends.get(cmd.name);
      if (!b) return { id: cmd.id, ok: false, error: `no backend named ${cmd.name}` };
      await closeAll(b);
      return { id: cmd.id, ok: true };
    }
    case 'start': {
      const b = backends.get(cmd.name);
      if (!b) return { id: cmd.id, ok: false, error: `no backend named ${cmd.name}` };
      if (b.servers.length === 0) b.servers = await Promise.all(b.addresses.map((a) => listen(b, a.host, a.port)));
      return { id: cmd.id, ok: true };
    }
    case 'stats':
      return { id: cmd.id, ok: true, stats: stats() };
    case 'reset':
      for (const b of backends.values()) {
        b.requests = 0;
        b.peers.clear();
      }
      return { id: cmd.id, ok: true };
  }
}

function reply(r: BackendReply): void {
  process.stdout.write(JSON.stringify(r) + '\n');
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (!line.trim()) return;
  let cmd: BackendCommand;
  try {
    cmd = JSON.parse(line) as BackendCommand;
  } catch {
    reply({ id: -1, ok: false, error: `not JSON: ${line.slice(0, 80)}` });
    return;
  }
  handle(cmd).then(reply, (err: Error) => reply({ id: cmd.id, ok: false, error: `${cmd.op} failed: ${err.message}` }));
});
// The lab closes stdin (or dies): stop serving and exit.
lines.on('close', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
process.stdout.write(BACKEND_READY_LINE + '\n');
