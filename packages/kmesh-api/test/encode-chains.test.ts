// Wildcard listeners with filter chains → km_chain entries (LPM keys) and km_route values.
import { describe, expect, it } from 'vitest';
import {
  checkCapacity,
  decodeChainKey,
  decodeChainValue,
  decodeListenerKey,
  decodeListenerValue,
  encodeModel,
  generationOfChainKey,
  Limits,
  type ChainAction,
  type CidrRange,
  type FilterChainModel,
  type ListenerModel,
  type MeshModel,
} from '../src/index.js';

const v4 = (ip: string, prefixLen: number): CidrRange => ({ family: 4, ip, prefixLen });
const v6 = (ip: string, prefixLen: number): CidrRange => ({ family: 6, ip, prefixLen });
const proxy = (...names: string[]): ChainAction => ({ kind: 'tcp_proxy', route: { clusters: names.map((name) => ({ name, weight: 1 })) } });

function chain(name: string, prefixRanges: CidrRange[], action: ChainAction, extra: { match?: Partial<FilterChainModel['match']>; kernelMatchable?: boolean } = {}): FilterChainModel {
  return { name, match: { ...extra.match, prefixRanges }, action, kernelMatchable: extra.kernelMatchable ?? true };
}

function wildcard(name: string, chains: FilterChainModel[], port = 9080, family: 4 | 6 = 4): ListenerModel {
  return { name, address: { family, ip: family === 4 ? '0.0.0.0' : '::', port }, route: { clusters: [] }, filterChains: chains };
}

const cluster = (name: string) => ({ name, lbPolicy: 'ROUND_ROBIN' as const, endpoints: [{ address: { family: 4 as const, ip: '10.250.1.10', port: 8080 }, weight: 1, health: 'HEALTHY' as const, priority: 0 }] });

/** The scenario of the integration test: chains by prefix, an exact listener that wins, passthrough and blackhole. */
function scenario(): MeshModel {
  return {
    listeners: [
      wildcard('0.0.0.0_9080', [
        chain('svc-a', [v4('10.96.1.0', 24)], proxy('a')),
        chain('svc-b', [v4('10.96.1.7', 32)], proxy('b')),
        chain('blocked', [v4('10.96.3.0', 24)], { kind: 'blackhole' }),
        chain('passthrough', [], { kind: 'passthrough' }),
      ]),
      { name: 'exact-c', address: { family: 4, ip: '10.96.1.9', port: 9080 }, route: { clusters: [{ name: 'c', weight: 1 }] } },
    ],
    clusters: [cluster('a'), cluster('b'), cluster('c')],
  };
}

/** Decoded km_chain records as "prefix → action[:cluster ids]", sentinel as "*". */
function chainTable(model: MeshModel, gen = 1): Record<string, string> {
  const out: Record<string, string> = {};
  for (const r of encodeModel(model, gen).chains) {
    const k = decodeChainKey(r.key);
    const v = decodeChainValue(r.value);
    const where = k.sentinel ? `*:${k.port}` : `${k.prefix}:${k.port}`;
    out[where] = v.action === 'TCP_PROXY' ? `TCP_PROXY:${v.clusterIds.join(',')}` : String(v.action);
  }
  return out;
}

