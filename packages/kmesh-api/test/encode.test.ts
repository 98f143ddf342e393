import { describe, expect, it } from 'vitest';
import {
  activeKey,
  AddressFamily,
  CapacityError,
  checkCapacity,
  decodeActive,
  decodeClusterKey,
  decodeClusterValue,
  decodeEndpointKey,
  decodeEndpointValue,
  decodeListenerKey,
  decodeListenerValue,
  decodeOrigDst,
  decodePercpuCounter,
  encodeActive,
  encodeModel,
  generationOfKey,
  Limits,
  Structs,
  type ClusterModel,
  type EndpointModel,
  type MeshModel,
} from '../src/index.js';

function ep(ip: string, weight = 1, extra: Partial<EndpointModel> = {}): EndpointModel {
  return { address: { family: ip.includes(':') ? 6 : 4, ip, port: 8080 }, weight, health: 'HEALTHY', priority: 0, ...extra };
}

function model(): MeshModel {
  return {
    listeners: [{ name: 'web', address: { family: 4, ip: '10.96.0.1', port: 80 }, route: { clusters: [{ name: 'zeta', weight: 90 }, { name: 'alpha', weight: 10 }] } }],
    clusters: [
      { name: 'zeta', lbPolicy: 'RANDOM', endpoints: [ep('10.250.1.2', 3), ep('10.250.1.3', 1), ep('10.250.1.4', 6)] },
      { name: 'alpha', lbPolicy: 'ROUND_ROBIN', endpoints: [ep('fd00:6b6d:1::2')] },
    ],
  };
}

