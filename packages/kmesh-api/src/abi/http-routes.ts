/**
 * RouteConfigModel → the L7 route tables of one generation (kernel/include/kmesh_l7_routes.h):
 * km_l7_vhost (LPM trie by domain), km_l7_route, km_l7_hmatch, km_l7_hnames, km_l7_dfa, and texts for
 * km_l7_text. Also the route_config_id each http listener / filter chain carries in its km_route.
 *
 * Route config ids: the model's RDS configs (model.routes) by name in code-unit order, 1..N, then the
 * inline configs of http listeners and chains in model order. Routes, header matchers and DFA states
 * are numbered densely per generation (keys {gen, index}).
 */
import { Limits, RouteActionCode } from './layout.js';
import { offsetOf, structSize } from './fields.js';
import { L7HeaderKind, L7HostKind, L7Limits, L7PathKind, L7RouteAction, l7Offset, L7Structs, L7TextLimits } from './l7-layout.js';
import { compileRegexSubset, RegexSubsetError, type Dfa } from '../http/regex-subset.js';
import type { Diagnostic } from '../diagnostics.js';
import type { ChainAction, ClusterModel, HeaderMatcherModel, HttpListenerModel, ListenerModel, MeshModel, RouteConfigModel, RouteModel } from '../model.js';

interface KernelRecord {
  key: Buffer;
  value: Buffer;
}

export interface L7Records {
  /** km_l7_vhost (LPM_TRIE): one per domain. */
  l7Vhosts: KernelRecord[];
  /** km_l7_route: {gen, index}. */
  l7Routes: KernelRecord[];
  /** km_l7_hmatch: {gen, index}. */
  l7HeaderMatches: KernelRecord[];
  /** km_l7_hnames: {gen, route config id}. */
  l7HeaderNames: KernelRecord[];
  /** km_l7_dfa: {gen, state}. */
  l7Dfa: KernelRecord[];
  /** km_l7_text (ARRAY): {u32 index} -> km_l7_text. Empty until the model carries bodies. */
  l7Texts: KernelRecord[];
  /** route config id of an http listener / chain (0 when its config is unknown: every request is a 404). */
  routeConfigIdOf(http: HttpListenerModel): number;
}

/** The route configs a model uses, with their ids. */
export function planRouteConfigs(model: MeshModel): { configs: { id: number; config: RouteConfigModel; where: string }[]; idOf(http: HttpListenerModel): number } {
  const byName = new Map<string, RouteConfigModel>();
  for (const rc of model.routes ?? []) byName.set(rc.name, rc);
  const names = [...byName.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const ids = new Map<RouteConfigModel, number>();
  const configs: { id: number; config: RouteConfigModel; where: string }[] = [];
  for (const name of names) {
    const config = byName.get(name)!;
    ids.set(config, configs.length + 1);
    configs.push({ id: configs.length + 1, config, where: `route_config(name=${name})` });
  }
  const inline = (http: HttpListenerModel | undefined, where: string) => {
    if (!http?.routeConfig || ids.has(http.routeConfig)) return;
    ids.set(http.routeConfig, configs.length + 1);
    configs.push({ id: configs.length + 1, config: http.routeConfig, where });
  };
  for (const l of model.listeners) {
    inline(l.http, `listener(name=${l.name}).route_config`);
    l.filterChains?.forEach((c) => {
      if (c.action.kind === 'http') inline(c.action.http, `listener(name=${l.name}).filter_chain(name=${c.name}).route_config`);
    });
  }
  const idOf = (http: HttpListenerModel): number => {
    if (http.routeConfig) return ids.get(http.routeConfig) ?? 0;
    const named = http.routeConfigName !== undefined ? byName.get(http.routeConfigName) : undefined;
    return named ? ids.get(named)! : 0;
  };
  return { configs, idOf };
}

// --- validation (before anything is encoded) -------------------------------------------------

type DomainKind = keyof typeof L7HostKind;

/** km_l7_text blocks: KMESH_MAX_L7_TEXTS slots split into 4 blocks of 1023 texts (slot 0 of the map unused). */
const textBlocks = 4;
export const textsPerGeneration = L7TextLimits.texts / textBlocks - 1;

/** How a domain is matched: `*`, `*.suffix`, `prefix.*` or exact; undefined when Envoy would reject it. */
export function domainKind(domain: string): { kind: DomainKind; bytes: string } | undefined {
  const d = domain.toLowerCase();
  if (d === '*') return { kind: 'ANY', bytes: '' };
  const stars = d.split('*').length - 1;
  if (stars === 0) return { kind: 'EXACT', bytes: d };
  if (stars > 1) return undefined;
  if (d.startsWith('*')) return { kind: 'SUFFIX', bytes: [...d.slice(1)].reverse().join('') };
  if (d.endsWith('*')) return { kind: 'PREFIX', bytes: d.slice(0, -1) };
  return undefined;
}

const byteLength = (s: string) => Buffer.byteLength(s, 'utf8');

function checkHeaderMatcher(h: HeaderMatcherModel, at: string, out: Diagnostic[]): void {
  const err = (path: string, message: string) => out.push({ severity: 'error', path, message });
  if (byteLength(h.name) > L7Limits.headerNameMax) err(`${at}.name`, `header name of ${byteLength(h.name)} bytes is longer than ${L7Limits.headerNameMax}, the most the kernel compares`);
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(h.name)) err(`${at}.name`, `"${h.name}" is not an HTTP header name the kernel can match (pseudo-headers like :authority are not supported)`);
  if (h.kind === 'regex') {
    try {
      compileRegexSubset(h.value ?? '');
    } catch (e) {
      if (e instanceof RegexSubsetError) err(`${at}.safe_regex_match.regex`, e.message);
      else throw e;
    }
  } else if (h.kind !== 'present' && byteLength(h.value ?? '') > L7Limits.matchValueMax) {
    err(`${at}`, `header match value of ${byteLength(h.value ?? '')} bytes is longer than ${L7Limits.matchValueMax}`);
  }
}

