/**
 * KernelState: the generation store (generations.ts) bound to an instance's pinned maps.
 */
import { existsSync } from 'node:fs';
import * as api from '@kmesh/api';
import { BpfMap } from '@kmesh/runtime';
import { GenerationStore, type GenerationMaps, type GenerationStoreOptions, type RecordCodec } from './generations.js';
import { mapPin } from './pins.js';

/** One cluster's record (naming endpoint set `set`) and its endpoints, as encodeModel writes them. */
function encodeClusterEndpoints(cluster: api.ClusterModel, clusterId: number, gen: number, set: number): { cluster: api.KernelRecord; endpoints: api.KernelRecord[] } {
  const usable = api.usableEndpoints(cluster).endpoints;
  let cum = 0;
  const endpoints = usable.map((e, index) => ({ key: api.encodeEndpointKey(set, clusterId, index), value: api.encodeEndpointValue(e, (cum += e.weight)) }));
  return { cluster: { key: api.encodeClusterKey(gen, clusterId), value: api.encodeClusterValue(cluster.lbPolicy, usable.length, cum, set) }, endpoints };
}

export const apiCodec: RecordCodec = {
  checkCapacity: api.checkCapacity,
  encodeModel: api.encodeModel,
  encodeActive: api.encodeActive,
  activeKey: api.activeKey,
  generationOfKey: api.generationOfKey,
  generationOfChainKey: api.generationOfChainKey,
  encodeClusterEndpoints,
  encodeEndpointKey: api.encodeEndpointKey,
  clusterRecordEndpoints: (key, value) => {
    const v = api.decodeClusterValue(value);
    return { clusterId: api.decodeClusterKey(key).clusterId, set: v.endpointSet, count: v.endpointCount };
  },
  endpointKeyRef: (key) => {
    const k = api.decodeEndpointKey(key);
    return { set: k.set, clusterId: k.clusterId };
  },
  maxEndpointsPerGeneration: api.Limits.endpoints / 2,
};

export interface KernelStateOptions extends GenerationStoreOptions {
  pinPath: string;
  cgroup: string;
}

export class KernelState extends GenerationStore {
  private constructor(
    private readonly bpfMaps: GenerationMaps & { stats: BpfMap },
    readonly pinPath: string,
    readonly cgroup: string,
    options: GenerationStoreOptions,
  ) {
    super(bpfMaps, apiCodec, options);
  }

  /** Open the instance's maps by their pins (they must exist: after a load, or when adopting). */
  static open(opts: KernelStateOptions): KernelState {
    const names = api.MapNames;
    const opened: BpfMap[] = [];
    const open = (name: string): BpfMap => {
      const path = mapPin(opts.pinPath, name);
      if (!existsSync(path)) throw new Error(`map ${name} is not pinned at ${path}`);
      const map = BpfMap.fromPin(path);
      opened.push(map);
      return map;
    };
    try {
      const maps = {
        active: open(names.active),
        listener: open(names.listener),
        chain: open(names.chain),
        cluster: open(names.cluster),
        endpoint: open(names.endpoint),
        stats: open(names.stats),
      };
      return new KernelState(maps, opts.pinPath, opts.cgroup, opts);
    } catch (error) {
      for (const map of opened) map.close();
      throw error;
    }
  }

  /** The opened maps, for the admin API's decoded dumps. */
  get mapsForDump(): { active: BpfMap; listener: BpfMap; chain: BpfMap; cluster: BpfMap; endpoint: BpfMap; stats: BpfMap } {
    return this.bpfMaps as { active: BpfMap; listener: BpfMap; chain: BpfMap; cluster: BpfMap; endpoint: BpfMap; stats: BpfMap };
  }

  /** Stop the sweep timer and close the map fds; the pins (and the traffic) stay. */
  override close(): void {
    super.close();
    for (const map of Object.values(this.bpfMaps)) (map as BpfMap).close();
  }
}
