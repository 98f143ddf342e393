/**
 * least_request_lb_config (or the typed LeastRequest load_balancing_policy), issue 6 part A:
 * choice_count, the number of random endpoints compared by active connections (default 2).
 * The kernel compares at most ResilienceLimits.leastRequestMaxChoices.
 */
import { Diagnostics, field } from '../diagnostics.js';
import { isObject, readObject, readUint, type Obj } from '../config/fields.js';
import { accept, checkFields, ignore, read, type FieldTable } from '../config/field-table.js';
import { ResilienceLimits } from '../abi/resilience.js';

const leastRequestFields: FieldTable = {
  message: 'envoy.config.cluster.v3.Cluster.LeastRequestLbConfig',
  fields: {
    choice_count: read,
    active_request_bias: ignore('endpoint weights are not scaled by active connections: the fewest active of the choices wins'),
    slow_start_config: ignore('new endpoints get their full share at once'),
    enable_full_scan: ignore('choice_count random endpoints are compared, never all'),
    selection_method: ignore('choice_count random endpoints are compared'),
    locality_lb_config: accept,
    '@type': accept,
  },
};

const typedLeastRequest = 'type.googleapis.com/envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest';

/** The LeastRequest typed_config among load_balancing_policy.policies, with its path. */
function typedConfig(raw: Obj, path: string): { config: Obj; path: string } | undefined {
  const lbp = raw.load_balancing_policy;
  if (!isObject(lbp) || !Array.isArray(lbp.policies)) return undefined;
  for (const [i, p] of lbp.policies.entries()) {
    const ext = isObject(p) && isObject(p.typed_extension_config) ? p.typed_extension_config : undefined;
    const config = ext && isObject(ext.typed_config) ? ext.typed_config : undefined;
    if (config && config['@type'] === typedLeastRequest) {
      return { config, path: `${field(path, 'load_balancing_policy')}.policies[${i}].typed_extension_config.typed_config` };
    }
  }
  return undefined;
}

/** choice_count of a LEAST_REQUEST cluster, undefined when not given or invalid (errors in `d`). */
export function readLeastRequestChoiceCount(raw: Obj, path: string, d: Diagnostics): number | undefined {
  const typed = typedConfig(raw, path);
  const config = typed?.config ?? readObject(raw, 'least_request_lb_config', path, d);
  if (!config) return undefined;
  const at = typed?.path ?? field(path, 'least_request_lb_config');
  checkFields(config, at, d, leastRequestFields);
  // Envoy requires at least 2; the kernel's loop is bounded.
  return readUint(config, 'choice_count', at, d, { min: 2, max: ResilienceLimits.leastRequestMaxChoices });
}
