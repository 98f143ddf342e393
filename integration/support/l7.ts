// What the L7 (HTTP/1.1) tests share: Envoy builders for http_connection_manager listeners and routes,
// a lab with the HTTP backend (tools/lab/http-backend.ts) plus a daemon that serves the client netns
// with its L7 relay, and the raw client (l7_client.py) that sends exact bytes over many connections
// from inside the mesh cgroup.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BpfMap } from '@kmesh/runtime';
import { Lab, kmeshCli, type BackendSpec, type DaemonHandle } from '../../tools/lab/index.js';
import { APPLIED, REJECTED, countLog, requireDaemon, waitForNewLog } from './mesh.js';

const here = dirname(fileURLToPath(import.meta.url));
export const RAW_CLIENT = join(here, 'l7_client.py');

// ---------------------------------------------------------------- Envoy builders

const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';

export interface VirtualHost { name: string; domains: string[]; routes: object[] }

export function routeConfig(name: string, virtualHosts: VirtualHost[]): object {
  return { name, virtual_hosts: virtualHosts.map((v) => ({ name: v.name, domains: v.domains, routes: v.routes })) };
}

/** An exact-address listener whose filter is http_connection_manager with an inline route_config. */
export function httpListener(name: string, vip: string, port: number, routes: object): object {
  return {
    name,
    address: { socket_address: { address: vip, port_value: port } },
    filter_chains: [{
      filters: [{
        name: 'envoy.filters.network.http_connection_manager',
        typed_config: {
          '@type': HCM_TYPE,
          stat_prefix: name.replace(/[^a-zA-Z0-9_]/g, '_'),
          route_config: routes,
          http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } }],
        },
      }],
    }],
  };
}

export type Match = { prefix: string } | { path: string } | { safe_regex: { regex: string } };
export interface MatchOptions { caseSensitive?: boolean; headers?: object[] }

function match(m: Match, o: MatchOptions = {}): object {
  return { ...m, ...(o.caseSensitive === false ? { case_sensitive: false } : {}), ...(o.headers ? { headers: o.headers } : {}) };
}

/** A route to one cluster. */
export function toCluster(name: string, m: Match, cluster: string, o: MatchOptions = {}): object {
  return { name, match: match(m, o), route: { cluster } };
}

/** A route to weighted clusters. */
export function toWeighted(name: string, m: Match, clusters: { name: string; weight: number }[], o: MatchOptions = {}): object {
  return { name, match: match(m, o), route: { weighted_clusters: { clusters } } };
}

export function directResponse(name: string, m: Match, status: number, body: string): object {
  return { name, match: match(m), direct_response: { status, body: { inline_string: body } } };
}

// ---------------------------------------------------------------- lab + daemon

export interface L7Mesh {
  lab: Lab;
  daemon: DaemonHandle;
  configFile: string;
  pinPath: string;
  /** write a config and wait until the daemon logged that it applied it */
  applyConfig(config: object): Promise<void>;
  /** write a config and wait until the daemon logged that it rejected it; returns that log line */
  rejectConfig(config: object): Promise<string>;
  teardown(): Promise<void>;
}

/** netns path the relay serves for the lab's client namespace. */
export function clientNetnsPath(lab: Lab): string {
  return `/run/netns/${lab.clientNetns}`;
}

/** Does `kmesh run` know the L7 flags yet? (The relay/daemon part of issue 4 adds them.) */
export function daemonHasL7Flags(): boolean {
  const r = spawnSync(process.execPath, [kmeshCli, 'run', '--help'], { encoding: 'utf8', timeout: 20_000 });
  return `${r.stdout}${r.stderr}`.includes('--l7-netns');
}

