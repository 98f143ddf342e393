/**
 * The L7 relay inside the daemon: started after the BPF objects are loaded (they pin the L7 maps),
 * stopped with the daemon. It serves the namespaces given with --l7-netns (the daemon's own when
 * none) and registers one anchor per namespace in km_l7_anchor; connect4 sends a namespace's http
 * listener connections to its anchor only while that entry exists, so stopping the relay returns
 * those connections to the L4 behaviour.
 *
 * Like sockmap and the probe, the relay is never fatal: when it cannot start, the daemon logs why
 * and keeps serving L4.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { objectPaths } from '@kmesh/orchestration';
import { BpfMap, BpfObject, L7Relay, type BpfLink, type L7RelayDirectMaps, type L7RelayStats } from '@kmesh/runtime';
import type { AdminResponse } from '../admin/server.js';
import { inspectL7, l7ConnectOutcomePin } from '../kernel/l7.js';
import { mapPin } from '../kernel/pins.js';
import type { Logger } from '../log.js';

export interface L7DaemonOptions {
  /** false: --no-l7 (no relay, no anchors: http listeners keep the L4 behaviour) */
  enabled: boolean;
  /** namespaces served, by path (--l7-netns); empty = the daemon's own */
  netns: string[];
  /** --l7-anchor-port (default 15001) */
  anchorPort: number;
  /** --l7-head-timeout in seconds (default: the relay's, 300 s; 0 = never) */
  headTimeoutS?: number;
  /** same-node direct path (default on): kmesh_l7_direct.bpf.o on the mesh cgroup */
  direct?: boolean;
}

/** The direct-path object, built next to the L4 object by the orchestration package. */
export const l7DirectObjectPath = join(dirname(objectPaths.l4), 'kmesh_l7_direct.bpf.o');

/** Its programs: the sock_ops on the mesh cgroup and the two verdict programs on their sockhashes. */
const directVerdicts = [
  { program: 'kmesh_l7_upstream_msg', map: 'km_l7_upstream' },
  { program: 'kmesh_l7_server_msg', map: 'km_l7_server' },
] as const;

/**
 * The same-node direct path: loaded with the daemon's pin path (its maps are shared by name with
 * the parser object), attached for the relay's lifetime only (links are not pinned).
 */
class DirectPath {
  private constructor(
    private readonly object: BpfObject,
    private readonly link: BpfLink,
    readonly maps: L7RelayDirectMaps,
    private readonly verdictMaps: BpfMap[],
  ) {}

  static attach(pinPath: string, cgroup: string): DirectPath {
    const object = BpfObject.open(l7DirectObjectPath, { pinRoot: pinPath });
    const attached: Array<() => void> = [];
    try {
      object.load();
      const verdictMaps: BpfMap[] = [];
      // Verdict programs before the sock_ops: a socket's programs are fixed when it enters a sockhash.
      for (const { program, map } of directVerdicts) {
        const m = object.map(map);
        verdictMaps.push(m);
        object.program(program).attachToMap(m, 'msg_verdict');
        attached.push(() => object.program(program).detachFromMap(m, 'msg_verdict'));
      }
      const link = object.program('kmesh_l7_direct_sockops').attachCgroup(cgroup);
      const maps = {
        expectMap: object.map('km_l7_expect'),
        upstreamMap: object.map('km_l7_upstream'),
        directMap: object.map('km_l7_direct'),
        peerMap: object.map('km_l7_peer'),
      };
      return new DirectPath(object, link, maps, verdictMaps);
    } catch (error) {
      for (const undo of attached) undo();
      object.close();
      throw error;
    }
  }

  detach(): void {
    this.link.detach();
    this.link.close();
    directVerdicts.forEach(({ program }, i) => {
      try {
        this.object.program(program).detachFromMap(this.verdictMaps[i]!, 'msg_verdict');
      } catch {
        // already gone with its map
      }
      this.verdictMaps[i]!.close();
    });
    for (const m of Object.values(this.maps)) m.close();
    this.object.close();
  }
}

