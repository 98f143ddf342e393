// What the demo prints: the header (what runs where), one table per service, the outside-the-mesh check
// and the verdict. Pure formatting: every number arrives computed.
import { hostPort } from '../lab/addressing.js';
import type { ServicePlan } from './plan.js';
import { FAILED_ROW, TOLERANCE_POINTS, type ShareRow } from './shares.js';
import { bold, cyan, dim, green, millis, percent, red, renderTable, tick, yellow } from './style.js';

export interface HeaderInfo {
  config: string;
  clientNetns: string;
  serverNetns: string;
  cgroup: string;
  pinPath: string;
  adminUrl: string;
  daemonPid: number;
  programs: string[];
  backendCount: number;
  /** the lab's pod network, e.g. 10.250.1.0/24 */
  network: string;
  connections: number;
}

export interface LatencyComparison {
  /** p50 and p99 in ms through the VIP and straight to `directBackend`, same client, same count */
  vip: { p50: number; p99: number } | null;
  direct: { p50: number; p99: number } | null;
  directBackend: string;
  rounds: number;
}

export interface PeerCheck {
  /** getpeername() result -> connections */
  peers: Record<string, number>;
  vip: string;
}

const out = (line = ''): void => {
  process.stdout.write(line + '\n');
};

export function printHeader(h: HeaderInfo): void {
  out(bold('Kmesh demo') + dim(` — ${h.config}`));
  const rows: [string, string][] = [
    ['client netns', `${h.clientNetns}  ${dim('(load client; VIP ranges unreachable, no default route)')}`],
    ['server netns', `${h.serverNetns}  ${dim(`(${h.backendCount} backends on ${h.network}, one server process)`)}`],
    ['mesh cgroup', h.cgroup],
    ['daemon', `kmesh run, pid ${h.daemonPid}`],
    ['pin path', h.pinPath],
    ['admin API', h.adminUrl],
    ['programs', `${h.programs.length} attached${h.programs.length ? ': ' + h.programs.join(', ') : ''}`],
    ['traffic', `${h.connections} new TCP connections per listener, from the client netns inside the mesh cgroup`],
  ];
  for (const [k, v] of rows) out(`  ${dim(k.padEnd(13))}${v}`);
  out();
}

export function printService(plan: ServicePlan, rows: ShareRow[], latency: LatencyComparison, peers: PeerCheck): boolean {
  const vip = hostPort(plan.vip.ip, plan.vip.port);
  out(`${bold(cyan(plan.listener))}  ${vip}  ${dim('→')} ${plan.route}`);
  const table = renderTable(
    [
      { header: 'backend', align: 'left' },
      { header: 'conns', align: 'right' },
      { header: 'share', align: 'right' },
      { header: 'expected', align: 'right' },
      { header: '', align: 'left' },
      { header: 'expected from', align: 'left' },
    ],
    rows.map((r) => [
      r.backend === FAILED_ROW ? yellow(r.backend) : r.backend,
      String(r.connections),
      percent(r.share),
      percent(r.expected),
      tick(r.withinTolerance),
      dim(r.note),
    ]),
  );
  table.forEach((line) => out(line));

  const lat = (l: { p50: number; p99: number } | null): string => (l ? `p50 ${millis(l.p50)}  p99 ${millis(l.p99)}` : 'no successful connection');
  if (plan.direct) {
    out(`  ${dim('latency')}   via VIP ${lat(latency.vip)}   ${dim('|')}   direct to ${latency.directBackend} ${lat(latency.direct)}  ${dim(`(medians of ${latency.rounds} interleaved rounds)`)}`);
  } else {
    out(`  ${dim('latency')}   ${dim('no usable backend to compare with')}`);
  }

  const total = Object.values(peers.peers).reduce((a, b) => a + b, 0);
  const sawVip = peers.peers[peers.vip] ?? 0;
  const others = Object.entries(peers.peers).filter(([p]) => p !== peers.vip).map(([p, n]) => `${p}×${n}`).join(', ');
  // Every connected socket must see the VIP; when the config leaves nothing to connect to, none connecting is right.
  const peerOk = total > 0 ? sawVip === total : plan.expectedFailureShare >= 1;
  const what = total > 0 ? `on ${sawVip}/${total} connections` : 'on no connection (none connected)';
  out(`  ${dim('peer')}      getpeername() returned ${peers.vip} ${what} ${tick(peerOk)}${others ? dim(`  (others: ${others})`) : ''}`);
  out();
  return peerOk;
}

export interface OutsideAttempt {
  vip: string;
  attempted: number;
  answered: number;
  errors: Record<string, number>;
}

/** The same client outside the mesh cgroup: every VIP connect must fail locally. Returns the VIPs that did not. */
export function printOutsideCheck(attempts: OutsideAttempt[], expectedError: string): string[] {
  out(`${bold('outside the mesh')}  ${dim(`same client, same netns, not in the mesh cgroup: the VIP connect must fail locally (${expectedError})`)}`);
  const bad: string[] = [];
  const width = Math.max(...attempts.map((a) => a.vip.length));
  for (const a of attempts) {
    const ok = a.answered === 0 && (a.errors[expectedError] ?? 0) === a.attempted;
    if (!ok) bad.push(a.vip);
    const codes = Object.entries(a.errors).map(([c, n]) => `${c}×${n}`).join(' ') || 'no error';
    out(`  ${a.vip.padEnd(width)}  ${a.attempted} connects, ${a.answered} answered, ${codes}  ${tick(ok)}`);
  }
  out();
  return bad;
}

export function printVerdict(failures: string[]): void {
  if (failures.length === 0) {
    out(green(bold(`PASS`)) + ` every backend within ±${TOLERANCE_POINTS} points of its expected share; getpeername and scoping checks hold`);
  } else {
    out(red(bold('FAIL')));
    for (const f of failures) out(`  ${red('✗')} ${f}`);
  }
}

export function printKeepInstructions(lines: string[]): void {
  out(bold('Lab left running (--keep).') + ' Try:');
  for (const l of lines) out(`  ${l}`);
  out(dim('Press Ctrl-C to tear everything down.'));
}
