/**
 * The proto3 JSON shapes that @grpc/proto-loader produces (keepCase, enums as
 * strings, longs as numbers, defaults: false, oneofs: true), brought to the
 * shape the validators read, which is also what Envoy's YAML/JSON looks like:
 *   - wrappers (UInt32Value, BoolValue, ...) arrive as {value: N}: unwrapped
 *     to N, as proto3 JSON writes them;
 *   - oneofs: true adds a virtual field per oneof whose value names the member
 *     that is set (cluster_discovery_type: 'type'); it is not a field of the
 *     message, so it is dropped before the unknown-field check sees it;
 *   - Durations as {seconds, nanos} are read by readDurationMs as they are.
 */

/**
 * Oneof names of the Envoy messages kmesh reads (and of those they embed).
 * Only a field with one of these names whose value names a sibling field is
 * dropped, so a real string field that happens to equal a sibling's name is
 * kept. Names ending in "_specifier" are oneofs throughout Envoy's API.
 */
const oneofNames = new Set([
  'address', // core.v3.Address: socket_address | pipe | envoy_internal_address
  'cluster_discovery_type', // Cluster: type | cluster_type
  'lb_config', // Cluster: ring_hash_lb_config | ...
  'config_type', // Filter, ListenerFilter, TransportSocket, HttpFilter, AccessLog: typed_config | config_discovery
  'action', // route.v3.Route: route | redirect | direct_response | ...
  'match_pattern', // StringMatcher: exact | prefix | ...
  'engine_type', // RegexMatcher
  'host_identifier', // LbEndpoint: endpoint | endpoint_name
  'health_checker', // HealthCheck: http_health_check | ...
  'protocol_config', // ...
  'policy', // HashPolicy variants
  'rewrite', // ...
]);

function isOneofVirtual(key: string, value: unknown, obj: Record<string, unknown>): boolean {
  if (typeof value !== 'string' || value === key || !(value in obj)) return false;
  return oneofNames.has(key) || key.endsWith('_specifier');
}

const maxDepth = 200;

/** Returns a copy of `value` in proto3 JSON shape (see the file comment). Never throws. */
export function fromProtoLoader(value: unknown, depth = 0): unknown {
  if (depth > maxDepth) return value;
  if (Array.isArray(value)) return value.map((v) => fromProtoLoader(v, depth + 1));
  if (typeof value !== 'object' || value === null) return value;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  // A wrapper message: its JSON form is the bare value.
  if (keys.length === 1 && keys[0] === 'value' && obj.value !== null && typeof obj.value !== 'object') return obj.value;
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const v = obj[key];
    if (isOneofVirtual(key, v, obj)) continue;
    out[key] = fromProtoLoader(v, depth + 1);
  }
  return out;
}
