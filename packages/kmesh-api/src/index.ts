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
  LocalRateLimitModel,
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
// issue 6 part A: connection accounting and protection records, stable keys, live state decoders
export * from './abi/resilience.js';
// Issue 6 part B: load-balancing policies (consistent hashing, priorities, localities).
export { encodeClusterEndpoints } from './abi/encode.js';
export { endpointShares, priorityLoads, proximityTier, defaultOverprovisioningPercent, scaledWeightTotal, type LbContext, type EndpointShares, type WeightedEndpoint, type LevelHealth } from './lb/priority.js';
export { buildMaglevTable, isPrime, envoyDefaultMaglevTableSize, type HashedEndpoint } from './lb/maglev.js';
export { buildHashRing, lookupRing, envoyRingDefaults, type HashRing } from './lb/ring-hash.js';
export { lbTableEntries, roundRobinStride, defaultMaglevTableSize } from './lb/tables.js';
export { fnv1a64, mix64, hashKey, endpointHashKey, clientHashOfIpv4 } from './lb/hash.js';
// issue 4: L7 route tables (abi/http-routes.ts), their layouts (abi/l7-layout.ts) and the regex subset.
export * from './abi/l7-layout.js';
export { encodeL7Records, generationOfL7VhostKey, planRouteConfigs, checkRouteConfigForKernel, checkL7Capacity, domainKind, encodeVhostKey, encodeL7Text, type L7Records } from './abi/http-routes.js';
export { compileRegexSubset, parseRegexSubset, dfaMatches, RegexSubsetError, maxDfaStates, type Dfa } from './http/regex-subset.js';
export { decodeL7Stats } from './abi/l7-decode.js';
