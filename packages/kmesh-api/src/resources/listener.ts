/**
 * envoy.config.listener.v3.Listener → ListenerModel.
 *
 * A kmesh listener is a destination (VIP, port): connects to it are rewritten
 * in the kernel. It has one filter chain, since choosing between chains
 * (filter_chain_match) is not implemented and ignoring it would change where
 * traffic goes.
 */
import { Diagnostics, field, item } from '../diagnostics.js';
import { describe, isObject, readArray, readObject, readString, type Obj } from '../config/fields.js';
import { accept, checkFields, ignore, read, reject, type FieldTable } from '../config/field-table.js';
import type { FilterChainModel, SocketAddress } from '../model.js';
import { readNetworkFilters, type TerminalDraft } from '../filters/network-filters.js';
import { formatSocketAddress, isUnspecified, readAddress } from './address.js';
import { checkTransportSocket } from './transport-socket.js';
import { findDuplicateMatches, readFilterChainMatch, type MatchRead } from './filter-chain-match.js';

/** One filter chain, validated; its action is resolved against the clusters later (translate). */
export interface ChainDraft {
  name: string;
  path: string;
  match: FilterChainModel['match'];
  /** Why the kernel cannot evaluate the match; undefined when it can. */
  notKernelMatchable?: string;
  terminal: TerminalDraft;
  /** default_filter_chain: taken when no other chain matches. */
  isDefault: boolean;
}

export interface ListenerDraft {
  kind: 'listener';
  name: string;
  path: string;
  addressPath: string;
  address: SocketAddress;
  /** 0.0.0.0 or :: : the chains are chosen per connection by destination. */
  wildcard: boolean;
  /** use_original_dst: hands connections to the listener of their original destination. */
  virtual: boolean;
  chains: ChainDraft[];
}

/** A listener accepted but left out of the model (inbound, internal): a warning says why. */
export interface SkippedListener {
  kind: 'skipped';
  name: string;
}

/** Every field of envoy.config.listener.v3.Listener (see config/field-table.ts for the kinds). */
const listenerFields: FieldTable = {
  message: 'envoy.config.listener.v3.Listener',
  fields: {
    name: read,
    address: read,
    additional_addresses: read,
    filter_chains: read,
    default_filter_chain: read,
    listener_filters: read,
    use_original_dst: read,
    filter_chain_matcher: reject(
      'it picks the filter chain of each connection, and ignoring it would send every connection down one chain; give the listener one filter chain',
    ),
    api_listener: reject('an API listener takes no connections from a socket: kmesh has nothing to rewrite'),
    // Read: such a listener is accepted and left out of the model (see readListener).
    internal_listener: read,
    // Envoy's own socket, threads and bookkeeping: kmesh never opens the listener socket.
    stat_prefix: accept,
    metadata: accept,
    per_connection_buffer_limit_bytes: accept,
    drain_type: accept,
    listener_filters_timeout: accept,
    continue_on_listener_filters_timeout: accept,
    traffic_direction: read,
    bind_to_port: accept,
    reuse_port: accept,
    enable_reuse_port: accept,
    tcp_backlog_size: accept,
    max_connections_to_accept_per_socket_event: accept,
    connection_balance_config: accept,
    ignore_global_conn_limit: accept,
    bypass_overload_manager: accept,
    // Socket behaviour or observation: connections still go where the filter chain says.
    transparent: ignore('kmesh opens no listener socket'),
    freebind: ignore('kmesh opens no listener socket'),
    socket_options: ignore('kmesh opens no listener socket'),
    tcp_fast_open_queue_length: ignore('kmesh opens no listener socket'),
    enable_mptcp: ignore('kmesh opens no listener socket'),
    udp_listener_config: ignore('kmesh routes TCP connections only'),
    access_log: ignore('kmesh writes no access log'),
    deprecated_v1: ignore(),
  },
};

