/**
 * envoy.filters.network.local_ratelimit (envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit),
 * issue 6 part A: a token bucket on a listener's new connections, enforced in the kernel at connect().
 * The bucket starts full (max_tokens), gains tokens_per_fill every fill_interval up to max_tokens,
 * and a connect() that finds it empty is refused with ECONNREFUSED.
 */
import { Diagnostics, field } from '../diagnostics.js';
import { readDurationMs, readObject, readString, readUint, type Obj } from '../config/fields.js';
import { accept, checkFields, ignore, read, type FieldTable } from '../config/field-table.js';
import type { LocalRateLimitModel } from '../model.js';

const localRateLimitFields: FieldTable = {
  message: 'envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit',
  fields: {
    '@type': accept,
    stat_prefix: read,
    token_bucket: read,
    runtime_enabled: ignore('there is no runtime: the limit is always on'),
    share_key: ignore('each listener has its own bucket'),
  },
};

const tokenBucketFields: FieldTable = {
  message: 'envoy.type.v3.TokenBucket',
  fields: { max_tokens: read, tokens_per_fill: read, fill_interval: read },
};

/** Envoy's smallest fill_interval. */
const minFillIntervalMs = 50;

/** The filter's typed_config at `path`; undefined when invalid (errors in `d`). */
export function readLocalRateLimit(config: Obj, path: string, d: Diagnostics): LocalRateLimitModel | undefined {
  const before = d.errors.length;
  checkFields(config, path, d, localRateLimitFields);
  readString(config, 'stat_prefix', path, d, true);
  const bucket = readObject(config, 'token_bucket', path, d, true);
  if (!bucket) return undefined;
  const at = field(path, 'token_bucket');
  checkFields(bucket, at, d, tokenBucketFields);
  const maxTokens = readUint(bucket, 'max_tokens', at, d, { min: 1, required: true });
  const tokensPerFill = readUint(bucket, 'tokens_per_fill', at, d, { min: 1 }) ?? 1;
  const fillIntervalMs = readDurationMs(bucket, 'fill_interval', at, d);
  if (fillIntervalMs === undefined && bucket.fill_interval === undefined) d.error(field(at, 'fill_interval'), 'fill_interval is required');
  else if (fillIntervalMs !== undefined && fillIntervalMs < minFillIntervalMs) {
    d.error(field(at, 'fill_interval'), `fill_interval must be at least ${minFillIntervalMs}ms (as Envoy requires), got ${fillIntervalMs}ms`);
  }
  if (d.errors.length !== before || maxTokens === undefined || fillIntervalMs === undefined) return undefined;
  return { maxTokens, tokensPerFill, fillIntervalMs };
}
