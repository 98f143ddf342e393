/**
 * What the client knows about one resource type: what it asked for, what it accepted (the
 * resources, the version, the nonce), and the last rejection. The SotW and delta streams both
 * read and write it; it outlives a stream, so a reconnect resubscribes with the known versions.
 */
import { TypeUrl, type ResourceKind } from './protos.js';

export interface AcceptedResource {
  resource: unknown;
  /** per-resource version (delta); the response's version_info in SotW */
  version: string;
}

export interface Nack {
  at: string;
  /** the version_info / system_version_info of the rejected response */
  version: string;
  nonce: string;
  reason: string;
}

export class Subscription {
  readonly typeUrl: string;
  /** CDS and LDS subscribe to everything; EDS and RDS to the names the others reference. */
  readonly wildcard: boolean;
  /** names asked for (EDS/RDS); empty for wildcard types */
  names = new Set<string>();
  /** accepted resources by name */
  resources = new Map<string, AcceptedResource>();
  /** version of the last accepted response ('' before any) */
  version = '';
  /** nonce of the last response received on the current stream, accepted or not */
  nonce = '';
  lastNack: Nack | null = null;
  /** a request for this type has been sent on the current stream */
  subscribedOnStream = false;
  /** some response for this type was accepted at least once (the resources are meaningful) */
  everAccepted = false;

  constructor(readonly kind: ResourceKind) {
    this.typeUrl = TypeUrl[kind];
    this.wildcard = kind === 'cluster' || kind === 'listener';
  }

  resourceMap(): Map<string, unknown> {
    return new Map([...this.resources].map(([name, r]) => [name, r.resource]));
  }

  /** For /config_dump. */
  dump(): Record<string, unknown> {
    return {
      typeUrl: this.typeUrl,
      subscribed: this.wildcard ? '*' : [...this.names].sort(),
      version: this.version,
      nonce: this.nonce,
      resourceNames: [...this.resources.keys()].sort(),
      resourceVersions: Object.fromEntries([...this.resources].map(([n, r]) => [n, r.version])),
      lastNack: this.lastNack,
    };
  }
}

export type Subscriptions = Record<ResourceKind, Subscription>;

export function newSubscriptions(): Subscriptions {
  return { cluster: new Subscription('cluster'), endpoint: new Subscription('endpoint'), listener: new Subscription('listener'), route: new Subscription('route') };
}
