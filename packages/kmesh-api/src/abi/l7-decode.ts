/**
 * Decoders of the L7 records for `kmeshctl dump stats` / the admin /stats: km_l7_stats counters.
 */
import { L7StatNames, type L7StatName } from './l7-layout.js';

/**
 * km_l7_stats: one per-CPU u64 per reason. `values[i]` is the lookup result of key i (possibleCpus
 * u64 slots, host order); returns the sum per reason name.
 */
export function decodeL7Stats(values: readonly (Buffer | null)[]): Record<L7StatName, number> {
  const out = Object.fromEntries(L7StatNames.map((n) => [n, 0])) as Record<L7StatName, number>;
  L7StatNames.forEach((name, i) => {
    const buf = values[i];
    if (!buf) return;
    let sum = 0n;
    for (let at = 0; at + 8 <= buf.length; at += 8) sum += buf.readBigUInt64LE(at);
    out[name] = Number(sum);
  });
  return out;
}
