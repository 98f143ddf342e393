#!/usr/bin/env node
/**
 * `npm run demo`: Kmesh end to end on the real kernel, in a throw-away lab.
 *
 *   1. reads the Envoy config (default examples/bookinfo.yaml) through @kmesh/api and derives the lab
 *      from it: one backend per endpoint address, named after its cluster (and index);
 *   2. creates the lab (client netns, server netns, mesh cgroup, backends) and starts `kmesh run`;
 *   3. per listener, drives N new connections to the VIP from the client netns inside the mesh cgroup,
 *      interleaved with as many direct connections to one backend, and prints the observed vs expected
 *      split, the latency through the VIP vs direct, and what getpeername() returned;
 *   4. shows that the same client outside the mesh cgroup is untouched (its VIP connect fails locally);
 *   5. cleans up: daemon stopped by pid, `kmesh cleanup` for the pin path, lab destroyed.
 *
 * Exit status 0 only when every backend got its expected share within ±5 points (and the getpeername and
 * outside-the-mesh checks hold); 1 otherwise or on error; 2 for a bad command line.
 */
import { existsSync, readFileSync } from 'node:fs';
import { loadConfigText, type MeshModel } from '@kmesh/api';
import { Lab, VIP_UNREACHABLE_ERROR, hostPort, repoRoot, type DaemonHandle } from '../lab/index.js';
import { parseArgs, USAGE, type DemoArgs } from './args.js';
import { attachedPrograms } from './attached.js';
import { labBackendIdentity, labLayout, type LabLayout } from './lab-layout.js';
import { measureService, type ServiceMeasurement } from './measure.js';
import { planDemo, type DemoPlan, type ServicePlan } from './plan.js';
import { printHeader, printKeepInstructions, printOutsideCheck, printService, printVerdict, type OutsideAttempt } from './report.js';
import { printL7Verdict, runL7Demo } from './l7.js';
import { compareShares } from './shares.js';
import { bold, dim, percent, red } from './style.js';

const PIN_PATH = '/sys/fs/bpf/kmesh-demo';
const LAB_ID = 'demo';
/** Connections of the outside-the-mesh check: they all fail at once, a few are enough. */
const OUTSIDE_CONNECTIONS = 20;

const step = (text: string): void => {
  process.stderr.write(dim(`• ${text}\n`));
};

class DemoError extends Error {}

function loadModel(file: string): MeshModel {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new DemoError(`cannot read the config ${file}: ${(err as Error).message}`);
  }
  const t = loadConfigText(text, file);
  if (!t.ok) {
    const reasons = t.errors.map((e) => `  ${e.path}: ${e.message}`).join('\n');
    throw new DemoError(`the config ${file} is invalid:\n${reasons}`);
  }
  if (t.model.listeners.length === 0) throw new DemoError(`the config ${file} has no listener: nothing to demo`);
  return t.model;
}

/** Everything the demo set up, torn down in reverse order whatever happened. */
class Teardown {
  lab: Lab | null = null;
  daemon: DaemonHandle | null = null;
  private running: Promise<void> | null = null;

  /**
   * onSignal: the lab's own signal handler is already destroying it (stopping our processes by pid, then
   * `kmesh cleanup` for the pin paths of its daemons); join that instead of racing it step by step.
   */
  run(onSignal = false): Promise<void> {
    this.running ??= onSignal ? this.destroyLab() : this.teardown();
    return this.running;
  }

  private async destroyLab(): Promise<void> {
    if (!this.lab) return;
    step('cleaning up: stopping the daemon, kmesh cleanup, removing the lab');
    await this.lab.destroy();
  }

  private async teardown(): Promise<void> {
    const lab = this.lab;
    if (!lab) return;
    step('cleaning up: stopping the daemon, kmesh cleanup, removing the lab');
    if (this.daemon) await this.daemon.kill('SIGTERM');
    if (existsSync(PIN_PATH)) {
      const r = await lab.cleanupDaemon(PIN_PATH);
      if (r.code !== 0) process.stderr.write(red(`kmesh cleanup --pin-path ${PIN_PATH} failed: ${r.stderr.trim()}\n`));
    }
    await lab.destroy();
  }
}

