// The sockmap scenario (issue 5): wrk → nginx on 127.0.0.1 in one netns, both in the mesh cgroup,
// with the daemon's sockmap acceleration on (default) and off (`--no-sockmap`), interleaved.
//
//   lab client netns, mesh cgroup:  wrk ──127.0.0.1:8080──► nginx (1 worker)
//   on:  sock_ops puts both sockets of each connection in km_sock, sk_msg redirects the payload
//   off: the same connections over the loopback TCP/IP stack
//
// The daemon is restarted with or without --no-sockmap before each run (the flag applies to new
// connections; wrk opens its own). Each run is checked: with sockmap on, km_sock_stats.redirected
// must grow by at least one message per request; with it off, the sockhash must not exist.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SockStatNames } from '@kmesh/api';
import { BpfMap } from '@kmesh/runtime';
import { Lab, type DaemonHandle } from '../lab/index.js';
import { run, sleep } from '../lab/system.js';
import { describeMachine, median, type MachineInfo } from './report.js';
import { RESPONSE_BYTES, RESPONSE_MARKER, nginxConfig, kmeshConfig } from './servers.js';
import { parseWrkOutput, wrkArgs, wrkFailure, type WrkResult } from './wrk.js';

export type SockmapSetting = 'on' | 'off';
export interface SockmapOptions { rounds: number; durationS: number; connections: number[]; command: string; log: (line: string) => void }
export interface SockmapSample { round: number; connections: number; sockmap: SockmapSetting; wrk: WrkResult; redirectedMessages: number }
export interface SockmapSummary { connections: number; on: { reqPerSec: number; p50: number; p99: number }; off: { reqPerSec: number; p50: number; p99: number }; ratio: { reqPerSec: number; p50: number } }
export interface SockmapResults { scenario: 'sockmap'; startedAt: string; finishedAt: string; machine: MachineInfo; settings: Omit<SockmapOptions, 'log'>; summary: SockmapSummary[]; samples: SockmapSample[] }

const NGINX_PORT = 8080;
const REDIRECTED = SockStatNames.indexOf('redirected');

/** km_sock_stats[redirected].count summed over CPUs; 0 when the map is not pinned (sockmap off). */
function redirectedMessages(pinPath: string): number {
  const map = join(pinPath, 'km_sock_stats');
  if (!existsSync(map)) return 0;
  const stats = BpfMap.fromPin(map);
  try {
    const key = Buffer.alloc(4);
    key.writeUInt32LE(REDIRECTED);
    const value = stats.lookup(key);
    let count = 0n;
    // Per-CPU value: one km_sock_counter {u64 count, u64 bytes} per possible CPU.
    for (let off = 0; value && off + 16 <= value.length; off += 16) count += value.readBigUInt64LE(off);
    return Number(count);
  } finally {
    stats.close();
  }
}