export const defaultL7AnchorPort = 15001;

/** The L7 contract maps the relay needs, as pinned by the BPF objects (kmesh_l7_maps.h). */
const relayMaps = { decisionMap: 'km_l7_decision', anchorMap: 'km_l7_anchor', textMap: 'km_l7_text' } as const;

export class DaemonL7 {
  private constructor(
    private readonly relay: L7Relay,
    private readonly maps: BpfMap[],
    private readonly direct: DirectPath | null,
  ) {}

  /** Starts the relay (and the direct path when `cgroup` is given), or logs why it cannot and
   *  returns null. */
  static start(opts: L7DaemonOptions, pinPath: string, log: Logger, cgroup?: string): DaemonL7 | null {
    clearStaleAnchors(pinPath, log);
    if (!opts.enabled) {
      log.info('L7 relay off (--no-l7): http listeners keep the L4 behaviour');
      return null;
    }
    // Without the parser no decision is ever stored: an anchor would turn every http connection into
    // a 503. No anchor keeps them on the L4 path instead.
    if (inspectL7(pinPath) !== 'complete') {
      log.error('L7 relay not started: the L7 parser (kmesh_l7.bpf.o) is not attached to this instance; http listeners keep the L4 behaviour', { pinPath });
      return null;
    }
    const missing = Object.values(relayMaps).filter((name) => !existsSync(mapPin(pinPath, name)));
    if (missing.length > 0) {
      log.error('L7 relay not started: the loaded BPF objects pinned no L7 maps; http listeners keep the L4 behaviour', {
        pinPath,
        missing,
      });
      return null;
    }
    const maps: BpfMap[] = [];
    let direct: DirectPath | null = null;
    if (cgroup !== undefined && opts.direct !== false) {
      try {
        direct = DirectPath.attach(pinPath, cgroup);
      } catch (error) {
        log.warn('L7 direct path unavailable; same-node L7 connections stay relayed', { error: (error as Error).message });
      }
    }
    try {
      const open = (name: string) => {
        const map = BpfMap.fromPin(mapPin(pinPath, name));
        maps.push(map);
        return map;
      };
      const outcomePin = l7ConnectOutcomePin(pinPath);
      const relay = L7Relay.start({
        decisionMap: open(relayMaps.decisionMap),
        anchorMap: open(relayMaps.anchorMap),
        textMap: open(relayMaps.textMap),
        netns: opts.netns.length > 0 ? opts.netns : [''],
        anchorPort: opts.anchorPort,
        ...(opts.headTimeoutS !== undefined ? { requestHeadTimeoutMs: opts.headTimeoutS * 1000 } : {}),
        ...(existsSync(outcomePin) ? { connectOutcomeProgram: outcomePin } : {}),
        ...(direct ? { direct: direct.maps } : {}),
      });
      const anchors = relay.anchors().map((a) => ({ netns: a.netns || '(own)', port: a.port, ipv6: a.ipv6, cookie: a.cookie.toString() }));
      log.info('L7 relay started', { anchors, directPath: direct !== null });
      return new DaemonL7(relay, maps, direct);
    } catch (error) {
      for (const map of maps) map.close();
      direct?.detach();
      log.error('L7 relay failed to start; http listeners keep the L4 behaviour', { error: (error as Error).message });
      return null;
    }
  }

  stats(): L7RelayStats {
    return this.relay.stats();
  }

