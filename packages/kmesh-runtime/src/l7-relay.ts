// L7Relay: the native relay thread of the L7 (HTTP/1.1) path. It owns one anchor (a listening socket
// on 127.0.0.1:anchorPort, and ::1 when possible) per served network namespace, registers it in
// km_l7_anchor, and for every client the kernel sent there takes the kernel's routing decision from
// km_l7_decision and either joins the client to the chosen endpoint (splice both ways) or answers
// itself (404 / 400 / 503 / direct response / redirect). It runs on its own thread: nothing of it
// runs on the Node event loop.
import { errnoCode } from './errors.js';
import { nativeMap, type BpfMap } from './map.js';
import { native } from './native.js';

export interface L7RelayOptions {
  /** km_l7_decision (LRU_HASH km_l7_conn_key -> km_l7_decision). */
  decisionMap: BpfMap;
  /** km_l7_anchor (HASH netns cookie -> km_l7_anchor). */
  anchorMap: BpfMap;
  /** km_l7_text (ARRAY of direct-response bodies and redirect locations). */
  textMap: BpfMap;
  /** Network namespaces to serve, by path (e.g. /run/netns/client); '' = this process's own.
   *  Default: ['']. */
  netns?: string[];
  /** Port of the anchors (127.0.0.1 and ::1 in every namespace). 0 = any free port, per namespace
   *  (see anchors()). Default 15001. */
  anchorPort?: number;
  /** Connect timeout when a decision carries 0. Default 5000 ms (Envoy's default). */
  defaultConnectTimeoutMs?: number;
  /** Capacity of each splice pipe in bytes (two per relayed connection, filled only as far as bytes
   *  wait: the bound of a connection's buffered memory). Default 256 KiB; 0 = the kernel's 64 KiB. */
  pipeSize?: number;
  /** Same-node direct path (kernel/include/kmesh_l7_direct.h): the four maps shared with
   *  kmesh_l7_direct.bpf.o and the parser. Without them every connection is relayed. */
  direct?: L7RelayDirectMaps;
  /** Direct path: how long after connect the endpoint's socket may take to appear (default 2 ms). */
  directWaitMs?: number;
  /** A client that has not completed its first request head by then is answered 408 and closed (the
   *  kernel holds an incomplete head back, so such a client would otherwise hold its connection
   *  forever). Default 300000 ms (Envoy's stream idle timeout); 0 = never. */
  requestHeadTimeoutMs?: number;
  /** Pin path of kmesh_l7_connect_outcome (a syscall program of kmesh_l7.bpf.o): for a counted
   *  decision the relay runs it once, with a failed connect or a relayed connection's first response,
   *  so L7 upstreams feed the kernel's outlier detection. Without it they eject nothing. */
  connectOutcomeProgram?: string;
  /** After a generated response, how long the relay reads and drops the rest of the request before
   *  closing (closing with unread bytes would reset the connection). Default 1000 ms. */
  closeDrainMs?: number;
}

export interface L7RelayDirectMaps {
  /** km_l7_expect (LRU_HASH km_l7_expect_key -> km_l7_expect) */
  expectMap: BpfMap;
  /** km_l7_upstream (SOCKHASH km_l7_conn_key -> the relay's upstream socket) */
  upstreamMap: BpfMap;
  /** km_l7_direct (HASH km_l7_conn_key -> km_l7_direct) */
  directMap: BpfMap;
  /** km_l7_peer (SK_STORAGE -> km_l7_conn_key) */
  peerMap: BpfMap;
}

export interface L7RelayAnchor {
  /** The namespace path as given ('' = this process's own). */
  netns: string;
  /** SO_NETNS_COOKIE of the namespace: the km_l7_anchor key and the netns of km_l7_conn_key. */
  cookie: bigint;
  port: number;
  /** An IPv6 anchor on ::1 is open too. */
  ipv6: boolean;
}

export interface L7RelayVerdictCounts {
  forward: number;
  noRoute: number;
  badRequest: number;
  noEndpoint: number;
  directResponse: number;
  redirect: number;
  /** The route's cluster was at max_connections: answered 503 (x-envoy-overloaded). */
  circuitOpen: number;
}

export interface L7RelayStats {
  /** Client connections accepted on the anchors. */
  accepted: number;
  /** Connections joined to their endpoint (upstream connected). */
  forwarded: number;
  /** Decisions taken, by verdict. */
  verdicts: L7RelayVerdictCounts;
  /** Connections whose bytes arrived without a decision (answered 503). */
  noDecision: number;
  /** Connections whose bytes arrived before their decision was found, found by a later look. */
  lateDecisions: number;
  unknownVerdict: number;
  connectRefused: number;
  connectTimeouts: number;
  /** Other connect failures (unreachable, ...). */
  connectErrors: number;
  /** Clients answered 408: no complete request head within requestHeadTimeoutMs. */
  headTimeouts: number;
  /** Upstream outcomes (a failed connect, a relayed connection's first response) reported to the kernel's
   *  outlier detection. */
  connectReports: number;
  /** Reports the kernel refused (the program failed to run). */
  reportErrors: number;
  /** HTTP responses the relay generated itself. */
  responses: number;
  /** Relayed connections ended by a reset from either side (propagated to the other). */
  resets: number;
  acceptErrors: number;
  /** Directions that fell back from splice to read/write. */
  spliceFallbacks: number;
  /** Connections switched to the same-node direct path. */
  directConnections: number;
  /** Announced direct connections whose endpoint socket did not appear in time (stayed relayed). */
  directMisses: number;
  bytesToUpstream: number;
  bytesToClient: number;
  activeConnections: number;
  /** Every fd the relay holds: anchors, sockets, pipes, namespace and map fds, epoll. */
  openFds: number;
}

