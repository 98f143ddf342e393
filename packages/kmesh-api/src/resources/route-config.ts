/**
 * envoy.config.route.v3.RouteConfiguration → RouteConfigModel.
 *
 * HTTP routes are kept in the model for the L7 path; the kernel does not
 * enforce them yet (each listener that uses them says so once). So this reader
 * is lenient: it keeps what the model can hold, reports shapes it cannot read
 * as errors at their path, and warns about match or action kinds the model
 * has no place for.
 */
import { Diagnostics, field, item } from '../diagnostics.js';
import { describe, isObject, readArray, readString, readUint, type Obj } from '../config/fields.js';
import type { HeaderMatcherModel, RouteConfigModel, RouteModel, WeightedRoute } from '../model.js';
import type { ClusterRef } from '../filters/tcp-proxy.js';
import { checkRouteConfigForKernel } from '../abi/http-routes.js';

export interface RouteConfigDraft {
  model: RouteConfigModel;
  /** Clusters the routes send requests to, for a warning when one is missing. */
  refs: ClusterRef[];
}

/** StringMatcher member → model kind. */
const stringMatchKinds: [string, HeaderMatcherModel['kind']][] = [
  ['exact', 'exact'],
  ['prefix', 'prefix'],
  ['suffix', 'suffix'],
  ['contains', 'contains'],
  ['safe_regex', 'regex'],
];

/** HeaderMatcher's older direct fields → model kind. */
const headerMatchKinds: [string, HeaderMatcherModel['kind']][] = [
  ['exact_match', 'exact'],
  ['prefix_match', 'prefix'],
  ['suffix_match', 'suffix'],
  ['contains_match', 'contains'],
  ['safe_regex_match', 'regex'],
];

function regexText(v: unknown): string | undefined {
  return isObject(v) && typeof v.regex === 'string' ? v.regex : undefined;
}

function readHeaderMatcher(raw: unknown, path: string, d: Diagnostics): HeaderMatcherModel | undefined {
  if (!isObject(raw)) {
    d.error(path, `expected a HeaderMatcher mapping, got ${describe(raw)}`);
    return undefined;
  }
  const name = readString(raw, 'name', path, d, true);
  if (name === undefined) return undefined;
  let invert = raw.invert_match === true;
  const direct = headerMatchKinds.find(([k]) => raw[k] !== undefined);
  if (direct) {
    const [key, kind] = direct;
    const value = kind === 'regex' ? regexText(raw[key]) : typeof raw[key] === 'string' ? (raw[key] as string) : undefined;
    if (value === undefined) {
      d.error(field(path, key), `expected ${kind === 'regex' ? 'a RegexMatcher {regex}' : 'a string'}, got ${describe(raw[key])}`);
      return undefined;
    }
    return { name, kind, value, invert };
  }
  if (isObject(raw.string_match)) {
    const sm = raw.string_match;
    const member = stringMatchKinds.find(([k]) => sm[k] !== undefined);
    if (!member) {
      d.error(field(path, 'string_match'), 'string_match needs one of exact, prefix, suffix, contains, safe_regex');
      return undefined;
    }
    const [key, kind] = member;
    const value = kind === 'regex' ? regexText(sm[key]) : typeof sm[key] === 'string' ? (sm[key] as string) : undefined;
    if (value === undefined) {
      d.error(field(field(path, 'string_match'), key), `expected ${kind === 'regex' ? 'a RegexMatcher {regex}' : 'a string'}, got ${describe(sm[key])}`);
      return undefined;
    }
    if (sm.ignore_case === true) d.warn(field(field(path, 'string_match'), 'ignore_case'), 'ignore_case is not kept in the model: the header value is compared case-sensitively');
    return { name, kind, value, invert };
  }
  if (raw.present_match !== undefined) {
    // present_match: false means "absent", the same as an inverted presence match.
    if (raw.present_match === false) invert = !invert;
    return { name, kind: 'present', invert };
  }
  if (raw.range_match !== undefined) {
    d.warn(field(path, 'range_match'), 'range_match is not kept in the model: the route is kept as if the header only had to be present');
    return { name, kind: 'present', invert };
  }
  // No match specifier: Envoy matches when the header is present.
  return { name, kind: 'present', invert };
}

