// Issue 6 part B: RING_HASH and MAGLEV from an Envoy cluster (lb_policy or typed
// load_balancing_policy) to the kernel records: table sizes, validation, capacity.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfigText } from '../src/index.js';
import { endpointShares } from '../src/lb/priority.js';
import { baseDoc, expectError, expectWarning, ok, translate } from './helpers.js';
import { encodeModel } from '../src/abi/encode.js';
import { checkCapacity } from '../src/capacity.js';
import { decodeClusterValue, decodeEndpointKey, decodeEndpointValue } from '../src/abi/decode.js';
import { Limits } from '../src/abi/layout.js';
import type { ClusterModel, MeshModel } from '../src/model.js';

const C0 = 'static_resources.clusters[0](name=backend)';

function withCluster(extra: Record<string, unknown>) {
  const doc = baseDoc();
  Object.assign(doc.static_resources.clusters[0], extra);
  return doc;
}

const typed = (type: string, config: Record<string, unknown> = {}) => ({
  load_balancing_policy: { policies: [{ typed_extension_config: { name: type, typed_config: { '@type': `type.googleapis.com/envoy.extensions.load_balancing_policies.${type}`, ...config } } }] },
});

describe('RING_HASH and MAGLEV are enforced', () => {
  it.each(['RING_HASH', 'MAGLEV'] as const)('%s: kept as the policy, without a warning', (policy) => {
    const t = translate(withCluster({ lb_policy: policy }));
    expect(ok(t).clusters[0]!.lbPolicy).toBe(policy);
    expect(t.warnings.filter((w) => w.path.startsWith(C0))).toEqual([]);
  });

  it('reads maglev_lb_config.table_size and ring_hash_lb_config sizes', () => {
    expect(ok(translate(withCluster({ lb_policy: 'MAGLEV', maglev_lb_config: { table_size: 65537 } }))).clusters[0]!.maglev).toEqual({ tableSize: 65537 });
    const ring = ok(translate(withCluster({ lb_policy: 'RING_HASH', ring_hash_lb_config: { minimum_ring_size: 64, maximum_ring_size: '4096' } }))).clusters[0]!;
    expect(ring.ringHash).toEqual({ minimumRingSize: 64, maximumRingSize: 4096 });
  });

  it('reads the typed Maglev and RingHash policies with their sizes', () => {
    const m = ok(translate(withCluster(typed('maglev.v3.Maglev', { table_size: 4099 })))).clusters[0]!;
    expect([m.lbPolicy, m.maglev]).toEqual(['MAGLEV', { tableSize: 4099 }]);
    const r = ok(translate(withCluster(typed('ring_hash.v3.RingHash', { minimum_ring_size: 128 })))).clusters[0]!;
    expect([r.lbPolicy, r.ringHash]).toEqual(['RING_HASH', { minimumRingSize: 128 }]);
  });

  it('rejects a table_size that is not prime, or above 65537, naming the field', () => {
    expectError(translate(withCluster({ lb_policy: 'MAGLEV', maglev_lb_config: { table_size: 65536 } })), `${C0}.maglev_lb_config.table_size`, 'table_size 65536 is not a prime number');
    expectError(translate(withCluster({ lb_policy: 'MAGLEV', maglev_lb_config: { table_size: 5000011 } })), `${C0}.maglev_lb_config.table_size`, 'more than 65537');
  });

  it('rejects minimum_ring_size above maximum_ring_size, and warns that kmesh uses its own hash', () => {
    expectError(translate(withCluster({ lb_policy: 'RING_HASH', ring_hash_lb_config: { minimum_ring_size: 2048, maximum_ring_size: 1024 } })), `${C0}.ring_hash_lb_config.minimum_ring_size`, 'minimum_ring_size 2048 is more than maximum_ring_size 1024');
    expectWarning(translate(withCluster({ lb_policy: 'RING_HASH', ring_hash_lb_config: { hash_function: 'MURMUR_HASH_2' } })), `${C0}.ring_hash_lb_config.hash_function`, 'ring positions differ from Envoy');
  });
});

function hashingModel(policy: 'MAGLEV' | 'RING_HASH', endpoints: number, extra: Partial<ClusterModel> = {}): MeshModel {
  const eps = Array.from({ length: endpoints }, (_, i) => ({ address: { family: 4 as const, ip: `10.250.7.${10 + i}`, port: 9080 }, weight: 1, health: 'HEALTHY' as const, priority: 0 }));
  return {
    listeners: [{ name: 'l', address: { family: 4, ip: '10.96.7.1', port: 9080 }, route: { clusters: [{ name: 'c', weight: 1 }] } }],
    clusters: [{ name: 'c', lbPolicy: policy, endpoints: eps, ...extra }],
  };
}