/** Every field of envoy.config.listener.v3.FilterChain. */
const filterChainFields: FieldTable = {
  message: 'envoy.config.listener.v3.FilterChain',
  fields: {
    filter_chain_match: read,
    filters: read,
    transport_socket: read,
    name: accept,
    metadata: accept,
    // Only used with a TLS transport_socket, which is rejected.
    transport_socket_connect_timeout: accept,
    on_demand_configuration: ignore('the filter chain is built up front'),
    use_proxy_proto: reject(
      'the client sends a PROXY protocol header that Envoy would strip; without it the header would reach the endpoint as data',
    ),
  },
};

/** Listener filters that only feed filter_chain_match or restore a destination kmesh already sees. */
const listenerFilters: Record<string, { warn: string } | { reject: string }> = {
  'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector': {
    warn: 'envoy.filters.listener.tls_inspector is ignored: it only feeds filter_chain_match',
  },
  'type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector': {
    warn: 'envoy.filters.listener.http_inspector is ignored: it only feeds filter_chain_match',
  },
  'type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst': {
    warn: 'envoy.filters.listener.original_dst is ignored: kmesh sees the original destination at connect()',
  },
};

/** Well-known names, for listener filters given without typed_config (Envoy looks them up by name). */
const listenerFilterNames: Record<string, string> = Object.fromEntries(
  Object.keys(listenerFilters).map((url) => [`envoy.filters.listener.${/filters\.listener\.([a-z_]+)\./.exec(url)![1]}`, url]),
);

function checkListenerFilters(raw: Obj, path: string, d: Diagnostics): void {
  const list = readArray(raw, 'listener_filters', path, d) ?? [];
  list.forEach((f, i) => {
    const name = isObject(f) && typeof f.name === 'string' ? f.name : undefined;
    const at = item(field(path, 'listener_filters'), i, name);
    const typeUrl = isObject(f) && isObject(f.typed_config) ? f.typed_config['@type'] : name !== undefined ? listenerFilterNames[name] : undefined;
    const rule = typeof typeUrl === 'string' ? listenerFilters[typeUrl] : undefined;
    if (rule && 'warn' in rule) d.warn(at, rule.warn);
    else d.error(at, `listener filter ${name ?? String(typeUrl)} is not supported; accepted (ignored with a warning): tls_inspector, http_inspector, original_dst`);
  });
}

/** Reads one filter chain (or default_filter_chain) at `path`. */
function readChain(raw: unknown, path: string, name: string, isDefault: boolean, d: Diagnostics): { chain: ChainDraft; read: MatchRead } | undefined {
  if (!isObject(raw)) {
    d.error(path, `expected a filter chain mapping, got ${describe(raw)}`);
    return undefined;
  }
  const before = d.errors.length;
  checkFields(raw, path, d, filterChainFields);
  const matchPath = field(path, 'filter_chain_match');
  const read = readFilterChainMatch(raw.filter_chain_match, matchPath, d);
  if (isDefault && read.match.prefixRanges.length + Object.keys(read.match).length > 1) {
    d.warn(matchPath, 'the filter_chain_match of default_filter_chain is ignored, as Envoy does: it is taken when no other chain matches');
  }
  checkTransportSocket(raw, path, d, 'downstream');
  const filters = readArray(raw, 'filters', path, d, true);
  const terminal = filters ? readNetworkFilters(filters, field(path, 'filters'), d) : undefined;
  if (!terminal || d.errors.length !== before) return undefined;
  const chain: ChainDraft = { name: typeof raw.name === 'string' && raw.name !== '' ? raw.name : name, path, match: isDefault ? { prefixRanges: [] } : read.match, terminal, isDefault };
  if (read.notKernelMatchable !== undefined && !isDefault) chain.notKernelMatchable = read.notKernelMatchable;
  return { chain, read };
}