function readWeightedClusters(raw: Obj, path: string, d: Diagnostics, refs: ClusterRef[]): WeightedRoute | undefined {
  const list = readArray(raw, 'clusters', path, d, true);
  if (!list) return undefined;
  const route: WeightedRoute = { clusters: [] };
  list.forEach((c, i) => {
    const at = item(field(path, 'clusters'), i);
    if (!isObject(c)) {
      d.error(at, `expected a ClusterWeight mapping {name, weight}, got ${describe(c)}`);
      return;
    }
    const name = readString(c, 'name', at, d, true);
    const weight = readUint(c, 'weight', at, d) ?? 0;
    if (name === undefined) return;
    refs.push({ name, path: field(at, 'name') });
    route.clusters.push({ name, weight });
  });
  return route;
}

function readRouteAction(raw: Obj, path: string, d: Diagnostics, refs: ClusterRef[]): RouteModel['action'] | undefined {
  if (isObject(raw.route)) {
    const ra = raw.route;
    const at = field(path, 'route');
    if (typeof ra.cluster === 'string') {
      refs.push({ name: ra.cluster, path: field(at, 'cluster') });
      return { kind: 'cluster', cluster: ra.cluster };
    }
    if (isObject(ra.weighted_clusters)) {
      const route = readWeightedClusters(ra.weighted_clusters, field(at, 'weighted_clusters'), d, refs);
      return route ? { kind: 'weighted', route } : undefined;
    }
    const other = ['cluster_header', 'cluster_specifier_plugin', 'inline_cluster_specifier_plugin'].find((k) => ra[k] !== undefined);
    d.warn(at, `${other ?? 'a route action without cluster or weighted_clusters'} is not kept in the model: the route is left out`);
    return undefined;
  }
  if (isObject(raw.direct_response)) {
    const status = readUint(raw.direct_response, 'status', field(path, 'direct_response'), d, { min: 100, max: 599, required: true });
    if (status === undefined) return undefined;
    // issue 4: an inline body is served by the L7 relay (km_l7_text); other body sources are not read.
    const body = raw.direct_response.body;
    if (isObject(body) && typeof body.inline_string === 'string') return { kind: 'direct_response', status, body: body.inline_string };
    if (body !== undefined) d.warn(field(field(path, 'direct_response'), 'body'), 'only body.inline_string is served: the response has no body');
    return { kind: 'direct_response', status };
  }
  if (raw.redirect !== undefined) return readRedirect(raw.redirect, field(path, 'redirect'), d);
  const other = ['filter_action', 'non_forwarding_action'].find((k) => raw[k] !== undefined);
  d.warn(path, `${other ?? 'a route without route, redirect or direct_response'} is not kept in the model: the route is left out`);
  return undefined;
}

/** RedirectAction's response code names (Envoy's enum) → status. */
const redirectCodes: Record<string, number> = { MOVED_PERMANENTLY: 301, FOUND: 302, SEE_OTHER: 303, TEMPORARY_REDIRECT: 307, PERMANENT_REDIRECT: 308 };

/**
 * issue 4: a redirect as the L7 relay answers it: status and an absolute Location when the redirect names
 * a host, else the path. Envoy fills the parts the redirect leaves out from the request; the kernel does
 * not keep the request, so such a redirect carries only what it names (documented in docs/l7.md).
 */
function readRedirect(raw: unknown, path: string, d: Diagnostics): RouteModel['action'] {
  if (!isObject(raw)) return { kind: 'redirect' };
  const code = raw.response_code;
  const status = typeof code === 'string' ? redirectCodes[code] : typeof code === 'number' ? [301, 302, 303, 307, 308][code] : 301;
  if (status === undefined) d.warn(field(path, 'response_code'), `unknown response_code ${String(code)}: 301 is used`);
  const host = typeof raw.host_redirect === 'string' ? raw.host_redirect : undefined;
  const port = typeof raw.port_redirect === 'number' ? `:${raw.port_redirect}` : '';
  const scheme = typeof raw.scheme_redirect === 'string' ? raw.scheme_redirect : raw.https_redirect === true ? 'https' : 'http';
  const p = typeof raw.path_redirect === 'string' ? raw.path_redirect : typeof raw.prefix_rewrite === 'string' ? raw.prefix_rewrite : '';
  const location = host !== undefined ? `${scheme}://${host}${port}${p}` : p || undefined;
  return { kind: 'redirect', status: status ?? 301, ...(location !== undefined ? { location } : {}) };
}