/**
 * Everything about a RouteConfiguration the kernel cannot evaluate exactly, as errors at their paths
 * (a NACK reason). `path` names the route configuration.
 */
export function checkRouteConfigForKernel(rc: RouteConfigModel, path: string): Diagnostic[] {
  const out: Diagnostic[] = [];
  const err = (p: string, message: string) => out.push({ severity: 'error', path: p, message });
  const names = new Set<string>();
  const domains = new Map<string, string>();
  rc.virtualHosts.forEach((vh, i) => {
    const at = `${path}.virtual_hosts[${i}](name=${vh.name})`;
    if (vh.routes.length > L7Limits.maxRoutesPerVhost) err(`${at}.routes`, `${vh.routes.length} routes is more than ${L7Limits.maxRoutesPerVhost} per virtual host`);
    vh.domains.forEach((domain, j) => {
      const dp = `${at}.domains[${j}]`;
      const kind = domainKind(domain);
      if (!kind) err(dp, `domain "${domain}" has a wildcard the kernel cannot match (only "*", "*.suffix" and "prefix.*")`);
      else if (byteLength(kind.bytes) > L7Limits.domainMax) err(dp, `domain of ${byteLength(kind.bytes)} bytes is longer than ${L7Limits.domainMax}`);
      else if (!/^[\x21-\x7e]*$/.test(kind.bytes)) err(dp, `domain "${domain}" has bytes a Host header cannot hold`);
      const key = `${kind?.kind}:${kind?.bytes}`;
      if (kind && domains.has(key)) err(dp, `domain "${domain}" is also in ${domains.get(key)}: Envoy rejects duplicate domains`);
      if (kind) domains.set(key, at);
    });
    vh.routes.forEach((r, j) => {
      const rp = `${at}.routes[${j}]${r.name ? `(name=${r.name})` : ''}`;
      const m = r.match;
      const path = m.prefix ?? m.path;
      if (path !== undefined && byteLength(path) > L7Limits.pathMax) err(`${rp}.match`, `path of ${byteLength(path)} bytes is longer than ${L7Limits.pathMax}, the parse limit`);
      if (m.safeRegex !== undefined) {
        try {
          compileRegexSubset(m.safeRegex);
        } catch (e) {
          if (e instanceof RegexSubsetError) err(`${rp}.match.safe_regex.regex`, e.message);
          else throw e;
        }
      }
      if (m.headers.length > L7Limits.maxHeaderMatchers) err(`${rp}.match.headers`, `${m.headers.length} header matchers is more than ${L7Limits.maxHeaderMatchers} per route`);
      m.headers.forEach((h, k) => {
        checkHeaderMatcher(h, `${rp}.match.headers[${k}](name=${h.name})`, out);
        names.add(h.name.toLowerCase());
      });
      const text = r.action.kind === 'direct_response' ? r.action.body : r.action.kind === 'redirect' ? r.action.location : undefined;
      if (text !== undefined && byteLength(text) > L7TextLimits.textMax) {
        err(`${rp}.${r.action.kind}`, `${r.action.kind === 'redirect' ? 'the Location' : 'the body'} of ${byteLength(text)} bytes is longer than ${L7TextLimits.textMax}, the most the relay serves`);
      }
      if (r.action.kind === 'weighted') {
        const used = r.action.route.clusters.filter((c) => c.weight > 0);
        if (used.length === 0) err(`${rp}.route.weighted_clusters`, 'no cluster has a weight above 0');
        if (used.length > Limits.weightedClusters) err(`${rp}.route.weighted_clusters`, `${used.length} clusters is more than ${Limits.weightedClusters}`);
      }
    });
  });
  if (names.size > L7Limits.maxHeaderNames) {
    err(path, `the routes match on ${names.size} different header names (${[...names].join(', ')}); the kernel records at most ${L7Limits.maxHeaderNames} per route configuration`);
  }
  return out;
}

