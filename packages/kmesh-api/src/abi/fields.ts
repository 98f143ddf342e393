/**
 * Field access by name through the layout table, so the encoders and decoders
 * hold no offsets of their own: layout.ts is the only place they are written.
 */
import { AddressFamily, Structs } from './layout.js';
import type { SocketAddress } from '../model.js';
import { addressBytes, formatIpv4, formatIpv6, parseIpv4Octets } from '../resources/address.js';

export type StructName = keyof typeof Structs;

export function structSize(name: StructName): number {
  return Structs[name].size;
}

/**
 * struct → field → offset, built once: encoders call offsetOf per field of every record
 * (100,000s per push), so the lookup builds no string.
 */
const offsets = new Map<string, Map<string, number>>(
  Object.entries(Structs).map(([struct, spec]) => [struct, new Map((spec.fields as readonly { name: string; offset: number }[]).map((f) => [f.name, f.offset]))]),
);

export function offsetOf(name: StructName, fieldName: string): number {
  const offset = offsets.get(name)?.get(fieldName);
  if (offset === undefined) throw new Error(`layout: ${name} has no field ${fieldName}`);
  return offset;
}

/** Checks a buffer's length before a decode, naming the struct when it is wrong. */
export function expectSize(buf: Buffer, name: StructName, atLeast = false): void {
  const size = structSize(name);
  if (atLeast ? buf.length < size : buf.length !== size) {
    throw new RangeError(`${name} is ${size} bytes, got a buffer of ${buf.length}`);
  }
}

/** Writes a km_addr at `base`: raw address bytes and port in network order, family as AF_INET/AF_INET6. */
export function writeAddr(buf: Buffer, base: number, address: SocketAddress): void {
  const ipAt = base + offsetOf('km_addr', 'ip');
  // IPv4 (nearly every endpoint): the octets straight into the record, no Buffer in between.
  const octets = address.family === 4 ? parseIpv4Octets(address.ip) : undefined;
  if (octets) for (let i = 0; i < 4; i++) buf[ipAt + i] = octets[i]!;
  else addressBytes(address).copy(buf, ipAt);
  buf.writeUInt16BE(address.port, base + offsetOf('km_addr', 'port'));
  buf.writeUInt8(address.family === 6 ? AddressFamily.inet6 : AddressFamily.inet, base + offsetOf('km_addr', 'family'));
}

export function readAddr(buf: Buffer, base: number): SocketAddress {
  const ipAt = base + offsetOf('km_addr', 'ip');
  const port = buf.readUInt16BE(base + offsetOf('km_addr', 'port'));
  const family = buf.readUInt8(base + offsetOf('km_addr', 'family'));
  if (family === AddressFamily.inet) return { family: 4, ip: formatIpv4(buf.subarray(ipAt, ipAt + 4)), port };
  if (family === AddressFamily.inet6) return { family: 6, ip: formatIpv6(buf.subarray(ipAt, ipAt + 16)), port };
  throw new RangeError(`km_addr has unknown family ${family} (expected ${AddressFamily.inet} or ${AddressFamily.inet6})`);
}
