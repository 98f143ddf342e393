/**
 * envoy.config.core.v3.Address → SocketAddress, and IP text ⇄ raw bytes.
 *
 * Only IP literals are accepted: kmesh resolves no names. IPv6 is normalised to
 * the RFC 5952 form (lowercase, no leading zeros, longest zero run as "::") so
 * two spellings of one address compare equal.
 */
import { Diagnostics, field } from '../diagnostics.js';
import { describe, readObject, readUint, type Obj } from '../config/fields.js';
import type { SocketAddress } from '../model.js';

export interface ParsedIp {
  family: 4 | 6;
  ip: string;
  bytes: Buffer;
}

/**
 * Strict dotted quad: four decimal octets, no leading zeros (inet_pton rejects them too).
 * Parsed by hand, character by character: it runs for every endpoint of every cluster.
 */
function parseIpv4Bytes(text: string): Buffer | undefined {
  const octets = parseIpv4Octets(text);
  return octets ? Buffer.from(octets) : undefined;
}

/** The four octets of a strict dotted quad (see parseIpv4Bytes); undefined when it is not one. */
export function parseIpv4Octets(text: string): number[] | undefined {
  const octets = [0, 0, 0, 0];
  let part = 0;
  let digits = 0;
  let value = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0 || part === 3) return undefined;
      octets[part++] = value;
      digits = 0;
      value = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits === 1 && value === 0) return undefined; // leading zero
      if (++digits > 3) return undefined;
      value = value * 10 + (c - 48);
    } else {
      return undefined;
    }
  }
  if (part !== 3 || digits === 0) return undefined;
  octets[3] = value;
  if (octets.some((n) => n > 255)) return undefined;
  return octets;
}

function parseIpv6Bytes(text: string): Buffer | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(text)) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groupsOf = (s: string): number[] | undefined => {
    if (s === '') return [];
    const out: number[] = [];
    const parts = s.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = parseIpv4Bytes(p);
        if (!v4) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return undefined;
        out.push(parseInt(p, 16));
      }
    }
    return out;
  };
  const head = groupsOf(halves[0]!);
  const tail = halves.length === 2 ? groupsOf(halves[1]!) : [];
  if (!head || !tail) return undefined;
  // An embedded IPv4 part may only end the address.
  if (halves.length === 2 && halves[0]!.includes('.')) return undefined;
  let groups: number[];
  if (halves.length === 2) {
    const missing = 8 - head.length - tail.length;
    if (missing < 1) return undefined;
    groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  } else {
    groups = head;
  }
  if (groups.length !== 8) return undefined;
  const bytes = Buffer.alloc(16);
  groups.forEach((g, i) => bytes.writeUInt16BE(g, i * 2));
  return bytes;
}

/** RFC 5952 text of 16 raw bytes; IPv4-mapped addresses keep their dotted tail. */
export function formatIpv6(bytes: Buffer): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(bytes.readUInt16BE(i * 2));
  const mapped = groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
  if (mapped) return `::ffff:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  // Longest run of two or more zero groups; the first one wins a tie.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  const left = hex.slice(0, bestStart).join(':');
  const right = hex.slice(bestStart + bestLen).join(':');
  return `${left}::${right}`;
}

export function formatIpv4(bytes: Buffer): string {
  return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
}

/** Parses an IP literal; undefined when the text is not one (a hostname, a typo). */
export function parseIp(text: string): ParsedIp | undefined {
  const v4 = parseIpv4Bytes(text);
  if (v4) return { family: 4, ip: formatIpv4(v4), bytes: v4 };
  const v6 = parseIpv6Bytes(text);
  if (v6) return { family: 6, ip: formatIpv6(v6), bytes: v6 };
  return undefined;
}

/** The raw network-order bytes of a model address: 4 for IPv4, 16 for IPv6. */
export function addressBytes(address: SocketAddress): Buffer {
  const parsed = parseIp(address.ip);
  if (!parsed || parsed.family !== address.family) {
    throw new Error(`invalid IPv${address.family} address "${address.ip}" in the model`);
  }
  return parsed.bytes;
}

export function formatSocketAddress(a: SocketAddress): string {
  return a.family === 6 ? `[${a.ip}]:${a.port}` : `${a.ip}:${a.port}`;
}

export function isUnspecified(a: { ip: string }): boolean {
  return a.ip === '0.0.0.0' || a.ip === '::';
}

/** Looks like a DNS name rather than a mistyped IP address. */
export function looksLikeHostname(text: string): boolean {
  return /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$/.test(text) && /[A-Za-z]/.test(text);
}

export interface AddressRules {
  /** What to say when the address is a hostname (the context knows why DNS is not possible). */
  hostnameMessage: (hostname: string) => string;
  /** The unspecified address (0.0.0.0, ::) is never a destination kmesh can match or rewrite to. */
  unspecifiedMessage: string;
  /** A wildcard listener address (0.0.0.0, ::) is accepted: its chains match by destination. */
  allowUnspecified?: boolean;
}

/**
 * Reads `address.socket_address` from an envoy.config.core.v3.Address at `path`.
 * Records errors for pipes, internal addresses, named ports, UDP and non-IP text.
 */
export function readAddress(addressObj: Obj, path: string, d: Diagnostics, rules: AddressRules): SocketAddress | undefined {
  for (const other of ['pipe', 'envoy_internal_address']) {
    if (addressObj[other] !== undefined) {
      d.error(field(path, other), `${other} addresses are not supported: accepted is socket_address {address, port_value}`);
      return undefined;
    }
  }
  const sockPath = field(path, 'socket_address');
  const sock = readObject(addressObj, 'socket_address', path, d, true);
  if (!sock) return undefined;
  const protocol = sock.protocol ?? 'TCP';
  if (protocol !== 'TCP' && protocol !== 0) {
    d.error(field(sockPath, 'protocol'), `protocol ${String(protocol)} is not supported: kmesh routes TCP connections only (accepted: TCP)`);
  }
  if (sock.named_port !== undefined) {
    d.error(field(sockPath, 'named_port'), 'named_port is not supported: give the port as port_value');
  }
  if (sock.resolver_name !== undefined) {
    d.error(field(sockPath, 'resolver_name'), 'resolver_name is not supported: kmesh resolves no names, give an IP address');
  }
  const port = readUint(sock, 'port_value', sockPath, d, { min: 1, max: 65535, required: sock.named_port === undefined });
  const text = sock.address;
  const addrPath = field(sockPath, 'address');
  if (text === undefined || text === null) {
    d.error(addrPath, 'address is required (an IPv4 or IPv6 address)');
    return undefined;
  }
  if (typeof text !== 'string') {
    d.error(addrPath, `expected an IP address string, got ${describe(text)}`);
    return undefined;
  }
  const trimmed = text.trim();
  const parsed = parseIp(trimmed);
  if (!parsed) {
    if (/^\[.*\]$/.test(trimmed)) d.error(addrPath, `write the IPv6 address without brackets: "${trimmed.slice(1, -1)}"`);
    else if (trimmed.includes('%')) d.error(addrPath, `IPv6 zone ids are not supported: "${trimmed}"`);
    else if (looksLikeHostname(trimmed)) d.error(addrPath, rules.hostnameMessage(trimmed));
    else d.error(addrPath, `"${trimmed}" is not an IPv4 or IPv6 address`);
    return undefined;
  }
  if (isUnspecified(parsed) && !rules.allowUnspecified) {
    d.error(addrPath, rules.unspecifiedMessage);
    return undefined;
  }
  if (port === undefined) return undefined;
  return { family: parsed.family, ip: parsed.ip, port };
}

