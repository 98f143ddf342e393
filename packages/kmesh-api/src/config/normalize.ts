/**
 * Proto3 JSON lets every field be written in camelCase (its json_name) or in
 * snake_case, and Envoy accepts both. Validators read snake_case only, so the
 * document is normalised once, here, at the edge.
 */
import { Diagnostics, field, item } from '../diagnostics.js';

/** json_names whose snake_case form cannot be derived by splitting at capitals. */
const irregular: Record<string, string> = {
  consecutive5xx: 'consecutive_5xx',
  enforcingConsecutive5xx: 'enforcing_consecutive_5xx',
};

const maxDepth = 200;

/** key → its snake_case form (undefined: already snake_case); the same few hundred keys recur in every resource. */
const snakeCache = new Map<string, string | undefined>();

function snakeOf(key: string): string | undefined {
  if (snakeCache.has(key)) return snakeCache.get(key);
  const snake = deriveSnake(key);
  if (snakeCache.size < 10_000) snakeCache.set(key, snake);
  return snake;
}

function deriveSnake(key: string): string | undefined {
  if (irregular[key]) return irregular[key];
  if (!/^[a-z][a-zA-Z0-9]*$/.test(key) || !/[A-Z]/.test(key)) return undefined;
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

function nameOf(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const name = (value as Record<string, unknown>).name;
  return typeof name === 'string' ? name : undefined;
}

export function normalizeKeys(value: unknown, path: string, d: Diagnostics, depth = 0): unknown {
  if (depth > maxDepth) {
    d.error(path, `the document is nested more than ${maxDepth} levels deep`);
    return undefined;
  }
  if (Array.isArray(value)) return value.map((v, i) => ((typeof v === 'object' && v !== null) || depth >= maxDepth ? normalizeKeys(v, item(path, i, nameOf(v)), d, depth + 1) : v));
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  const source = value as Record<string, unknown>;
  for (const [key, v] of Object.entries(source)) {
    const snake = snakeOf(key) ?? key;
    if (snake !== key && snake in source) {
      d.error(field(path, key), `both ${key} and ${snake} are given: they are the same field`);
      continue;
    }
    // A scalar needs no path (nothing below it can be wrong): most leaves skip the string building.
    out[snake] = (typeof v === 'object' && v !== null) || depth >= maxDepth ? normalizeKeys(v, field(path, snake), d, depth + 1) : v;
  }
  return out;
}