interface DemoResult {
  code: number;
  /** how to poke at the running lab (printed with --keep) */
  instructions: string[];
}

async function runDemo(args: DemoArgs, teardown: Teardown): Promise<DemoResult> {
  const model = loadModel(args.config);
  let plan: DemoPlan;
  let layout: LabLayout;
  try {
    plan = planDemo(model, labBackendIdentity);
    layout = labLayout(model, plan);
  } catch (err) {
    throw new DemoError(`the config ${args.config} does not fit the lab: ${(err as Error).message}`);
  }

  step(`creating the lab (network 10.250.${layout.n}.0/24, ${layout.servers.length} backends)`);
  const lab = await Lab.create({ id: LAB_ID, n: layout.n, servers: layout.servers, ipv6: layout.ipv6 });
  teardown.lab = lab;
  if (existsSync(PIN_PATH)) {
    // Lab.create succeeded, so no other demo is live: these pins are a crashed run's leftovers.
    step(`removing the leftovers of an earlier run at ${PIN_PATH}`);
    await lab.cleanupDaemon(PIN_PATH);
  }

  step(`starting kmesh run on ${args.config}`);
  const daemon = await lab.startDaemon({ config: args.config, pinPath: PIN_PATH });
  teardown.daemon = daemon;

  printHeader({
    config: args.config,
    clientNetns: lab.clientNetns,
    serverNetns: lab.serverNetns,
    cgroup: lab.cgroup,
    pinPath: PIN_PATH,
    adminUrl: daemon.adminUrl,
    daemonPid: daemon.pid,
    programs: await attachedPrograms(lab.cgroup, PIN_PATH),
    backendCount: lab.backends.length,
    network: `10.250.${lab.n}.0/24${lab.ipv6 ? `, fd00:6b6d:${lab.n}::/64` : ''}`,
    connections: args.connections,
  });

  const failures: string[] = [];
  for (const service of plan.services) {
    const m = await measureService(lab, service, args.connections);
    failures.push(...reportService(service, m));
  }
  failures.push(...(await outsideTheMesh(lab, plan.services)));
  printVerdict(failures);
  return { code: failures.length === 0 ? 0 : 1, instructions: keepInstructions(lab, daemon, args.config, plan.services) };
}

/** Prints one service's table; returns what failed, for the verdict. */
function reportService(service: ServicePlan, m: ServiceMeasurement): string[] {
  const rows = compareShares(service, m.viaVip);
  const vip = hostPort(service.vip.ip, service.vip.port);
  const peerOk = printService(service, rows, m.latency, { peers: m.peers, vip });
  const failures = rows
    .filter((r) => !r.withinTolerance)
    .map((r) => `${service.listener}: ${r.backend} got ${percent(r.share)} of the connections, expected ${percent(r.expected)}`);
  if (!peerOk) failures.push(`${service.listener}: getpeername() did not return the VIP ${vip} on every connection`);
  return failures;
}

/** The same client, not in the mesh cgroup, to the first VIP of each address family. */
async function outsideTheMesh(lab: Lab, services: ServicePlan[]): Promise<string[]> {
  const attempts: OutsideAttempt[] = [];
  for (const family of [4, 6] as const) {
    const service = services.find((s) => s.vip.family === family);
    if (!service) continue;
    const vip = hostPort(service.vip.ip, service.vip.port);
    const r = await lab.runClient({ target: vip, connections: OUTSIDE_CONNECTIONS, inMeshCgroup: false, timeoutMs: 2000 });
    attempts.push({ vip, attempted: r.attempted, answered: r.succeeded, errors: r.errors });
  }
  return printOutsideCheck(attempts, VIP_UNREACHABLE_ERROR).map(
    (vip) => `outside the mesh cgroup, connections to ${vip} did not all fail locally with ${VIP_UNREACHABLE_ERROR}`,
  );
}