/** The relay could not start: which namespace, which call, which errno. */
export class L7RelayError extends Error {
  /** The namespace path as given ('' = this process's own). */
  readonly netns: string;
  readonly op: string;
  readonly errno: number;
  /** Symbolic errno, e.g. 'EADDRINUSE'. */
  readonly code: string;

  constructor(message: string, netns: string, op: string, errno: number) {
    super(`${message} (${errnoCode(errno)})`);
    this.name = 'L7RelayError';
    this.netns = netns;
    this.op = op;
    this.errno = errno;
    this.code = errnoCode(errno);
  }
}

interface NativeL7RelayHandle {
  stats(): L7RelayStats | { stopped: true };
  anchors(): L7RelayAnchor[];
  stop(): void;
}

type NativeL7RelayCtor = new (options: Record<string, unknown>) => NativeL7RelayHandle;

const emptyStats: L7RelayStats = {
  accepted: 0,
  forwarded: 0,
  verdicts: { forward: 0, noRoute: 0, badRequest: 0, noEndpoint: 0, directResponse: 0, redirect: 0, circuitOpen: 0 },
  noDecision: 0,
  lateDecisions: 0,
  unknownVerdict: 0,
  connectRefused: 0,
  connectTimeouts: 0,
  connectErrors: 0,
  headTimeouts: 0,
  connectReports: 0,
  reportErrors: 0,
  responses: 0,
  resets: 0,
  acceptErrors: 0,
  spliceFallbacks: 0,
  directConnections: 0,
  directMisses: 0,
  bytesToUpstream: 0,
  bytesToClient: 0,
  activeConnections: 0,
  openFds: 0,
};

export class L7Relay {
  readonly #native: NativeL7RelayHandle;
  readonly #anchors: L7RelayAnchor[];
  #last: L7RelayStats = emptyStats;
  #stopped = false;

  private constructor(handle: NativeL7RelayHandle) {
    this.#native = handle;
    this.#anchors = handle.anchors();
  }

  /** Opens the anchors (throws L7RelayError naming the namespace and errno when one cannot be
   *  opened; then nothing stays open or registered), registers them and starts the relay thread. */
  static start(options: L7RelayOptions): L7Relay {
    const Ctor = (native as unknown as { NativeL7Relay: NativeL7RelayCtor }).NativeL7Relay;
    const netns = options.netns ?? [''];
    try {
      return new L7Relay(
        new Ctor({
          decisionMap: nativeMap(options.decisionMap),
          anchorMap: nativeMap(options.anchorMap),
          textMap: nativeMap(options.textMap),
          netns,
          anchorPort: options.anchorPort ?? 15001,
          defaultConnectTimeoutMs: options.defaultConnectTimeoutMs,
          pipeSize: options.pipeSize,
          closeDrainMs: options.closeDrainMs,
          directWaitMs: options.directWaitMs,
          connectOutcomeProgram: options.connectOutcomeProgram,
          requestHeadTimeoutMs: options.requestHeadTimeoutMs,
          direct: options.direct && {
            expectMap: nativeMap(options.direct.expectMap),
            upstreamMap: nativeMap(options.direct.upstreamMap),
            directMap: nativeMap(options.direct.directMap),
            peerMap: nativeMap(options.direct.peerMap),
          },
        }),
      );
    } catch (error) {
      const e = error as { message?: string; op?: unknown; errno?: unknown; netns?: unknown };
      if (typeof e?.op === 'string' && typeof e.errno === 'number' && typeof e.netns === 'string') {
        throw new L7RelayError(String(e.message), e.netns, e.op, e.errno);
      }
      throw error;
    }
  }

  /** The anchors, one per namespace, in the order of `netns`. */
  anchors(): L7RelayAnchor[] {
    return this.#anchors.map((a) => ({ ...a }));
  }

  /** Counters (a snapshot; after stop() the last snapshot taken before stopping). */
  stats(): L7RelayStats {
    if (this.#stopped) return { ...this.#last, activeConnections: 0, openFds: 0 };
    return this.#native.stats() as L7RelayStats;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** Closes every connection and anchor, deletes the km_l7_anchor entries and joins the thread.
   *  Idempotent. */
  stop(): void {
    if (this.#stopped) return;
    this.#last = this.#native.stats() as L7RelayStats;
    this.#native.stop();
    this.#stopped = true;
  }
}
