// Micro-benchmark of the L7 relay (root): wrk against nginx directly, through the relay (splice), and
// through the relay with the same-node direct path. Decisions come from a stand-in for the parser
// (test/fixtures/l7_parser_standin.bpf.c); wrk and nginx run in a cgroup of this script.
// Usage (after `npx nx run @kmesh/runtime:build`):
//   node packages/kmesh-runtime/test/bench/l7-relay-bench.mjs [seconds] [connections] [bodyBytes]
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { BpfObject, L7Relay, mountBpffs } from '../../dist/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../../../..');
const [seconds = '8', connections = '50', bodyBytes = '1024'] = process.argv.slice(2);
mountBpffs(); // the pins below need a bpffs at /sys/fs/bpf
const work = mkdtempSync(join(tmpdir(), 'kmesh-l7-bench-'));
const pinRoot = `/sys/fs/bpf/kmesh-l7-bench-${process.pid}`;
const cgroupRoot = readFileSync('/proc/self/mounts', 'utf8').split('\n').find((l) => l.split(' ')[2] === 'cgroup2').split(' ')[1];
const cgroup = join(cgroupRoot, `kmesh-l7-bench-${process.pid}`);
const nginxPort = 18000 + (process.pid % 1000);
const cleanups = [];

function compile(source, output) {
  const multiarch = `/usr/include/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`;
  execFileSync('clang', ['-O2', '-g', '-target', 'bpf', '-mcpu=v3', '-I', multiarch, '-I', join(repo, 'kernel/include'), '-I', join(repo, 'packages/kmesh-orchestration/bpf'), '-c', source, '-o', output]);
  return output;
}

function wrk(url, extra = []) {
  const script = `echo $$ > ${cgroup}/cgroup.procs && exec wrk -t1 -c${connections} -d${seconds}s ${extra.join(' ')} ${url}`;
  const out = execFileSync('sh', ['-c', script], { encoding: 'utf8' });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const transfer = /Transfer\/sec:\s+(\S+)/.exec(out)?.[1];
  const problems = out.split('\n').filter((l) => /Non-2xx|Socket errors/.test(l)).map((l) => l.trim());
  return { rps, transfer, ...(problems.length ? { problems } : {}) };
}

try {
  mkdirSync(cgroup);
  cleanups.push(() => { try { rmdirSync(cgroup); } catch { /* a process is still leaving */ } });
  const standin = BpfObject.open(compile(join(repo, 'packages/kmesh-runtime/test/fixtures/l7_parser_standin.bpf.c'), join(work, 'standin.o')), { pinRoot });
  const direct = BpfObject.open(compile(join(repo, 'packages/kmesh-orchestration/bpf/kmesh_l7_direct.bpf.c'), join(work, 'direct.o')), { pinRoot });
  standin.load();
  direct.load();
  cleanups.push(() => { standin.close(); direct.close(); rmSync(pinRoot, { recursive: true, force: true }); });
  const m = (o, name) => o.map(name);
  for (const [o, program, mapName] of [[standin, 'standin_msg', 'km_l7_client'], [direct, 'kmesh_l7_upstream_msg', 'km_l7_upstream'], [direct, 'kmesh_l7_server_msg', 'km_l7_server']]) {
    o.program(program).attachToMap(m(o, mapName), 'msg_verdict');
    cleanups.push(() => o.program(program).detachFromMap(m(o, mapName), 'msg_verdict'));
  }
  for (const [o, program] of [[standin, 'standin_sockops'], [direct, 'kmesh_l7_direct_sockops']]) {
    const link = o.program(program).attachCgroup(cgroup);
    cleanups.push(() => { link.detach(); link.close(); });
  }

  writeFileSync(join(work, 'body'), 'x'.repeat(Number(bodyBytes)));
  writeFileSync(join(work, 'nginx.conf'), `
user root; worker_processes 1; daemon off; pid ${work}/nginx.pid; error_log ${work}/error.log;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; sendfile off;
  server { listen 127.0.0.1:${nginxPort}; location / { root ${work}; try_files /body =404; } } }`);
  const nginx = spawn('sh', ['-c', `echo $$ > ${cgroup}/cgroup.procs && exec nginx -c ${join(work, 'nginx.conf')} -p ${work}`], { stdio: 'inherit' });
  cleanups.push(() => nginx.kill());
  await new Promise((r) => setTimeout(r, 500));

  const decision = Buffer.alloc(128);
  Buffer.from([127, 0, 0, 1]).copy(decision, 24);
  decision.writeUInt16BE(nginxPort, 40);
  decision.writeUInt8(2, 42);
  m(standin, 'standin_decision').update(Buffer.alloc(4), decision);

  const pipeSize = process.env.KMESH_BENCH_PIPE_SIZE ? Number(process.env.KMESH_BENCH_PIPE_SIZE) : undefined; // splice pipe capacity
  const base = { decisionMap: m(standin, 'km_l7_decision'), anchorMap: m(standin, 'km_l7_anchor'), textMap: m(standin, 'km_l7_text'), anchorPort: 0, pipeSize };
  const directMaps = { expectMap: m(direct, 'km_l7_expect'), upstreamMap: m(direct, 'km_l7_upstream'), directMap: m(direct, 'km_l7_direct'), peerMap: m(direct, 'km_l7_peer') };
  const results = {};
  const modes = [['keep-alive', []], ['new-connection', ['-H', "'Connection: close'"]]];
  const only = process.env.KMESH_BENCH_MODE; // e.g. new-connection
  for (const [mode, extra] of modes.filter(([name]) => !only || name === only)) {
    const row = { direct: wrk(`http://127.0.0.1:${nginxPort}/`, extra) };
    for (const [name, options] of [['relay', base], ['relay+direct', { ...base, direct: directMaps }]]) {
      const relay = L7Relay.start(options);
      const port = Buffer.alloc(4);
      port.writeUInt32LE(relay.anchors()[0].port);
      m(standin, 'standin_port').update(Buffer.alloc(4), port);
      row[name] = wrk(`http://127.0.0.1:${relay.anchors()[0].port}/`, extra);
      const s = relay.stats();
      row[name].relay = { accepted: s.accepted, directConnections: s.directConnections, directMisses: s.directMisses, bytesToUpstream: s.bytesToUpstream };
      relay.stop();
      row[name].ratio = Math.round((row[name].rps / row.direct.rps) * 100) / 100;
    }
    results[mode] = row;
  }
  console.log(JSON.stringify({ seconds: Number(seconds), connections: Number(connections), bodyBytes: Number(bodyBytes), cpus: (await import('node:os')).cpus().length, results }, null, 2));
} finally {
  for (const cleanup of cleanups.reverse()) {
    try { cleanup(); } catch (e) { console.error('cleanup:', e.message); }
  }
  await new Promise((r) => setTimeout(r, 300));
  try { rmdirSync(cgroup); } catch { /* gone or busy */ }
  rmSync(work, { recursive: true, force: true });
}
