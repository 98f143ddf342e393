/**
 * The orchestration model: what the kernel needs to route a connection, fully
 * typed and validated. Nothing here refers to Envoy's document shape any more.
 */

export interface SocketAddress {
  family: 4 | 6;
  /** Normalised: dotted quad for IPv4, RFC 5952 compressed form for IPv6. */
  ip: string;
  port: number;
}

export interface MeshModel {
  listeners: ListenerModel[];
  clusters: ClusterModel[];
  routes?: RouteConfigModel[];
  /** This node's "region/zone/sub_zone" (issue 6): endpoints nearer to it are preferred (lb/priority.ts). */
  nodeLocality?: string;
}

export interface ListenerModel {
  name: string;
  /** The destination (VIP, port) whose connects are rewritten. */
  address: SocketAddress;
  /** Exact-address tcp_proxy listeners; { clusters: [] } for wildcard/virtual/http-only listeners. */
  route: WeightedRoute;
  /** Wildcard listeners (0.0.0.0 / :: address): a chain is chosen per connection by destination. */
  filterChains?: FilterChainModel[];
  /** Exact-address listener whose action is http_connection_manager (kept for L7; untouched at L4 today). */
  http?: HttpListenerModel;
  /** use_original_dst virtual listener (Istio 0.0.0.0:15001): never encoded; connect4 already routes by original destination. */
  virtual?: boolean;
  /** envoy.filters.network.local_ratelimit of the chain the listener's connections take (tcp_proxy or HTTP, issue 6):
   *  a token bucket on new connections. */
  rateLimit?: LocalRateLimitModel;
}

/** A token bucket (Envoy's local_ratelimit): starts full, tokensPerFill added every fillIntervalMs, up to maxTokens. */
export interface LocalRateLimitModel {
  maxTokens: number;
  tokensPerFill: number;
  fillIntervalMs: number;
}

export interface CidrRange {
  family: 4 | 6;
  ip: string;
  prefixLen: number;
}

export interface FilterChainModel {
  name: string;
  match: { prefixRanges: CidrRange[]; destinationPort?: number; transportProtocol?: string; applicationProtocols?: string[]; serverNames?: string[] };
  action: ChainAction;
  /** False when the match needs bytes (server_names, tls, ALPN): the kernel skips the chain. */
  kernelMatchable: boolean;
}

export type ChainAction =
  | { kind: 'tcp_proxy'; route: WeightedRoute }
  /** Untouched at L4 until the L7 path exists. */
  | { kind: 'http'; http: HttpListenerModel }
  /** PassthroughCluster / ORIGINAL_DST cluster: connection left as dialled. */
  | { kind: 'passthrough' }
  /** BlackHoleCluster: connect refused. */
  | { kind: 'blackhole' };

export interface HttpListenerModel {
  routeConfigName?: string;
  routeConfig?: RouteConfigModel;
}

export interface RouteConfigModel {
  name: string;
  virtualHosts: { name: string; domains: string[]; routes: RouteModel[] }[];
}

export interface RouteModel {
  name?: string;
  match: { prefix?: string; path?: string; safeRegex?: string; caseSensitive: boolean; headers: HeaderMatcherModel[] };
  action:
    | { kind: 'cluster'; cluster: string }
    | { kind: 'weighted'; route: WeightedRoute }
    /** body: direct_response.body.inline_string (issue 4: served by the L7 relay) */
    | { kind: 'direct_response'; status: number; body?: string }
    /** status and location (issue 4): response_code (default 301) and the Location built from the redirect's fields */
    | { kind: 'redirect'; status?: number; location?: string };
}

export interface HeaderMatcherModel {
  name: string;
  kind: 'exact' | 'prefix' | 'suffix' | 'contains' | 'present' | 'regex';
  value?: string;
  invert: boolean;
}

/** A single cluster is weight 1. Weights are integers >= 0 with a positive sum. */
export interface WeightedRoute {
  clusters: { name: string; weight: number }[];
}

export type LbPolicy = 'ROUND_ROBIN' | 'RANDOM' | 'LEAST_REQUEST' | 'RING_HASH' | 'MAGLEV';
export type HealthStatus = 'HEALTHY' | 'UNHEALTHY' | 'DRAINING' | 'UNKNOWN' | 'TIMEOUT' | 'DEGRADED';
export type ClusterDiscovery = 'STATIC' | 'EDS' | 'STRICT_DNS' | 'LOGICAL_DNS';

export interface ClusterModel {
  name: string;
  lbPolicy: LbPolicy;
  /** Every endpoint of every priority, whatever its health: the encoder picks the usable ones. */
  endpoints: EndpointModel[];
  /** How the document declared the cluster (all are served from load_assignment). */
  discovery?: ClusterDiscovery;
  /** Parsed and kept; a connect() in the kernel has no timeout of its own yet. */
  connectTimeoutMs?: number;
  /** DEFAULT priority max_connections is enforced in the kernel (issue 6); absent: Envoy's default 1024. */
  circuitBreakers?: CircuitBreakerThreshold[];
  /** Consecutive connect failures eject an endpoint (issue 6); absent: no outlier detection. */
  outlierDetection?: OutlierDetectionModel;
  /** least_request_lb_config.choice_count (LEAST_REQUEST only; default 2). */
  leastRequestChoiceCount?: number;
  /** Parsed, not enforced yet. */
  healthChecks?: HealthCheckModel[];
  /** True when common_lb_config.locality_weighted_lb_config is set (locality weights then matter to Envoy). */
  localityWeighted?: boolean;
  /** maglev_lb_config (issue 6): table_size, a prime up to 65537 (kmesh's default 4099 when unset). */
  maglev?: { tableSize?: number };
  /** ring_hash_lb_config (issue 6): ring sizes (Envoy's defaults 1024 and 8M; kmesh stores at most 65537 entries). */
  ringHash?: { minimumRingSize?: number; maximumRingSize?: number };
}

export interface EndpointModel {
  address: SocketAddress;
  weight: number;
  health: HealthStatus;
  /** "region/zone/sub_zone" of the LocalityLbEndpoints the endpoint came from. */
  locality?: string;
  priority: number;
  /** load_balancing_weight of the endpoint's locality, when given. */
  localityWeight?: number;
}

export interface CircuitBreakerThreshold {
  priority: 'DEFAULT' | 'HIGH';
  maxConnections?: number;
  maxPendingRequests?: number;
  maxRequests?: number;
  maxRetries?: number;
}

export interface OutlierDetectionModel {
  consecutive5xx?: number;
  consecutiveGatewayFailure?: number;
  consecutiveLocalOriginFailure?: number;
  intervalMs?: number;
  baseEjectionTimeMs?: number;
  maxEjectionPercent?: number;
  maxEjectionTimeMs?: number;
  /** split_external_local_origin_errors: connect failures then count against consecutive_local_origin_failure. */
  splitExternalLocalOriginErrors?: boolean;
}

export interface HealthCheckModel {
  kind: 'tcp' | 'http' | 'grpc' | 'custom' | 'unspecified';
  intervalMs?: number;
  timeoutMs?: number;
  unhealthyThreshold?: number;
  healthyThreshold?: number;
}
