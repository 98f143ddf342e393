/**
 * KernelState: the generation store (generations.ts) bound to an instance's pinned maps.
 */
import { existsSync } from 'node:fs';
import * as api from '@kmesh/api';
import { BpfMap } from '@kmesh/runtime';
import { GenerationStore, type GenerationMaps, type GenerationStoreOptions, type RecordCodec } from './generations.js';
import { mapPin } from './pins.js';
import { openResilienceConfigMaps, ResilienceJanitor } from './resilience.js';
import { openL7ConfigMaps } from './l7.js';

export const apiCodec: RecordCodec = {
  checkCapacity: api.checkCapacity,
  encodeModel: api.encodeModel,
  encodeActive: api.encodeActive,
  activeKey: api.activeKey,
  generationOfKey: api.generationOfKey,
  generationOfChainKey: api.generationOfChainKey,
  generationOfL7VhostKey: api.generationOfL7VhostKey,
  // One cluster's record and endpoints (with its MAGLEV/RING_HASH table), as encodeModel writes them.
  encodeClusterEndpoints: api.encodeClusterEndpoints,
  encodeEndpointKey: api.encodeEndpointKey,
  clusterRecordEndpoints: (key, value) => {
    const v = api.decodeClusterValue(value);
    // A hashing cluster's table follows its endpoints in the same set (kmesh_abi.h): both go together.
    return { clusterId: api.decodeClusterKey(key).clusterId, set: v.endpointSet, count: v.endpointCount + v.lbTableSize };
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
  /** `kmesh run --locality`: this node's region/zone/sub_zone, over the config's node.locality (issue 6). */
  nodeLocality?: string;
  /** issue 4: load the L7 parser object (kmesh_l7.bpf.o) with the instance; default true when it is built. */
  l7?: boolean;
}

export class KernelState extends GenerationStore {
  private constructor(
    private readonly bpfMaps: GenerationMaps & { stats: BpfMap },
    readonly pinPath: string,
    readonly cgroup: string,
    options: GenerationStoreOptions,
  ) {
    super(bpfMaps, apiCodec, options);
    this.nodeLocality = (options as KernelStateOptions).nodeLocality;
  }

  private readonly nodeLocality: string | undefined;

  /** Applies model; a node locality given on the command line wins over the config's node.locality. */
  override apply(model: api.MeshModel): ReturnType<GenerationStore['apply']> {
    const result = super.apply(this.nodeLocality === undefined ? model : { ...model, nodeLocality: this.nodeLocality });
    this.janitor.noteModel(model);
    return result;
  }

  // issue 6 part A: live connection state of removed clusters, endpoints and listeners is deleted
  // after the sweep that retires the generations still naming them (kernel/resilience.ts).
  private janitorInstance: ResilienceJanitor | undefined;
  private get janitor(): ResilienceJanitor {
    return (this.janitorInstance ??= new ResilienceJanitor(this.pinPath));
  }

  override applyEndpoints(changed: readonly api.ClusterModel[], ejected?: ReadonlyMap<string, ReadonlySet<string>>): ReturnType<GenerationStore['applyEndpoints']> {
    const result = super.applyEndpoints(changed, ejected); // ejected: issue 6 part B (kernel/ejection-failover.ts)
    this.janitor.noteEndpoints(changed);
    return result;
  }

  override sweep(options: { force?: boolean } = {}): ReturnType<GenerationStore['sweep']> {
    const result = super.sweep(options);
    if (result.deleted > 0) {
      try {
        this.janitor.sweep();
      } catch {
        // Housekeeping only: the next sweep tries again; generations are already swept.
      }
    }
    return result;
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
        // issue 6 part A: per-generation limit records (absent in objects older than the resilience maps)
        ...openResilienceConfigMaps(opts.pinPath, opened),
        // issue 4: L7 route tables (absent when the L7 object is not loaded)
        ...openL7ConfigMaps(opts.pinPath, opened),
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
