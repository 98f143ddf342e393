/**
 * Listener drafts + the clusters (and, for xDS, the route configurations) →
 * ListenerModel. Shared by the bootstrap translator and the per-resource xDS
 * translator, so both decide the same way:
 *   - a tcp_proxy to an ORIGINAL_DST cluster is a passthrough;
 *   - a tcp_proxy to a STATIC cluster without endpoints (Istio's BlackHoleCluster)
 *     is a blackhole on a wildcard listener's chain;
 *   - an exact-address listener takes the chain the kernel would pick for its
 *     own address (chains that need the connection's bytes are skipped);
 *   - HTTP chains keep their route configuration: the L7 path routes them per request (docs/l7.md).
 */
import { Diagnostics, field } from './diagnostics.js';
import type { ChainAction, ClusterModel, FilterChainModel, ListenerModel, RouteConfigModel, WeightedRoute } from './model.js';
import type { ChainDraft, ListenerDraft } from './resources/listener.js';
import { formatSocketAddress, parseIp } from './resources/address.js';
import { usableEndpoints } from './endpoints.js';

export interface ClusterCatalog {
  /** Accepted clusters: in the model. */
  models: Map<string, ClusterModel>;
  /** ORIGINAL_DST clusters: connections keep their destination; not in the model. */
  passthrough: Set<string>;
  /** Every cluster defined, whatever became of it. */
  defined: Set<string>;
  /** EDS clusters whose ClusterLoadAssignment has not arrived (xDS only). */
  warming: Set<string>;
  /** xDS: a reference to a rejected cluster is the listener's error too (a bootstrap fails as a whole anyway). */
  rejectedIsError: boolean;
}

export interface RouteCatalog {
  /** Accepted route configurations by name. */
  accepted: Map<string, RouteConfigModel>;
  /** Defined but rejected. */
  rejected: Set<string>;
}

/** 'left_out': accepted, and leaving it out of the model has the same effect (connections keep their destination). */
export type Resolved = { kind: 'ok'; model: ListenerModel } | { kind: 'left_out' } | { kind: 'warming'; reasons: string[] } | { kind: 'error' };

export function namesList(names: Iterable<string>): string {
  const all = [...names];
  if (all.length === 0) return 'no cluster is defined';
  const shown = all.slice(0, 10).join(', ');
  return `defined clusters: ${shown}${all.length > 10 ? `, ... (${all.length} in all)` : ''}`;
}

interface Ctx {
  clusters: ClusterCatalog;
  /** Undefined in a bootstrap: there RDS names are kept as they are. */
  routes: RouteCatalog | undefined;
  d: Diagnostics;
  warming: string[];
  listener: ListenerDraft;
}

function resolveTcpProxy(chain: ChainDraft & { terminal: { kind: 'tcp_proxy' } }, ctx: Ctx): ChainAction | undefined {
  const { clusters, d, listener } = ctx;
  const { route, refs } = chain.terminal;
  const before = d.errors.length;
  for (const ref of refs) {
    if (clusters.passthrough.has(ref.name)) {
      if (route.clusters.length > 1) d.error(ref.path, `cluster "${ref.name}" is ORIGINAL_DST (a passthrough): it cannot take a share of weighted_clusters`);
      continue;
    }
    if (!clusters.defined.has(ref.name)) {
      d.error(ref.path, `cluster "${ref.name}" is not defined; ${namesList(clusters.defined)}`);
      continue;
    }
    if (clusters.warming.has(ref.name)) {
      ctx.warming.push(`cluster "${ref.name}" is warming: its ClusterLoadAssignment has not arrived`);
      continue;
    }
    const cluster = clusters.models.get(ref.name);
    if (!cluster) {
      if (clusters.rejectedIsError) d.error(ref.path, `cluster "${ref.name}" was rejected (see its own errors): the listener cannot route to it`);
      continue;
    }
    // The kernel writes an IPv4 endpoint into an IPv6 socket as v4-mapped; the other way has no encoding.
    const v6 = listener.address.family === 4 ? cluster.endpoints.find((e) => e.address.family === 6) : undefined;
    if (v6) {
      d.error(
        ref.path,
        `IPv4 listener ${formatSocketAddress(listener.address)} cannot route to IPv6 endpoint ${formatSocketAddress(v6.address)} of cluster "${ref.name}": an IPv4 connect() cannot be rewritten to an IPv6 address`,
      );
    }
  }
  if (d.errors.length !== before) return undefined;
  if (route.clusters.length === 1 && clusters.passthrough.has(route.clusters[0]!.name)) return { kind: 'passthrough' };
  const only = route.clusters.length === 1 ? clusters.models.get(route.clusters[0]!.name) : undefined;
  if (only && only.discovery === 'STATIC' && only.endpoints.length === 0) return { kind: 'blackhole' };
  return { kind: 'tcp_proxy', route };
}

