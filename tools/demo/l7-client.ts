// The demo's L7 load client, run in the lab's client netns (inside the mesh cgroup): N requests, each on a
// NEW connection, with a given Host and headers; counts who answered. A backend names itself in
// x-backend; an answer Kmesh generated (404, 503, direct_response) counts as "kmesh <status>".
//   node tools/dist/demo/l7-client.js --target 10.96.0.80:80 --host reviews [--header 'end-user: jason']
//        [--path /] [--connections 1000] [--concurrency 8]
// Prints one JSON line: {"attempted", "byBackend": {name: n}, "errors": {code: n}, "sample": {...}}.
import http from 'node:http';
import { parseArgs } from 'node:util';

export interface L7ClientReport {
  attempted: number;
  byBackend: Record<string, number>;
  errors: Record<string, number>;
  /** one answer in full, for the demo's "what did Kmesh say" lines */
  sample: { status: number; reason?: string; body: string } | null;
}

function once(target: { host: string; port: number }, path: string, headers: Record<string, string>): Promise<{ who: string; status: number; reason?: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: target.host, port: target.port, path, headers, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { if (body.length < 500) body += c; });
      res.on('end', () => {
        const backend = res.headers['x-backend'];
        const reason = res.headers['x-kmesh-reason'];
        resolve({ who: typeof backend === 'string' ? backend : `kmesh ${res.statusCode}`, status: res.statusCode ?? 0, reason: typeof reason === 'string' ? reason : undefined, body });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end();
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      target: { type: 'string' }, host: { type: 'string' }, header: { type: 'string', multiple: true }, path: { type: 'string', default: '/' },
      connections: { type: 'string', default: '1000' }, concurrency: { type: 'string', default: '8' },
    },
  });
  const m = /^(.+):(\d+)$/.exec(values.target ?? '');
  if (!m || !values.host) throw new Error('usage: l7-client --target IP:PORT --host HOST [--header "k: v"]... [--path P] [--connections N] [--concurrency C]');
  const target = { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) };
  const headers: Record<string, string> = { host: values.host, connection: 'close' };
  for (const h of values.header ?? []) {
    const i = h.indexOf(':');
    headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
  }
  const report: L7ClientReport = { attempted: 0, byBackend: {}, errors: {}, sample: null };
  let left = Number(values.connections);
  const worker = async (): Promise<void> => {
    while (left > 0) {
      left--;
      report.attempted++;
      try {
        const r = await once(target, values.path!, headers);
        report.byBackend[r.who] = (report.byBackend[r.who] ?? 0) + 1;
        report.sample ??= { status: r.status, reason: r.reason, body: r.body.trim() };
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'ERROR';
        report.errors[code] = (report.errors[code] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Number(values.concurrency)) }, worker));
  process.stdout.write(JSON.stringify(report) + '\n');
}

main().catch((err: Error) => {
  process.stderr.write(`l7-client: ${err.message}\n`);
  process.exit(2);
});
