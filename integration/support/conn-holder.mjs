// A client that holds TCP connections open on command (issue 6 part A tests: circuit breaking,
// rate limiting, least request). Runs in the lab's client netns, inside the mesh cgroup.
// One JSON command per stdin line, one JSON answer per stdout line:
//   {"op":"open","target":"10.96.0.1:9080","count":5,"request":false}
//       -> {"ok":5,"errors":{},"backends":{}}   (request: send GET / and count the answering backend)
//   {"op":"close","count":2}         -> {"held":3}   (closes the oldest held connections)
//   {"op":"burst","target":"...","intervalMs":20,"durationMs":2000}
//       -> {"ok":13,"errors":{"ECONNREFUSED":87}}   (connect, then close at once, every intervalMs)
import net from 'node:net';
import readline from 'node:readline';

const held = [];

function parseTarget(target) {
  const m = /^\[?([^\]]+)\]?:(\d+)$/.exec(target);
  if (!m) throw new Error(`bad target ${target}`);
  return { host: m[1], port: Number(m[2]) };
}

/** One connection: resolves {ok, code, backend, socket}. */
function connectOnce(target, request) {
  const { host, port } = parseTarget(target);
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let done = false;
    const finish = (r) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(r);
    };
    const timer = setTimeout(() => {
      socket.destroy();
      finish({ ok: false, code: 'TIMEOUT' });
    }, 5000);
    socket.once('error', (e) => finish({ ok: false, code: e.code ?? e.message }));
    socket.once('connect', () => {
      if (!request) return finish({ ok: true, socket });
      let body = '';
      socket.write(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
      socket.on('data', (c) => {
        body += c.toString('utf8');
        const m = /X-Backend: ([^\r\n]+)/i.exec(body);
        if (m && body.includes('\r\n\r\n')) finish({ ok: true, socket, backend: m[1].trim() });
      });
    });
  });
}

function tally(results) {
  const out = { ok: 0, errors: {}, backends: {} };
  for (const r of results) {
    if (r.ok) {
      out.ok++;
      if (r.backend) out.backends[r.backend] = (out.backends[r.backend] ?? 0) + 1;
    } else out.errors[r.code] = (out.errors[r.code] ?? 0) + 1;
  }
  return out;
}

async function handle(cmd) {
  switch (cmd.op) {
    case 'open': {
      const results = [];
      // One at a time: the kernel sees the connects in order (exact counts at a limit).
      for (let i = 0; i < cmd.count; i++) {
        const r = await connectOnce(cmd.target, cmd.request === true);
        if (r.ok) {
          r.socket.on('error', () => undefined);
          held.push(r.socket);
        }
        results.push(r);
      }
      return tally(results);
    }
    case 'close': {
      const victims = held.splice(0, cmd.count);
      await Promise.all(victims.map((s) => new Promise((res) => { s.once('close', res); s.destroy(); })));
      return { held: held.length };
    }
    case 'burst': {
      const results = [];
      const start = Date.now();
      for (let next = start; Date.now() - start < cmd.durationMs; next += cmd.intervalMs) {
        const r = await connectOnce(cmd.target, false);
        if (r.ok) r.socket.destroy();
        results.push(r);
        const wait = next + cmd.intervalMs - Date.now();
        if (wait > 0) await new Promise((res) => setTimeout(res, wait));
      }
      return { ...tally(results), elapsedMs: Date.now() - start };
    }
    default:
      return { error: `unknown op ${cmd.op}` };
  }
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  if (!line.trim()) return;
  let answer;
  try {
    answer = await handle(JSON.parse(line));
  } catch (e) {
    answer = { error: String(e?.message ?? e) };
  }
  process.stdout.write(JSON.stringify(answer) + '\n');
});
rl.on('close', () => {
  for (const s of held) s.destroy();
  process.exit(0);
});
process.stderr.write('conn-holder: ready\n');
