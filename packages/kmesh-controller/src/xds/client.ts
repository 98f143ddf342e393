/**
 * The ADS client: one gRPC stream to the management server (SotW or delta), the subscriptions
 * in xDS order (CDS → EDS of the EDS clusters → LDS → RDS of the routes the listeners name),
 * validation of every response against the translator (ACK or NACK with every reason), warming,
 * reconnects with backoff, and the model handed to the daemon after each accepted change.
 *
 * The last accepted resources outlive the stream: while disconnected the daemon keeps serving
 * them, and a new stream resubscribes with the known versions.
 */
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { Diagnostic, MeshModel } from '@kmesh/api';
import { silentLogger, type Logger } from '../log.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import { createDeltaCodec } from './delta-stream.js';
import { buildNode, nodeMessage, type NodeIdentityOptions, type XdsNode } from './node.js';
import type { ResponseEvent, StreamCodec, XdsMode } from './protocol.js';
import { loadXdsProtos, resourceKinds, TypeUrl, type ResourceKind } from './protos.js';
import { edsNames, routeNames, sameSet } from './references.js';
import { createSotwCodec } from './sotw-stream.js';
import { newSubscriptions, type AcceptedResource, type Subscriptions } from './subscription.js';
import { edsServiceName, emptyResources, translateXds, type XdsResources, type XdsTranslation } from './translate.js';

export interface XdsTls {
  ca?: string;
  cert?: string;
  key?: string;
}

export interface XdsClientOptions {
  /** HOST:PORT of the ADS server */
  address: string;
  mode?: XdsMode;
  tls?: XdsTls;
  node?: NodeIdentityOptions;
  logger?: Logger;
  backoff?: BackoffOptions;
  /** how long a cluster waits for its endpoints (a listener for its routes) before it is used anyway (default 5 s) */
  warmingTimeoutMs?: number;
  /** called with each model to apply; what it throws is logged */
  onModel: (model: MeshModel, info: ModelInfo) => void;
}

export interface ModelInfo {
  warnings: Diagnostic[];
  versions: Record<ResourceKind, string>;
  /** performance.now() when the response that produced this model arrived */
  receivedAt: number;
  /**
   * Set when only endpoint assignments changed (the EDS fast path): the names of the clusters
   * whose endpoints were re-translated. Every other cluster, the listeners and the routes of
   * the model are the previous model's own objects.
   */
  endpointClusters?: ReadonlySet<string>;
}

/** Resources from a static --config file, merged over the xDS ones (the file wins). */
export interface StaticResources {
  listeners: Map<string, unknown>;
  clusters: Map<string, unknown>;
}

const resourceMapOf: Record<ResourceKind, keyof XdsResources> = { cluster: 'clusters', endpoint: 'endpoints', listener: 'listeners', route: 'routes' };

export function channelCredentials(tls: XdsTls | undefined): grpc.ChannelCredentials {
  if (!tls || (!tls.ca && !tls.cert && !tls.key)) return grpc.credentials.createInsecure();
  if (!!tls.cert !== !!tls.key) throw new Error('--xds-cert and --xds-key go together (a client certificate needs its key)');
  const read = (f?: string) => (f ? readFileSync(f) : null);
  return grpc.credentials.createSsl(read(tls.ca), read(tls.key), read(tls.cert));
}

export class XdsClient {
  readonly node: XdsNode;
  readonly mode: XdsMode;
  private readonly log: Logger;
  private readonly subs: Subscriptions = newSubscriptions();
  private readonly backoff: Backoff;
  private readonly grpcClient: grpc.Client & Record<string, () => grpc.ClientDuplexStream<unknown, unknown>>;
  private call: grpc.ClientDuplexStream<unknown, unknown> | null = null;
  private codec: StreamCodec | null = null;
  private nodeSent = false;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private warmingTimer: NodeJS.Timeout | null = null;
  /** EDS / RDS names that did not arrive within the warming timeout: no longer waited for */
  private readonly gaveUpWarming = new Set<string>();
  private staticResources: StaticResources = { listeners: new Map(), clusters: new Map() };
  private stopped = false;
  private connected = false;
  private streams = 0;
  private lastPublishError: string | null = null;
  /** The last model handed to onModel, and its warnings; null while the resources do not form one. */
  private lastModel: { model: MeshModel; warnings: Diagnostic[] } | null = null;
  /** EDS service name → names of the clusters that take their endpoints from it (of lastModel). */
  private edsClusters = new Map<string, string[]>();
  /** The translation validate() made of the response being handled, for publish() to reuse. */
  private validated: XdsTranslation | null = null;

