/**
 * The L7 parser and router (kmesh_l7.bpf.o) of an instance at pin path P (issue 4):
 *   P/km_l7_vhost, km_l7_route, km_l7_hmatch, km_l7_hnames, km_l7_dfa   route tables (written by the
 *                                    generation store with every generation), pinned by libbpf by name
 *   P/km_l7_stats                    outcome counters
 *   P/km_l7_client, km_l7_decision, km_l7_sk, km_l7_anchor, km_l7_text   shared with connect4 and the relay
 *   P/links/kmesh_l7_sockops         sock_ops on the instance's cgroup (a pinned cgroup link)
 *   P/kmesh_l7_connect_outcome       syscall program the relay runs after each counted upstream connect
 *                                    (outlier detection of L7 connects), pinned, never attached
 *   kmesh_l7_sk_msg                  attached to km_l7_client as its msg_verdict program (the map holds it)
 *
 * Order at install: load → msg_verdict on km_l7_client → sock_ops on the cgroup (a socket takes the map's
 * programs when it is inserted). Installed before the generation store opens its maps, so the first
 * configuration already writes the route tables. `kmesh cleanup` needs nothing special: it detaches
 * every link under P/links and unpins every map.
 */
import { existsSync } from 'node:fs';
import { L7MapNames, L7StatNames, decodeL7Stats, type L7StatName } from '@kmesh/api';
import { l7Programs, objectPaths } from '@kmesh/orchestration';
import { BpfMap } from '@kmesh/runtime';
import { mapPin } from './pins.js';
import { inspectSockOpsObject, installSockOpsObject, removeSockOpsObject, type SockOpsObject, type SockOpsPins } from './sock-ops-object.js';

/** The maps only the L7 object declares (the shared ones may also come from the L4 object). */
/** The syscall program of kmesh_l7.bpf.o that the relay runs (BPF_PROG_RUN) to report a connect. */
const l7ConnectOutcomeProgram = l7Programs.find((p) => p.attach === 'run')!.name;

const ownMaps = [L7MapNames.vhost, L7MapNames.route, L7MapNames.headerMatch, L7MapNames.headerNames, L7MapNames.dfa, L7MapNames.stats];
const l7Object: SockOpsObject = {
  objectPath: objectPaths.l7,
  sockOpsProgram: l7Programs.find((p) => p.attach === 'sock_ops')!.name,
  msgVerdictProgram: l7Programs.find((p) => p.attach === 'msg_verdict')!.name,
  verdictMap: L7MapNames.client,
  pinnedMaps: Object.values(L7MapNames),
  ownMaps,
  pinnedPrograms: [l7ConnectOutcomeProgram],
};

/** Pin path of the relay's connect-outcome program for the instance at pinPath. */
export function l7ConnectOutcomePin(pinPath: string): string {
  return mapPin(pinPath, l7ConnectOutcomeProgram);
}

export type L7Pins = SockOpsPins;

/** What the pin path holds of the L7 object: its sock_ops link and its own maps, none, or some. */
export function inspectL7(pinPath: string): L7Pins {
  return inspectSockOpsObject(l7Object, pinPath);
}

/** True when this build has the L7 object (kmesh-orchestration built with it). */
export function l7Available(): boolean {
  return existsSync(objectPaths.l7);
}

/**
 * Load kmesh_l7.bpf.o for the instance and attach it. Idempotent: a complete pinned L7 part is adopted
 * ('adopted'); leftovers of an interrupted install are removed first.
 */
export function installL7(opts: { pinPath: string; cgroup: string }): 'installed' | 'adopted' {
  return installSockOpsObject(l7Object, opts);
}

/** Detach sock_ops and unpin the L7 object's own maps (the shared L7 maps stay with the L4 part). */
export function removeL7(pinPath: string): boolean {
  return removeSockOpsObject(l7Object, pinPath);
}

/** km_l7_stats summed over CPUs, or null when the instance has no L7 part. */
export function readL7Stats(pinPath: string): Record<L7StatName, number> | null {
  const pin = mapPin(pinPath, L7MapNames.stats);
  if (!existsSync(pin)) return null;
  const map = BpfMap.fromPin(pin);
  try {
    return decodeL7Stats(
      L7StatNames.map((_, index) => {
        const key = Buffer.alloc(4);
        key.writeUInt32LE(index);
        return map.lookup(key);
      }),
    );
  } finally {
    map.close();
  }
}

/** The route-table maps for the generation store, when the L7 object is pinned. */
export function openL7ConfigMaps(
  pinPath: string,
  opened: BpfMap[],
): { l7Vhost?: BpfMap; l7Route?: BpfMap; l7HeaderMatch?: BpfMap; l7HeaderNames?: BpfMap; l7Dfa?: BpfMap; l7Text?: BpfMap } {
  const names = { l7Vhost: L7MapNames.vhost, l7Route: L7MapNames.route, l7HeaderMatch: L7MapNames.headerMatch, l7HeaderNames: L7MapNames.headerNames, l7Dfa: L7MapNames.dfa, l7Text: L7MapNames.text };
  if (!Object.values(names).every((n) => existsSync(mapPin(pinPath, n)))) return {};
  const out: Record<string, BpfMap> = {};
  for (const [kind, name] of Object.entries(names)) {
    const map = BpfMap.fromPin(mapPin(pinPath, name));
    opened.push(map);
    out[kind] = map;
  }
  return out;
}

/** `{ l7Parser: counters }` for the admin /stats body, or nothing when the L7 object is not loaded. */
export function withL7ParserStats(pinPath: string): { l7Parser?: Record<L7StatName, number> } {
  const stats = readL7Stats(pinPath);
  return stats ? { l7Parser: stats } : {};
}