/** Every chain of the listener; undefined when one is invalid or two cannot be told apart. */
function readChains(raw: Obj, path: string, d: Diagnostics): ChainDraft[] | undefined {
  const before = d.errors.length;
  const list = readArray(raw, 'filter_chains', path, d) ?? [];
  const chainsPath = field(path, 'filter_chains');
  const read: { name: string; path: string; read: MatchRead }[] = [];
  const chains: ChainDraft[] = [];
  list.forEach((c, i) => {
    const name = isObject(c) && typeof c.name === 'string' && c.name !== '' ? c.name : undefined;
    const r = readChain(c, item(chainsPath, i, name), name ?? `filter_chains[${i}]`, false, d);
    if (!r) return;
    chains.push(r.chain);
    read.push({ name: r.chain.name, path: r.chain.path, read: r.read });
  });
  if (raw.default_filter_chain !== undefined && raw.default_filter_chain !== null) {
    const r = readChain(raw.default_filter_chain, field(path, 'default_filter_chain'), 'default_filter_chain', true, d);
    if (r) chains.push(r.chain);
  }
  if (list.length === 0 && chains.length === 0 && d.errors.length === before) {
    d.error(chainsPath, 'the listener needs a filter chain with envoy.filters.network.tcp_proxy or http_connection_manager');
  }
  findDuplicateMatches(read, d);
  return d.errors.length === before ? chains : undefined;
}

export function listenerNameOf(raw: unknown): string | undefined {
  return isObject(raw) && typeof raw.name === 'string' && raw.name !== '' ? raw.name : undefined;
}

/** Inbound listeners take connections that arrive at this pod: not the outbound connect() path kmesh rewrites. */
function isInbound(raw: Obj): boolean {
  return raw.traffic_direction === 'INBOUND' || raw.traffic_direction === 1 || raw.name === 'virtualInbound';
}

/** Validates one listener at `path`; undefined when it has errors (recorded in `d`). */
export function readListener(raw: unknown, path: string, d: Diagnostics): ListenerDraft | SkippedListener | undefined {
  if (!isObject(raw)) {
    d.error(path, `expected a Listener mapping, got ${describe(raw)}`);
    return undefined;
  }
  const before = d.errors.length;
  const explicitName = readString(raw, 'name', path, d);
  if (raw.internal_listener !== undefined && raw.internal_listener !== null) {
    d.warn(field(path, 'internal_listener'), 'internal listener: it takes connections from inside Envoy, not from applications, so it is not on the connect() path kmesh rewrites; accepted, not enforced (left out of the model)');
    return { kind: 'skipped', name: explicitName ?? '(internal listener)' };
  }
  if (isInbound(raw)) {
    d.warn(path, 'inbound listener: it handles connections arriving at this workload, not the outbound connect() path kmesh rewrites; accepted, not enforced (left out of the model)');
    return { kind: 'skipped', name: explicitName ?? '(inbound listener)' };
  }

  const addressPath = field(path, 'address');
  const addressObj = readObject(raw, 'address', path, d, true);
  const address = addressObj
    ? readAddress(addressObj, addressPath, d, {
        hostnameMessage: (h) => `"${h}" is a hostname: a listener address is the service VIP, give an IP address`,
        allowUnspecified: true,
        unspecifiedMessage: '',
      })
    : undefined;
  if (Array.isArray(raw.additional_addresses) && raw.additional_addresses.length > 0) {
    d.error(field(path, 'additional_addresses'), 'additional_addresses are not supported yet: give each address its own listener');
  }
  const trafficDirection = raw.traffic_direction;
  if (trafficDirection !== undefined && !['OUTBOUND', 'UNSPECIFIED', 0, 2].includes(trafficDirection as string | number)) {
    d.error(field(path, 'traffic_direction'), `unknown traffic_direction ${describe(trafficDirection)}: accepted UNSPECIFIED, INBOUND, OUTBOUND`);
  }
  checkFields(raw, path, d, listenerFields);
  checkListenerFilters(raw, path, d);
  const chains = readChains(raw, path, d);

  if (d.errors.length !== before || !address || !chains) return undefined;
  // Envoy names an unnamed listener itself; a stable name from the address is more useful in dumps.
  const name = explicitName ?? formatSocketAddress(address);
  return { kind: 'listener', name, path, addressPath, address, wildcard: isUnspecified(address), virtual: raw.use_original_dst === true, chains };
}
