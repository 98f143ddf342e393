/**
 * Sockmap acceleration of same-node mesh connections (kmesh_sockmap.bpf.o), next to the L4 programs
 * of an instance at pin path P:
 *   P/km_sock, P/km_sock_stats     the sockhash and its counters (pinned by libbpf, by name)
 *   P/links/kmesh_sockops          sock_ops on the instance's cgroup (a pinned cgroup link)
 *   kmesh_sk_msg                   attached to km_sock as its msg_verdict program: the map holds the
 *                                  program, so it lives exactly as long as the pinned map
 *
 * Order at install: load → msg_verdict on the map → sock_ops on the cgroup. A socket takes the map's
 * programs when it is inserted, so the verdict must be there before sock_ops inserts anything.
 * `kmesh cleanup` needs nothing special: it detaches every link under P/links and unpins every map,
 * and the verdict program goes with the map.
 *
 * The verdict program is attached with BpfProgram.attachToMap (BPF_PROG_ATTACH with the map as target):
 * there is no link to pin, the map holds it. An adopted sockmap keeps the program its map holds.
 */
import { existsSync } from 'node:fs';
import { SockmapMapNames, SockStatNames, type SockStatName } from '@kmesh/api';
import { objectPaths, sockmapPrograms } from '@kmesh/orchestration';
import { BpfMap } from '@kmesh/runtime';
import { mapPin } from './pins.js';
import { inspectSockOpsObject, installSockOpsObject, removeSockOpsObject, type SockOpsObject, type SockOpsPins } from './sock-ops-object.js';

const mapNames = Object.values(SockmapMapNames);
const sockmapObject: SockOpsObject = {
  objectPath: objectPaths.sockmap,
  sockOpsProgram: sockmapPrograms.find((p) => p.attach === 'sock_ops')!.name,
  msgVerdictProgram: sockmapPrograms.find((p) => p.attach === 'msg_verdict')!.name,
  verdictMap: SockmapMapNames.sockets,
  pinnedMaps: mapNames,
  ownMaps: mapNames,
};

export type SockmapPins = SockOpsPins;

/** What the pin path holds of the sockmap part: the sock_ops link and both maps, none, or some. */
export function inspectSockmap(pinPath: string): SockmapPins {
  return inspectSockOpsObject(sockmapObject, pinPath);
}

/**
 * Load kmesh_sockmap.bpf.o for the instance and attach it. Idempotent: a complete pinned sockmap is
 * adopted as it is ('adopted'); leftovers of an interrupted install are removed first.
 */
export function installSockmap(opts: { pinPath: string; cgroup: string }): 'installed' | 'adopted' {
  return installSockOpsObject(sockmapObject, opts);
}

/**
 * Turn the acceleration off for an instance: detach sock_ops, unpin the sockhash and its counters.
 * Sockets already in the map are released with it (their next messages take the TCP path).
 * Returns true when something was removed.
 */
export function removeSockmap(pinPath: string): boolean {
  return removeSockOpsObject(sockmapObject, pinPath);
}

export type SockStats = Record<SockStatName, { count: number; bytes: number }>;

/** km_sock_stats summed over CPUs, or null when the instance has no sockmap. */
export function readSockStats(pinPath: string): SockStats | null {
  const pin = mapPin(pinPath, SockmapMapNames.stats);
  if (!existsSync(pin)) return null;
  const map = BpfMap.fromPin(pin);
  try {
    const stats = {} as SockStats;
    for (const [index, name] of SockStatNames.entries()) {
      const key = Buffer.alloc(4);
      key.writeUInt32LE(index);
      const value = map.lookup(key);
      let count = 0n;
      let bytes = 0n;
      // Per-CPU value: possibleCpus() slots of 16 bytes (count, bytes).
      for (let off = 0; value && off + 16 <= value.length; off += 16) {
        count += value.readBigUInt64LE(off);
        bytes += value.readBigUInt64LE(off + 8);
      }
      stats[name] = { count: Number(count), bytes: Number(bytes) };
    }
    return stats;
  } finally {
    map.close();
  }
}

/** Sockets in km_sock now, or null when the instance has no sockmap. */
export function countSockets(pinPath: string): number | null {
  const pin = mapPin(pinPath, SockmapMapNames.sockets);
  if (!existsSync(pin)) return null;
  const map = BpfMap.fromPin(pin);
  try {
    return map.keys().length;
  } finally {
    map.close();
  }
}