function resolveHttp(chain: ChainDraft & { terminal: { kind: 'http' } }, ctx: Ctx): ChainAction {
  const { http, routeRefs } = chain.terminal;
  const name = http.routeConfigName;
  if (name !== undefined && ctx.routes) {
    if (ctx.routes.rejected.has(name)) ctx.warming.push(`route configuration "${name}" was rejected (see its own errors)`);
    else if (!ctx.routes.accepted.has(name)) ctx.warming.push(`route configuration "${name}" has not arrived (RDS)`);
  }
  for (const ref of routeRefs) {
    if (!ctx.clusters.defined.has(ref.name)) ctx.d.warn(ref.path, `cluster "${ref.name}" is not defined: Envoy would answer these requests with 503 (the L7 path answers these requests with 503)`);
  }
  return { kind: 'http', http };
}

function resolveChain(chain: ChainDraft, ctx: Ctx): ChainAction | undefined {
  return chain.terminal.kind === 'tcp_proxy'
    ? resolveTcpProxy(chain as ChainDraft & { terminal: { kind: 'tcp_proxy' } }, ctx)
    : resolveHttp(chain as ChainDraft & { terminal: { kind: 'http' } }, ctx);
}

function contains(range: FilterChainModel['match']['prefixRanges'][number], ip: string): boolean {
  const a = parseIp(range.ip);
  const b = parseIp(ip);
  if (!a || !b || a.family !== b.family) return false;
  for (let bit = 0; bit < range.prefixLen; bit++) {
    const mask = 0x80 >> (bit & 7);
    if ((a.bytes[bit >> 3]! & mask) !== (b.bytes[bit >> 3]! & mask)) return false;
  }
  return true;
}

/** The chain the kernel would take for a connect() to the listener's own address, as Envoy orders them. */
function l4ChainOfExact(draft: ListenerDraft): ChainDraft | undefined {
  const { ip, port } = draft.address;
  let best: { chain: ChainDraft; score: number } | undefined;
  for (const chain of draft.chains) {
    if (chain.isDefault || chain.notKernelMatchable !== undefined) continue;
    const m = chain.match;
    if (m.destinationPort !== undefined && m.destinationPort !== port) continue;
    const prefixes = m.prefixRanges.filter((r) => contains(r, ip)).map((r) => r.prefixLen);
    if (m.prefixRanges.length > 0 && prefixes.length === 0) continue;
    // Destination port first, then the longest prefix (Envoy's order).
    const score = (m.destinationPort !== undefined ? 1000 : 0) + (prefixes.length > 0 ? Math.max(...prefixes) + 1 : 0);
    if (!best || score > best.score) best = { chain, score };
  }
  return best?.chain ?? draft.chains.find((c) => c.isDefault);
}

function quoteList(names: string[]): string {
  return names.map((n) => `"${n}"`).join(', ');
}

/** issue 6 part A: local_ratelimit is enforced on the chain an exact listener's connections take
 * (tcp_proxy or http_connection_manager), not on the other chains or on wildcard listeners. */
function warnRateLimitNotEnforced(chains: readonly ChainDraft[], d: Diagnostics, where: string): void {
  for (const chain of chains) {
    if (chain.terminal.rateLimit) d.warn(chain.path, `envoy.filters.network.local_ratelimit on ${where} is not enforced: only the chain every connection of a listener with an exact address takes is rate limited`);
  }
}

/** The once-per-listener warning: chains the kernel cannot match by destination. (HTTP chains are routed
 * per request by the L7 path: docs/l7.md.) */
function warnNotEnforced(draft: ListenerDraft, l4: string, d: Diagnostics): void {
  const skipped = draft.chains.filter((c) => c.notKernelMatchable !== undefined);
  if (skipped.length > 0) {
    const why = skipped.map((c) => `"${c.name}": ${c.notKernelMatchable}`).join('; ');
    d.warn(field(draft.path, 'filter_chains'), `the kernel cannot match ${skipped.length === 1 ? 'chain' : 'chains'} ${why}; at connect() ${l4}`);
  }
}

