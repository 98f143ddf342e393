/**
 * @kmesh/tools lab: a throw-away network for testing, demoing and benchmarking Kmesh on the real
 * kernel. Root only. All traffic stays inside namespaces the lab creates.
 *
 *   host netns: kmesh daemon (admin API on 127.0.0.1), bpffs pins
 *
 *   ┌ netns kmc-<id> (client) ────────┐   veth   ┌ netns kms-<id> (server) ─────────────────┐
 *   │ eth0 10.250.N.1/24               │──────────│ eth0 10.250.N.2/24                         │
 *   │      fd00:6b6d:N::1/64           │          │      fd00:6b6d:N::2/64                     │
 *   │ no default route;                │          │ backends 10.250.N.10+ / fd00:6b6d:N::10+   │
 *   │ 10.96.0.0/16, fd00:96::/64       │          │ one Node process serves them all, each     │
 *   │   unreachable (EHOSTUNREACH)     │          │ answering with its name (`reviews-v2`)     │
 *   └──────────────────────────────────┘          └────────────────────────────────────────────┘
 *   mesh cgroup <cgroup2 mount>/kmesh-lab-<id>: the daemon attaches there; clients started with
 *   inMeshCgroup: true go through the mesh, the others do not.
 *
 * Usage:
 *   const lab = await Lab.create({ servers: [{ name: 'a' }, { name: 'b' }], ipv6: true });
 *   const daemon = await lab.startDaemon({ config, pinPath: '/sys/fs/bpf/kmesh-x' });
 *   const report = await lab.runClient({ target: '10.96.0.1:9080', connections: 1000 });
 *   report.byBackend   // { a: 500, b: 500 }
 *   await lab.destroy(); // our pids, both netns, the cgroup, the pins of daemons it started
 *
 * - Lab.create({ id?, n?, servers, ipv6? }): N (the /24) comes from the id, unique among live labs;
 *   pass n to pick it (examples/bookinfo.yaml is written for n: 1, see bookinfo.ts).
 * - lab.spawnInClient / execInClient(cmd, args, { inMeshCgroup }): run anything in the client netns.
 * - lab.runClient / startClientLoop: the load client (client.ts), one new TCP connection per
 *   request; the report counts answers per backend, errors per code, and getpeername() results.
 * - lab.stopBackend / startBackend / backendStats: control the backends while traffic runs.
 * - lab.startDaemon({ config, pinPath, admin? }) -> { pid, adminUrl, logs(), waitForLog(), kill() }
 *   and lab.cleanupDaemon(pinPath) run `kmesh run` / `kmesh cleanup` of @kmesh/controller.
 * - A Ctrl-C (SIGINT/SIGTERM) or process exit destroys every live lab.
 *
 * Programs: tools/dist/lab/client.js (load client CLI) and tools/dist/lab/backend-server.js; build
 * with `npx tsc -p tools` before using the lab from TypeScript sources.
 */
export { ECHOED_HEADERS, patternBytes, type EchoBody } from './http-backend.js';
export { Lab, httpBackendScript, type Backend, type BackendSpec, type LabOptions, type SpawnOptions, type ClientRun, type ClientLoop } from './lab.js';
export type { LabProcess, ProcessExit } from './processes.js';
export type { ExecResult } from './system.js';
export { cgroup2Mount, listNetns } from './system.js';
export {
  VIP_RANGE_V4, VIP_RANGE_V6, VIP_UNREACHABLE_ERROR, backendAddress, hostPort, labAddresses, parseHostPort, type LabAddresses,
} from './addressing.js';
export { shares, summarizeLatency, type ClientReport, type LatencySummary } from './client-report.js';
export type { BackendStats } from './backend-protocol.js';
export { adminGet, cleanupDaemon, daemonAvailable, type DaemonHandle, type DaemonOptions } from './daemon.js';
export { kmeshCli, labScripts, repoRoot } from './paths.js';
export { BOOKINFO_BACKENDS, BOOKINFO_CONFIG, BOOKINFO_NETWORK, BOOKINFO_VIPS } from './bookinfo.js';
