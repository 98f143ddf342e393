/**
 * The Envoy v3 protos, loaded once from @grpc/grpc-js-xds's deps/ folder (it ships the envoy-api,
 * xds, googleapis and protoc-gen-validate trees; all four are include dirs because the envoy files
 * import from each of them).
 *
 * ads.proto and the resource protos are loaded in ONE load: google.protobuf.Any fields inside a
 * DiscoveryResponse (the resources, and the typed_config of filters) are then expanded into
 * objects with '@type' whenever the named message is known. Unknown extension types (Istio's own
 * filters, say) stay `{type_url, value}`: the translator reports them by type URL.
 *
 * Options: keepCase (field names exactly as in Envoy YAML: snake_case), longs as Number, enums as
 * strings, no defaults (a field absent on the wire stays absent, as the translator expects), oneofs
 * (the virtual oneof name says which member is set), json (Any expansion, NaN etc. as in proto JSON).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import * as grpc from '@grpc/grpc-js';

const require = createRequire(import.meta.url);

/** The four include dirs under @grpc/grpc-js-xds/deps. */
export function protoIncludeDirs(): string[] {
  const deps = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
  return ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => join(deps, d));
}

export const decodeOptions: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: false,
  oneofs: true,
  json: true,
};

/** The xDS resource types Kmesh subscribes to, in the order the xDS spec subscribes them. */
export const TypeUrl = {
  cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  endpoint: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  route: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
} as const;
export type ResourceKind = keyof typeof TypeUrl;
export const resourceKinds: readonly ResourceKind[] = ['cluster', 'endpoint', 'listener', 'route'];

export function kindOfTypeUrl(typeUrl: string): ResourceKind | undefined {
  return resourceKinds.find((k) => TypeUrl[k] === typeUrl);
}

/**
 * Files loaded with ads.proto: the four resource types plus the extensions istiod and Envoy
 * configs commonly carry in typed_config, so they arrive decoded rather than as opaque bytes.
 */
export const resourceProtoFiles: readonly string[] = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/network/rbac/v3/rbac.proto',
  'envoy/extensions/filters/network/local_ratelimit/v3/local_rate_limit.proto',
  'envoy/extensions/filters/network/connection_limit/v3/connection_limit.proto',
  'envoy/extensions/filters/network/wasm/v3/wasm.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/fault/v3/fault.proto',
  'envoy/extensions/filters/http/cors/v3/cors.proto',
  'envoy/extensions/filters/http/grpc_stats/v3/config.proto',
  'envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.proto',
  'envoy/extensions/filters/http/wasm/v3/wasm.proto',
  'envoy/extensions/filters/listener/original_dst/v3/original_dst.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/filters/listener/http_inspector/v3/http_inspector.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/load_balancing_policies/round_robin/v3/round_robin.proto',
  'envoy/extensions/load_balancing_policies/random/v3/random.proto',
  'envoy/extensions/load_balancing_policies/least_request/v3/least_request.proto',
  'envoy/extensions/load_balancing_policies/ring_hash/v3/ring_hash.proto',
  'envoy/extensions/load_balancing_policies/maglev/v3/maglev.proto',
  'envoy/extensions/access_loggers/file/v3/file.proto',
];

export interface XdsProtos {
  /** For grpc.makeGenericClientConstructor / server.addService. */
  adsService: grpc.ServiceDefinition;
  packageDefinition: protoLoader.PackageDefinition;
}

let cached: XdsProtos | null = null;

/** Load (once per process; takes a few hundred ms) the ADS service with the resource protos. */
export function loadXdsProtos(): XdsProtos {
  if (cached) return cached;
  const packageDefinition = protoLoader.loadSync([...resourceProtoFiles], { ...decodeOptions, includeDirs: protoIncludeDirs() });
  const service = packageDefinition['envoy.service.discovery.v3.AggregatedDiscoveryService'];
  if (!service || !('StreamAggregatedResources' in service)) {
    throw new Error('envoy.service.discovery.v3.AggregatedDiscoveryService not found in the loaded protos (is @grpc/grpc-js-xds installed?)');
  }
  cached = { adsService: service as unknown as grpc.ServiceDefinition, packageDefinition };
  return cached;
}