  /** Prometheus text lines of the relay's counters. */
  metrics(): string {
    const s = this.relay.stats();
    const lines: string[] = [];
    const metric = (name: string, type: 'counter' | 'gauge', help: string, samples: Array<[string, number]>) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
    };
    metric('kmesh_l7_relay_accepted_total', 'counter', 'Client connections accepted on the L7 anchors.', [['', s.accepted]]);
    metric('kmesh_l7_relay_forwarded_total', 'counter', 'Connections joined to their endpoint.', [['', s.forwarded]]);
    metric(
      'kmesh_l7_relay_verdicts_total',
      'counter',
      'Routing decisions taken by the relay, by verdict.',
      Object.entries(s.verdicts).map(([verdict, n]) => [`{verdict="${verdict}"}`, n] as [string, number]),
    );
    metric('kmesh_l7_relay_no_decision_total', 'counter', 'Connections that sent bytes without a routing decision (503).', [['', s.noDecision]]);
    metric('kmesh_l7_relay_late_decisions_total', 'counter', 'Connections whose bytes reached the relay before their routing decision was found (found by a later look, no 503).', [['', s.lateDecisions]]);
    metric('kmesh_l7_relay_connect_failures_total', 'counter', 'Upstream connects that failed, by reason.', [
      ['{reason="refused"}', s.connectRefused],
      ['{reason="timeout"}', s.connectTimeouts],
      ['{reason="error"}', s.connectErrors],
    ]);
    metric('kmesh_l7_relay_responses_total', 'counter', 'HTTP responses generated by the relay itself.', [['', s.responses]]);
    metric('kmesh_l7_relay_direct_connections_total', 'counter', 'Connections switched to the same-node direct path.', [['', s.directConnections]]);
    metric('kmesh_l7_relay_direct_misses_total', 'counter', 'Announced direct connections that stayed relayed.', [['', s.directMisses]]);
    metric('kmesh_l7_relay_resets_total', 'counter', 'Relayed connections ended by a reset.', [['', s.resets]]);
    metric('kmesh_l7_relay_bytes_total', 'counter', 'Bytes relayed, by direction.', [
      ['{direction="to_upstream"}', s.bytesToUpstream],
      ['{direction="to_client"}', s.bytesToClient],
    ]);
    metric('kmesh_l7_relay_active_connections', 'gauge', 'Connections the relay holds now.', [['', s.activeConnections]]);
    metric('kmesh_l7_relay_open_fds', 'gauge', 'File descriptors the relay holds now.', [['', s.openFds]]);
    return lines.join('\n');
  }

  /** Closes every relayed connection and anchor and deletes the km_l7_anchor entries. */
  stop(): void {
    this.relay.stop();
    for (const map of this.maps) map.close();
    this.direct?.detach();
  }
}

/**
 * Anchors left registered by a daemon that died without stopping its relay point connect4 at sockets
 * nobody listens on: every http connection of those namespaces would be refused. Only the relay writes
 * km_l7_anchor, so at start every entry is stale.
 */
function clearStaleAnchors(pinPath: string, log: Logger): void {
  const pin = mapPin(pinPath, relayMaps.anchorMap);
  if (!existsSync(pin)) return;
  const map = BpfMap.fromPin(pin);
  try {
    const stale = map.keys();
    for (const key of stale) map.delete(key);
    if (stale.length > 0) log.warn('removed L7 anchors left by a previous daemon', { anchors: stale.length });
  } finally {
    map.close();
  }
}

type Route = (query: URLSearchParams) => AdminResponse | Promise<AdminResponse>;

/**
 * Adds the relay to the admin API: its counters under `l7Relay` in /stats, its metrics appended to
 * /metrics (alone when the probe is off).
 */
export function withL7AdminRoutes<T extends Record<string, Route>>(routes: T, current: () => DaemonL7 | null): T {
  const stats = routes['/stats'];
  const metrics = routes['/metrics'];
  return {
    ...routes,
    '/stats': async (query: URLSearchParams) => {
      const response = stats ? await stats(query) : { status: 200, body: {} };
      const l7 = current();
      if (!l7 || response.status !== 200 || typeof response.body !== 'object' || response.body === null) return response;
      return { status: 200, body: { ...(response.body as object), l7Relay: l7.stats() } };
    },
    '/metrics': async (query: URLSearchParams) => {
      const response = metrics ? await metrics(query) : { status: 503, body: '' };
      const l7 = current();
      if (!l7) return response;
      if (response.status === 200 && typeof response.body === 'string') return { status: 200, body: `${response.body}\n${l7.metrics()}` };
      return { status: 200, body: l7.metrics() };
    },
  };
}