/** What is missing for the L7 path, in words (empty when everything is there). */
export function l7Missing(pinPath: string): string[] {
  const missing: string[] = [];
  for (const map of ['km_l7_anchor', 'km_l7_decision', 'km_l7_client']) {
    if (!existsSync(join(pinPath, map))) missing.push(`map ${map} is not pinned under ${pinPath}`);
  }
  if (missing.length === 0 && countEntries(pinPath, 'km_l7_anchor') === 0) missing.push('km_l7_anchor has no entry: the relay registered no anchor for the client netns');
  return missing;
}

export async function startL7Mesh(opts: { id: string; servers: BackendSpec[]; config: (lab: Lab) => object; ipv6?: boolean; extraDaemonArgs?: string[] }): Promise<L7Mesh> {
  requireDaemon();
  if (!daemonHasL7Flags()) {
    throw new Error(`L7 path not available: \`kmesh run --help\` (${kmeshCli}) lists no --l7-netns flag; the relay/daemon part of issue 4 has not landed (or @kmesh/controller was not rebuilt)`);
  }
  const lab = await Lab.create({ id: opts.id, servers: opts.servers, ipv6: opts.ipv6, backendKind: 'http' });
  const dir = mkdtempSync(join(tmpdir(), `kmesh-${opts.id}-`));
  const configFile = join(dir, 'mesh.yaml');
  const pinPath = `/sys/fs/bpf/kmesh-it-${opts.id}`;
  const writeConfig = (config: object): void => {
    const tmp = join(dir, '.mesh.yaml.tmp');
    writeFileSync(tmp, JSON.stringify(config, null, 2));
    renameSync(tmp, configFile);
  };
  let daemon: DaemonHandle;
  try {
    writeConfig(opts.config(lab));
    daemon = await lab.startDaemon({ config: configFile, pinPath, extraArgs: opts.extraDaemonArgs ?? [] }); // the lab adds --l7-netns for its client netns
    // The relay registers its anchor asynchronously (its own thread): give it a moment.
    const deadline = Date.now() + 5000;
    let missing = l7Missing(pinPath);
    while (missing.length && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      missing = l7Missing(pinPath);
    }
    if (missing.length) throw new Error(`L7 path not available after kmesh run started: ${missing.join('; ')}; daemon log tail:\n${daemon.logs().slice(-2000)}`);
  } catch (err) {
    await lab.destroy().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    rmSync(pinPath, { recursive: true, force: true });
    throw err;
  }
  const mesh: L7Mesh = {
    lab, daemon, configFile, pinPath,
    async applyConfig(config) {
      const before = countLog(mesh.daemon, APPLIED);
      writeConfig(config);
      await waitForNewLog(mesh.daemon, APPLIED, before);
    },
    async rejectConfig(config) {
      const before = countLog(mesh.daemon, REJECTED);
      writeConfig(config);
      return waitForNewLog(mesh.daemon, REJECTED, before);
    },
    async teardown() {
      try {
        await lab.destroy();
      } finally {
        rmSync(dir, { recursive: true, force: true });
        rmSync(pinPath, { recursive: true, force: true });
      }
    },
  };
  return mesh;
}

/** Entries of a pinned map (sockhash too: keys are readable from user space). */
export function countEntries(pinPath: string, mapName: string): number {
  const map = BpfMap.fromPin(join(pinPath, mapName));
  try {
    return map.keys().length;
  } finally {
    map.close();
  }
}

/** Open file descriptors of a process. */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- requests

/** An HTTP/1.1 request head (and body) as exact bytes; `host: null` sends no Host header. */
export function request(method: string, path: string, host: string | null, headers: [string, string][] = [], body?: Buffer): Buffer {
  const lines = [`${method} ${path} HTTP/1.1`];
  if (host !== null) lines.push(`Host: ${host}`);
  for (const [k, v] of headers) lines.push(`${k}: ${v}`);
  if (body) lines.push(`Content-Length: ${body.length}`);
  const head = Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1');
  return body ? Buffer.concat([head, body]) : head;
}

