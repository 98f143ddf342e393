/**
 * Field access by name through the layout table, so the encoders and decoders
 * hold no offsets of their own: layout.ts is the only place they are written.
 */
import { AddressFamily, Structs } from './layout.js';
import type { SocketAddress } from '../model.js';
import { addressBytes, formatIpv4, formatIpv6 } from '../resources/address.js';

export type StructName = keyof typeof Structs;

export function structSize(name: StructName): number {
  return Structs[name].size;
}

/** "struct.field" → offset, built once: encoders call offsetOf per record (100,000s per push). */
const offsets = new Map<string, number>(
  Object.entries(Structs).flatMap(([struct, spec]) => (spec.fields as readonly { name: string; offset: number }[]).map((f) => [`${struct}.${f.name}`, f.offset] as [string, number])),
);

export function offsetOf(name: StructName, fieldName: string): number {
  const offset = offsets.get(`${name}.${fieldName}`);
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
  addressBytes(address).copy(buf, base + offsetOf('km_addr', 'ip'));
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
