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
import type { ListenerModel } from '../model.js';
import { readNetworkFilters } from '../filters/network-filters.js';
import type { ClusterRef } from '../filters/tcp-proxy.js';
import { formatSocketAddress, readAddress } from './address.js';
import { checkTransportSocket } from './transport-socket.js';

export interface ListenerDraft {
  model: ListenerModel;
  path: string;
  addressPath: string;
  refs: ClusterRef[];
}

const filterChainMatchMessage =
  'filter_chain_match is not supported yet: ignoring it would change where traffic goes; give the listener one filter chain without filter_chain_match';

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
    internal_listener: reject('an internal listener takes connections from inside Envoy, not from applications kmesh sees'),
    // Envoy's own socket, threads and bookkeeping: kmesh never opens the listener socket.
    stat_prefix: accept,
    metadata: accept,
    per_connection_buffer_limit_bytes: accept,
    drain_type: accept,
    listener_filters_timeout: accept,
    continue_on_listener_filters_timeout: accept,
    traffic_direction: accept,
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

function checkListenerFilters(raw: Obj, path: string, d: Diagnostics): void {
  const list = readArray(raw, 'listener_filters', path, d) ?? [];
  list.forEach((f, i) => {
    const name = isObject(f) && typeof f.name === 'string' ? f.name : undefined;
    const at = item(field(path, 'listener_filters'), i, name);
    const typeUrl = isObject(f) && isObject(f.typed_config) ? f.typed_config['@type'] : undefined;
    const rule = typeof typeUrl === 'string' ? listenerFilters[typeUrl] : undefined;
    if (rule && 'warn' in rule) d.warn(at, rule.warn);
    else d.error(at, `listener filter ${name ?? String(typeUrl)} is not supported; accepted (ignored with a warning): tls_inspector, http_inspector, original_dst`);
  });
}

/** Picks the one filter chain, or records why there is not exactly one. */
function pickFilterChain(raw: Obj, path: string, d: Diagnostics): { chain: Obj; path: string } | undefined {
  const chains = readArray(raw, 'filter_chains', path, d) ?? [];
  const chainsPath = field(path, 'filter_chains');
  const fallback = readObject(raw, 'default_filter_chain', path, d);
  if (chains.length > 1) {
    d.error(chainsPath, `filter_chain_match is not supported yet: the listener has ${chains.length} filter chains, kmesh takes exactly one`);
    return undefined;
  }
  if (chains.length === 1 && fallback) {
    d.error(field(path, 'default_filter_chain'), `${filterChainMatchMessage} (default_filter_chain is only used when filter_chain_match fails)`);
    return undefined;
  }
  // With no filter_chains, every connection takes the default chain: the same as one chain.
  if (chains.length === 0 && fallback) return { chain: fallback, path: field(path, 'default_filter_chain') };
  if (chains.length === 0) {
    d.error(chainsPath, 'the listener needs one filter chain with an envoy.filters.network.tcp_proxy filter');
    return undefined;
  }
  const chain = chains[0];
  const chainPath = item(chainsPath, 0);
  if (!isObject(chain)) {
    d.error(chainPath, `expected a filter chain mapping, got ${describe(chain)}`);
    return undefined;
  }
  return { chain, path: chainPath };
}

export function listenerNameOf(raw: unknown): string | undefined {
  return isObject(raw) && typeof raw.name === 'string' && raw.name !== '' ? raw.name : undefined;
}

/** Validates one listener at `path`; undefined when it has errors (recorded in `d`). */
export function readListener(raw: unknown, path: string, d: Diagnostics): ListenerDraft | undefined {
  if (!isObject(raw)) {
    d.error(path, `expected a Listener mapping, got ${describe(raw)}`);
    return undefined;
  }
  const before = d.errors.length;
  const explicitName = readString(raw, 'name', path, d);

  const addressPath = field(path, 'address');
  const addressObj = readObject(raw, 'address', path, d, true);
  const address = addressObj
    ? readAddress(addressObj, addressPath, d, {
        hostnameMessage: (h) => `"${h}" is a hostname: a listener address is the service VIP, give an IP address`,
        unspecifiedMessage:
          'wildcard listener addresses (0.0.0.0, ::) are not supported yet: kmesh matches connects by destination VIP and port; give the service VIP',
      })
    : undefined;
  if (Array.isArray(raw.additional_addresses) && raw.additional_addresses.length > 0) {
    d.error(field(path, 'additional_addresses'), 'additional_addresses are not supported yet: give each address its own listener');
  }
  checkFields(raw, path, d, listenerFields);
  checkListenerFilters(raw, path, d);
  if (raw.use_original_dst === true) {
    d.warn(field(path, 'use_original_dst'), 'use_original_dst is ignored: kmesh sees the original destination at connect()');
  }

  const picked = pickFilterChain(raw, path, d);
  let route;
  if (picked) {
    const { chain, path: chainPath } = picked;
    checkFields(chain, chainPath, d, filterChainFields);
    const match = chain.filter_chain_match;
    if (match !== undefined && match !== null && !(isObject(match) && Object.keys(match).length === 0)) {
      d.error(field(chainPath, 'filter_chain_match'), filterChainMatchMessage);
    }
    checkTransportSocket(chain, chainPath, d, 'downstream');
    const filters = readArray(chain, 'filters', chainPath, d, true);
    if (filters) route = readNetworkFilters(filters, field(chainPath, 'filters'), d);
  }

  if (d.errors.length !== before || !address || !route) return undefined;
  // Envoy names an unnamed listener itself; a stable name from the address is more useful in dumps.
  const name = explicitName ?? formatSocketAddress(address);
  return { model: { name, address, route: route.route }, path, addressPath, refs: route.refs };
}