export interface RawCase {
  id: number;
  target?: string;
  requests: Buffer[];
  pipeline?: boolean;
  /** pipeline: one write per request buffer, this far apart (default: all in one write) */
  gapMs?: number;
  shutWrite?: boolean;
  /** after the responses, read on until the other side closes (end "eof"), without half-closing */
  untilClose?: boolean;
  timeoutMs?: number;
  /** responses to wait for (default: one per request) */
  responses?: number;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  bodyBytes: number;
  bodySha256: string;
  body: string;
}

export interface RawResult {
  id: number;
  connect: string;
  responses: RawResponse[];
  end: 'eof' | 'reset' | 'timeout' | 'open' | 'eof-in-head' | 'eof-in-body' | 'bad-response' | 'error';
  ms: number;
  error?: string;
}

/** Sends the cases from the client netns (in the mesh cgroup unless told otherwise); results by id. */
export async function rawRequests(lab: Lab, cases: RawCase[], opts: { target: string; concurrency?: number; inMeshCgroup?: boolean; timeoutMs?: number }): Promise<Map<number, RawResult>> {
  const proc = lab.spawnInClient('python3', [RAW_CLIENT, '--target', opts.target, '--concurrency', String(opts.concurrency ?? 32)], { inMeshCgroup: opts.inMeshCgroup ?? true, pipeStdin: true });
  const input = cases.map((c) => JSON.stringify({
    id: c.id, target: c.target, requests: c.requests.map((r) => r.toString('base64')), pipeline: c.pipeline ?? false, gapMs: c.gapMs ?? 0,
    shutWrite: c.shutWrite ?? false, untilClose: c.untilClose ?? false, timeoutMs: c.timeoutMs ?? 5000, responses: c.responses ?? c.requests.length,
  })).join('\n') + '\n';
  proc.child.stdin!.end(input);
  const overall = opts.timeoutMs ?? 120_000;
  const timer = setTimeout(() => proc.kill('SIGKILL'), overall);
  const e = await proc.exited;
  clearTimeout(timer);
  if (e.code !== 0) throw new Error(`raw client exited ${e.code ?? e.signal} (killed after ${overall} ms?): ${proc.stderr().slice(-2000)}`);
  const results = new Map<number, RawResult>();
  for (const line of proc.stdout().split('\n')) {
    if (!line.trim()) continue;
    const r = JSON.parse(line) as RawResult;
    results.set(r.id, r);
  }
  const lost = cases.filter((c) => !results.has(c.id)).length;
  if (lost) throw new Error(`raw client reported ${results.size} of ${cases.length} cases; stderr: ${proc.stderr().slice(-2000)}`);
  return results;
}

/** One connection, one or more requests in sequence (keep-alive); the result. */
export async function exchange(lab: Lab, target: string, requests: Buffer[], opts: Partial<RawCase> = {}): Promise<RawResult> {
  const results = await rawRequests(lab, [{ id: 1, requests, ...opts }], { target, concurrency: 1 });
  return results.get(1)!;
}

/** A result in one line for an assertion message: what was sent and what came back. */
export function describe(sent: Buffer | Buffer[], r: RawResult): string {
  const bytes = Buffer.concat(Array.isArray(sent) ? sent : [sent]);
  const shown = JSON.stringify(bytes.subarray(0, 300).toString('latin1')) + (bytes.length > 300 ? `…(${bytes.length} bytes)` : '');
  const got = r.connect !== 'ok'
    ? `connect ${r.connect}`
    : `${r.responses.map((x) => `${x.status} backend=${x.headers['x-backend'] ?? '-'} reason=${x.headers['x-kmesh-reason'] ?? '-'} body=${JSON.stringify(x.body.slice(0, 120))}`).join(' | ') || 'no response'}; end=${r.end} after ${r.ms} ms`;
  return `request ${shown} -> got ${got}`;
}

/** Backend names of the responses (a kmesh-generated response shows as "kmesh:<status>"). */
export function answeredBy(r: RawResult): string[] {
  return r.responses.map((x) => x.headers['x-backend'] ?? `kmesh:${x.status}`);
}
