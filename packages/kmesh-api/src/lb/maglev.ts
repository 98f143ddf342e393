/**
 * Maglev lookup table (Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load
 * Balancer", NSDI 2016, section 3.4), weighted.
 *
 * Each endpoint has a preference order over the M slots, a permutation given by its hash:
 * offset = h1 % M, skip = h2 % (M - 1) + 1, preference j = (offset + j * skip) % M (M prime, so
 * every skip walks all slots). Endpoints take turns claiming their next preferred free slot until
 * the table is full. Weights: in each round an endpoint earns credit equal to its weight and
 * claims one slot per max-weight of credit, so slot counts follow the weights; with equal
 * weights every endpoint gets floor(M/N) or ceil(M/N) slots.
 *
 * Removing one endpoint frees only its own slots (plus a few that a changed turn order hands to
 * someone else), so about 1/N of the clients move: the property consistent hashing is for.
 */
import { hashKey } from './hash.js';

/** Envoy's default maglev_lb_config.table_size. */
export const envoyDefaultMaglevTableSize = 65537;

export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

export interface HashedEndpoint {
  /** What the endpoint is hashed by (its address): stable across configuration changes. */
  key: string;
  /** A positive integer. */
  weight: number;
}

/**
 * The table: slot → index into `endpoints`. `size` must be prime and at least the number of
 * endpoints; throws RangeError otherwise (the translator checks first and names the field).
 */
export function buildMaglevTable(endpoints: readonly HashedEndpoint[], size: number): Int32Array {
  if (!isPrime(size)) throw new RangeError(`maglev table size ${size} is not a prime number`);
  const table = new Int32Array(size).fill(-1);
  const n = endpoints.length;
  if (n === 0) return table;
  if (n > size) throw new RangeError(`maglev table size ${size} is smaller than the ${n} endpoints it must hold`);
  const offset: number[] = [];
  const skip: number[] = [];
  for (const e of endpoints) {
    if (!Number.isInteger(e.weight) || e.weight < 1) throw new RangeError(`endpoint ${e.key}: weight ${e.weight} is not a positive integer`);
    const h = hashKey(e.key);
    // Two independent halves of one 64-bit hash, as offset and skip.
    offset.push(Number((h & 0xffffffffn) % BigInt(size)));
    skip.push(Number((h >> 32n) % BigInt(size - 1)) + 1);
  }
  const maxWeight = Math.max(...endpoints.map((e) => e.weight));
  const next = new Array<number>(n).fill(0);
  const credit = new Array<number>(n).fill(0);
  let filled = 0;
  while (filled < size) {
    for (let i = 0; i < n && filled < size; i++) {
      credit[i]! += endpoints[i]!.weight;
      while (credit[i]! >= maxWeight && filled < size) {
        credit[i]! -= maxWeight;
        let slot = (offset[i]! + next[i]! * skip[i]!) % size;
        while (table[slot]! >= 0) {
          next[i]!++;
          slot = (offset[i]! + next[i]! * skip[i]!) % size;
        }
        table[slot] = i;
        next[i]!++;
        filled++;
      }
    }
  }
  return table;
}
