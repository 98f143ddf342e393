/**
 * State of the world (StreamAggregatedResources): every request carries the full list of names
 * of its type and the last ACCEPTED version_info; a NACK is the same request with the rejected
 * response's nonce and an error_detail. A CDS or LDS response lists every resource of its type.
 */
import { kindOfTypeUrl } from './protos.js';
import { INVALID_ARGUMENT, resourceName, type RequestOptions, type ResponseEvent, type StreamCodec } from './protocol.js';
import type { AcceptedResource, Subscription } from './subscription.js';

interface SotwResponse {
  version_info?: string;
  resources?: ({ '@type'?: string; type_url?: string } & Record<string, unknown>)[];
  type_url?: string;
  nonce?: string;
}

function request(sub: Subscription, opts: RequestOptions): Record<string, unknown> {
  return {
    ...(opts.node ? { node: opts.node } : {}),
    version_info: sub.version,
    resource_names: sub.wildcard ? [] : [...sub.names].sort(),
    type_url: sub.typeUrl,
    response_nonce: opts.nonce,
    ...(opts.error !== undefined ? { error_detail: { code: INVALID_ARGUMENT, message: opts.error } } : {}),
  };
}

export function createSotwCodec(): StreamCodec {
  return {
    mode: 'sotw',
    method: 'StreamAggregatedResources',
    subscribe: request,
    answer: request,
    parse(message) {
      const m = message as SotwResponse;
      const kind = kindOfTypeUrl(m.type_url ?? '');
      if (!kind) return null;
      const updated = new Map<string, AcceptedResource>();
      const problems: string[] = [];
      const version = m.version_info ?? '';
      (m.resources ?? []).forEach((resource, i) => {
        const type = resource['@type'] ?? resource.type_url;
        if (type !== m.type_url) return problems.push(`resources[${i}]: type ${type} in a ${m.type_url} response`);
        const name = resourceName(kind, resource);
        if (name === undefined) return problems.push(`resources[${i}]: has no ${kind === 'endpoint' ? 'cluster_name' : 'name'}`);
        if (updated.has(name)) return problems.push(`resources[${i}](name=${name}): duplicate resource name in one response`);
        updated.set(name, { resource, version });
      });
      const complete = kind === 'cluster' || kind === 'listener';
      return { kind, version, nonce: m.nonce ?? '', updated, removed: [], complete, problems } satisfies ResponseEvent;
    },
  };
}
