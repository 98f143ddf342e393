// Load client of the lab. Runs inside the client netns (and, when the test wants it, the mesh
// cgroup) and opens ONE NEW TCP connection per request, so every request goes through connect()
// and therefore through the mesh's connect4/connect6 programs.
//
//   node tools/dist/lab/client.js --target 10.96.0.20:9080 --connections 2000 --concurrency 8
//   node tools/dist/lab/client.js --target [fd00:96::40]:9080 --until-signal --interval-ms 5
//
// Each request is a bare `GET / HTTP/1.0`; the backend answers with its name in the body. The
// client counts answers per backend, failures per error code, latency percentiles, and the
// getpeername() of every connected socket (socket.remoteAddress/remotePort), which must be the
// VIP when the mesh restores it. It prints one JSON object (ClientReport) on stdout.
//
// Modes: a fixed count (--connections), a fixed time (--duration S), or until SIGTERM/SIGINT
// (--until-signal; --duration is then a safety bound, default 300 s). In every mode the run ends
// by itself.
import net from 'node:net';
import { parseArgs } from 'node:util';
import { hostPort, parseHostPort } from './addressing.js';
import { summarizeLatency, type ClientReport } from './client-report.js';

interface Options {
  host: string;
  port: number;
  family: 4 | 6 | 0;
  connections: number;
  concurrency: number;
  durationMs: number | null;
  untilSignal: boolean;
  timeoutMs: number;
  intervalMs: number;
  sequenceLength: number;
}

const USAGE = `usage: client --target HOST:PORT [--connections N] [--concurrency C] [--ipv6]
              [--duration S] [--until-signal] [--timeout-ms MS] [--interval-ms MS] [--sequence N]`;

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      target: { type: 'string' },
      connections: { type: 'string', default: '100' },
      concurrency: { type: 'string', default: '1' },
      ipv6: { type: 'boolean', default: false },
      duration: { type: 'string' },
      'until-signal': { type: 'boolean', default: false },
      'timeout-ms': { type: 'string', default: '5000' },
      'interval-ms': { type: 'string', default: '0' },
      sequence: { type: 'string', default: '1000' },
    },
    strict: true,
  });
  if (!values.target) throw new Error('--target HOST:PORT is required');
  const { host, port } = parseHostPort(values.target);
  const positive = (name: string, text: string, allowZero = false): number => {
    const n = Number(text);
    if (!Number.isFinite(n) || n < 0 || (!allowZero && n === 0)) throw new Error(`--${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, got "${text}"`);
    return n;
  };
  const untilSignal = values['until-signal'] ?? false;
  const duration = values.duration !== undefined ? positive('duration', values.duration) * 1000 : untilSignal ? 300_000 : null;
  return {
    host,
    port,
    family: values.ipv6 ? 6 : net.isIP(host) === 6 ? 6 : net.isIP(host) === 4 ? 4 : 0,
    connections: Math.floor(positive('connections', values.connections!)),
    concurrency: Math.floor(positive('concurrency', values.concurrency!)),
    durationMs: duration,
    untilSignal,
    timeoutMs: positive('timeout-ms', values['timeout-ms']!),
    intervalMs: positive('interval-ms', values['interval-ms']!, true),
    sequenceLength: Math.floor(positive('sequence', values.sequence!, true)),
  };
}

type Outcome = { ok: true; backend: string; peer: string | null; latencyMs: number } | { ok: false; code: string; peer: string | null };

/** One connection, one request, one answer. Never rejects. */
function request(o: Options): Promise<Outcome> {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    let peer: string | null = null;
    let settled = false;
    const chunks: Buffer[] = [];
    const socket = net.connect({ host: o.host, port: o.port, family: o.family || undefined });
    const finish = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish({ ok: false, code: 'ETIMEDOUT', peer }), o.timeoutMs);
    socket.on('connect', () => {
      // getpeername() of the connected socket: the VIP when the mesh restores it, else the backend.
      peer = socket.remoteAddress ? hostPort(socket.remoteAddress, socket.remotePort ?? 0) : null;
      socket.write(`GET / HTTP/1.0\r\nHost: ${hostPort(o.host, o.port)}\r\nUser-Agent: kmesh-lab-client\r\n\r\n`);
    });
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (err: NodeJS.ErrnoException) => finish({ ok: false, code: err.code ?? 'EUNKNOWN', peer }));
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1];
      const backend = split >= 0 ? text.slice(split + 4).trim().split('\n')[0] : '';
      if (status !== '200' || !backend) return finish({ ok: false, code: 'EBADRESPONSE', peer });
      const latencyMs = Number(process.hrtime.bigint() - started) / 1e6;
      finish({ ok: true, backend, peer, latencyMs });
    });
  });
}

async function main(): Promise<void> {
  let o: Options;
  try {
    o = parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`client: ${(err as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }

  const report: ClientReport = {
    target: hostPort(o.host, o.port),
    mode: o.untilSignal ? 'until-signal' : o.durationMs !== null ? 'duration' : 'count',
    durationMs: 0,
    attempted: 0,
    succeeded: 0,
    failed: 0,
    byBackend: {},
    errors: {},
    peers: {},
    latencyMs: null,
    sequence: [],
  };
  const latencies: number[] = [];
  const startedAt = Date.now();
  let stopping = false;
  const stop = () => { stopping = true; };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  const deadline = o.durationMs !== null ? startedAt + o.durationMs : Infinity;
  const countBound = o.durationMs === null;

  const more = () => !stopping && Date.now() < deadline && (!countBound || report.attempted < o.connections);
  const worker = async () => {
    while (more()) {
      const index = report.attempted++;
      const r = await request(o);
      if (r.peer) report.peers[r.peer] = (report.peers[r.peer] ?? 0) + 1;
      if (r.ok) {
        report.succeeded++;
        report.byBackend[r.backend] = (report.byBackend[r.backend] ?? 0) + 1;
        latencies.push(r.latencyMs);
      } else {
        report.failed++;
        report.errors[r.code] = (report.errors[r.code] ?? 0) + 1;
      }
      if (index < o.sequenceLength) report.sequence[index] = r.ok ? r.backend : `!${r.code}`;
      if (o.intervalMs > 0 && more()) await new Promise((res) => setTimeout(res, o.intervalMs));
    }
  };
  if (o.untilSignal) process.stderr.write('client: started\n');
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  report.durationMs = Date.now() - startedAt;
  report.latencyMs = summarizeLatency(latencies);
  process.stdout.write(JSON.stringify(report) + '\n');
}

main().catch((err: Error) => {
  process.stderr.write(`client: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
