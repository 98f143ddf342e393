// The part every lab backend server process shares (backend-server.ts, http-backend.ts): the registry of
// named backends, their listening sockets and request counters, and the server's side of the JSON-line
// control channel (backend-protocol.ts). A server only says how one address is served (its `listen`).
import type http from 'node:http';
import { createInterface } from 'node:readline';
import { BACKEND_READY_LINE, type BackendCommand, type BackendReply, type BackendStats } from './backend-protocol.js';

export interface Backend {
  name: string;
  addresses: { host: string; port: number }[];
  servers: http.Server[];
  requests: number;
  /** client address (as the backend saw it) -> requests */
  peers: Map<string, number>;
}

/** Serve backend `b` on host:port; resolves once the socket listens. */
export type ListenFn = (b: Backend, host: string, port: number) => Promise<http.Server>;

const backends = new Map<string, Backend>();

function backendNamed(name: string): Backend {
  let b = backends.get(name);
  if (!b) {
    b = { name, addresses: [], servers: [], requests: 0, peers: new Map() };
    backends.set(name, b);
  }
  return b;
}

/** Counts one request of `b` from client address `peer`. */
export function countRequest(b: Backend, peer: string): void {
  b.requests++;
  b.peers.set(peer, (b.peers.get(peer) ?? 0) + 1);
}

/** Listens on host:port with a deep backlog (the load client opens many connections at once). */
export function listenOn(server: http.Server, host: string, port: number): Promise<http.Server> {
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

async function handle(listen: ListenFn, cmd: BackendCommand): Promise<BackendReply> {
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

/**
 * Runs this process as the lab's backend server: commands on stdin, one reply per command on stdout,
 * the ready line once it reads commands. Exits when stdin closes, so it never outlives the lab.
 */
export function serveBackends(listen: ListenFn): void {
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
    handle(listen, cmd).then(reply, (err: Error) => reply({ id: cmd.id, ok: false, error: `${cmd.op} failed: ${err.message}` }));
  });
  // The lab closes stdin (or dies): stop serving and exit.
  lines.on('close', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
  process.stdout.write(BACKEND_READY_LINE + '\n');
}