describe('kernel records of a hashing cluster', () => {
  it('MAGLEV: the table follows the endpoints in the same set, each slot a copy of its endpoint', () => {
    const r = encodeModel(hashingModel('MAGLEV', 3, { maglev: { tableSize: 13 } }), 5);
    const value = decodeClusterValue(r.clusters[0]!.value);
    expect([value.lbPolicy, value.endpointCount, value.lbTableSize]).toEqual(['MAGLEV', 3, 13]);
    const records = r.endpoints.map((e) => ({ ...decodeEndpointKey(e.key), ...decodeEndpointValue(e.value) }));
    expect(records.map((e) => e.index)).toEqual(Array.from({ length: 16 }, (_, i) => i));
    expect(new Set(records.map((e) => e.set))).toEqual(new Set([5]));
    for (const slot of records.slice(3)) expect(slot.address).toEqual(records[slot.cumWeight]!.address); // cum_weight = endpoint index
    const perEndpoint = [0, 1, 2].map((i) => records.slice(3).filter((s) => s.cumWeight === i).length);
    expect(perEndpoint.every((n) => n === 4 || n === 5)).toBe(true);
  });

  it('RING_HASH: sorted ring points after the endpoints (default 256 replicas per endpoint)', () => {
    const r = encodeModel(hashingModel('RING_HASH', 3), 5);
    expect(decodeClusterValue(r.clusters[0]!.value).lbTableSize).toBe(768);
    const points = r.endpoints.slice(3).map((e) => decodeEndpointValue(e.value).cumWeight);
    expect(points).toEqual([...points].sort((a, b) => a - b));
  });

  it('counts tables against km_endpoint and says which setting leaves room', () => {
    const m = hashingModel('MAGLEV', 2, { maglev: { tableSize: 65537 } });
    m.clusters = Array.from({ length: 5 }, (_, i) => ({ ...m.clusters[0]!, name: `c${i}` }));
    const problems = checkCapacity(m);
    expect(problems.map((p) => p.message).join('\n')).toContain(`endpoints is more than ${Limits.endpoints / 2}`);
    expect(problems.map((p) => p.message).join('\n')).toContain('smaller maglev_lb_config.table_size');
  });

  it('rejects a Maglev table smaller than the endpoint count', () => {
    const problems = checkCapacity(hashingModel('MAGLEV', 20, { maglev: { tableSize: 17 } }));
    expect(problems.map((p) => [p.path, p.message])).toEqual([['clusters[0](name=c).maglev_lb_config.table_size', 'a Maglev table of 17 slots cannot hold 20 endpoints: give a prime table_size of at least 20']]);
  });
});

describe('examples/lb-policies.yaml', () => {
  it('loads without warnings: MAGLEV, RING_HASH, 70/30 priority failover, 1:3 locality weights, the node locality', () => {
    const file = resolve(dirname(fileURLToPath(import.meta.url)), '../../../examples/lb-policies.yaml');
    const t = loadConfigText(readFileSync(file, 'utf8'), 'lb-policies.yaml');
    const m = ok(t);
    expect(t.warnings).toEqual([]);
    expect(m.nodeLocality).toBe('eu-west/eu-west-1/rack-a');
    const by = (name: string) => m.clusters.find((c) => c.name === name)!;
    expect([by('cart').lbPolicy, by('cart').maglev]).toEqual(['MAGLEV', { tableSize: 65537 }]);
    expect([by('cache').lbPolicy, by('cache').ringHash]).toEqual(['RING_HASH', { minimumRingSize: 1024 }]);
    const loads = endpointShares(by('payments'), { nodeLocality: m.nodeLocality }).levels.map((l) => l.load);
    expect(loads).toEqual([70, 30]);
    const search = endpointShares(by('search'), { nodeLocality: m.nodeLocality }).endpoints.map((e) => e.weight);
    expect(search).toEqual([250_000, 375_000, 375_000]);
  });
});

describe('ClusterLoadAssignment.policy.overprovisioning_factor', () => {
  const withFactor = (factor: number) => {
    const doc = baseDoc();
    doc.static_resources.clusters[0].load_assignment.policy = { overprovisioning_factor: factor };
    return translate(doc);
  };
  it('accepts 140 (the factor kmesh uses) silently and warns on another value', () => {
    expect(withFactor(140).warnings).toEqual([]);
    expectWarning(withFactor(200), `${C0}.load_assignment.policy.overprovisioning_factor`, 'overprovisioning_factor 200 is not supported and is ignored');
  });
});
