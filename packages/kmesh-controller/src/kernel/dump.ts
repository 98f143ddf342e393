/**
 * Decoded views of the kernel maps for the admin API (/maps, /stats).
 */
import * as api from '@kmesh/api';
import { decodeActiveValue, type ActiveGeneration, type ConfigMap } from './generations.js';

export interface DecodedRecord {
  key: unknown;
  value: unknown;
}

export interface GenerationDump {
  gen: number;
  active: boolean;
  listeners: DecodedRecord[];
  chains: DecodedRecord[];
  clusters: DecodedRecord[];
  endpoints: DecodedRecord[];
}

export interface MapsDump {
  active: ActiveGeneration;
  generations: GenerationDump[];
}

type Decoder = (b: Buffer) => unknown;
type TableMap = 'listener' | 'chain' | 'cluster' | 'endpoint';
const tables: readonly { field: 'listeners' | 'chains' | 'clusters' | 'endpoints'; map: TableMap; key: Decoder; value: Decoder; gen: (b: Buffer) => number }[] = [
  { field: 'listeners', map: 'listener', key: api.decodeListenerKey, value: api.decodeListenerValue, gen: api.generationOfKey },
  // km_chain keys start with the LPM prefix length; the generation follows it.
  { field: 'chains', map: 'chain', key: api.decodeChainKey, value: api.decodeChainValue, gen: api.generationOfChainKey },
  { field: 'clusters', map: 'cluster', key: api.decodeClusterKey, value: api.decodeClusterValue, gen: api.generationOfKey },
  // km_endpoint keys start with the endpoint set; dumpMaps files them under the generation whose
  // cluster record names the set (an in-place set of nobody's: under the set number itself).
  { field: 'endpoints', map: 'endpoint', key: api.decodeEndpointKey, value: api.decodeEndpointValue, gen: api.generationOfKey },
];

export function dumpMaps(maps: Record<'active' | 'listener' | 'cluster' | 'endpoint', ConfigMap> & { chain?: ConfigMap }): MapsDump {
  const active = decodeActiveValue(maps.active.lookup(api.activeKey()));
  const byGen = new Map<number, GenerationDump>();
  /** "set:cluster id" → generation of the cluster record naming it */
  const namedBy = new Map<string, number>();
  for (const table of tables) {
    const map = maps[table.map];
    if (!map) continue;
    for (const key of map.keys()) {
      const value = map.lookup(key);
      if (!value) continue; // deleted between keys() and lookup()
      let gen = table.gen(key);
      if (table.field === 'clusters') {
        namedBy.set(`${api.decodeClusterValue(value).endpointSet}:${api.decodeClusterKey(key).clusterId}`, gen);
      } else if (table.field === 'endpoints') {
        const ref = api.decodeEndpointKey(key);
        gen = namedBy.get(`${ref.set}:${ref.clusterId}`) ?? gen;
      }
      let dump = byGen.get(gen);
      if (!dump) {
        dump = { gen, active: gen === active.gen, listeners: [], chains: [], clusters: [], endpoints: [] };
        byGen.set(gen, dump);
      }
      dump[table.field].push({ key: table.key(key), value: table.value(value) });
    }
  }
  // Active generation first, then the others newest first.
  const generations = [...byGen.values()].sort((a, b) => Number(b.active) - Number(a.active) || b.gen - a.gen);
  return { active, generations };
}

/** km_stats: a per-CPU array of u64, one slot per StatNames entry, summed over CPUs. */
export function dumpStats(stats: ConfigMap): Record<string, number> {
  const result: Record<string, number> = {};
  api.StatNames.forEach((name: string, index: number) => {
    const value = stats.lookup(api.statKey(index));
    result[name] = value ? Number(api.decodePercpuCounter(value)) : 0;
  });
  return result;
}