export async function runSockmap(o: SockmapOptions): Promise<SockmapResults> {
  if (process.getuid?.() !== 0) throw new Error('the sockmap bench needs root (network namespaces, cgroups, BPF)');
  const startedAt = new Date().toISOString();
  const dir = mkdtempSync(join(tmpdir(), 'kmesh-bench-sockmap-'));
  const lab = await Lab.create({ id: `bsm${process.pid % 100000}`, servers: [] });
  const pinPath = `/sys/fs/bpf/kmesh-bench-${lab.id}`;
  let daemon: DaemonHandle | null = null;
  const configPath = join(dir, 'kmesh.yaml');
  // The L4 config is not exercised (nothing dials a VIP); the daemon needs one to start.
  writeFileSync(configPath, kmeshConfig({ vip: '10.96.0.10', vipPort: 80, backend: lab.addresses.serverV4, backendPort: NGINX_PORT }));

  const setSockmap = async (s: SockmapSetting): Promise<void> => {
    if (daemon) await daemon.kill('SIGTERM');
    daemon = await lab.startDaemon({ config: configPath, pinPath, extraArgs: s === 'off' ? ['--no-sockmap'] : [] });
    await daemon.waitForLog(s === 'on' ? /"msg":"sockmap acceleration (attached|adopted)"/ : /"msg":"sockmap acceleration (removed|off)/, 10_000);
    if (existsSync(join(pinPath, 'km_sock')) !== (s === 'on')) throw new Error(`sockmap ${s}: km_sock is ${s === 'on' ? 'missing' : 'still pinned'}`);
  };

  try {
    const nginxConf = join(dir, 'nginx.conf');
    writeFileSync(nginxConf, nginxConfig({ dir, listen: [`127.0.0.1:${NGINX_PORT}`], workers: 1 }));
    const nginx = lab.spawnInClient('nginx', ['-p', dir, '-e', join(dir, 'nginx-error.log'), '-c', nginxConf], { inMeshCgroup: true });
    const url = `http://127.0.0.1:${NGINX_PORT}/`;
    for (let i = 0; ; i++) {
      const r = await lab.execInClient('curl', ['-sS', '-m', '2', url], { inMeshCgroup: true, timeoutMs: 5000 });
      if (r.code === 0 && r.stdout.startsWith(RESPONSE_MARKER) && Buffer.byteLength(r.stdout) === RESPONSE_BYTES) break;
      if (nginx.hasExited() || i > 100) throw new Error(`nginx does not answer at ${url}: ${nginx.stderr().trim()} ${r.stderr.trim()}`);
      await sleep(50);
    }

    const samples: SockmapSample[] = [];
    const total = o.rounds * o.connections.length * 2;
    for (let round = 1; round <= o.rounds; round++) {
      for (const connections of o.connections) {
        // Alternate which setting goes first, so drift in the machine's load favours neither.
        const order: SockmapSetting[] = (round + o.connections.indexOf(connections)) % 2 ? ['on', 'off'] : ['off', 'on'];
        for (const sockmap of order) {
          await setSockmap(sockmap);
          const before = redirectedMessages(pinPath);
          const args = wrkArgs({ url, connections, durationS: o.durationS, keepAlive: true });
          const r = await lab.execInClient('wrk', args, { inMeshCgroup: true, timeoutMs: (o.durationS + 30) * 1000 });
          if (r.code !== 0) throw new Error(`wrk ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}\n${r.stdout}`);
          const wrk = parseWrkOutput(r.stdout);
          const failure = wrkFailure(wrk);
          if (failure) throw new Error(`sockmap ${sockmap}, ${connections} connections: ${failure}`);
          const redirected = redirectedMessages(pinPath) - before;
          if (sockmap === 'on' && redirected < wrk.requests) throw new Error(`sockmap on: only ${redirected} redirected messages for ${wrk.requests} requests; traffic bypassed the redirect`);
          if (nginx.hasExited()) throw new Error(`nginx died: ${nginx.stderr().trim()}`);
          samples.push({ round, connections, sockmap, wrk, redirectedMessages: redirected });
          o.log(`[${samples.length}/${total}] round ${round} c=${String(connections).padStart(3)} sockmap ${sockmap.padEnd(3)} ${Math.round(wrk.reqPerSec).toString().padStart(7)} req/s  p50 ${wrk.latencyUs.p50}us  p99 ${wrk.latencyUs.p99}us  redirected ${redirected}`);
        }
      }
    }
    const { log: _log, ...settings } = o;
    void _log;
    return { scenario: 'sockmap', startedAt, finishedAt: new Date().toISOString(), machine: describeMachine(), settings, summary: summarizeSockmap(samples, o.connections), samples };
  } finally {
    if (daemon) await (daemon as DaemonHandle).kill('SIGTERM');
    await lab.destroy(); // our processes, `kmesh cleanup` of the pin path, the netns and the cgroup
    rmSync(dir, { recursive: true, force: true });
    if (existsSync(pinPath)) await run('rm', ['-rf', pinPath]);
  }
}

/** Medians per setting, and the median of the per-round ratios on ÷ off (same round, same load). */
export function summarizeSockmap(samples: SockmapSample[], connections: number[]): SockmapSummary[] {
  return connections.map((c) => {
    const of = (s: SockmapSetting) => samples.filter((x) => x.connections === c && x.sockmap === s);
    const stat = (s: SockmapSetting) => ({
      reqPerSec: median(of(s).map((x) => x.wrk.reqPerSec)),
      p50: median(of(s).map((x) => x.wrk.latencyUs.p50)),
      p99: median(of(s).map((x) => x.wrk.latencyUs.p99)),
    });
    const rounds = [...new Set(of('on').map((x) => x.round))];
    const pair = (round: number) => ({ on: of('on').find((x) => x.round === round)!.wrk, off: of('off').find((x) => x.round === round)!.wrk });
    return {
      connections: c,
      on: stat('on'),
      off: stat('off'),
      ratio: {
        reqPerSec: median(rounds.map((r) => pair(r).on.reqPerSec / pair(r).off.reqPerSec)),
        p50: median(rounds.map((r) => pair(r).on.latencyUs.p50 / pair(r).off.latencyUs.p50)),
      },
    };
  });
}

const START = '<!-- bench:sockmap:start';
const END = '<!-- bench:sockmap:end -->';

export function renderSockmapMarkdown(r: SockmapResults): string {
  const rows = r.summary.map((s) =>
    `| ${s.connections} | ${Math.round(s.off.reqPerSec)} | ${Math.round(s.on.reqPerSec)} | **×${s.ratio.reqPerSec.toFixed(2)}** | ${s.off.p50} | ${s.on.p50} | ×${s.ratio.p50.toFixed(2)} | ${s.off.p99} | ${s.on.p99} |`);
  const meets = r.summary.map((s) => `c=${s.connections}: ${s.ratio.reqPerSec >= 1.5 && s.ratio.p50 < 1 ? 'meets' : 'MISSES'} the target (≥ 1.5× req/s and lower p50)`);
  return `${START} (generated by \`npm run bench -- --scenario sockmap\`; edits inside are overwritten) -->
## Sockmap acceleration: same-node wrk → nginx (bench:sockmap)

wrk and nginx (1 worker, ${RESPONSE_BYTES}-byte answers, keep-alive) on 127.0.0.1 in one network namespace, both in
the mesh cgroup. **on**: the daemon's default, sock_ops + sk_msg redirect payload socket to socket;
**off**: \`kmesh run --no-sockmap\`, the loopback TCP/IP stack. ${r.settings.rounds} interleaved rounds of ${r.settings.durationS} s
(the daemon is restarted with the setting before each run; the order alternates). Every "on" run was
checked to have redirected at least one message per request (km_sock_stats). Ratios are the median of
the per-round ratios on ÷ off; latencies in µs, medians.

| wrk -c | off req/s | on req/s | req/s on÷off | off p50 | on p50 | p50 on÷off | off p99 | on p99 |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${rows.join('\n')}

${meets.map((m) => `- ${m}`).join('\n')}

Machine: ${r.machine.nproc} × ${r.machine.cpuModel}, kernel ${r.machine.kernel}. Run ${r.startedAt}. Reproduce: \`${r.settings.command}\`.
${END}
`;
}

export function mergeSockmapSection(existing: string, section: string): string {
  const start = existing.indexOf(START);
  const end = existing.indexOf(END);
  if (start >= 0 && end > start) return existing.slice(0, start) + section + existing.slice(end + END.length + 1);
  return existing.replace(/\n*$/, '\n\n') + section;
}
