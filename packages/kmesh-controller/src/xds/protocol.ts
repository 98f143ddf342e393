/**
 * What the client needs from a wire protocol (SotW or delta): build the requests of one stream
 * and turn its responses into one shape. The client logic (validation, ACK/NACK decisions,
 * subscription order, warming) is the same for both.
 */
import type { ResourceKind } from './protos.js';
import type { AcceptedResource, Subscription } from './subscription.js';

export type XdsMode = 'sotw' | 'delta';

export interface ResponseEvent {
  kind: ResourceKind;
  /** SotW version_info; delta system_version_info (may be '') */
  version: string;
  nonce: string;
  /** resources added or changed, by name */
  updated: Map<string, AcceptedResource>;
  /** names removed (delta removed_resources) */
  removed: string[];
  /** the response is the complete set of its type: what it lacks is removed (SotW CDS/LDS) */
  complete: boolean;
  /** problems found while decoding (wrong type URL, no name): each one makes the response a NACK */
  problems: string[];
}

export interface RequestOptions {
  /** the Node, on the first request of a stream */
  node?: Record<string, unknown>;
  /** the nonce being answered ('' for a subscription change without a response to answer) */
  nonce: string;
  /** error_detail of a NACK */
  error?: string;
}

export interface StreamCodec {
  readonly mode: XdsMode;
  /** gRPC method on envoy.service.discovery.v3.AggregatedDiscoveryService */
  readonly method: 'StreamAggregatedResources' | 'DeltaAggregatedResources';
  /** A request that (re)subscribes `sub` with its current names (first on the stream or after a change). */
  subscribe(sub: Subscription, opts: RequestOptions): Record<string, unknown>;
  /** ACK (opts.error unset) or NACK of a response to `sub`. */
  answer(sub: Subscription, opts: RequestOptions): Record<string, unknown>;
  /** null when the response's type is none Kmesh asked for (ignored) */
  parse(message: unknown): ResponseEvent | null;
}

/** INVALID_ARGUMENT, the code Envoy puts in the error_detail of a NACK. */
export const INVALID_ARGUMENT = 3;

/** The name of a decoded resource: ClusterLoadAssignment is named by cluster_name. */
export function resourceName(kind: ResourceKind, resource: unknown): string | undefined {
  const r = resource as { name?: unknown; cluster_name?: unknown } | null;
  const name = kind === 'endpoint' ? r?.cluster_name : r?.name;
  return typeof name === 'string' && name !== '' ? name : undefined;
}