/** checkRouteConfigForKernel for every route config the model uses, plus the per-generation totals. */
export function checkL7Capacity(model: MeshModel): Diagnostic[] {
  const plan = planRouteConfigs(model);
  const out: Diagnostic[] = [];
  let routes = 0;
  let dfaStates = 0;
  for (const { config, where } of plan.configs) {
    out.push(...checkRouteConfigForKernel(config, where));
    for (const vh of config.virtualHosts) {
      routes += vh.routes.length;
      for (const r of vh.routes) {
        for (const re of [r.match.safeRegex, ...r.match.headers.filter((h) => h.kind === 'regex').map((h) => h.value ?? '')]) {
          if (re === undefined) continue;
          try {
            dfaStates += compileRegexSubset(re).accept.length;
          } catch {
            // reported above
          }
        }
      }
    }
  }
  if (plan.configs.length > L7Limits.maxRouteConfigs / 2) out.push({ severity: 'error', path: 'route_configs', message: `${plan.configs.length} route configurations is more than ${L7Limits.maxRouteConfigs / 2} per generation` });
  if (plan.configs.length > 0xffff) out.push({ severity: 'error', path: 'route_configs', message: 'more than 65535 route configurations' });
  if (routes > L7Limits.maxRoutes / 2) out.push({ severity: 'error', path: 'route_configs', message: `${routes} routes is more than ${L7Limits.maxRoutes / 2} per generation` });
  if (dfaStates >= L7Limits.maxDfaStates) out.push({ severity: 'error', path: 'route_configs', message: `the regexes need ${dfaStates} DFA states, more than ${L7Limits.maxDfaStates - 1} per generation` });
  return out;
}

// --- encoding -------------------------------------------------------------------------------

function indexKey(gen: number, index: number): Buffer {
  const key = Buffer.alloc(L7Structs.km_l7_index_key.size);
  key.writeUInt32LE(gen, l7Offset('km_l7_index_key', 'gen'));
  key.writeUInt32LE(index, l7Offset('km_l7_index_key', 'index'));
  return key;
}

/** A km_l7_vhost key: prefixlen = 64 + 8 * stored bytes (+1 terminator for EXACT). */
export function encodeVhostKey(gen: number, routeConfigId: number, kind: DomainKind, bytes: string): Buffer {
  const key = Buffer.alloc(L7Structs.km_l7_vhost_key.size);
  const host = Buffer.from(bytes, 'latin1');
  const stored = kind === 'EXACT' ? host.length + 1 : host.length;
  if (stored > L7Limits.domainBytes) throw new RangeError(`domain "${bytes}" does not fit the ${L7Limits.domainBytes}-byte trie key`);
  key.writeUInt32LE(L7Limits.vhostKeyHeaderBits + stored * 8, l7Offset('km_l7_vhost_key', 'prefixlen'));
  key.writeUInt32LE(gen, l7Offset('km_l7_vhost_key', 'gen'));
  key.writeUInt16LE(routeConfigId, l7Offset('km_l7_vhost_key', 'route_config_id'));
  key.writeUInt8(L7HostKind[kind], l7Offset('km_l7_vhost_key', 'kind'));
  host.copy(key, l7Offset('km_l7_vhost_key', 'host'));
  return key;
}

