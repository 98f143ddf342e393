/**
 * envoy.config.listener.v3.FilterChainMatch → FilterChainModel['match'].
 *
 * The kernel sees a connect()'s destination address and port, nothing of the
 * bytes: a chain that also needs TLS SNI (server_names), TLS
 * (transport_protocol "tls") or ALPN (application_protocols) cannot be matched
 * at connect(), so it is kept with kernelMatchable false and the kernel skips
 * it (Envoy would pick it for some connections: a warning says which).
 */
import { Diagnostics, field, item } from '../diagnostics.js';
import { describe, isObject, readArray, readString, readUint, type Obj } from '../config/fields.js';
import { accept, checkFields, read, type FieldTable } from '../config/field-table.js';
import type { CidrRange, FilterChainModel } from '../model.js';
import { parseIp } from './address.js';

export type ChainMatch = FilterChainModel['match'];

const filterChainMatchFields: FieldTable = {
  message: 'envoy.config.listener.v3.FilterChainMatch',
  fields: {
    destination_port: read,
    prefix_ranges: read,
    transport_protocol: read,
    application_protocols: read,
    server_names: read,
    // Matches on the source or on sniffed bytes: the chain is skipped by the kernel (see below).
    direct_source_prefix_ranges: read,
    source_type: read,
    source_prefix_ranges: read,
    source_ports: read,
    address_suffix: accept,
    suffix_len: accept,
  },
};

/** Why a chain with this match cannot be chosen at connect(); undefined when it can. */
export interface MatchRead {
  match: ChainMatch;
  /** Undefined when the kernel can evaluate the match. */
  notKernelMatchable?: string;
  /** Canonical texts of every criterion except the destination prefix (for duplicate detection). */
  otherCriteria: string;
}

function readCidr(raw: unknown, path: string, d: Diagnostics): CidrRange | undefined {
  if (!isObject(raw)) {
    d.error(path, `expected a CidrRange {address_prefix, prefix_len}, got ${describe(raw)}`);
    return undefined;
  }
  const text = readString(raw, 'address_prefix', path, d, true);
  if (text === undefined) return undefined;
  const parsed = parseIp(text.trim());
  if (!parsed) {
    d.error(field(path, 'address_prefix'), `"${text}" is not an IPv4 or IPv6 address`);
    return undefined;
  }
  const max = parsed.family === 4 ? 32 : 128;
  // Envoy's default prefix_len is 0 (the whole family).
  const prefixLen = readUint(raw, 'prefix_len', path, d, { max }) ?? 0;
  return { family: parsed.family, ip: parsed.ip, prefixLen };
}

function stringList(raw: Obj, key: string, path: string, d: Diagnostics): string[] | undefined {
  const list = readArray(raw, key, path, d);
  if (!list || list.length === 0) return undefined;
  const out: string[] = [];
  list.forEach((v, i) => {
    if (typeof v === 'string') out.push(v);
    else d.error(item(field(path, key), i), `expected a string, got ${describe(v)}`);
  });
  return out;
}

/** Source matches: the kernel could see the source, but the contract has no place for it yet. */
const sourceCriteria = ['direct_source_prefix_ranges', 'source_type', 'source_prefix_ranges', 'source_ports'] as const;

/** Reads a filter_chain_match at `path` (absent: matches every connection). */
export function readFilterChainMatch(raw: unknown, path: string, d: Diagnostics): MatchRead {
  const match: ChainMatch = { prefixRanges: [] };
  if (raw === undefined || raw === null) return { match, otherCriteria: '' };
  if (!isObject(raw)) {
    d.error(path, `expected a FilterChainMatch mapping, got ${describe(raw)}`);
    return { match, otherCriteria: '' };
  }
  checkFields(raw, path, d, filterChainMatchFields);
  const port = readUint(raw, 'destination_port', path, d, { min: 1, max: 65535 });
  if (port !== undefined) match.destinationPort = port;
  (readArray(raw, 'prefix_ranges', path, d) ?? []).forEach((r, i) => {
    const cidr = readCidr(r, item(field(path, 'prefix_ranges'), i), d);
    if (cidr) match.prefixRanges.push(cidr);
  });
  const transport = readString(raw, 'transport_protocol', path, d);
  if (transport !== undefined && transport !== '') match.transportProtocol = transport;
  const alpn = stringList(raw, 'application_protocols', path, d);
  if (alpn) match.applicationProtocols = alpn;
  const sni = stringList(raw, 'server_names', path, d);
  if (sni) match.serverNames = sni;

  // The first reason wins: it is what the warning names.
  const reasons: [boolean, string][] = [
    [sni !== undefined, `server_names (${sni?.join(', ')}) needs the TLS SNI`],
    [transport !== undefined && transport !== '' && transport !== 'raw_buffer', `transport_protocol "${transport}" needs the first bytes of the connection`],
    [alpn !== undefined, `application_protocols (${alpn?.join(', ')}) needs the first bytes of the connection`],
    ...sourceCriteria.map((k): [boolean, string] => [raw[k] !== undefined && raw[k] !== null && !(Array.isArray(raw[k]) && (raw[k] as unknown[]).length === 0) && raw[k] !== 'ANY', `${k} (a match on the connection's source) is not evaluated by the kernel`]),
  ];
  const why = reasons.find(([applies]) => applies)?.[1];
  const other = JSON.stringify([port ?? 0, transport ?? '', [...(alpn ?? [])].sort(), [...(sni ?? [])].sort(), ...sourceCriteria.map((k) => raw[k] ?? null)]);
  return why === undefined ? { match, otherCriteria: other } : { match, notKernelMatchable: why, otherCriteria: other };
}

function cidrText(r: CidrRange): string {
  return `${r.ip}/${r.prefixLen}`;
}

/**
 * Two chains of one listener with the same matching rules: Envoy rejects the
 * listener ("multiple filter chains with the same matching rules"), so do we.
 * Rules are equal when every criterion is equal and they share a destination prefix
 * (no prefix ranges counts as one rule: any destination).
 */
export function findDuplicateMatches(chains: { name: string; path: string; read: MatchRead }[], d: Diagnostics): boolean {
  const seen = new Map<string, string>();
  let clean = true;
  for (const chain of chains) {
    const prefixes = chain.read.match.prefixRanges.length > 0 ? chain.read.match.prefixRanges.map(cidrText) : ['any'];
    for (const prefix of new Set(prefixes)) {
      const key = `${prefix}|${chain.read.otherCriteria}`;
      const earlier = seen.get(key);
      if (earlier !== undefined) {
        d.error(
          field(chain.path, 'filter_chain_match'),
          `filter chain "${chain.name}" has the same matching rules as "${earlier}" (destination ${prefix === 'any' ? 'any address' : prefix}): Envoy rejects a listener whose chains cannot be told apart, so does kmesh`,
        );
        clean = false;
      } else {
        seen.set(key, chain.name);
      }
    }
  }
  return clean;
}
