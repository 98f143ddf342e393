// HTTP/1.1 backend of the lab for the L7 path: ONE long-lived process in the server netns that serves
// every backend, driven by the same JSON-line control channel as backend-server.ts (backend-protocol.ts),
// so the lab starts it the same way (LabOptions.backendKind = 'http').
//
// What a request gets, by path (anything else: the echo):
//   any path          200, JSON {backend, method, path, host, headers (those of interest), bodyBytes,
//                     bodySha256, requestIndex, peer}; headers x-backend, x-request-index, x-peer.
// (a mode is a path segment anywhere in the path, e.g. /api/bytes/1024):
//   /bytes/N          200, N bytes of a deterministic pattern (patternBytes), header x-sha256 of them.
//   /slow/MS[/...]    the echo, after MS milliseconds (at most 30 s).
//   /status/NNN[/...] the echo with status NNN (100-599), e.g. 503 for outlier-detection tests.
//   /close[/...]      no answer: the backend closes the connection (FIN) after reading the head.
//   /reset[/...]      no answer: the backend resets the connection (RST).
// Request bodies of any size are read and hashed as they stream (10 MiB uploads are fine). Keep-alive and
// pipelined requests are Node's: answered in order on the same connection; x-request-index counts the
// requests seen on the backend's side of that connection (1, 2, ...), x-peer is the client address the
// backend saw, so a test can tell "same upstream connection" from "a new one".
// A half-closed client (FIN after its request) still gets its answer: the server is allowHalfOpen and
// ends its side only when the answer is written.
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { Socket } from 'node:net';
import { countRequest, listenOn, serveBackends, type Backend } from './backend-host.js';

/** Headers the echo reports (lower-case); a test routes on these. */
export const ECHOED_HEADERS = ['end-user', 'x-route', 'x-canary', 'x-version', 'user-agent', 'connection', 'content-length', 'transfer-encoding'];

/** Largest /bytes/N answer (a typo must not make the backend allocate gigabytes in a test). */
export const MAX_BYTES_RESPONSE = 256 * 1024 * 1024;

/** The echo body, as a test parses it. */
export interface EchoBody {
  backend: string;
  method: string;
  path: string;
  host: string | null;
  headers: Record<string, string>;
  bodyBytes: number;
  bodySha256: string;
  requestIndex: number;
  peer: string;
}

/**
 * The /bytes/N content: byte i is PATTERN[i % PATTERN.length], PATTERN being 65,521 bytes (a prime, so a
 * chunk that is repeated, dropped or moved changes the sha256) from a fixed linear congruential sequence.
 */
