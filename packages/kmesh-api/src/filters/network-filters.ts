/**
 * The network filters kmesh knows, keyed by typed_config type URL, and what it
 * does with each. The rule for the table: a filter whose absence would change
 * where traffic goes or which connections are accepted is an error; only a
 * filter that merely limits or observes may be ignored, with a warning.
 */
import { Diagnostics, field, item } from '../diagnostics.js';
import { describe, isObject, type Obj } from '../config/fields.js';
import { isEnvoyV2TypeUrl } from '../config/type-url.js';
import { checkFields, read, type FieldTable } from '../config/field-table.js';
import { readTcpProxy, type ClusterRef, type RouteDraft } from './tcp-proxy.js';
import { readHttpConnectionManager, type HttpDraft } from './http-connection-manager.js';
import { readLocalRateLimit } from './local-ratelimit.js';
import type { LocalRateLimitModel } from '../model.js';

/** What the terminal filter of a chain does with a connection. */
export type TerminalDraft = (({ kind: 'tcp_proxy' } & RouteDraft) | ({ kind: 'http' } & HttpDraft)) & {
  /** envoy.filters.network.local_ratelimit before the terminal filter (issue 6 part A). */
  rateLimit?: LocalRateLimitModel;
};

type FilterHandling =
  /** A terminal filter: its config becomes the chain's action. */
  | { kind: 'terminal'; read: (config: Obj, path: string, d: Diagnostics) => TerminalDraft | undefined }
  | { kind: 'reject'; message: string }
  | { kind: 'warn'; message: string }
  /** Observes only (stats): accepted silently, like stat_prefix. */
  | { kind: 'accept' }
  /** Limits the chain's new connections in the kernel (issue 6 part A). */
  | { kind: 'rate_limit' };

const tcpProxyTerminal = (config: Obj, path: string, d: Diagnostics): TerminalDraft | undefined => {
  const r = readTcpProxy(config, path, d);
  return r && { kind: 'tcp_proxy', ...r };
};

const httpTerminal = (config: Obj, path: string, d: Diagnostics): TerminalDraft | undefined => {
  const h = readHttpConnectionManager(config, path, d);
  return h && { kind: 'http', ...h };
};

interface KnownFilter {
  name: string;
  handling: FilterHandling;
}

const typePrefix = 'type.googleapis.com/envoy.extensions.filters.network.';

export const networkFilters: Readonly<Record<string, KnownFilter>> = {
  [`${typePrefix}tcp_proxy.v3.TcpProxy`]: {
    name: 'envoy.filters.network.tcp_proxy',
    handling: { kind: 'terminal', read: tcpProxyTerminal },
  },
  // Kept in the model for the L7 path; at connect() the connection is left as dialled.
  [`${typePrefix}http_connection_manager.v3.HttpConnectionManager`]: {
    name: 'envoy.filters.network.http_connection_manager',
    handling: { kind: 'terminal', read: httpTerminal },
  },
  // Authorization decides whether a connection is allowed, not where it goes. Rejecting
  // it would reject every Istio sidecar listener that carries a policy; Kmesh does not
  // enforce authorization (README), and says so for each filter.
  [`${typePrefix}rbac.v3.RBAC`]: {
    name: 'envoy.filters.network.rbac',
    handling: { kind: 'warn', message: 'envoy.filters.network.rbac: authorization is not enforced by Kmesh: connections this policy denies are accepted (where traffic goes is unchanged)' },
  },
  // Istio's telemetry filters: they observe, they do not route.
  'type.googleapis.com/stats.PluginConfig': {
    name: 'istio.stats',
    handling: { kind: 'accept' },
  },
  'type.googleapis.com/envoy.tcp.metadataexchange.config.MetadataExchange': {
    name: 'istio.metadata_exchange',
    handling: { kind: 'warn', message: 'istio.metadata_exchange is not run: peer metadata for telemetry is not exchanged (where traffic goes is unchanged)' },
  },
  [`${typePrefix}ext_authz.v3.ExtAuthz`]: {
    name: 'envoy.filters.network.ext_authz',
    handling: { kind: 'reject', message: 'envoy.filters.network.ext_authz is not supported yet: ignoring it would accept connections it denies' },
  },
  [`${typePrefix}sni_cluster.v3.SniCluster`]: {
    name: 'envoy.filters.network.sni_cluster',
    handling: { kind: 'reject', message: 'envoy.filters.network.sni_cluster is not supported: it picks the cluster from TLS SNI, which kmesh cannot read at connect()' },
  },
  [`${typePrefix}local_ratelimit.v3.LocalRateLimit`]: {
    name: 'envoy.filters.network.local_ratelimit',
    handling: { kind: 'rate_limit' },
  },
  [`${typePrefix}connection_limit.v3.ConnectionLimit`]: {
    name: 'envoy.filters.network.connection_limit',
    handling: { kind: 'warn', message: 'envoy.filters.network.connection_limit is not enforced yet: connections are not limited' },
  },
};

