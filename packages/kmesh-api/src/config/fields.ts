/**
 * Typed reads of untyped document values. Each read either returns a value of
 * the expected type or records an error at the field's path and returns
 * undefined, so validators read like a list of fields.
 */
import { Diagnostics, field } from '../diagnostics.js';

export type Obj = Record<string, unknown>;

export function isObject(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Describes a value's JSON type for messages: "a string", "an array", ... */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `the string "${value}"`;
  return `${typeof value} ${String(value)}`;
}

export function readObject(obj: Obj, key: string, path: string, d: Diagnostics, required = false): Obj | undefined {
  const value = obj[key];
  const at = field(path, key);
  if (value === undefined || value === null) {
    if (required) d.error(at, `${key} is required`);
    return undefined;
  }
  if (!isObject(value)) {
    d.error(at, `expected a mapping, got ${describe(value)}`);
    return undefined;
  }
  return value;
}

export function readArray(obj: Obj, key: string, path: string, d: Diagnostics, required = false): unknown[] | undefined {
  const value = obj[key];
  const at = field(path, key);
  if (value === undefined || value === null) {
    if (required) d.error(at, `${key} is required`);
    return undefined;
  }
  if (!Array.isArray(value)) {
    d.error(at, `expected a list, got ${describe(value)}`);
    return undefined;
  }
  return value;
}

export function readString(obj: Obj, key: string, path: string, d: Diagnostics, required = false): string | undefined {
  const value = obj[key];
  const at = field(path, key);
  if (value === undefined || value === null) {
    if (required) d.error(at, `${key} is required`);
    return undefined;
  }
  if (typeof value !== 'string') {
    d.error(at, `expected a string, got ${describe(value)}`);
    return undefined;
  }
  if (required && value === '') {
    d.error(at, `${key} must not be empty`);
    return undefined;
  }
  return value;
}

/**
 * An unsigned integer in [min, max]. Proto3 JSON also writes integers as
 * decimal strings (config dumps do for 64-bit fields), so "80" is read as 80.
 * Wrapped values ({value: 3}, google.protobuf.UInt32Value) are unwrapped.
 */
export function readUint(
  obj: Obj,
  key: string,
  path: string,
  d: Diagnostics,
  opts: { min?: number; max?: number; required?: boolean } = {},
): number | undefined {
  let value = obj[key];
  const at = field(path, key);
  if (value === undefined || value === null) {
    if (opts.required) d.error(at, `${key} is required`);
    return undefined;
  }
  if (isObject(value) && Object.keys(value).length === 1 && 'value' in value) value = value.value;
  const min = opts.min ?? 0;
  const max = opts.max ?? 0xffffffff;
  let n: number | undefined;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string' && /^-?\d+$/.test(value.trim())) n = Number(value.trim());
  if (n === undefined || !Number.isInteger(n)) {
    d.error(at, `expected an integer from ${min} to ${max}, got ${describe(value)}`);
    return undefined;
  }
  if (n < min || n > max) {
    d.error(at, `${n} is out of range: accepted ${min} to ${max}`);
    return undefined;
  }
  return n;
}

/**
 * A protobuf enum written by name ("STATIC") or by number (0). Returns the
 * name, or records an error listing the accepted names.
 */
export function readEnum(
  obj: Obj,
  key: string,
  path: string,
  d: Diagnostics,
  numbers: Readonly<Record<number, string>>,
): string | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && numbers[value] !== undefined) return numbers[value];
  d.error(field(path, key), `expected one of ${Object.values(numbers).join(', ')}, got ${describe(value)}`);
  return undefined;
}

/**
 * A google.protobuf.Duration: "1.5s" in JSON/YAML, or {seconds, nanos}.
 * Returns milliseconds.
 */
export function readDurationMs(obj: Obj, key: string, path: string, d: Diagnostics): number | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  const at = field(path, key);
  if (typeof value === 'string') {
    const m = /^(\d+)(?:\.(\d{1,9}))?s$/.exec(value.trim());
    if (m) return Number(m[1]) * 1000 + Number(((m[2] ?? '') + '000000000').slice(0, 9)) / 1e6;
  } else if (isObject(value)) {
    const seconds = Number(value.seconds ?? 0);
    const nanos = Number(value.nanos ?? 0);
    if (Number.isFinite(seconds) && Number.isFinite(nanos) && seconds >= 0 && nanos >= 0) return seconds * 1000 + nanos / 1e6;
  }
  d.error(at, `expected a duration such as "0.25s" or "5s", got ${describe(value)}`);
  return undefined;
}
