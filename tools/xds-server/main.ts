#!/usr/bin/env node
// The test ADS server as a command:
//   node tools/dist/xds-server/main.js --resources FILE [--port 15010] [--control 127.0.0.1:15011]
// Control API (loopback only): POST /resources with a resource document (the file formats) replaces
// the types it contains and pushes them; GET /resources; GET /requests lists every request received.
import http from 'node:http';
import { parseArgs } from 'node:util';
import { parse } from 'yaml';
import { loadResourceFile, resourcesFromDocument, type ResourceSet } from './resources.js';
import { XdsServer, formatRequest } from './server.js';

const { values } = parseArgs({ options: { resources: { type: 'string' }, port: { type: 'string' }, control: { type: 'string' } } });
const server = new XdsServer();
if (values.resources) server.setResources(loadResourceFile(values.resources));
await server.start(Number(values.port ?? 15010));
process.stderr.write(`xds-server: ADS (SotW and delta) on ${server.address}, plaintext\n`);

const [host, port] = (values.control ?? '127.0.0.1:15011').split(':');
if (host !== '127.0.0.1' && host !== 'localhost') throw new Error('--control must be a loopback address');
http.createServer((req, res) => {
  const reply = (status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body, null, 2) + '\n');
  };
  if (req.method === 'GET' && req.url === '/requests') return reply(200, server.requests.map((r) => ({ ...r, text: formatRequest(r) })));
  if (req.method === 'GET' && req.url === '/resources') return reply(200, server.getResources());
  if (req.method === 'POST' && req.url === '/resources') {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString('utf8'); });
    req.on('end', () => {
      try {
        const set: Partial<ResourceSet> = resourcesFromDocument(parse(body));
        for (const k of Object.keys(set) as (keyof ResourceSet)[]) if (set[k]!.length === 0) delete set[k];
        server.setResources(set);
        reply(200, { ok: true });
      } catch (error) {
        reply(400, { ok: false, error: (error as Error).message });
      }
    });
    return;
  }
  reply(404, { paths: ['GET /requests', 'GET /resources', 'POST /resources'] });
}).listen(Number(port), host, () => process.stderr.write(`xds-server: control API on http://${host}:${port}\n`));

for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => { void server.stop().then(() => process.exit(0)); });
