// A small ADS server for tests and demos: serves SotW (StreamAggregatedResources) and delta
// (DeltaAggregatedResources) from an in-memory resource set, pushes every change to the open
// streams, and records every request it receives (with its ACK/NACK meaning) for assertions.
import { createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import { TypeUrl, resourceKinds, type ResourceKind } from '@kmesh/controller';
import { encodeAny, envoyRoot } from './protos.js';
import { emptySet, type ResourceSet } from './resources.js';

export interface RecordedRequest {
  at: number;
  stream: number;
  mode: 'sotw' | 'delta';
  kind: ResourceKind | undefined;
  typeUrl: string;
  /** 'subscribe' (no response_nonce), 'ack', or 'nack' (error_detail set) */
  meaning: 'subscribe' | 'ack' | 'nack';
  versionInfo: string;
  nonce: string;
  resourceNames: string[];
  subscribe: string[];
  unsubscribe: string[];
  initialVersions: Record<string, string>;
  errorDetail: { code: number; message: string } | null;
  nodeId: string | undefined;
  node: Record<string, unknown> | undefined;
}

interface TypeState {
  /** a request for this type was received */
  subscribed: boolean;
  wildcard: boolean;
  names: Set<string>;
  /** delta: versions the client has of each name */
  known: Map<string, string>;
}

interface Stream {
  id: number;
  mode: 'sotw' | 'delta';
  call: grpc.ServerDuplexStream<unknown, unknown>;
  types: Map<ResourceKind, TypeState>;
}

const nameOf = (kind: ResourceKind, r: unknown) => String((r as Record<string, unknown>)[kind === 'endpoint' ? 'cluster_name' : 'name']);
const kindOf = (typeUrl: string) => resourceKinds.find((k) => TypeUrl[k] === typeUrl);

function resourceVersion(r: unknown): string {
  return createHash('sha256').update(JSON.stringify(r)).digest('hex').slice(0, 12);
}

function methodDefinition(path: string, request: protobuf.Type, response: protobuf.Type): grpc.MethodDefinition<unknown, unknown> {
  const toObject = (t: protobuf.Type) => (b: Buffer) => t.toObject(t.decode(b), { longs: Number, enums: String, defaults: false, json: true });
  const toBytes = (t: protobuf.Type) => (o: unknown) => Buffer.from(t.encode(t.fromObject(o as Record<string, unknown>)).finish());
  return {
    path, requestStream: true, responseStream: true,
    requestSerialize: toBytes(request), requestDeserialize: toObject(request),
    responseSerialize: toBytes(response), responseDeserialize: toObject(response),
  };
}

export class XdsServer {
  readonly requests: RecordedRequest[] = [];
  private resources: ResourceSet = emptySet();
  private versions: Record<ResourceKind, number> = { cluster: 0, endpoint: 0, listener: 0, route: 0 };
  private server: grpc.Server | null = null;
  private streams = new Set<Stream>();
  private nextStream = 1;
  private nextNonce = 1;
  private boundPort = 0;
  private waiters = new Set<() => void>();

  get port(): number {
    return this.boundPort;
  }

  get address(): string {
    return `127.0.0.1:${this.boundPort}`;
  }

  /** Listen on 127.0.0.1:port (0: any free port; a restart reuses the port it had). */
  async start(port = this.boundPort, credentials = grpc.ServerCredentials.createInsecure()): Promise<void> {
    const root = envoyRoot();
    const req = root.lookupType('envoy.service.discovery.v3.DiscoveryRequest');
    const res = root.lookupType('envoy.service.discovery.v3.DiscoveryResponse');
    const dreq = root.lookupType('envoy.service.discovery.v3.DeltaDiscoveryRequest');
    const dres = root.lookupType('envoy.service.discovery.v3.DeltaDiscoveryResponse');
    const base = '/envoy.service.discovery.v3.AggregatedDiscoveryService';
    const server = new grpc.Server();
    server.addService(
      {
        StreamAggregatedResources: methodDefinition(`${base}/StreamAggregatedResources`, req, res),
        DeltaAggregatedResources: methodDefinition(`${base}/DeltaAggregatedResources`, dreq, dres),
      },
      {
        StreamAggregatedResources: (call: grpc.ServerDuplexStream<unknown, unknown>) => this.serve(call, 'sotw'),
        DeltaAggregatedResources: (call: grpc.ServerDuplexStream<unknown, unknown>) => this.serve(call, 'delta'),
      },
    );
    this.boundPort = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${port}`, credentials, (err, p) => (err ? reject(err) : resolve(p))),
    );
    this.server = server;
  }

  /** Close every stream and stop listening (start() again brings it back on the same port). */
  async stop(): Promise<void> {
    for (const s of this.streams) s.call.destroy();
    this.streams.clear();
    this.server?.forceShutdown();
    this.server = null;
  }

  /** Replace the resources of the given types (types not named keep theirs) and push them. */
  setResources(update: Partial<ResourceSet>): void {
    for (const kind of resourceKinds) {
      if (!update[kind]) continue;
      this.resources[kind] = [...update[kind]];
      this.versions[kind]++;
    }
    for (const kind of resourceKinds) {
      if (!update[kind]) continue;
      for (const s of this.streams) if (s.types.get(kind)?.subscribed) this.push(s, kind);
    }
  }

  getResources(): ResourceSet {
    return { ...this.resources };
  }

  version(kind: ResourceKind): string {
    return String(this.versions[kind]);
  }

  get openStreams(): number {
    return this.streams.size;
  }

  /** Resolve with the first recorded request (from index `from`) matching `match`. */
  waitForRequest(match: (r: RecordedRequest) => boolean, timeoutMs = 5000, from = 0): Promise<RecordedRequest> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.requests.slice(from).find(match);
        if (!found) return false;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(found);
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`no matching xDS request within ${timeoutMs} ms; received:\n${this.requests.map(formatRequest).join('\n')}`));
      }, timeoutMs);
      if (!check()) this.waiters.add(check);
    });
  }

  // -------------------------------------------------------------------------------------------

  private serve(call: grpc.ServerDuplexStream<unknown, unknown>, mode: 'sotw' | 'delta'): void {
    const stream: Stream = { id: this.nextStream++, mode, call, types: new Map() };
    this.streams.add(stream);
    const close = () => this.streams.delete(stream);
    call.on('data', (m: Record<string, unknown>) => this.onRequest(stream, m));
    call.on('end', () => { close(); call.end(); });
    call.on('error', close);
    call.on('cancelled', close);
  }

  private onRequest(stream: Stream, m: Record<string, unknown>): void {
    const typeUrl = String(m.type_url ?? '');
    const kind = kindOf(typeUrl);
    const error = (m.error_detail as { code?: number; message?: string } | undefined) ?? null;
    const nonce = String(m.response_nonce ?? '');
    const node = m.node as Record<string, unknown> | undefined;
    const record: RecordedRequest = {
      at: Date.now(), stream: stream.id, mode: stream.mode, kind, typeUrl,
      meaning: nonce === '' ? 'subscribe' : error ? 'nack' : 'ack',
      versionInfo: String(m.version_info ?? ''), nonce,
      resourceNames: (m.resource_names as string[]) ?? [],
      subscribe: (m.resource_names_subscribe as string[]) ?? [],
      unsubscribe: (m.resource_names_unsubscribe as string[]) ?? [],
      initialVersions: (m.initial_resource_versions as Record<string, string>) ?? {},
      errorDetail: error ? { code: error.code ?? 0, message: error.message ?? '' } : null,
      nodeId: node?.id as string | undefined, node,
    };
    this.requests.push(record);
    for (const w of [...this.waiters]) w();
    if (!kind) return;

    const first = !stream.types.has(kind);
    const state: TypeState = stream.types.get(kind) ?? { subscribed: true, wildcard: false, names: new Set(), known: new Map() };
    stream.types.set(kind, state);
    let changed = first;
    if (stream.mode === 'sotw') {
      const names = new Set(record.resourceNames);
      state.wildcard = names.size === 0 && (kind === 'cluster' || kind === 'listener');
      changed ||= names.size !== state.names.size || [...names].some((n) => !state.names.has(n));
      state.names = names;
      // A request with a version other than the current one (a resubscribe) also gets a response.
      if (record.meaning === 'subscribe' && record.versionInfo !== this.version(kind)) changed = true;
    } else {
      if (first) {
        state.wildcard = record.subscribe.length === 0 && (kind === 'cluster' || kind === 'listener');
        for (const [n, v] of Object.entries(record.initialVersions)) state.known.set(n, v);
      }
      for (const n of record.subscribe) if (n === '*') state.wildcard = true; else state.names.add(n);
      for (const n of record.unsubscribe) { state.names.delete(n); state.known.delete(n); }
      changed ||= record.subscribe.length > 0;
    }
    if (changed) this.push(stream, kind, first);
  }

  private selected(state: TypeState, kind: ResourceKind): unknown[] {
    return this.resources[kind].filter((r) => state.wildcard || state.names.has(nameOf(kind, r)));
  }

  private push(stream: Stream, kind: ResourceKind, first = false): void {
    const state = stream.types.get(kind)!;
    const typeUrl = TypeUrl[kind];
    const nonce = String(this.nextNonce++);
    const chosen = this.selected(state, kind);
    if (stream.mode === 'sotw') {
      stream.call.write({ version_info: this.version(kind), type_url: typeUrl, nonce, resources: chosen.map((r) => encodeAny(typeUrl, r)) });
      return;
    }
    const changedResources = chosen.filter((r) => state.known.get(nameOf(kind, r)) !== resourceVersion(r));
    const present = new Set(chosen.map((r) => nameOf(kind, r)));
    const removed = [...state.known.keys()].filter((n) => !present.has(n));
    if (!first && changedResources.length === 0 && removed.length === 0) return;
    for (const r of changedResources) state.known.set(nameOf(kind, r), resourceVersion(r));
    for (const n of removed) state.known.delete(n);
    stream.call.write({
      system_version_info: this.version(kind), type_url: typeUrl, nonce, removed_resources: removed,
      resources: changedResources.map((r) => ({ name: nameOf(kind, r), version: resourceVersion(r), resource: encodeAny(typeUrl, r) })),
    });
  }
}

export function formatRequest(r: RecordedRequest): string {
  const names = r.mode === 'sotw' ? `names=[${r.resourceNames.join(',')}]` : `+[${r.subscribe.join(',')}] -[${r.unsubscribe.join(',')}] initial=${JSON.stringify(r.initialVersions)}`;
  return `#${r.stream} ${r.mode} ${r.kind ?? r.typeUrl} ${r.meaning} version=${r.versionInfo} nonce=${r.nonce} ${names}${r.errorDetail ? ` error=${r.errorDetail.code}:${r.errorDetail.message}` : ''}`;
}