/** Every field of envoy.config.listener.v3.Filter; all are diagnosed below. */
const filterFields: FieldTable = {
  message: 'envoy.config.listener.v3.Filter',
  fields: { name: read, typed_config: read, config_discovery: read, config: read },
};

const byName = new Map(Object.entries(networkFilters).map(([url, f]) => [f.name, url]));

/**
 * Reads a filter chain's `filters` at `path`: exactly one routing filter, last.
 * Returns the route, or undefined with errors in `d`.
 */
export function readNetworkFilters(filters: unknown[], path: string, d: Diagnostics): TerminalDraft | undefined {
  let route: TerminalDraft | undefined;
  let rateLimit: LocalRateLimitModel | undefined;
  let routeIndex = -1;
  let failed = false;
  filters.forEach((raw, i) => {
    const name = isObject(raw) && typeof raw.name === 'string' ? raw.name : undefined;
    const at = item(path, i, name);
    if (!isObject(raw)) {
      d.error(at, `expected a filter mapping {name, typed_config}, got ${describe(raw)}`);
      failed = true;
      return;
    }
    if (!checkFields(raw, at, d, filterFields)) failed = true;
    if (raw.config_discovery !== undefined) {
      d.error(field(at, 'config_discovery'), 'filter config discovery (ECDS) is not supported: give typed_config inline');
      failed = true;
      return;
    }
    if (raw.config !== undefined) {
      d.error(field(at, 'config'), 'Envoy v2 API is not supported; use v3 (typed_config instead of config)');
      failed = true;
      return;
    }
    const typed = raw.typed_config;
    const typeUrl = isObject(typed) && typeof typed['@type'] === 'string' ? typed['@type'] : undefined;
    if (!isObject(typed) || typeUrl === undefined) {
      const hint = name && byName.has(name) ? ` (for ${name}: "@type": ${byName.get(name)})` : '';
      d.error(field(at, 'typed_config'), `typed_config with an "@type" is required${hint}`);
      failed = true;
      return;
    }
    // v2 type URLs are reported once, by the bootstrap's scan of the whole document.
    if (isEnvoyV2TypeUrl(typeUrl)) {
      failed = true;
      return;
    }
    const known = networkFilters[typeUrl];
    if (!known) {
      d.error(at, `network filter ${name ?? typeUrl} (${typeUrl}) is not supported; accepted: envoy.filters.network.tcp_proxy and http_connection_manager (terminal), rbac, local_ratelimit, connection_limit, istio.stats, istio.metadata_exchange (not enforced)`);
      failed = true;
      return;
    }
    const handling = known.handling;
    if (handling.kind === 'reject') {
      d.error(at, handling.message);
      failed = true;
    } else if (handling.kind === 'warn') {
      d.warn(at, handling.message);
    } else if (handling.kind === 'accept') {
      // Observes only.
    } else if (handling.kind === 'rate_limit') {
      const limit = readLocalRateLimit(typed, field(at, 'typed_config'), d);
      if (!limit) failed = true;
      else if (rateLimit) {
        d.error(at, 'a second envoy.filters.network.local_ratelimit in one chain: give one token bucket per chain');
        failed = true;
      } else rateLimit = limit;
    } else {
      if (routeIndex >= 0) {
        d.error(at, `a filter chain takes one terminal filter; filter ${routeIndex} already routes the connection`);
        failed = true;
        return;
      }
      routeIndex = i;
      route = handling.read(typed, field(at, 'typed_config'), d);
      if (!route) failed = true;
    }
  });
  if (failed) return undefined;
  if (routeIndex < 0) {
    d.error(path, 'no terminal filter: a filter chain needs envoy.filters.network.tcp_proxy or http_connection_manager');
    return undefined;
  }
  if (routeIndex !== filters.length - 1) {
    d.error(item(path, routeIndex), `${route?.kind === 'http' ? 'envoy.filters.network.http_connection_manager' : 'envoy.filters.network.tcp_proxy'} is a terminal filter and must be the last filter of the chain`);
    return undefined;
  }
  return route && rateLimit ? { ...route, rateLimit } : route;
}
