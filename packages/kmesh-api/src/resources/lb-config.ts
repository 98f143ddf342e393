/**
 * maglev_lb_config and ring_hash_lb_config of a Cluster (or the typed Maglev / RingHash
 * load_balancing_policy), issue 6: the sizes of the consistent-hashing tables the kernel reads.
 * Invalid values are errors naming the field; what kmesh changes (its own hash, the stored
 * ring cap) is a warning.
 */
import { Diagnostics, field } from '../diagnostics.js';
import { readEnum, readObject, readUint, type Obj } from '../config/fields.js';
import { checkFields, accept, read, ignore, type FieldTable } from '../config/field-table.js';
import { LbTableLimits } from '../abi/layout.js';
import { isPrime } from '../lb/maglev.js';
import { envoyRingDefaults } from '../lb/ring-hash.js';
import type { ClusterModel } from '../model.js';

const maglevFields: FieldTable = {
  message: 'envoy.config.cluster.v3.Cluster.MaglevLbConfig',
  fields: { table_size: read, consistent_hashing_lb_config: accept, locality_weighted_lb_config: accept, '@type': accept },
};

const ringHashFields: FieldTable = {
  message: 'envoy.config.cluster.v3.Cluster.RingHashLbConfig',
  fields: {
    minimum_ring_size: read,
    maximum_ring_size: read,
    hash_function: read,
    use_hostname_for_hashing: ignore('endpoints are hashed by address'),
    hash_balance_factor: ignore('bounded-load hashing is not done: each client keeps its endpoint'),
    consistent_hashing_lb_config: accept,
    locality_weighted_lb_config: accept,
    '@type': accept,
  },
};

/** Envoy's largest accepted sizes. */
const envoyMaxRing = 8 * 1024 * 1024;

/** A MaglevLbConfig object (cluster field or typed Maglev policy) at path. */
export function readMaglevObject(obj: Obj, path: string, d: Diagnostics): NonNullable<ClusterModel['maglev']> | undefined {
  checkFields(obj, path, d, maglevFields);
  const tableSize = readUint(obj, 'table_size', path, d, { min: 1 });
  if (tableSize === undefined) return obj.table_size === undefined ? {} : undefined;
  const at = field(path, 'table_size');
  if (!isPrime(tableSize)) {
    d.error(at, `table_size ${tableSize} is not a prime number (Envoy and Maglev require a prime, e.g. 4099, 16381 or 65537)`);
    return undefined;
  }
  if (tableSize > LbTableLimits.maxTableSize) {
    d.error(at, `table_size ${tableSize} is more than ${LbTableLimits.maxTableSize}, the largest table kmesh stores for one cluster; use a smaller prime (e.g. 65537)`);
    return undefined;
  }
  return { tableSize };
}

/** A RingHashLbConfig object (cluster field or typed RingHash policy) at path. */
export function readRingHashObject(obj: Obj, path: string, d: Diagnostics): NonNullable<ClusterModel['ringHash']> | undefined {
  checkFields(obj, path, d, ringHashFields);
  const before = d.errors.length;
  const minimumRingSize = readUint(obj, 'minimum_ring_size', path, d, { min: 1, max: envoyMaxRing });
  const maximumRingSize = readUint(obj, 'maximum_ring_size', path, d, { min: 1, max: envoyMaxRing });
  const hash = readEnum(obj, 'hash_function', path, d, { 0: 'XX_HASH', 1: 'MURMUR_HASH_2', 2: 'DEFAULT_HASH' } as Record<number, string>);
  if (hash !== undefined && hash !== 'XX_HASH' && hash !== 'MURMUR_HASH_2' && hash !== 'DEFAULT_HASH') {
    d.error(field(path, 'hash_function'), `unknown hash_function "${hash}": accepted XX_HASH, MURMUR_HASH_2`);
  }
  if (hash === 'MURMUR_HASH_2') {
    d.warn(field(path, 'hash_function'), 'hash_function MURMUR_HASH_2: kmesh hashes with its own function (FNV-1a + splitmix64), so ring positions differ from Envoy\'s');
  }
  const min = minimumRingSize ?? envoyRingDefaults.minimumRingSize;
  const max = maximumRingSize ?? envoyRingDefaults.maximumRingSize;
  if (min > max) d.error(field(path, 'minimum_ring_size'), `minimum_ring_size ${min} is more than maximum_ring_size ${max}`);
  if (d.errors.length !== before) return undefined;
  if (min > LbTableLimits.maxTableSize) {
    d.warn(field(path, 'minimum_ring_size'), `kmesh stores at most ${LbTableLimits.maxTableSize} ring entries per cluster: replica counts are lowered to fit`);
  }
  const out: NonNullable<ClusterModel['ringHash']> = {};
  if (minimumRingSize !== undefined) out.minimumRingSize = minimumRingSize;
  if (maximumRingSize !== undefined) out.maximumRingSize = maximumRingSize;
  return out;
}

/**
 * The table settings of the cluster's policy from the cluster fields; a typed policy's own
 * config (typedConfig) wins when given. Settings of the other policy are ignored, as in Envoy.
 */
export function readHashingConfig(raw: Obj, path: string, d: Diagnostics, policy: ClusterModel['lbPolicy'] | undefined, typedConfig?: { obj: Obj; path: string }): Pick<ClusterModel, 'maglev' | 'ringHash'> | undefined {
  if (policy === 'MAGLEV') {
    const src = typedConfig ?? { obj: readObject(raw, 'maglev_lb_config', path, d) ?? {}, path: field(path, 'maglev_lb_config') };
    const maglev = readMaglevObject(src.obj, src.path, d);
    return maglev ? { maglev } : undefined;
  }
  if (policy === 'RING_HASH') {
    const src = typedConfig ?? { obj: readObject(raw, 'ring_hash_lb_config', path, d) ?? {}, path: field(path, 'ring_hash_lb_config') };
    const ringHash = readRingHashObject(src.obj, src.path, d);
    return ringHash ? { ringHash } : undefined;
  }
  return {};
}

const typedPrefix = 'type.googleapis.com/envoy.extensions.load_balancing_policies.';
const typedKnown = ['round_robin.v3.RoundRobin', 'random.v3.Random', 'least_request.v3.LeastRequest', 'ring_hash.v3.RingHash', 'maglev.v3.Maglev'].map((t) => typedPrefix + t);

/**
 * The typed_config of the load_balancing_policy entry kmesh uses (the first it knows), when that
 * is a RingHash or Maglev policy: its sizes replace the cluster's *_lb_config fields.
 */
export function typedHashingConfig(raw: Obj, path: string): { obj: Obj; path: string } | undefined {
  const lbp = raw.load_balancing_policy;
  if (!lbp || typeof lbp !== 'object' || !Array.isArray((lbp as Obj).policies)) return undefined;
  const policies = (lbp as Obj).policies as unknown[];
  for (let i = 0; i < policies.length; i++) {
    const p = policies[i] as Obj | undefined;
    const ext = p && typeof p.typed_extension_config === 'object' ? (p.typed_extension_config as Obj) : undefined;
    const cfg = ext && typeof ext.typed_config === 'object' ? (ext.typed_config as Obj) : undefined;
    const url = cfg ? String(cfg['@type'] ?? '') : '';
    if (!typedKnown.includes(url)) continue;
    if (!url.endsWith('RingHash') && !url.endsWith('Maglev')) return undefined;
    return { obj: cfg!, path: `${path}.load_balancing_policy.policies[${i}].typed_extension_config.typed_config` };
  }
  return undefined;
}
