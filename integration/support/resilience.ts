// Helpers for the issue 6 part A tests (circuit breaking, rate limiting, outlier detection, least
// request): Envoy config pieces, a connection-holding client, and the daemon's /resilience view.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { adminGet, type Lab, type LabProcess } from '../../tools/lab/index.js';
import type { ClusterResilience, EndpointResilience, ResilienceSnapshot } from '../../packages/kmesh-controller/src/kernel/resilience.js';

const holderScript = join(dirname(fileURLToPath(import.meta.url)), 'conn-holder.mjs');

export interface HolderAnswer {
  ok: number;
  errors: Record<string, number>;
  backends: Record<string, number>;
  held?: number;
  elapsedMs?: number;
  error?: string;
}

/** A client in the mesh cgroup that opens, holds and closes connections on command (conn-holder.mjs). */
export interface Holder {
  open(target: string, count: number, opts?: { request?: boolean }): Promise<HolderAnswer>;
  close(count: number): Promise<HolderAnswer>;
  /** connect every intervalMs for durationMs, closing each connection at once */
  burst(target: string, intervalMs: number, durationMs: number): Promise<HolderAnswer>;
  stop(): Promise<void>;
}

export async function startHolder(lab: Lab): Promise<Holder> {
  const proc: LabProcess = lab.spawnInClient(process.execPath, [holderScript], { inMeshCgroup: true, pipeStdin: true });
  const deadline = Date.now() + 10_000;
  while (!proc.stderr().includes('conn-holder: ready')) {
    if (proc.hasExited()) throw new Error(`conn-holder exited at once: ${proc.stderr()}`);
    if (Date.now() > deadline) throw new Error(`conn-holder did not start within 10 s: ${proc.stderr()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  let answered = 0;
  const send = async (cmd: object, timeoutMs = 30_000): Promise<HolderAnswer> => {
    proc.child.stdin!.write(JSON.stringify(cmd) + '\n');
    const want = ++answered;
    const end = Date.now() + timeoutMs;
    for (;;) {
      const lines = proc.stdout().split('\n').filter((l) => l.trim() !== '');
      if (lines.length >= want) {
        const answer = JSON.parse(lines[want - 1]!) as HolderAnswer;
        if (answer.error) throw new Error(`conn-holder: ${answer.error}`);
        return answer;
      }
      if (proc.hasExited()) throw new Error(`conn-holder exited: ${proc.stderr()}`);
      if (Date.now() > end) throw new Error(`conn-holder did not answer ${JSON.stringify(cmd)} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  return {
    open: (target, count, opts = {}) => send({ op: 'open', target, count, request: opts.request ?? false }),
    close: (count) => send({ op: 'close', count }),
    burst: (target, intervalMs, durationMs) => send({ op: 'burst', target, intervalMs, durationMs }, durationMs + 30_000),
    async stop() {
      proc.child.stdin!.end();
      await proc.exited;
    },
  };
}

/** The tcp_proxy listener of support/envoy.ts with a local_ratelimit filter in front. */
export function withRateLimit(listener: object, bucket: { maxTokens: number; tokensPerFill: number; fillInterval: string }): object {
  const l = structuredClone(listener) as { name: string; filter_chains: { filters: object[] }[] };
  l.filter_chains[0]!.filters.unshift({
    name: 'envoy.filters.network.local_ratelimit',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit',
      stat_prefix: `${l.name}_rl`,
      token_bucket: { max_tokens: bucket.maxTokens, tokens_per_fill: bucket.tokensPerFill, fill_interval: bucket.fillInterval },
    },
  });
  return l;
}

/** The /resilience body is the daemon's snapshot as JSON: the same types as the controller's. */
export type ResilienceView = ResilienceSnapshot;
export type ClusterView = ClusterResilience;
export type EndpointView = EndpointResilience;

export async function resilience(adminUrl: string): Promise<ResilienceView> {
  const r = await adminGet(adminUrl, '/resilience');
  if (r.status !== 200) throw new Error(`/resilience answered ${r.status}: ${r.body}`);
  return JSON.parse(r.body) as ResilienceView;
}

export function clusterView(view: ResilienceView, name: string): ClusterView {
  const c = view.clusters.find((x) => x.name === name);
  if (!c) throw new Error(`/resilience has no cluster ${name}: ${JSON.stringify(view.clusters.map((x) => x.name))}`);
  return c;
}

/** km_stats counters by name, from /stats. */
export async function stats(adminUrl: string): Promise<Record<string, number>> {
  const r = await adminGet(adminUrl, '/stats');
  if (r.status !== 200) throw new Error(`/stats answered ${r.status}: ${r.body}`);
  return JSON.parse(r.body) as Record<string, number>;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
