/**
 * In-memory stand-ins for the kernel maps and the ABI codec, for unit tests of the
 * generation logic. Keys start with the generation (u32, host order) like the real ABI.
 */
import type { ClusterModel, KernelRecords, MeshModel } from '@kmesh/api';
import type { ConfigMap, RecordCodec } from '../src/kernel/generations.js';

export class FakeMap implements ConfigMap {
  readonly entries = new Map<string, Buffer>();
  /** Make the n-th update from now fail (1 = the next one). */
  failAfter = 0;
  updates = 0;
  constructor(readonly name: string) {}
  lookup(key: Buffer): Buffer | null {
    return this.entries.get(key.toString('hex')) ?? null;
  }
  update(key: Buffer, value: Buffer, flag?: 'any' | 'noexist' | 'exist'): void {
    this.updates++;
    if (this.failAfter > 0 && --this.failAfter === 0) throw new Error('E2BIG: map full');
    if (flag === 'exist' && !this.entries.has(key.toString('hex'))) throw new Error('ENOENT: no such key');
    this.entries.set(key.toString('hex'), Buffer.from(value));
  }
  delete(key: Buffer): boolean {
    return this.entries.delete(key.toString('hex'));
  }
  keys(): Buffer[] {
    return [...this.entries.keys()].map((k) => Buffer.from(k, 'hex'));
  }
}

export function fakeMaps() {
  return { active: new FakeMap('km_active'), listener: new FakeMap('km_listener'), cluster: new FakeMap('km_cluster'), endpoint: new FakeMap('km_endpoint') };
}

function key(gen: number, ...rest: number[]): Buffer {
  const b = Buffer.alloc(4 * (rest.length + 1));
  b.writeUInt32LE(gen, 0);
  rest.forEach((n, i) => b.writeUInt32LE(n, 4 * (i + 1)));
  return b;
}

/** A fake cluster record value: {endpoint count, endpoint set} then the name. */
function clusterValue(count: number, set: number, name: string): Buffer {
  return Buffer.concat([key(count, set), Buffer.from(name)]);
}

function clusterEndpoints(c: ClusterModel, clusterId: number, gen: number, set: number) {
  return {
    cluster: { key: key(gen, clusterId), value: clusterValue(c.endpoints.length, set, c.name) },
    endpoints: c.endpoints.map((e, i) => ({ key: key(set, clusterId, i), value: Buffer.from(e.address.ip) })),
  };
}

/**
 * One listener record per listener, one cluster record per cluster, one endpoint record per
 * endpoint. Endpoint keys are (set, cluster id, index); cluster values name their set.
 */
export const fakeCodec: RecordCodec & { capacityErrors: string[] } = {
  capacityErrors: [],
  checkCapacity() {
    return this.capacityErrors.map((message) => ({ severity: 'error' as const, path: 'static_resources', message }));
  },
  encodeModel(model: MeshModel, gen: number): KernelRecords {
    const clusterIds = new Map(model.clusters.map((c, i) => [c.name, i + 1]));
    return {
      listeners: model.listeners.map((l) => ({ key: key(gen, l.address.port), value: Buffer.from(l.name) })),
      clusters: model.clusters.map((c) => clusterEndpoints(c, clusterIds.get(c.name)!, gen, gen).cluster),
      endpoints: model.clusters.flatMap((c) => clusterEndpoints(c, clusterIds.get(c.name)!, gen, gen).endpoints),
      chains: [],
      clusterIds,
    };
  },
  encodeActive(gen: number, version: number): Buffer {
    const b = Buffer.alloc(8);
    b.writeUInt32LE(gen, 0);
    b.writeUInt32LE(version, 4);
    return b;
  },
  activeKey: () => Buffer.alloc(4),
  generationOfKey: (k: Buffer) => k.readUInt32LE(0),
  encodeClusterEndpoints: clusterEndpoints,
  encodeEndpointKey: (set: number, clusterId: number, index: number) => key(set, clusterId, index),
  clusterRecordEndpoints: (k: Buffer, v: Buffer) => ({ clusterId: k.readUInt32LE(4), count: v.readUInt32LE(0), set: v.readUInt32LE(4) }),
  endpointKeyRef: (k: Buffer) => ({ set: k.readUInt32LE(0), clusterId: k.readUInt32LE(4) }),
  maxEndpointsPerGeneration: 1000,
};

export function model(listeners: number, endpointsPerCluster: number): MeshModel {
  const clusters = Array.from({ length: listeners }, (_, i) => ({
    name: `c${i}`,
    lbPolicy: 'ROUND_ROBIN' as const,
    endpoints: Array.from({ length: endpointsPerCluster }, (_, j) => ({
      address: { family: 4 as const, ip: `10.250.${i}.${j + 1}`, port: 8080 },
      weight: 1,
      health: 'HEALTHY' as const,
      priority: 0,
    })),
  }));
  return {
    listeners: clusters.map((c, i) => ({ name: `l${i}`, address: { family: 4 as const, ip: `10.96.0.${i + 1}`, port: 80 + i }, route: { clusters: [{ name: c.name, weight: 1 }] } })),
    clusters,
  };
}