describe('encodeModel', () => {
  it('assigns cluster ids 1..N in sorted-name order', () => {
    expect([...encodeModel(model(), 1).clusterIds]).toEqual([
      ['alpha', 1],
      ['zeta', 2],
    ]);
  });

  it('round-trips a listener: key address and route with running sums', () => {
    const r = encodeModel(model(), 7);
    expect(r.listeners).toHaveLength(1);
    expect(decodeListenerKey(r.listeners[0]!.key)).toEqual({ gen: 7, address: { family: 4, ip: '10.96.0.1', port: 80 } });
    expect(decodeListenerValue(r.listeners[0]!.value)).toEqual({ action: 'TCP_PROXY', clusterCount: 2, totalWeight: 100, clusterIds: [2, 1], cumWeights: [90, 100], weights: [90, 10] });
  });

  it('leaves weight-0 clusters out of the listener value', () => {
    const m = model();
    m.listeners[0]!.route.clusters[1]!.weight = 0;
    expect(decodeListenerValue(encodeModel(m, 1).listeners[0]!.value)).toMatchObject({ clusterCount: 1, totalWeight: 90, clusterIds: [2] });
  });

  it('round-trips clusters and dense endpoints with cumulative weights', () => {
    const r = encodeModel(model(), 3);
    const clusters = r.clusters.map((c) => ({ ...decodeClusterKey(c.key), ...decodeClusterValue(c.value) }));
    expect(clusters).toContainEqual({ gen: 3, clusterId: 2, lbPolicy: 'RANDOM', endpointCount: 3, totalWeight: 10, rrCursor: 0, endpointSet: 3, lbTableSize: 0, rrStride: 1 });
    expect(clusters).toContainEqual({ gen: 3, clusterId: 1, lbPolicy: 'ROUND_ROBIN', endpointCount: 1, totalWeight: 1, rrCursor: 0, endpointSet: 3, lbTableSize: 0, rrStride: 1 });
    const zeta = r.endpoints.map((e) => ({ ...decodeEndpointKey(e.key), ...decodeEndpointValue(e.value) })).filter((e) => e.clusterId === 2);
    // A full push names every cluster's endpoints by the generation.
    expect(new Set(r.endpoints.map((e) => decodeEndpointKey(e.key).set))).toEqual(new Set([3]));
    expect(zeta.map((e) => [e.index, e.address.ip, e.weight, e.cumWeight])).toEqual([
      [0, '10.250.1.2', 3, 3],
      [1, '10.250.1.3', 1, 4],
      [2, '10.250.1.4', 6, 10],
    ]);
  });

  it('round-trips an IPv6 endpoint', () => {
    const r = encodeModel(model(), 1);
    const alpha = r.endpoints.find((e) => decodeEndpointKey(e.key).clusterId === 1)!;
    expect(decodeEndpointValue(alpha.value).address).toEqual({ family: 6, ip: 'fd00:6b6d:1::2', port: 8080 });
  });

  it('stores ip and port in network order, family as AF_INET, counters little-endian', () => {
    const key = encodeModel(model(), 0x01020304).listeners[0]!.key;
    expect(key.length).toBe(Structs.km_listener_key.size);
    expect([...key.subarray(0, 4)]).toEqual([4, 3, 2, 1]);
    expect([...key.subarray(4, 8)]).toEqual([10, 96, 0, 1]);
    expect([...key.subarray(8, 20)]).toEqual(new Array(12).fill(0));
    expect([...key.subarray(20, 22)]).toEqual([0, 80]);
    expect(key[22]).toBe(AddressFamily.inet);
    expect(key[23]).toBe(0);
  });

  it('encodes only endpoints able to take connections, from the lowest usable priority', () => {
    const m = model();
    m.clusters[0]!.endpoints = [
      ep('10.250.1.2', 1, { health: 'UNHEALTHY' }),
      ep('10.250.1.3', 1, { health: 'DRAINING' }),
      ep('10.250.1.4', 1, { health: 'TIMEOUT' }),
      ep('10.250.1.5', 2, { priority: 1, health: 'DEGRADED' }),
      ep('10.250.1.6', 5, { priority: 1, health: 'UNKNOWN' }),
      ep('10.250.1.7', 1, { priority: 2 }),
    ];
    const r = encodeModel(m, 1);
    const zeta = r.endpoints.filter((e) => decodeEndpointKey(e.key).clusterId === 2).map((e) => decodeEndpointValue(e.value));
    expect(zeta.map((e) => [e.address.ip, e.cumWeight])).toEqual([
      ['10.250.1.5', 2],
      ['10.250.1.6', 7],
    ]);
    const value = decodeClusterValue(r.clusters.find((c) => decodeClusterKey(c.key).clusterId === 2)!.value);
    expect(value).toMatchObject({ endpointCount: 2, totalWeight: 7 });
  });

  it('encodes a cluster with no usable endpoint as count 0 and no endpoint records', () => {
    const m = model();
    m.clusters[1]!.endpoints = [ep('fd00:6b6d:1::2', 1, { health: 'UNHEALTHY' })];
    const r = encodeModel(m, 1);
    expect(decodeClusterValue(r.clusters.find((c) => decodeClusterKey(c.key).clusterId === 1)!.value)).toMatchObject({ endpointCount: 0, totalWeight: 0 });
    expect(r.endpoints.some((e) => decodeEndpointKey(e.key).clusterId === 1)).toBe(false);
  });

  it('rejects generation 0 and non-integers', () => {
    expect(() => encodeModel(model(), 0)).toThrow(RangeError);
    expect(() => encodeModel(model(), 1.5)).toThrow(RangeError);
  });

  it('every key starts with its generation', () => {
    const r = encodeModel(model(), 42);
    for (const rec of [...r.listeners, ...r.clusters, ...r.endpoints]) expect(generationOfKey(rec.key)).toBe(42);
  });
});

describe('km_active and other structs', () => {
  it('round-trips km_active, whose key is index 0', () => {
    expect(decodeActive(encodeActive(5, 9))).toEqual({ gen: 5, version: 9 });
    expect([...activeKey()]).toEqual([0, 0, 0, 0]);
  });

  it('decodes km_orig_dst', () => {
    const buf = Buffer.alloc(20);
    buf.set([127, 0, 0, 1], 0);
    buf.writeUInt16BE(443, 16);
    buf[18] = 2;
    expect(decodeOrigDst(buf)).toEqual({ vip: { family: 4, ip: '127.0.0.1', port: 443 } });
  });

  it('decoders refuse a buffer of the wrong size or an unknown family', () => {
    expect(() => decodeEndpointValue(Buffer.alloc(27))).toThrow('km_endpoint_value is 28 bytes, got a buffer of 27');
    expect(() => decodeListenerKey(Buffer.alloc(24))).toThrow('unknown family 0');
  });

  it('sums a per-CPU counter', () => {
    const buf = Buffer.alloc(16);
    buf.writeBigUInt64LE(3n, 0);
    buf.writeBigUInt64LE(4n, 8);
    expect(decodePercpuCounter(buf)).toBe(7n);
  });
});