function resolveWildcard(draft: ListenerDraft, ctx: Ctx): ListenerModel | undefined {
  const chains: FilterChainModel[] = [];
  for (const chain of draft.chains) {
    const action = resolveChain(chain, ctx);
    if (!action) continue;
    chains.push({ name: chain.name, match: chain.match, action, kernelMatchable: chain.notKernelMatchable === undefined });
  }
  if (ctx.d.hasErrors) return undefined;
  warnRateLimitNotEnforced(draft.chains, ctx.d, 'a chain of a wildcard listener');
  warnNotEnforced(draft, 'connections that would take them go to the other chains', ctx.d);
  const model: ListenerModel = { name: draft.name, address: draft.address, route: { clusters: [] }, filterChains: chains };
  if (draft.virtual) model.virtual = true;
  return model;
}

function resolveExact(draft: ListenerDraft, ctx: Ctx): ListenerModel | 'left_out' | undefined {
  const l4 = l4ChainOfExact(draft);
  let route: WeightedRoute = { clusters: [] };
  const model: ListenerModel = { name: draft.name, address: draft.address, route };
  for (const chain of draft.chains) {
    const action = resolveChain(chain, ctx);
    if (!action) continue;
    if (chain === l4 && action.kind === 'tcp_proxy') route = action.route;
    // The token bucket of the chain every connection takes, tcp_proxy or HTTP (checked at connect()).
    if (chain === l4 && (action.kind === 'tcp_proxy' || action.kind === 'http') && chain.terminal.rateLimit) model.rateLimit = chain.terminal.rateLimit;
    // A blackhole keeps its route to the empty cluster: the kernel refuses the connect().
    if (chain === l4 && action.kind === 'blackhole' && chain.terminal.kind === 'tcp_proxy') route = chain.terminal.route;
    if (action.kind === 'http' && model.http === undefined) model.http = action.http;
  }
  if (ctx.d.hasErrors) return undefined;
  warnRateLimitNotEnforced(draft.chains.filter((c) => c !== l4), ctx.d, 'a chain the kernel does not take');
  model.route = route;
  const what = l4 === undefined ? 'no chain applies, connections are left as dialled' : `every connection takes chain "${l4.name}"`;
  if (draft.chains.length > 1 || l4 === undefined || l4.terminal.kind === 'http') warnNotEnforced(draft, what, ctx.d);
  const used = route.clusters.filter((c) => c.weight > 0);
  const reachable = used.some((c) => {
    const cluster = ctx.clusters.models.get(c.name);
    return cluster !== undefined && usableEndpoints(cluster).endpoints.length > 0;
  });
  if (used.length > 0 && !reachable && used.every((c) => ctx.clusters.models.has(c.name))) {
    ctx.d.warn(draft.path, `no cluster of listener "${draft.name}" has an endpoint able to take connections: connects to ${formatSocketAddress(draft.address)} will be refused`);
  }
  if (route.clusters.length === 0 && model.http === undefined) {
    ctx.d.warn(draft.path, `connections to ${formatSocketAddress(draft.address)} keep the destination they dialled (passthrough, or no chain applies at connect()): the listener is left out of the model, which has the same effect`);
    return 'left_out';
  }
  return model;
}

/**
 * Resolves one listener draft. Errors go to `d` (which should hold only this
 * listener's diagnostics); warming reasons are returned, not recorded.
 */
export function resolveListener(draft: ListenerDraft, clusters: ClusterCatalog, routes: RouteCatalog | undefined, d: Diagnostics): Resolved {
  const before = d.errors.length;
  const ctx: Ctx = { clusters, routes, d, warming: [], listener: draft };
  const sub = new Diagnostics();
  ctx.d = sub;
  const model = draft.wildcard || draft.virtual ? resolveWildcard(draft, ctx) : resolveExact(draft, ctx);
  d.errors.push(...sub.errors);
  d.warnings.push(...sub.warnings);
  if (d.errors.length !== before || !model) return { kind: 'error' };
  if (ctx.warming.length > 0) return { kind: 'warming', reasons: [...new Set(ctx.warming)] };
  return model === 'left_out' ? { kind: 'left_out' } : { kind: 'ok', model };
}
