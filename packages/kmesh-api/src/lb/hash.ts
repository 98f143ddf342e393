/**
 * The hashes of kmesh's consistent-hashing policies (MAGLEV, RING_HASH).
 *
 * Endpoints are hashed here, in the daemon; clients are hashed in the kernel
 * (bpf/lb.h, km_lb_client_hash) with the same 64-bit mixer. Both are kmesh's
 * own: 64-bit FNV-1a over the endpoint's "ip:port" text, finished with the
 * splitmix64 mixer. Envoy uses xxHash, so ring positions and Maglev tables
 * differ from Envoy's: a client's endpoint is stable across kmesh nodes and
 * restarts, not across implementations.
 */

const mask64 = (1n << 64n) - 1n;
const fnvOffset = 0xcbf29ce484222325n;
const fnvPrime = 0x100000001b3n;

/** 64-bit FNV-1a of the UTF-8 bytes of text. */
export function fnv1a64(text: string): bigint {
  let h = fnvOffset;
  for (const byte of Buffer.from(text, 'utf8')) {
    h ^= BigInt(byte);
    h = (h * fnvPrime) & mask64;
  }
  return h;
}

/** splitmix64's finaliser: every input bit moves every output bit (the kernel's km_lb_mix64). */
export function mix64(x: bigint): bigint {
  let z = x & mask64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & mask64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & mask64;
  return z ^ (z >> 31n);
}

/** The hash of a text key: mix64(fnv1a64(text)). */
export function hashKey(text: string): bigint {
  return mix64(fnv1a64(text));
}

/** The identity an endpoint is hashed by: its address, so it keeps its place when others come and go. */
export function endpointHashKey(address: { family: 4 | 6; ip: string; port: number }): string {
  return address.family === 6 ? `[${address.ip}]:${address.port}` : `${address.ip}:${address.port}`;
}

/**
 * The client hash the kernel computes for a socket bound to an IPv4 source address (network
 * order u32 read as the kernel does on a little-endian host): for tests and tools that predict a
 * client's endpoint.
 */
export function clientHashOfIpv4(ip: string): bigint {
  const octets = ip.split('.').map(Number);
  // ctx->sk->src_ip4 is the address in network order loaded as a host (little-endian) u32.
  const asLoaded = (octets[0]! | (octets[1]! << 8) | (octets[2]! << 16) | (octets[3]! << 24)) >>> 0;
  return mix64(BigInt(asLoaded));
}
