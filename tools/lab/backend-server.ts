// Backend server of the lab: ONE long-lived process in the server netns that serves every backend.
//
// Each backend (a name such as `reviews-v2`) listens on one or more address:port pairs and answers
// every HTTP request with a body naming it (`reviews-v2\n`, plus an `X-Backend` header), whether the
// client speaks HTTP/1.1 (curl, wrk) or a bare `GET / HTTP/1.0`. The lab drives it with JSON lines on
// stdin (see backend-protocol.ts, served by backend-host.ts); the process exits when stdin closes, so it never outlives the lab.
import http from 'node:http';
import type { Socket } from 'node:net';
import { countRequest, listenOn, serveBackends, type Backend } from './backend-host.js';

function listen(b: Backend, host: string, port: number): Promise<http.Server> {
  const body = `${b.name}\n`;
  const server = http.createServer((req, res) => {
    countRequest(b, req.socket.remoteAddress ?? '?');
    req.resume();
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body), 'X-Backend': b.name });
    res.end(body);
  });
  // A client that sends garbage gets a 400 from Node; a reset socket must not crash the process.
  server.on('clientError', (_err, socket: Socket) => socket.destroy());
  return listenOn(server, host, port);
}

serveBackends(listen);