function readRouteMatch(raw: unknown, path: string, d: Diagnostics): RouteModel['match'] | undefined {
  if (!isObject(raw)) {
    d.error(path, `expected a RouteMatch mapping, got ${describe(raw)}`);
    return undefined;
  }
  // case_sensitive is a BoolValue: true unless given as false.
  const match: RouteModel['match'] = { caseSensitive: raw.case_sensitive !== false, headers: [] };
  if (typeof raw.prefix === 'string') match.prefix = raw.prefix;
  else if (typeof raw.path === 'string') match.path = raw.path;
  else if (regexText(raw.safe_regex) !== undefined) match.safeRegex = regexText(raw.safe_regex)!;
  else if (typeof raw.path_separated_prefix === 'string') {
    // Matches the prefix followed by "/", "?" or the end: kept as the prefix (routes are not enforced yet).
    match.prefix = raw.path_separated_prefix;
  } else {
    const other = ['connect_matcher', 'path_match_policy'].find((k) => raw[k] !== undefined);
    d.warn(path, `${other ?? 'a match without prefix, path or safe_regex'} is not kept in the model: the route is left out`);
    return undefined;
  }
  (readArray(raw, 'headers', path, d) ?? []).forEach((h, i) => {
    const header = readHeaderMatcher(h, item(field(path, 'headers'), i, isObject(h) && typeof h.name === 'string' ? h.name : undefined), d);
    if (header) match.headers.push(header);
  });
  if (Array.isArray(raw.query_parameters) && raw.query_parameters.length > 0) {
    d.warn(field(path, 'query_parameters'), 'query_parameters matches are not kept in the model');
  }
  return match;
}

/** Reads a RouteConfiguration (an RDS resource or HCM's inline route_config) at `path`. */
export function readRouteConfiguration(raw: unknown, path: string, d: Diagnostics, fallbackName?: string): RouteConfigDraft | undefined {
  if (!isObject(raw)) {
    d.error(path, `expected a RouteConfiguration mapping, got ${describe(raw)}`);
    return undefined;
  }
  const before = d.errors.length;
  const name = readString(raw, 'name', path, d) ?? fallbackName ?? '';
  const model: RouteConfigModel = { name, virtualHosts: [] };
  const refs: ClusterRef[] = [];
  if (raw.vhds !== undefined) d.warn(field(path, 'vhds'), 'virtual host discovery (VHDS) is not supported: only the inline virtual_hosts are kept');
  const hostsPath = field(path, 'virtual_hosts');
  (readArray(raw, 'virtual_hosts', path, d) ?? []).forEach((vh, i) => {
    const vhName = isObject(vh) && typeof vh.name === 'string' ? vh.name : undefined;
    const at = item(hostsPath, i, vhName);
    if (!isObject(vh)) {
      d.error(at, `expected a VirtualHost mapping, got ${describe(vh)}`);
      return;
    }
    const domains: string[] = [];
    (readArray(vh, 'domains', at, d) ?? []).forEach((dom, j) => {
      if (typeof dom === 'string') domains.push(dom);
      else d.error(item(field(at, 'domains'), j), `expected a string, got ${describe(dom)}`);
    });
    const routes: RouteModel[] = [];
    (readArray(vh, 'routes', at, d) ?? []).forEach((r, j) => {
      const routeName = isObject(r) && typeof r.name === 'string' ? r.name : undefined;
      const rp = item(field(at, 'routes'), j, routeName);
      if (!isObject(r)) {
        d.error(rp, `expected a Route mapping, got ${describe(r)}`);
        return;
      }
      const match = readRouteMatch(r.match, field(rp, 'match'), d);
      const action = match ? readRouteAction(r, rp, d, refs) : undefined;
      if (!match || !action) return;
      const route: RouteModel = { match, action };
      if (routeName !== undefined) route.name = routeName;
      routes.push(route);
    });
    model.virtualHosts.push({ name: vhName ?? '', domains, routes });
  });
  // issue 4: what the kernel's L7 path cannot evaluate exactly is rejected here, with the reason.
  if (d.errors.length === before) for (const p of checkRouteConfigForKernel(model, path)) d.error(p.path, p.message);
  return d.errors.length === before ? { model, refs } : undefined;
}
