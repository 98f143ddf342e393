// Reads the Kmesh counters (km_stats, a PERCPU_ARRAY pinned by the daemon) with bpftool, so the
// bench checks the data path itself and not only what the daemon says about it.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/** enum kmesh_stat in kernel/include/kmesh_abi.h */
export const KMESH_STAT_CONNECT_REWRITTEN = 0;

/** Sum over CPUs of one km_stats counter; the key is a u32 in host (little-endian) order. */
export function readKmeshStat(pinPath: string, index: number): number {
  const map = join(pinPath, 'km_stats');
  const key = [index & 0xff, (index >> 8) & 0xff, (index >> 16) & 0xff, (index >>> 24) & 0xff].map(String);
  let out: string;
  try {
    out = execFileSync('bpftool', ['-j', 'map', 'lookup', 'pinned', map, 'key', ...key], { encoding: 'utf8' });
  } catch (err) {
    throw new Error(`cannot read ${map} with bpftool: ${(err as { stderr?: string }).stderr?.trim() || (err as Error).message}`);
  }
  return sumPercpu(JSON.parse(out));
}

export function readRewrittenCount(pinPath: string): number {
  return readKmeshStat(pinPath, KMESH_STAT_CONNECT_REWRITTEN);
}

type PercpuValue = { cpu: number; value: unknown };

/**
 * bpftool prints either the BTF-formatted form ({formatted: {values: [{cpu, value: 123}]}}) or raw
 * bytes ({values: [{cpu, value: ["0x01", ...]}]}), depending on whether the map has BTF.
 */
export function sumPercpu(doc: unknown): number {
  const entry = (Array.isArray(doc) ? doc[0] : doc) as { values?: PercpuValue[]; formatted?: { values?: PercpuValue[] } };
  const values = entry?.formatted?.values ?? entry?.values;
  if (!Array.isArray(values)) throw new Error(`bpftool output is not a per-CPU map value: ${JSON.stringify(doc).slice(0, 200)}`);
  let sum = 0;
  for (const v of values) {
    if (typeof v.value === 'number') sum += v.value;
    else if (Array.isArray(v.value)) sum += v.value.reduce((acc: number, b: unknown, i: number) => acc + parseInt(String(b), 16) * 2 ** (8 * i), 0);
    else throw new Error(`bpftool per-CPU value of unknown form: ${JSON.stringify(v)}`);
  }
  return sum;
}
