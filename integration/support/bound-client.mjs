// Consistent-hashing probe for the lb-policies kernel test (issue 6). Runs in the lab's client
// netns (and mesh cgroup): for every source address given, opens N new TCP connections to the
// target, each bound to that source address first (as curl --interface does), sends the lab's
// `GET / HTTP/1.0` and records which backend answered (the response body is its name).
// Prints one JSON object: { "<source>": ["backend", ...], ... } and failures as "!CODE".
//
//   node bound-client.mjs --target 10.96.7.1:9080 --per-source 3 10.250.5.100 10.250.5.101 ...
import net from 'node:net';

function parse(argv) {
  const out = { target: '', perSource: 1, sources: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--target') out.target = argv[++i];
    else if (argv[i] === '--per-source') out.perSource = Number(argv[++i]);
    else out.sources.push(argv[i]);
  }
  const m = /^(.*):(\d+)$/.exec(out.target);
  if (!m || out.sources.length === 0) throw new Error('usage: bound-client.mjs --target HOST:PORT [--per-source N] SOURCE...');
  return { ...out, host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

function once(host, port, localAddress) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, localAddress });
    let data = '';
    const timer = setTimeout(() => socket.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })), 5000);
    socket.on('connect', () => socket.write('GET / HTTP/1.0\r\n\r\n'));
    socket.on('data', (chunk) => (data += chunk));
    socket.on('end', () => {
      clearTimeout(timer);
      const body = data.split('\r\n\r\n').slice(1).join('\r\n\r\n').trim();
      resolve(body.split(/\s/)[0] || '!EMPTY');
    });
    socket.on('error', (e) => {
      clearTimeout(timer);
      resolve(`!${e.code ?? e.message}`);
    });
  });
}

const opts = parse(process.argv.slice(2));
const result = {};
// Sources in parallel (bounded), each source's connections in sequence.
const queue = [...opts.sources];
async function worker() {
  for (let src = queue.shift(); src !== undefined; src = queue.shift()) {
    const answers = [];
    for (let i = 0; i < opts.perSource; i++) answers.push(await once(opts.host, opts.port, src));
    result[src] = answers;
  }
}
await Promise.all(Array.from({ length: 16 }, worker));
process.stdout.write(JSON.stringify(result) + '\n');