  constructor(private readonly opts: XdsClientOptions) {
    this.log = opts.logger ?? silentLogger;
    this.mode = opts.mode ?? 'sotw';
    this.node = buildNode(opts.node);
    this.backoff = new Backoff(opts.backoff);
    const { adsService } = loadXdsProtos();
    const Client = grpc.makeGenericClientConstructor(adsService, 'AggregatedDiscoveryService');
    this.grpcClient = new Client(opts.address, channelCredentials(opts.tls)) as unknown as XdsClient['grpcClient'];
  }

  start(): void {
    const secure = !!(this.opts.tls?.ca || this.opts.tls?.cert);
    this.log.info(`xDS: connecting to ${this.opts.address} (${secure ? 'TLS' : 'plaintext, no TLS'})`, { mode: this.mode, node: this.node.id });
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.warmingTimer) clearTimeout(this.warmingTimer);
    this.call?.cancel();
    this.call = null;
    this.grpcClient.close();
  }

  /** Replace the static resources merged over xDS (from --config) and publish again. */
  setStaticResources(resources: StaticResources): void {
    this.staticResources = resources;
    this.publish();
  }

  /** Names defined both by xDS and by the static file (the file's definition is used). */
  staticOverrides(): string[] {
    const both = (kind: 'listener' | 'cluster', file: Map<string, unknown>) =>
      [...file.keys()].filter((n) => this.subs[kind].resources.has(n)).map((n) => `${kind} ${n}`);
    return [...both('listener', this.staticResources.listeners), ...both('cluster', this.staticResources.clusters)];
  }

  /** The candidate translation of the current resources (also used to validate static files). */
  translateCurrent(): XdsTranslation {
    return translateXds(this.merged(this.currentResources()));
  }

  /** For /config_dump. */
  dump(): Record<string, unknown> {
    return {
      server: this.opts.address,
      mode: this.mode,
      connected: this.connected,
      node: this.node,
      types: Object.fromEntries(resourceKinds.map((k) => [k, this.subs[k].dump()])),
      warming: this.warming(),
      lastModelError: this.lastPublishError,
    };
  }

  // -------------------------------------------------------------------------------------------
  // stream lifecycle

  private connect(): void {
    if (this.stopped) return;
    this.codec = this.mode === 'delta' ? createDeltaCodec() : createSotwCodec();
    const call = this.grpcClient[this.codec.method]();
    this.call = call;
    this.nodeSent = false;
    this.streams++;
    let ended = false;
    const onEnd = (reason: string) => {
      if (ended || this.call !== call) return;
      ended = true;
      this.connected = false;
      this.call = null;
      if (this.stopped) return;
      const delay = this.backoff.next();
      this.log.warn('xDS: stream closed; the last accepted config keeps serving', { reason, reconnectInMs: delay });
      this.reconnectTimer = setTimeout(() => this.connect(), delay);
    };
    call.on('data', (message: unknown) => {
      const receivedAt = performance.now();
      if (this.call !== call) return;
      if (!this.connected) this.log.info('xDS: stream established', { server: this.opts.address, mode: this.mode });
      this.connected = true;
      this.backoff.reset();
      this.onResponse(message, receivedAt);
    });
    call.on('error', (error: Error) => onEnd(error.message));
    call.on('status', (status: grpc.StatusObject) => onEnd(`status ${status.code}: ${status.details}`));
    call.on('end', () => onEnd('server ended the stream'));

    for (const kind of resourceKinds) {
      this.subs[kind].subscribedOnStream = false;
      this.subs[kind].nonce = ''; // nonces belong to a stream
    }
    if (this.subs.cluster.everAccepted) {
      // Resubscribe everything known, in xDS order, with the accepted versions.
      this.subscribe('cluster');
      if (this.subs.endpoint.names.size) this.subscribe('endpoint');
      this.subscribe('listener');
      if (this.subs.route.names.size) this.subscribe('route');
    } else {
      this.subscribe('cluster');
    }
  }

  private send(request: Record<string, unknown>): void {
    if (!this.call) return;
    if (!this.nodeSent) {
      request = { node: nodeMessage(this.node), ...request };
      this.nodeSent = true;
    }
    this.call.write(request);
  }

  private subscribe(kind: ResourceKind): void {
    const sub = this.subs[kind];
    sub.subscribedOnStream = true;
    this.send(this.codec!.subscribe(sub, { nonce: sub.nonce }));
  }

  // -------------------------------------------------------------------------------------------
  // responses

  private onResponse(message: unknown, receivedAt: number): void {
    try {
      this.handleResponse(message, receivedAt);
    } finally {
      this.validated = null; // only ever reused within the response it was made for
    }
  }

  private handleResponse(message: unknown, receivedAt: number): void {
    const event = this.codec!.parse(message);
    if (!event) {
      this.log.warn('xDS: response of a type Kmesh did not ask for; ignored', { typeUrl: (message as { type_url?: string }).type_url });
      return;
    }
    const sub = this.subs[event.kind];
    sub.nonce = event.nonce;
    // A delta EDS response that only updates known assignments needs no copy of the 10,000 others.
    const deltaFast = event.kind === 'endpoint' && !event.complete ? this.endpointFastPath(event, event.updated) : null;
    const candidate = deltaFast ? null : this.candidate(event);
    const fast = deltaFast ?? (event.kind === 'endpoint' && candidate ? this.endpointFastPath(event, candidate) : null);
    const problems = [...event.problems, ...(fast ? fast.problems : this.validate(event, candidate!))];
    if (problems.length > 0) {
      sub.lastNack = { at: new Date().toISOString(), version: event.version, nonce: event.nonce, reason: problems.join('; ') };
      this.send(this.codec!.answer(sub, { nonce: event.nonce, error: problems.join('; ') }));
      this.log.error(`xDS: NACK ${event.kind} version ${event.version || '(none)'}; the last accepted ${event.kind} resources keep serving`, {
        nonce: event.nonce,
        acceptedVersion: sub.version,
        errors: problems,
      });
      return;
    }
    let changed: boolean;
    if (candidate) {
      changed = !sameResources(sub.resources, candidate) || !sub.everAccepted;
      sub.resources = candidate;
    } else {
      changed = fast!.changed || !sub.everAccepted;
      for (const [name, resource] of event.updated) sub.resources.set(name, resource);
    }
    sub.version = event.version;
    sub.everAccepted = true;
    this.send(this.codec!.answer(sub, { nonce: event.nonce }));
    // The names only when few: at 10,000 services a sorted list per ACK costs milliseconds and 150 kB of log.
    const all = sub.resources;
    const names = all.size <= 50 ? { resources: [...all.keys()].sort() } : { resourceCount: all.size, updated: event.updated.size <= 50 ? [...event.updated.keys()] : event.updated.size };
    this.log.info(`xDS: ACK ${event.kind} version ${event.version || '(none)'}`, { nonce: event.nonce, ...names });
    // followUp may drop resources of names no longer referenced: then the translation is stale.
    const resourcesBefore = this.subs.endpoint.resources.size + this.subs.route.resources.size;
    this.followUp(event.kind);
    if (this.subs.endpoint.resources.size + this.subs.route.resources.size !== resourcesBefore) this.validated = null;
    if (!changed) return;
    if (fast?.model) this.publishModel(fast.model, receivedAt, fast.clusters);
    else this.publish(receivedAt);
  }

  /**
   * EDS fast path: when the previous model stands and this response only changes the endpoints
   * of existing assignments, translate just the clusters that use them and patch the previous
   * model, instead of translating every resource again (10,000 services: tens of ms → ~1 ms).
   * Returns null to take the full path (anything unusual: a removal, a new name, no model yet).
   */
  private endpointFastPath(event: ResponseEvent, candidate: Map<string, AcceptedResource>): { problems: string[]; model: MeshModel | null; clusters: Set<string>; changed: boolean } | null {
    const previous = this.lastModel;
    const sub = this.subs.endpoint;
    if (!previous || event.removed.length > 0 || !sub.everAccepted) return null;
    // State of the world: a name missing from the response is a removal (full path).
    if (event.complete && (candidate.size !== sub.resources.size || [...sub.resources.keys()].some((n) => !candidate.has(n)))) return null;
    const changedNames: string[] = [];
    for (const name of event.updated.keys()) {
      const old = sub.resources.get(name);
      // A new name may end warming, one not subscribed is dropped: both take the full path.
      if (!old || !candidate.has(name) || !sub.names.has(name)) return null;
      if (JSON.stringify(old.resource) !== JSON.stringify(candidate.get(name)!.resource)) changedNames.push(name);
    }
    const clusters = new Set<string>();
    const input = emptyResources();
    for (const service of changedNames) {
      const users = this.edsClusters.get(service);
      if (!users) return null;
      input.endpoints.set(service, candidate.get(service)!.resource);
      for (const name of users) {
        const resource = this.staticResources.clusters.get(name) ?? this.subs.cluster.resources.get(name)?.resource;
        if (resource === undefined) return null;
        input.clusters.set(name, resource);
        clusters.add(name);
      }
    }
    const translation = translateXds(input);
    const problems = translation.outcomes
      .filter((o) => o.kind === 'endpoint' && event.updated.has(o.name) && o.errors.length > 0)
      .flatMap((o) => o.errors.map((e) => `${o.kind} ${o.name}: ${e.path}: ${e.message}`));
    if (problems.length > 0) return { problems, model: null, clusters, changed: true };
    if (changedNames.length === 0) return { problems: [], model: null, clusters, changed: false };
    if (!translation.model) return null;
    const replaced = new Map(translation.model.clusters.map((c) => [c.name, c]));
    if ([...clusters].some((name) => !replaced.has(name))) return null;
    const model: MeshModel = { ...previous.model, clusters: previous.model.clusters.map((c) => replaced.get(c.name) ?? c) };
    return { problems: [], model, clusters, changed: true };
  }

  /** The resources of the event's type if it were accepted. */
  private candidate(event: ResponseEvent): Map<string, AcceptedResource> {
    const sub = this.subs[event.kind];
    const next = event.complete ? new Map<string, AcceptedResource>() : new Map(sub.resources);
    for (const name of event.removed) next.delete(name);
    for (const [name, r] of event.updated) next.set(name, r);
    if (!sub.wildcard) for (const name of [...next.keys()]) if (!sub.names.has(name)) next.delete(name);
    return next;
  }

  /** Every error the translator finds in a resource of this response (with its name and field). */
  private validate(event: ResponseEvent, candidate: Map<string, AcceptedResource>): string[] {
    const resources = this.currentResources();
    resources[resourceMapOf[event.kind]] = new Map([...candidate].map(([n, r]) => [n, r.resource]));
    const translation = translateXds(this.merged(resources));
    // Accepted, these are exactly the resources publish() translates: it reuses this translation
    // (at 10,000 services a translation takes seconds).
    this.validated = translation;
    return translation.outcomes
      .filter((o) => o.kind === event.kind && event.updated.has(o.name) && o.errors.length > 0)
      .flatMap((o) => o.errors.map((e) => `${o.kind} ${o.name}: ${e.path}: ${e.message}`));
  }

  /** After an accepted response: the subscriptions it implies, in xDS order. */
  private followUp(kind: ResourceKind): void {
    if (kind === 'cluster') {
      this.resubscribeIfChanged('endpoint', edsNames([...this.subs.cluster.resources.values()].map((r) => r.resource)));
      if (!this.subs.listener.subscribedOnStream) this.subscribe('listener');
    }
    if (kind === 'listener') {
      this.resubscribeIfChanged('route', routeNames([...this.subs.listener.resources.values()].map((r) => r.resource)));
    }
  }

  private resubscribeIfChanged(kind: 'endpoint' | 'route', names: Set<string>): void {
    const sub = this.subs[kind];
    if (sameSet(sub.names, names) && (sub.subscribedOnStream || names.size === 0)) return;
    sub.names = names;
    for (const name of [...sub.resources.keys()]) if (!names.has(name)) sub.resources.delete(name);
    this.subscribe(kind);
  }

  // -------------------------------------------------------------------------------------------
  // model

  private currentResources(): XdsResources {
    const r = emptyResources();
    for (const kind of resourceKinds) r[resourceMapOf[kind]] = this.subs[kind].resourceMap();
    // An EDS cluster whose endpoints did not arrive within the warming timeout is used with none
    // (as Envoy does after its initial fetch timeout), rather than left out.
    for (const name of this.subs.endpoint.names) {
      if (this.gaveUpWarming.has(name) && !r.endpoints.has(name)) {
        r.endpoints.set(name, { '@type': TypeUrl.endpoint, cluster_name: name, endpoints: [] });
      }
    }
    return r;
  }

  /** xDS resources with the static file's over them (a name in both: the file's). */
  private merged(resources: XdsResources): XdsResources {
    const out = { ...resources, listeners: new Map(resources.listeners), clusters: new Map(resources.clusters) };
    for (const [name, l] of this.staticResources.listeners) out.listeners.set(name, l);
    for (const [name, c] of this.staticResources.clusters) out.clusters.set(name, c);
    return out;
  }

  /** Clusters waiting for endpoints, listeners waiting for routes. */
  private warming(): { clusters: string[]; listeners: string[] } {
    const endpoints = this.subs.endpoint.resources;
    const routes = this.subs.route.resources;
    const clusters = [...this.subs.endpoint.names].filter((n) => !endpoints.has(n) && !this.gaveUpWarming.has(n));
    const listeners = [...this.subs.listener.resources]
      .filter(([, r]) => [...routeNames([r.resource])].some((n) => !routes.has(n) && !this.gaveUpWarming.has(n)))
      .map(([name]) => name);
    return { clusters, listeners };
  }

  private publish(receivedAt = performance.now()): void {
    this.lastModel = null; // until this publish produces one, the fast path has nothing to patch
    if (!this.subs.cluster.everAccepted || !this.subs.listener.everAccepted) return; // initial fetch not done
    const warming = this.warming();
    if (warming.clusters.length || warming.listeners.length) {
      this.log.info('xDS: warming; the model is applied once these arrive', warming);
      this.warmingTimer ??= setTimeout(() => {
        this.warmingTimer = null;
        const still = this.warming();
        for (const n of this.subs.endpoint.names) if (still.clusters.includes(n)) this.gaveUpWarming.add(n);
        for (const n of this.subs.route.names) if (!this.subs.route.resources.has(n)) this.gaveUpWarming.add(n);
        this.log.warn('xDS: warming timed out; applying without them', still);
        this.publish(performance.now());
      }, this.opts.warmingTimeoutMs ?? 5000);
      return;
    }
    if (this.warmingTimer) clearTimeout(this.warmingTimer);
    this.warmingTimer = null;
    const translation = this.validated ?? this.translateCurrent();
    this.validated = null;
    if (!translation.model) {
      const errors = [...translation.errors, ...translation.outcomes.flatMap((o) => o.errors)].map((e) => `${e.path}: ${e.message}`);
      this.lastPublishError = errors.join('; ');
      this.log.error('xDS: accepted resources do not form a valid model yet; the applied config keeps serving', { errors });
      return;
    }
    this.lastPublishError = null;
    this.edsClusters = new Map();
    for (const [name, resource] of this.merged(this.currentResources()).clusters) {
      const service = edsServiceName(resource);
      if (service !== undefined) this.edsClusters.set(service, [...(this.edsClusters.get(service) ?? []), name]);
    }
    this.lastModel = { model: translation.model, warnings: translation.warnings };
    this.handOver(translation.model, translation.warnings, receivedAt);
  }

  /** The fast path's model: the previous one with some clusters' endpoints replaced. */
  private publishModel(model: MeshModel, receivedAt: number, endpointClusters: Set<string>): void {
    const warnings = this.lastModel?.warnings ?? [];
    this.lastModel = { model, warnings };
    this.handOver(model, warnings, receivedAt, endpointClusters);
  }

  private handOver(model: MeshModel, warnings: Diagnostic[], receivedAt: number, endpointClusters?: Set<string>): void {
    const versions = Object.fromEntries(resourceKinds.map((k) => [k, this.subs[k].version])) as Record<ResourceKind, string>;
    try {
      this.opts.onModel(model, { warnings, versions, receivedAt, ...(endpointClusters ? { endpointClusters } : {}) });
    } catch (error) {
      this.log.error('xDS: applying the model failed', { error: (error as Error).message });
    }
  }
}

function sameResources(a: Map<string, AcceptedResource>, b: Map<string, AcceptedResource>): boolean {
  if (a.size !== b.size) return false;
  for (const [name, r] of a) {
    const other = b.get(name);
    if (other === r) continue; // delta keeps the unchanged entries' objects: no need to serialize them
    if (!other || JSON.stringify(other.resource) !== JSON.stringify(r.resource)) return false;
  }
  return true;
}