describe('encodeModel: wildcard listeners become km_chain entries', () => {
  it('one entry per chain prefix, a prefix-less chain as /0, a NO_CHAIN sentinel for the port; the exact listener stays in km_listener', () => {
    const records = encodeModel(scenario(), 3);
    expect(records.listeners.map((r) => decodeListenerKey(r.key).address)).toEqual([{ family: 4, ip: '10.96.1.9', port: 9080 }]);
    expect(decodeListenerValue(records.listeners[0]!.value)).toMatchObject({ action: 'TCP_PROXY', clusterIds: [3] });
    expect(chainTable(scenario(), 3)).toEqual({
      '10.96.1.0/24:9080': 'TCP_PROXY:1',
      '10.96.1.7/32:9080': 'TCP_PROXY:2',
      '10.96.3.0/24:9080': 'BLACKHOLE',
      '0.0.0.0/0:9080': 'PASSTHROUGH',
      '*:9080': 'NO_CHAIN',
    });
    expect(records.chains.map((r) => generationOfChainKey(r.key))).toEqual([3, 3, 3, 3, 3]);
  });

  it('key bytes: prefixlen = 64 + prefix (host order), gen, port big-endian, AF_INET, masked address', () => {
    const m = scenario();
    m.listeners[0]!.filterChains = [chain('svc', [v4('10.96.1.77', 24)], proxy('a'))];
    const [entry, sentinel] = encodeModel(m, 0x01020304).chains;
    expect(entry!.key.toString('hex')).toBe(
      '58000000' + // prefixlen 88 = 64 + 24, little-endian
        '04030201' + // gen, host order
        '2378' + // port 9080, network order
        '02' + '00' + // AF_INET, pad
        '0a600100' + '00'.repeat(12), // 10.96.1.0: host bits of .77 cleared
    );
    expect(sentinel!.key.toString('hex')).toBe('30000000' + '04030201' + '2378' + '0000' + '00'.repeat(16)); // prefixlen 48
  });

  it('a chain with several prefix ranges gets one entry per range, IPv4 and IPv6, with the same route', () => {
    const m = scenario();
    m.listeners[0]!.filterChains = [chain('multi', [v4('10.96.5.0', 24), v4('10.96.6.0', 23), v6('fd00:96::', 64)], { kind: 'tcp_proxy', route: { clusters: [{ name: 'a', weight: 3 }, { name: 'b', weight: 1 }] } })];
    const records = encodeModel(m, 1).chains;
    expect(records.map((r) => decodeChainKey(r.key))).toEqual([
      { gen: 1, port: 9080, sentinel: false, family: 4, prefix: '10.96.5.0/24', prefixBits: 88 },
      { gen: 1, port: 9080, sentinel: false, family: 4, prefix: '10.96.6.0/23', prefixBits: 87 },
      { gen: 1, port: 9080, sentinel: false, family: 6, prefix: 'fd00:96::/64', prefixBits: 128 },
      { gen: 1, port: 9080, sentinel: true, prefixBits: 48 },
    ]);
    for (const r of records.slice(0, 3)) {
      expect(decodeChainValue(r.value)).toEqual({ action: 'TCP_PROXY', clusterCount: 2, totalWeight: 4, clusterIds: [1, 2], cumWeights: [3, 4], weights: [3, 1] });
    }
  });

  it('an IPv6 wildcard listener: a prefix-less chain is ::/0 (family 6); the port sentinel is shared with the IPv4 one', () => {
    const m = scenario();
    m.listeners.push(wildcard('[::]_9080', [chain('v6-default', [], { kind: 'blackhole' })], 9080, 6));
    const table = chainTable(m);
    expect(table['::/0:9080']).toBe('BLACKHOLE');
    expect(table['0.0.0.0/0:9080']).toBe('PASSTHROUGH');
    expect(Object.keys(table).filter((k) => k.startsWith('*'))).toEqual(['*:9080']);
  });

  it('skips chains the kernel cannot match (kernelMatchable false) and chains for another port', () => {
    const m = scenario();
    m.listeners[0]!.filterChains = [
      chain('sni', [v4('10.96.1.0', 24)], proxy('a'), { kernelMatchable: false }),
      chain('other-port', [v4('10.96.2.0', 24)], proxy('b'), { match: { destinationPort: 9443 } }),
      chain('plain', [v4('10.96.4.0', 24)], proxy('c')),
    ];
    expect(chainTable(m)).toEqual({ '10.96.4.0/24:9080': 'TCP_PROXY:3', '*:9080': 'NO_CHAIN' });
  });

  it('chains naming the listener port take precedence over chains without a port (Envoy matches the port first)', () => {
    const m = scenario();
    m.listeners[0]!.filterChains = [
      chain('no-port', [v4('10.96.1.7', 32)], proxy('a')),
      chain('port', [v4('10.96.1.0', 24)], proxy('b'), { match: { destinationPort: 9080 } }),
    ];
    expect(chainTable(m)).toEqual({ '10.96.1.0/24:9080': 'TCP_PROXY:2', '*:9080': 'NO_CHAIN' });
  });

  it('exact http listeners are kept (so they win over the wildcard) with action HTTP; virtual listeners are not encoded', () => {
    const m = scenario();
    m.listeners.push(
      { name: 'http', address: { family: 4, ip: '10.96.1.10', port: 9080 }, route: { clusters: [] }, http: { routeConfigName: 'r' } },
      { name: 'virtualOutbound', address: { family: 4, ip: '0.0.0.0', port: 15001 }, route: { clusters: [] }, virtual: true },
    );
    const records = encodeModel(m, 1);
    const http = records.listeners.find((r) => decodeListenerKey(r.key).address.ip === '10.96.1.10')!;
    expect(decodeListenerValue(http.value)).toEqual({ action: 'HTTP', clusterCount: 0, totalWeight: 0, clusterIds: [], cumWeights: [], weights: [] });
    expect(records.listeners).toHaveLength(2);
    expect(records.chains.map((r) => decodeChainKey(r.key).port)).not.toContain(15001);
    expect(checkCapacity(m)).toEqual([]);
  });
});

