/**
 * Field tables: for each Envoy v3 message kmesh reads, what happens to every
 * field of it. A field is
 *   - read:   translated (or diagnosed) by the message's reader;
 *   - accept: harmless to kmesh, accepted silently (names, stats, Envoy's own
 *             buffers and threads, settings of features that are rejected or
 *             warned about elsewhere);
 *   - ignore: not supported, dropped with a warning "X is not supported and is
 *             ignored" (it limits, observes or tunes, but traffic goes to the
 *             same place);
 *   - reject: an error, with why ignoring it would change where traffic goes
 *             or which connections are accepted.
 * A field missing from its table is an error too: like Envoy, which rejects
 * unknown fields, kmesh cannot tell what ignoring it would do.
 */
import { Diagnostics, field } from '../diagnostics.js';
import type { Obj } from './fields.js';

export type FieldRule =
  | { kind: 'read' }
  | { kind: 'accept' }
  | { kind: 'ignore'; why?: string }
  | { kind: 'reject'; why: string };

export interface FieldTable {
  /** The Envoy message, for messages: "envoy.config.cluster.v3.Cluster". */
  message: string;
  fields: Readonly<Record<string, FieldRule>>;
}

export const read: FieldRule = { kind: 'read' };
export const accept: FieldRule = { kind: 'accept' };
export const ignore = (why?: string): FieldRule => (why === undefined ? { kind: 'ignore' } : { kind: 'ignore', why });
export const reject = (why: string): FieldRule => ({ kind: 'reject', why });

/** A value that means "not set": proto3 defaults (false, 0, "") or null, {}, []. */
function isUnset(value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === 0 || value === '') return true;
  if (Array.isArray(value)) return value.length === 0;
  return typeof value === 'object' && Object.keys(value as object).length === 0;
}

/**
 * Reports the fields of `obj` (the message at `path`) that are not `read`:
 * warnings for ignored ones, errors for rejected and unknown ones. Unset
 * values (false, 0, "", null, {}, []) of ignored or rejected fields are not reported.
 * Returns true when no error was recorded.
 */
export function checkFields(obj: Obj, path: string, d: Diagnostics, table: FieldTable): boolean {
  let clean = true;
  for (const [key, value] of Object.entries(obj)) {
    const rule = table.fields[key];
    // The path is built only for a diagnostic: this runs for every field of every resource.
    if (rule === undefined) {
      d.error(field(path, key), `unknown field ${key}: not a field of ${table.message} that kmesh knows, so it cannot tell whether ignoring it would change where traffic goes`);
      clean = false;
    } else if (rule.kind === 'ignore' && !isUnset(value)) {
      d.warn(field(path, key), `${key} is not supported and is ignored${rule.why ? `: ${rule.why}` : ''}`);
    } else if (rule.kind === 'reject' && !isUnset(value)) {
      d.error(field(path, key), `${key} is not supported: ${rule.why}`);
      clean = false;
    }
  }
  return clean;
}