const PATTERN_LENGTH = 65_521;
const PATTERN = (() => {
  const b = Buffer.alloc(PATTERN_LENGTH);
  let x = 0x6b6d6573; // "kmes"
  for (let i = 0; i < b.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
})();

/** The first n bytes of the pattern (for tests that check a body without the header). */
export function patternBytes(n: number): Buffer {
  const out = Buffer.alloc(n);
  for (let off = 0; off < n; off += PATTERN_LENGTH) PATTERN.copy(out, off, 0, Math.min(PATTERN_LENGTH, n - off));
  return out;
}

const shaCache = new Map<number, string>();
function patternSha256(n: number): string {
  let sha = shaCache.get(n);
  if (!sha) {
    const h = createHash('sha256');
    for (let off = 0; off < n; off += PATTERN_LENGTH) h.update(PATTERN.subarray(0, Math.min(PATTERN_LENGTH, n - off)));
    sha = h.digest('hex');
    shaCache.set(n, sha);
  }
  return sha;
}

/** Writes n pattern bytes with back-pressure, then ends the response. */
function writePattern(res: http.ServerResponse, n: number): void {
  let sent = 0;
  const pump = (): void => {
    while (sent < n) {
      const chunk = PATTERN.subarray(0, Math.min(PATTERN_LENGTH, n - sent));
      sent += chunk.length;
      if (!res.write(chunk)) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}

/** Requests seen per backend-side connection (the x-request-index). */
const requestsOnSocket = new WeakMap<Socket, number>();

function peerOf(socket: Socket): string {
  const a = socket.remoteAddress ?? '?';
  return `${a.includes(':') ? `[${a}]` : a}:${socket.remotePort ?? 0}`;
}

/** What to do with a request, by its path: data-driven, first match wins. */
type Action = { kind: 'echo'; delayMs: number; status?: number } | { kind: 'bytes'; n: number } | { kind: 'close' } | { kind: 'reset' };
// A mode is a path segment anywhere in the path, so any route prefix can reach it (/api/bytes/1024).
const ACTIONS: { re: RegExp; action: (m: RegExpExecArray) => Action }[] = [
  { re: /\/bytes\/(\d+)(?:[/?]|$)/, action: (m) => ({ kind: 'bytes', n: Math.min(Number(m[1]), MAX_BYTES_RESPONSE) }) },
  { re: /\/slow\/(\d+)(?:[/?]|$)/, action: (m) => ({ kind: 'echo', delayMs: Math.min(Number(m[1]), 30_000) }) },
  { re: /\/status\/([1-5]\d\d)(?:[/?]|$)/, action: (m) => ({ kind: 'echo', delayMs: 0, status: Number(m[1]) }) },
  { re: /\/close(?:[/?]|$)/, action: () => ({ kind: 'close' }) },
  { re: /\/reset(?:[/?]|$)/, action: () => ({ kind: 'reset' }) },
];

function actionFor(path: string): Action {
  for (const a of ACTIONS) {
    const m = a.re.exec(path);
    if (m) return a.action(m);
  }
  return { kind: 'echo', delayMs: 0 };
}

function handleRequest(b: Backend, req: http.IncomingMessage, res: http.ServerResponse): void {
  const socket = req.socket;
  const index = (requestsOnSocket.get(socket) ?? 0) + 1;
  requestsOnSocket.set(socket, index);
  countRequest(b, socket.remoteAddress ?? '?');
  const peer = peerOf(socket);
  const path = req.url ?? '';
  const action = actionFor(path);
  if (action.kind === 'close') {
    req.resume();
    socket.end();
    return;
  }
  if (action.kind === 'reset') {
    socket.resetAndDestroy();
    return;
  }
  const common = { 'x-backend': b.name, 'x-request-index': String(index), 'x-peer': peer };
  if (action.kind === 'bytes') {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { ...common, 'content-type': 'application/octet-stream', 'content-length': action.n, 'x-sha256': patternSha256(action.n) });
      writePattern(res, action.n);
    });
    return;
  }
  const hash = createHash('sha256');
  let bodyBytes = 0;
  req.on('data', (c: Buffer) => {
    bodyBytes += c.length;
    hash.update(c);
  });
  req.on('end', () => {
    const headers: Record<string, string> = {};
    for (const h of ECHOED_HEADERS) {
      const v = req.headers[h];
      if (v !== undefined) headers[h] = Array.isArray(v) ? v.join(', ') : v;
    }
    const echo: EchoBody = {
      backend: b.name, method: req.method ?? '', path, host: req.headers.host ?? null, headers,
      bodyBytes, bodySha256: hash.digest('hex'), requestIndex: index, peer,
    };
    const body = JSON.stringify(echo) + '\n';
    const send = (): void => {
      if (res.destroyed) return;
      res.writeHead(action.kind === 'echo' ? action.status ?? 200 : 200, { ...common, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    if (action.delayMs > 0) setTimeout(send, action.delayMs);
    else send();
  });
}

function listen(b: Backend, host: string, port: number): Promise<http.Server> {
  const server = http.createServer({ keepAliveTimeout: 60_000, requestTimeout: 0, headersTimeout: 60_000 }, (req, res) => handleRequest(b, req, res));
  // Answer a half-closed client: Node would otherwise drop the request once the client's FIN arrives.
  (server as http.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  server.on('connection', (s: Socket) => s.setNoDelay(true));
  // A client that sends garbage (the fuzz run) gets its connection closed; that must never crash us.
  server.on('clientError', (_err, socket: Socket) => socket.destroy());
  return listenOn(server, host, port);
}

// Only when run as the program (the lab spawns it); tests import patternBytes and the types.
if (process.argv[1] && /http-backend\.(js|ts)$/.test(process.argv[1])) {
  serveBackends(listen);
}
