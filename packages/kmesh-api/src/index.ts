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
} from './model.js';
export { translateBootstrap, type Translation } from './translate.js';
export { loadConfigText } from './config/load.js';
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
  type ClusterKey,
  type ClusterValue,
  type EndpointKey,
  type EndpointValue,
  type OrigDstValue,
} from './abi/decode.js';
export * from './abi/layout.js';