describe('capacity', () => {
  function bigCluster(name: string, n: number): ClusterModel {
    return { name, lbPolicy: 'ROUND_ROBIN', endpoints: Array.from({ length: n }, (_, i) => ep(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`)) };
  }

  it('accepts exactly endpointsPerCluster endpoints in a cluster', () => {
    const m = model();
    m.clusters[0] = bigCluster('zeta', Limits.endpointsPerCluster);
    expect(checkCapacity(m)).toEqual([]);
  });

  it('rejects one endpoint more than endpointsPerCluster', () => {
    const m = model();
    m.clusters[0] = bigCluster('zeta', Limits.endpointsPerCluster + 1);
    const problems = checkCapacity(m);
    expect(problems).toEqual([{ severity: 'error', path: 'clusters[0](name=zeta).endpoints', message: '1025 endpoints able to take connections is more than 1024 per cluster' }]);
    expect(() => encodeModel(m, 1)).toThrow(CapacityError);
    try {
      encodeModel(m, 1);
    } catch (e) {
      expect((e as CapacityError).diagnostics).toEqual(problems);
    }
  });

  it('counts only usable endpoints against the per-cluster limit', () => {
    const m = model();
    m.clusters[0] = bigCluster('zeta', Limits.endpointsPerCluster + 1);
    m.clusters[0].endpoints[0]!.health = 'UNHEALTHY';
    expect(checkCapacity(m)).toEqual([]);
  });

  it('allows half of each map per generation', () => {
    const m: MeshModel = { listeners: [], clusters: [] };
    const perGen = Limits.endpoints / 2;
    const count = Math.ceil((perGen + 1) / Limits.endpointsPerCluster);
    for (let i = 0; i < count; i++) m.clusters.push(bigCluster(`c${i}`, Limits.endpointsPerCluster));
    expect(checkCapacity(m).map((d) => d.message)).toEqual([`${count * Limits.endpointsPerCluster} endpoints is more than ${perGen}, the per-generation half of km_endpoint (${Limits.endpoints} entries hold two generations)`]);
  });

  it('rejects more listeners than half of km_listener', () => {
    const n = Limits.listeners / 2 + 1;
    const m: MeshModel = {
      listeners: Array.from({ length: n }, (_, i) => ({ name: `l${i}`, address: { family: 4 as const, ip: `10.96.${i >> 8}.${i & 255}`, port: 80 }, route: { clusters: [{ name: 'a', weight: 1 }] } })),
      clusters: [{ name: 'a', lbPolicy: 'ROUND_ROBIN', endpoints: [ep('10.250.1.2')] }],
    };
    expect(checkCapacity(m).map((d) => d.path)).toEqual(['listeners']);
  });
});

describe('encodeClusterEndpoints (an endpoint-only change)', () => {
  it('writes the cluster record of the generation pointing at a fresh endpoint set', async () => {
    const { encodeClusterEndpoints } = await import('../src/abi/encode.js');
    const cluster = { name: 'zeta', lbPolicy: 'ROUND_ROBIN' as const, endpoints: [
      { address: { family: 4 as const, ip: '10.250.1.2', port: 80 }, weight: 2, health: 'HEALTHY' as const, priority: 0 },
      { address: { family: 4 as const, ip: '10.250.1.3', port: 80 }, weight: 1, health: 'DRAINING' as const, priority: 0 },
    ] };
    const r = encodeClusterEndpoints(cluster, 4, 7, 0x8000_0005);
    expect({ ...decodeClusterKey(r.cluster.key), ...decodeClusterValue(r.cluster.value) }).toEqual({
      gen: 7, clusterId: 4, lbPolicy: 'ROUND_ROBIN', endpointCount: 1, totalWeight: 2, rrCursor: 0, endpointSet: 0x8000_0005, lbTableSize: 0, rrStride: 1,
    });
    expect(r.endpoints.map((e) => decodeEndpointKey(e.key))).toEqual([{ set: 0x8000_0005, clusterId: 4, index: 0 }]);
  });
});