function encodeVhostValue(first: number, count: number, index: number): Buffer {
  const v = Buffer.alloc(L7Structs.km_l7_vhost.size);
  v.writeUInt32LE(first, l7Offset('km_l7_vhost', 'route_first'));
  v.writeUInt32LE(count, l7Offset('km_l7_vhost', 'route_count'));
  v.writeUInt32LE(index, l7Offset('km_l7_vhost', 'vhost_index'));
  return v;
}

function encodeDfa(gen: number, base: number, dfa: Dfa, out: KernelRecord[]): void {
  dfa.accept.forEach((accept, s) => {
    const v = Buffer.alloc(L7Structs.km_l7_dfa_state.size);
    const row = dfa.next[s]!;
    for (let b = 0; b < 256; b++) v.writeUInt16LE(row[b]! < 0 ? L7Limits.dfaDead : base + row[b]!, l7Offset('km_l7_dfa_state', 'next') + b * 2);
    v.writeUInt32LE(accept ? 1 : 0, l7Offset('km_l7_dfa_state', 'accept'));
    out.push({ key: indexKey(gen, base + s), value: v });
  });
}

/** The weighted clusters of an L7 route as a km_route (action TCP_PROXY); unknown clusters get id 0 (503). */
function writeClusters(v: Buffer, at: number, clusters: { name: string; weight: number }[], clusterIds: ReadonlyMap<string, number>, timeouts: ReadonlyMap<string, number>): void {
  const used = clusters.filter((c) => c.weight > 0).slice(0, Limits.weightedClusters);
  let sum = 0;
  v.writeUInt32LE(RouteActionCode.TCP_PROXY, at + offsetOf('km_route', 'action'));
  v.writeUInt32LE(used.length, at + offsetOf('km_route', 'cluster_count'));
  used.forEach((c, i) => {
    sum += c.weight;
    v.writeUInt32LE(clusterIds.get(c.name) ?? 0, at + offsetOf('km_route', 'cluster_ids') + i * 4);
    v.writeUInt32LE(sum, at + offsetOf('km_route', 'cum_weights') + i * 4);
    v.writeUInt32LE(timeouts.get(c.name) ?? 0, l7Offset('km_l7_route', 'connect_timeout_ms') + i * 4);
  });
  v.writeUInt32LE(sum, at + offsetOf('km_route', 'total_weight'));
}

const headerKindCode: Record<HeaderMatcherModel['kind'], number> = {
  exact: L7HeaderKind.EXACT,
  prefix: L7HeaderKind.PREFIX,
  suffix: L7HeaderKind.SUFFIX,
  contains: L7HeaderKind.CONTAINS,
  present: L7HeaderKind.PRESENT,
  regex: L7HeaderKind.REGEX,
};

class L7Encoder {
  readonly records: Omit<L7Records, 'routeConfigIdOf'> = { l7Vhosts: [], l7Routes: [], l7HeaderMatches: [], l7HeaderNames: [], l7Dfa: [], l7Texts: [] };
  private nextRoute = 0;
  private nextHeader = 0;
  private nextDfa = 0;

  constructor(
    private readonly gen: number,
    private readonly clusterIds: ReadonlyMap<string, number>,
    private readonly timeouts: ReadonlyMap<string, number>,
  ) {}

  /**
   * km_l7_text index of a body or Location. km_l7_text is an ARRAY (entries are overwritten, never
   * deleted), so each generation writes its texts into its own block of textsPerGeneration slots,
   * chosen by gen % textBlocks: the texts of the generations still inside their grace period are
   * never overwritten unless textBlocks applies happen within one grace period. Index 0 is unused.
   */
  private text(value: string): number {
    let index = this.textIds.get(value);
    if (index !== undefined) return index;
    if (this.textIds.size >= textsPerGeneration) throw new RangeError(`generation ${this.gen} has more than ${textsPerGeneration} direct-response bodies and redirect locations`);
    index = (this.gen % textBlocks) * (textsPerGeneration + 1) + 1 + this.textIds.size;
    this.textIds.set(value, index);
    const key = Buffer.alloc(4);
    key.writeUInt32LE(index);
    this.records.l7Texts.push({ key, value: encodeL7Text(value) });
    return index;
  }

  private readonly textIds = new Map<string, number>();

