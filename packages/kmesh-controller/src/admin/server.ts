/**
 * The admin HTTP API: a table of GET routes answering JSON. Read-only by design: the
 * config file is the only way to change what the kernel does.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { jsonReplacer } from '../log.js';
import type { AdminAddress } from '../cli/args.js';

export interface AdminResponse {
  status: number;
  body: unknown;
}

/** A route answers from the query string; it may be async (e.g. /metrics collects first). */
export type AdminRoutes = Record<string, (query: URLSearchParams) => AdminResponse | Promise<AdminResponse>>;

export interface AdminServer {
  readonly address: AdminAddress;
  close(): Promise<void>;
}

function send(res: import('node:http').ServerResponse, response: AdminResponse): void {
  const body = typeof response.body === 'string' ? response.body + '\n' : JSON.stringify(response.body, jsonReplacer, 2) + '\n';
  res.writeHead(response.status, { 'content-type': typeof response.body === 'string' ? 'text/plain; charset=utf-8' : 'application/json' });
  res.end(body);
}

export async function startAdminServer(address: AdminAddress, routes: AdminRoutes): Promise<AdminServer> {
  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    const path = url.pathname;
    const route = Object.hasOwn(routes, path) ? routes[path] : undefined;
    if (!route) return send(res, { status: 404, body: { error: `no such path ${path}`, paths: Object.keys(routes) } });
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, { status: 405, body: { error: `${req.method} not allowed: the admin API is read-only (GET)` } });
    try {
      send(res, await route(url.searchParams));
    } catch (error) {
      send(res, { status: 500, body: { error: (error as Error).message } });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(new Error(`admin API cannot listen on ${address.host}:${address.port}: ${error.code ?? error.message}`)),
    );
    server.listen(address.port, address.host, () => resolve());
  });
  const bound = server.address() as AddressInfo;
  return {
    address: { host: address.host, port: bound.port },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
