/**
 * Incremental xDS (DeltaAggregatedResources): requests carry only the change of subscription
 * (resource_names_subscribe / _unsubscribe); the first request of a type on a stream carries
 * initial_resource_versions so the server sends only what changed while we were away. Responses
 * carry changed resources with their own versions plus removed_resources. ACK/NACK is by
 * response_nonce (no version in requests).
 */
import { kindOfTypeUrl, type ResourceKind } from './protos.js';
import { INVALID_ARGUMENT, resourceName, type RequestOptions, type ResponseEvent, type StreamCodec } from './protocol.js';
import type { AcceptedResource, Subscription } from './subscription.js';

interface DeltaResponse {
  system_version_info?: string;
  resources?: { name?: string; version?: string; resource?: Record<string, unknown> & { '@type'?: string; type_url?: string } }[];
  type_url?: string;
  removed_resources?: string[];
  nonce?: string;
}

export function createDeltaCodec(): StreamCodec {
  /** names already subscribed on this stream, per type: later requests send only the difference */
  const sent = new Map<ResourceKind, Set<string>>();

  return {
    mode: 'delta',
    method: 'DeltaAggregatedResources',
    subscribe(sub, opts) {
      const first = !sent.has(sub.kind);
      const before = sent.get(sub.kind) ?? new Set<string>();
      const now = sub.wildcard ? new Set<string>() : new Set(sub.names);
      sent.set(sub.kind, now);
      return {
        ...(opts.node ? { node: opts.node } : {}),
        type_url: sub.typeUrl,
        // An empty first subscribe is the (legacy) wildcard subscription for CDS and LDS.
        resource_names_subscribe: [...now].filter((n) => !before.has(n)).sort(),
        resource_names_unsubscribe: [...before].filter((n) => !now.has(n)).sort(),
        ...(first && sub.resources.size > 0
          ? { initial_resource_versions: Object.fromEntries([...sub.resources].map(([n, r]) => [n, r.version])) }
          : {}),
        response_nonce: opts.nonce,
      };
    },
    answer(sub, opts: RequestOptions) {
      return {
        ...(opts.node ? { node: opts.node } : {}),
        type_url: sub.typeUrl,
        response_nonce: opts.nonce,
        ...(opts.error !== undefined ? { error_detail: { code: INVALID_ARGUMENT, message: opts.error } } : {}),
      };
    },
    parse(message) {
      const m = message as DeltaResponse;
      const kind = kindOfTypeUrl(m.type_url ?? '');
      if (!kind) return null;
      const updated = new Map<string, AcceptedResource>();
      const problems: string[] = [];
      (m.resources ?? []).forEach((r, i) => {
        const resource = r.resource;
        const type = resource?.['@type'] ?? resource?.type_url;
        if (type !== m.type_url) return problems.push(`resources[${i}](name=${r.name}): type ${type} in a ${m.type_url} response`);
        const name = r.name || resourceName(kind, resource);
        if (!name) return problems.push(`resources[${i}]: has no name`);
        if (resourceName(kind, resource) !== undefined && resourceName(kind, resource) !== name) {
          return problems.push(`resources[${i}](name=${name}): the resource inside is named ${resourceName(kind, resource)}`);
        }
        updated.set(name, { resource, version: r.version ?? '' });
      });
      return { kind, version: m.system_version_info ?? '', nonce: m.nonce ?? '', updated, removed: m.removed_resources ?? [], complete: false, problems } satisfies ResponseEvent;
    },
  };
}