  private dfa(pattern: string): number {
    const dfa = compileRegexSubset(pattern);
    const base = this.nextDfa;
    if (base + dfa.accept.length >= L7Limits.maxDfaStates) throw new RangeError(`the regexes of generation ${this.gen} need more than ${L7Limits.maxDfaStates - 1} DFA states`);
    encodeDfa(this.gen, base, dfa, this.records.l7Dfa);
    this.nextDfa += dfa.accept.length;
    return base;
  }

  routeConfig(id: number, rc: RouteConfigModel, where: string): void {
    const problems = checkRouteConfigForKernel(rc, where);
    if (problems.length > 0) throw new RangeError(problems.map((p) => `${p.path}: ${p.message}`).join('; '));
    const names = [...new Set(rc.virtualHosts.flatMap((vh) => vh.routes.flatMap((r) => r.match.headers.map((h) => h.name.toLowerCase()))))];
    if (names.length > 0) {
      const v = Buffer.alloc(L7Structs.km_l7_header_names.size);
      v.writeUInt32LE(names.length, l7Offset('km_l7_header_names', 'count'));
      names.forEach((n, i) => {
        v.writeUInt32LE(Buffer.byteLength(n, 'latin1'), l7Offset('km_l7_header_names', 'name_len') + i * 4);
        Buffer.from(n, 'latin1').copy(v, l7Offset('km_l7_header_names', 'names') + i * L7Limits.headerNameMax);
      });
      const key = Buffer.alloc(L7Structs.km_l7_rc_key.size);
      key.writeUInt32LE(this.gen, l7Offset('km_l7_rc_key', 'gen'));
      key.writeUInt32LE(id, l7Offset('km_l7_rc_key', 'route_config_id'));
      this.records.l7HeaderNames.push({ key, value: v });
    }
    rc.virtualHosts.forEach((vh, index) => {
      const first = this.nextRoute;
      for (const r of vh.routes) this.route(r, names);
      const value = encodeVhostValue(first, vh.routes.length, index);
      for (const domain of vh.domains) {
        const kind = domainKind(domain)!;
        this.records.l7Vhosts.push({ key: encodeVhostKey(this.gen, id, kind.kind, kind.bytes), value });
      }
    });
  }

  private route(r: RouteModel, names: string[]): void {
    const v = Buffer.alloc(L7Structs.km_l7_route.size);
    const m = r.match;
    if (m.safeRegex !== undefined) {
      v.writeUInt8(L7PathKind.REGEX, l7Offset('km_l7_route', 'path_kind'));
      v.writeUInt32LE(this.dfa(m.safeRegex), l7Offset('km_l7_route', 'dfa_start'));
    } else {
      const exact = m.path !== undefined;
      const text = (exact ? m.path : m.prefix) ?? '/';
      const bytes = Buffer.from(m.caseSensitive ? text : text.toLowerCase(), 'utf8');
      v.writeUInt8(exact ? L7PathKind.EXACT : L7PathKind.PREFIX, l7Offset('km_l7_route', 'path_kind'));
      v.writeUInt8(m.caseSensitive ? 0 : 1, l7Offset('km_l7_route', 'case_insensitive'));
      v.writeUInt16LE(bytes.length, l7Offset('km_l7_route', 'path_len'));
      bytes.copy(v, l7Offset('km_l7_route', 'path'));
    }
    v.writeUInt32LE(this.nextHeader, l7Offset('km_l7_route', 'header_first'));
    v.writeUInt32LE(m.headers.length, l7Offset('km_l7_route', 'header_count'));
    for (const h of m.headers) this.headerMatcher(h, names.indexOf(h.name.toLowerCase()));
    const action = r.action;
    const clustersAt = l7Offset('km_l7_route', 'clusters');
    switch (action.kind) {
      case 'cluster':
        v.writeUInt32LE(L7RouteAction.CLUSTERS, l7Offset('km_l7_route', 'action'));
        writeClusters(v, clustersAt, [{ name: action.cluster, weight: 1 }], this.clusterIds, this.timeouts);
        break;
      case 'weighted':
        v.writeUInt32LE(L7RouteAction.CLUSTERS, l7Offset('km_l7_route', 'action'));
        writeClusters(v, clustersAt, action.route.clusters, this.clusterIds, this.timeouts);
        break;
      case 'direct_response':
        v.writeUInt32LE(L7RouteAction.DIRECT_RESPONSE, l7Offset('km_l7_route', 'action'));
        v.writeUInt32LE(action.status, l7Offset('km_l7_route', 'status'));
        if (action.body !== undefined) v.writeUInt32LE(this.text(action.body), l7Offset('km_l7_route', 'body_id'));
        break;
      case 'redirect':
        // Envoy's default response code; the Location (when the redirect names one) as a text.
        v.writeUInt32LE(L7RouteAction.REDIRECT, l7Offset('km_l7_route', 'action'));
        v.writeUInt32LE(action.status ?? 301, l7Offset('km_l7_route', 'status'));
        if (action.location !== undefined) v.writeUInt32LE(this.text(action.location), l7Offset('km_l7_route', 'body_id'));
        break;
    }
    this.records.l7Routes.push({ key: indexKey(this.gen, this.nextRoute++), value: v });
  }