describe('checkCapacity: filter chains', () => {
  it('two chains with the same destination prefix are an error naming both, and encodeModel refuses', () => {
    const m = scenario();
    m.listeners[0]!.filterChains!.push(chain('svc-a-again', [v4('10.96.1.99', 24)], proxy('b')));
    const problems = checkCapacity(m);
    expect(problems).toHaveLength(1);
    expect(problems[0]!.path).toBe('listeners[0](name=0.0.0.0_9080).filter_chains');
    expect(problems[0]!.message).toContain('chain svc-a-again and listener 0.0.0.0_9080 chain svc-a');
    expect(() => encodeModel(m, 1)).toThrow(/match the same destination prefix on port 9080/);
  });

  it('a tcp_proxy chain route is checked like a listener route', () => {
    const m = scenario();
    m.listeners[0]!.filterChains![0]!.action = { kind: 'tcp_proxy', route: { clusters: [{ name: 'a', weight: 0 }] } };
    expect(checkCapacity(m).map((d) => `${d.path}: ${d.message}`)).toEqual(['listeners[0](name=0.0.0.0_9080).filter_chains(name=svc-a): the route has no cluster with a weight above 0']);
  });

  it('counts one km_chain entry per prefix range plus one per wildcard port against half of km_chain', () => {
    const perGen = Limits.chains / 2;
    const ranges = Array.from({ length: perGen }, (_, i) => v4(`10.${96 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, 32));
    const m = scenario();
    m.listeners = [wildcard('big', [chain('many', ranges, proxy('a'))])];
    expect(checkCapacity(m).map((d) => d.message)).toEqual([
      `${perGen + 1} filter chain entries (one per prefix range, one per wildcard port) is more than ${perGen}, the per-generation half of km_chain (${Limits.chains} entries hold two generations)`,
    ]);
    m.listeners[0]!.filterChains![0]!.match.prefixRanges.pop();
    expect(checkCapacity(m)).toEqual([]);
  });

  it('an invalid prefix length is reported, not thrown', () => {
    const m = scenario();
    m.listeners[0]!.filterChains![0]!.match.prefixRanges = [v4('10.96.1.0', 33)];
    expect(checkCapacity(m).map((d) => d.message)).toEqual(['a filter chain cannot be encoded: prefix length 33 of 10.96.1.0 is outside 0..32']);
  });
});
