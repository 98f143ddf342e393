/**
 * @kmesh/api: Envoy v3 bootstrap → validated MeshModel → kernel records.
 * Pure TypeScript: no native code, no root, no I/O beyond what the caller passes.
 */
export type { Diagnostic } from './diagnostics.js';
export type {
  SocketAddress,
  MeshModel,
  ListenerModel,
  WeightedRoute,
  ClusterModel,
  EndpointModel,
  LbPolicy,
  HealthStatus,
  ClusterDiscovery,
  CircuitBreakerThreshold,
  OutlierDetectionModel,
  HealthCheckModel,
  CidrRange,
  FilterChainModel,
  ChainAction,
  HttpListenerModel,
  RouteConfigModel,
  RouteModel,
  HeaderMatcherModel,
} from './model.js';
export { translateBootstrap, type Translation, type ResourceReport } from './translate.js';
export { loadConfigText, loadConfigDump, type XdsReport } from './config/load.js';
export { translateXdsResources, resourcePath, xdsTypeUrls, type XdsResources, type ResourceOutcome, type ResourceKind, type XdsTranslation } from './xds/translate.js';
export { readResourceDocument, xdsDocumentKind, type ResourceDocument } from './xds/config-dump.js';
export { fromProtoLoader } from './config/proto-json.js';
export { usableEndpoints, acceptsConnections, type UsableEndpoints } from './endpoints.js';
export { checkCapacity, CapacityError } from './capacity.js';
export { parseIp, formatSocketAddress } from './resources/address.js';
export { networkFilters } from './filters/network-filters.js';
export {
  encodeModel,
  encodeActive,
  activeKey,
  assignClusterIds,
  encodeListenerKey,
  encodeListenerValue,
  encodeRouteValue,
  encodeChainKey,
  encodeClusterKey,
  encodeClusterValue,
  encodeEndpointKey,
  encodeEndpointValue,
  type KernelRecord,
  type KernelRecords,
} from './abi/encode.js';
export {
  generationOfKey,
  decodeActive,
  decodeAddr,
  decodeListenerKey,
  decodeListenerValue,
  decodeRoute,
  decodeChainKey,
  decodeChainValue,
  generationOfChainKey,
  decodeClusterKey,
  decodeClusterValue,
  decodeEndpointKey,
  decodeEndpointValue,
  decodeOrigDst,
  decodePercpuCounter,
  statKey,
  statName,
  type ActiveValue,
  type ListenerKey,
  type ListenerValue,
  type RouteValue,
  type ChainKey,
  type ClusterKey,
  type ClusterValue,
  type EndpointKey,
  type EndpointValue,
  type OrigDstValue,
} from './abi/decode.js';
export { planChains, kernelChains, isWildcardListener, isExactListener, type ChainEntry, type ChainPlan } from './abi/chains.js';
export * from './abi/layout.js';