  private headerMatcher(h: HeaderMatcherModel, slot: number): void {
    const v = Buffer.alloc(L7Structs.km_l7_header_match.size);
    v.writeUInt8(slot, l7Offset('km_l7_header_match', 'slot'));
    v.writeUInt8(headerKindCode[h.kind], l7Offset('km_l7_header_match', 'kind'));
    v.writeUInt8(h.invert ? 1 : 0, l7Offset('km_l7_header_match', 'invert'));
    if (h.kind === 'regex') {
      v.writeUInt32LE(this.dfa(h.value ?? ''), l7Offset('km_l7_header_match', 'dfa_start'));
    } else if (h.kind !== 'present') {
      const bytes = Buffer.from(h.value ?? '', 'utf8');
      v.writeUInt32LE(bytes.length, l7Offset('km_l7_header_match', 'value_len'));
      bytes.copy(v, l7Offset('km_l7_header_match', 'value'));
    }
    this.records.l7HeaderMatches.push({ key: indexKey(this.gen, this.nextHeader++), value: v });
  }
}

/** Every L7 route-table record of generation gen. Throws RangeError naming the resource when a config does not fit. */
export function encodeL7Records(model: MeshModel, gen: number, clusterIds: ReadonlyMap<string, number>): L7Records {
  const plan = planRouteConfigs(model);
  const timeouts = new Map<string, number>();
  for (const c of model.clusters as ClusterModel[]) if (c.connectTimeoutMs !== undefined) timeouts.set(c.name, Math.min(c.connectTimeoutMs, 0xffffffff));
  const encoder = new L7Encoder(gen, clusterIds, timeouts);
  for (const { id, config, where } of plan.configs) encoder.routeConfig(id, config, where);
  return { ...encoder.records, routeConfigIdOf: plan.idOf };
}

/** Writes route_config_id into the km_route values of http listeners and chains (encodeModel's records, same order). */
export function stampRouteConfigIds(
  exactListeners: readonly ListenerModel[],
  listenerRecords: readonly KernelRecord[],
  chainActions: readonly (ChainAction | { kind: 'no_chain' })[],
  chainRecords: readonly KernelRecord[],
  idOf: (http: HttpListenerModel) => number,
): void {
  const at = offsetOf('km_route', 'route_config_id');
  exactListeners.forEach((l, i) => {
    if (l.http) listenerRecords[i]!.value.writeUInt32LE(idOf(l.http), at);
  });
  chainActions.forEach((a, i) => {
    if (a.kind === 'http') chainRecords[i]!.value.writeUInt32LE(idOf(a.http), at);
  });
  void structSize;
}

/** A km_l7_text value (body or Location), for when the model carries them. */
export function encodeL7Text(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length > L7TextLimits.textMax) throw new RangeError(`text of ${bytes.length} bytes is longer than ${L7TextLimits.textMax}`);
  const v = Buffer.alloc(L7Structs.km_l7_text.size);
  v.writeUInt32LE(bytes.length, l7Offset('km_l7_text', 'len'));
  bytes.copy(v, l7Offset('km_l7_text', 'text'));
  return v;
}

/** The generation of a km_l7_vhost key (after its LPM prefix length). */
export function generationOfL7VhostKey(key: Buffer): number {
  if (key.length !== L7Structs.km_l7_vhost_key.size) throw new RangeError(`km_l7_vhost_key is ${L7Structs.km_l7_vhost_key.size} bytes, got a buffer of ${key.length}`);
  return key.readUInt32LE(l7Offset('km_l7_vhost_key', 'gen'));
}