function keepInstructions(lab: Lab, daemon: DaemonHandle, config: string, services: ServicePlan[]): string[] {
  const s = services[0];
  const url = `http://${hostPort(s.vip.ip, s.vip.port)}/`;
  const inMesh = `sh -c 'echo $$ > ${lab.cgroup}/cgroup.procs && exec ip netns exec ${lab.clientNetns} "$@"' _`;
  return [
    `${bold('through the mesh')}   ${inMesh} curl -s ${url}`,
    `${bold('outside the mesh')}   ip netns exec ${lab.clientNetns} curl -s --max-time 2 ${url}   ${dim('# fails: no route to host')}`,
    `${bold('load')}               ${inMesh} node ${repoRoot}/tools/dist/lab/client.js --target ${hostPort(s.vip.ip, s.vip.port)} --connections 1000`,
    `${bold('daemon state')}       curl -s ${daemon.adminUrl}/config_dump   ${dim('(also /maps, /stats, /readyz)')}`,
    `${bold('kernel view')}        bpftool cgroup show ${lab.cgroup}; ls ${PIN_PATH}`,
    `${bold('live edit')}          change a weight in ${config}: the daemon reloads it at once`,
  ];
}

async function main(): Promise<number> {
  let args: DemoArgs;
  try {
    args = parseArgs(process.argv.slice(2), repoRoot);
  } catch (err) {
    process.stderr.write(`demo: ${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write(
      'demo: needs root: it creates network namespaces, a cgroup and attaches BPF programs.\n' + '      run it as root, e.g. sudo npm run demo\n',
    );
    return 1;
  }

  const teardown = new Teardown();
  let verdict = 1;
  // Ctrl-C: the lab (tools/lab) has its own SIGINT/SIGTERM handler that destroys it and exits 130; ours
  // joins the same teardown. With --keep the run is over when Ctrl-C comes, so the exit status is the
  // verdict: whichever handler calls process.exit first, the 'exit' listener sets the final code.
  let finished = false;
  let interrupted = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      interrupted = true;
      process.stderr.write(finished ? '\n' : `\ninterrupted (${signal})\n`);
      void teardown
        .run(true)
        .catch((err: Error) => process.stderr.write(red(`cleanup: ${err.message}\n`)))
        .finally(() => process.exit(finished ? verdict : 130));
    });
  }
  process.on('exit', () => {
    if (interrupted && finished) process.exitCode = verdict;
  });
  try {
    const result = await runDemo(args, teardown);
    verdict = result.code;
    if (args.keep) {
      finished = true;
      printKeepInstructions(result.instructions);
      // Wait for Ctrl-C: the signal handler above cleans up and exits with the verdict. The timer keeps
      // the event loop alive even if every child process went away.
      setInterval(() => {}, 1 << 30);
      await new Promise<never>(() => {});
    }
  } catch (err) {
    // After Ctrl-C the lab is being torn down under the running step: its failure is expected noise.
    if (interrupted) return 130;
    const message = err instanceof DemoError ? err.message : ((err as Error).stack ?? String(err));
    process.stderr.write(red(`demo failed: ${message}\n`));
    if (teardown.daemon) {
      const tail = teardown.daemon.logs().trim().split('\n').slice(-15).join('\n');
      if (tail) process.stderr.write(dim(`last daemon log lines:\n${tail}\n`));
    }
    verdict = 1;
  } finally {
    finished = true;
    await teardown.run().catch((err: Error) => {
      process.stderr.write(red(`cleanup: ${err.message}\n`));
      verdict = 1;
    });
  }
  // L7 part (examples/l7-canary.yaml, tools/demo/l7.ts): after the L4 lab is gone, it uses the same network.
  if (!interrupted && !args.keep) {
    const l7Failures = await runL7Demo(args.connections).catch((err: Error) => [`L7 part failed: ${err.message}`]);
    printL7Verdict(l7Failures);
    if (l7Failures.length) verdict = 1;
  } else if (args.keep) {
    process.stderr.write(dim('• L7 part skipped with --keep (it runs in a lab of its own after this one is gone)\n'));
  }
  return verdict;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(red(`demo: ${err.stack ?? err.message}\n`));
    process.exit(1);
  },
);
