/**
 * Which km_chain entries a wildcard listener becomes. Shared by the capacity
 * check (count, conflicts) and the encoder (keys), so both see the same plan.
 *
 * Envoy picks a filter chain by destination port first, then by the longest
 * destination prefix: when some chain names the listener's port, only those
 * chains are candidates; otherwise only the chains without a port are. A chain
 * for another port never matches (the listener only gets its own port).
 * The kernel then sees the candidates whose match it can evaluate
 * (kernelMatchable) as one LPM entry per prefix range; a chain without prefix
 * ranges is one entry of prefix length 0 in the listener's family.
 * Each wildcard port also gets a sentinel entry {gen, port}/48 that only
 * matches when no chain does (KMESH_ACTION_NO_CHAIN), so km_stats can tell
 * "port is a wildcard listener, no chain" from "not a listener".
 */
import { AddressFamily, ChainPrefix } from './layout.js';
import type { ChainAction, CidrRange, ListenerModel, MeshModel } from '../model.js';
import { parseIp } from '../resources/address.js';

/** One km_chain entry, before the generation is known. */
export interface ChainEntry {
  /** Where it came from, for messages: "listener web chain c0" or "listener web (no chain sentinel)". */
  origin: string;
  /** km_chain_key.prefixlen: ChainPrefix.header + address prefix, or ChainPrefix.portSentinel. */
  prefixBits: number;
  port: number;
  /** AddressFamily code; 0 in the sentinel. */
  familyCode: number;
  /** 16 network-order bytes, masked to the prefix. */
  ip: Buffer;
  action: ChainAction | { kind: 'no_chain' };
}

export interface ChainPlan {
  entries: ChainEntry[];
  /** Two chains with the same (port, family, prefix): Envoy rejects such a listener, so do we. */
  conflicts: { path: string; message: string }[];
}

/** A listener whose connects are routed by filter chain rather than by its own address. */
export function isWildcardListener(listener: ListenerModel): boolean {
  return listener.filterChains !== undefined || listener.address.ip === '0.0.0.0' || listener.address.ip === '::';
}

/** A listener that gets a km_listener record (exact address, not virtual). */
export function isExactListener(listener: ListenerModel): boolean {
  return !listener.virtual && !isWildcardListener(listener);
}

/** The 16 address bytes of a prefix range with the host bits cleared. */
export function maskedPrefix(range: CidrRange): Buffer {
  const max = range.family === 4 ? 32 : 128;
  if (!Number.isInteger(range.prefixLen) || range.prefixLen < 0 || range.prefixLen > max) {
    throw new RangeError(`prefix length ${range.prefixLen} of ${range.ip} is outside 0..${max}`);
  }
  const parsed = parseIp(range.ip);
  if (!parsed || parsed.family !== range.family) throw new RangeError(`"${range.ip}" is not an IPv${range.family} address`);
  const out = Buffer.alloc(16);
  parsed.bytes.copy(out, 0);
  for (let bit = range.prefixLen; bit < max; bit++) out[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return out;
}

function familyCode(family: 4 | 6): number {
  return family === 6 ? AddressFamily.inet6 : AddressFamily.inet;
}

/** The chains of a wildcard listener that the kernel evaluates, per Envoy's port-then-prefix order. */
export function kernelChains(listener: ListenerModel): NonNullable<ListenerModel['filterChains']> {
  const chains = listener.filterChains ?? [];
  const port = listener.address.port;
  const portSpecific = chains.filter((c) => c.match.destinationPort === port);
  const candidates = portSpecific.length > 0 ? portSpecific : chains.filter((c) => c.match.destinationPort === undefined);
  return candidates.filter((c) => c.kernelMatchable);
}

function listenerEntries(listener: ListenerModel): ChainEntry[] {
  const port = listener.address.port;
  const entries: ChainEntry[] = [];
  for (const chain of kernelChains(listener)) {
    const origin = `listener ${listener.name} chain ${chain.name}`;
    const ranges: CidrRange[] = chain.match.prefixRanges.length > 0
      ? chain.match.prefixRanges
      : [{ family: listener.address.family, ip: listener.address.family === 6 ? '::' : '0.0.0.0', prefixLen: 0 }];
    for (const range of ranges) {
      entries.push({
        origin,
        prefixBits: ChainPrefix.header + range.prefixLen,
        port,
        familyCode: familyCode(range.family),
        ip: maskedPrefix(range),
        action: chain.action,
      });
    }
  }
  entries.push({
    origin: `listener ${listener.name} (no chain sentinel)`,
    prefixBits: ChainPrefix.portSentinel,
    port,
    familyCode: 0,
    ip: Buffer.alloc(16),
    action: { kind: 'no_chain' },
  });
  return entries;
}

function identity(e: ChainEntry): string {
  return `${e.prefixBits}/${e.port}/${e.familyCode}/${e.ip.toString('hex')}`;
}

/** Every km_chain entry of the model, sentinels shared by port; conflicts listed, not thrown. */
export function planChains(model: MeshModel): ChainPlan {
  const seen = new Map<string, ChainEntry>();
  const conflicts: ChainPlan['conflicts'] = [];
  model.listeners.forEach((listener, i) => {
    if (listener.virtual || !isWildcardListener(listener)) return;
    for (const entry of listenerEntries(listener)) {
      const id = identity(entry);
      const earlier = seen.get(id);
      if (!earlier) {
        seen.set(id, entry);
      } else if (entry.action.kind !== 'no_chain') {
        conflicts.push({
          path: `listeners[${i}](name=${listener.name}).filter_chains`,
          message: `${entry.origin} and ${earlier.origin} match the same destination prefix on port ${entry.port}: the kernel could not tell them apart`,
        });
      }
    }
  });
  return { entries: [...seen.values()], conflicts };
}
