/**
 * envoy.config.endpoint.v3.ClusterLoadAssignment → EndpointModel[].
 *
 * Every endpoint is kept, whatever its priority and health: choosing the ones
 * that take connections and their shares is the encoder's job (see
 * lb/priority.ts), and a dump should show the whole set.
 */
import { Diagnostics, field, item } from '../diagnostics.js';
import { describe, isObject, readArray, readEnum, readObject, readUint, type Obj } from '../config/fields.js';
import type { EndpointModel, HealthStatus } from '../model.js';
import { readAddress, type AddressRules } from './address.js';
import { accept, checkFields, ignore, read, reject, type FieldTable } from '../config/field-table.js';

/** Every field of each message of a load assignment (see config/field-table.ts for the kinds). */
const loadAssignmentFields: FieldTable = {
  message: 'envoy.config.endpoint.v3.ClusterLoadAssignment',
  fields: { endpoints: read, named_endpoints: read, policy: read, cluster_name: accept },
};

const policyFields: FieldTable = {
  message: 'envoy.config.endpoint.v3.ClusterLoadAssignment.Policy',
  fields: {
    drop_overloads: read,
    // Both tune when Envoy spills connections to the next priority; kmesh uses Envoy's defaults (lb/priority.ts).
    overprovisioning_factor: read, // 140 (Envoy's default) is what kmesh uses; another value is warned below
    weighted_priority_health: ignore('priority health counts endpoints, not their weights (Envoy\'s default)'),
    endpoint_stale_after: accept,
  },
};

const localityLbEndpointsFields: FieldTable = {
  message: 'envoy.config.endpoint.v3.LocalityLbEndpoints',
  fields: {
    locality: read,
    lb_endpoints: read,
    load_balancing_weight: read,
    priority: read,
    metadata: accept,
    proximity: accept,
    leds_cluster_locality_config: reject('these endpoints would come from an LEDS server, which kmesh does not contact: give lb_endpoints inline'),
  },
};

const localityFields: FieldTable = {
  message: 'envoy.config.core.v3.Locality',
  fields: { region: read, zone: read, sub_zone: read },
};

const lbEndpointFields: FieldTable = {
  message: 'envoy.config.endpoint.v3.LbEndpoint',
  fields: { endpoint: read, endpoint_name: read, health_status: read, load_balancing_weight: read, metadata: accept },
};

const endpointFields: FieldTable = {
  message: 'envoy.config.endpoint.v3.Endpoint',
  fields: {
    address: read,
    additional_addresses: read,
    hostname: accept,
    // Where Envoy would send health checks; health checks are not run (warned on the cluster).
    health_check_config: accept,
  },
};

const healthNumbers: Record<number, HealthStatus> = {
  0: 'UNKNOWN',
  1: 'HEALTHY',
  2: 'UNHEALTHY',
  3: 'DRAINING',
  4: 'TIMEOUT',
  5: 'DEGRADED',
};
const healthNames = new Set<string>(Object.values(healthNumbers));

export interface LoadAssignmentContext {
  addressRules: AddressRules;
  /** common_lb_config.locality_weighted_lb_config is set: locality weights would matter to Envoy. */
  localityWeighted: boolean;
}

function localityName(locality: Obj | undefined): string | undefined {
  if (!locality) return undefined;
  const parts = ['region', 'zone', 'sub_zone'].map((k) => (typeof locality[k] === 'string' ? (locality[k] as string) : ''));
  return parts.some((p) => p !== '') ? parts.join('/') : undefined;
}

function readLbEndpoint(raw: unknown, path: string, d: Diagnostics, ctx: LoadAssignmentContext): Omit<EndpointModel, 'priority' | 'locality' | 'localityWeight'> | undefined {
  if (!isObject(raw)) {
    d.error(path, `expected an LbEndpoint mapping, got ${describe(raw)}`);
    return undefined;
  }
  checkFields(raw, path, d, lbEndpointFields);
  if (raw.endpoint_name !== undefined) {
    d.error(field(path, 'endpoint_name'), 'named endpoints (endpoint_name) are not supported: give the endpoint inline');
    return undefined;
  }
  const endpoint = readObject(raw, 'endpoint', path, d, true);
  const weightPath = field(path, 'load_balancing_weight');
  let weight: number | undefined = 1;
  if (raw.load_balancing_weight !== undefined && raw.load_balancing_weight !== null) {
    weight = readUint(raw, 'load_balancing_weight', path, d, { min: 0 });
    if (weight === 0) {
      d.error(weightPath, 'load_balancing_weight 0 is rejected (as Envoy does): accepted 1 to 4294967295; to stop new connections to an endpoint set health_status: DRAINING');
      weight = undefined;
    }
  }
  const healthName = readEnum(raw, 'health_status', path, d, healthNumbers) ?? 'UNKNOWN';
  let health: HealthStatus | undefined;
  if (healthNames.has(healthName)) health = healthName as HealthStatus;
  else d.error(field(path, 'health_status'), `unknown health_status "${healthName}": accepted ${[...healthNames].join(', ')}`);
  if (!endpoint) return undefined;
  const endpointPath = field(path, 'endpoint');
  checkFields(endpoint, endpointPath, d, endpointFields);
  const addressObj = readObject(endpoint, 'address', endpointPath, d, true);
  if (!addressObj) return undefined;
  if (Array.isArray(endpoint.additional_addresses) && endpoint.additional_addresses.length > 0) {
    d.warn(field(endpointPath, 'additional_addresses'), 'additional_addresses are ignored: connections go to address only');
  }
  const address = readAddress(addressObj, field(endpointPath, 'address'), d, ctx.addressRules);
  if (!address || weight === undefined || !health) return undefined;
  return { address, weight, health };
}

/**
 * Reads the endpoints of a load_assignment at `path`. Returns undefined when
 * any error was recorded (the caller has the details in `d`).
 */
export function readLoadAssignment(la: Obj, path: string, d: Diagnostics, ctx: LoadAssignmentContext): EndpointModel[] | undefined {
  const before = d.errors.length;
  const out: EndpointModel[] = [];
  checkFields(la, path, d, loadAssignmentFields);
  const policy = readObject(la, 'policy', path, d);
  if (policy) checkFields(policy, field(path, 'policy'), d, policyFields);
  const factor = policy ? readUint(policy, 'overprovisioning_factor', field(path, 'policy'), d) : undefined;
  if (factor !== undefined && factor !== 140) {
    d.warn(field(field(path, 'policy'), 'overprovisioning_factor'), `overprovisioning_factor ${factor} is not supported and is ignored: priority failover uses Envoy's default 140 (1.4)`);
  }
  if (policy && Array.isArray(policy.drop_overloads) && policy.drop_overloads.length > 0) {
    d.warn(field(field(path, 'policy'), 'drop_overloads'), 'drop_overloads: parsed, not enforced yet (no connection is dropped)');
  }
  if (la.named_endpoints !== undefined) {
    d.error(field(path, 'named_endpoints'), 'named_endpoints are not supported: give each endpoint inline');
  }
  const groups = readArray(la, 'endpoints', path, d) ?? [];
  const groupsPath = field(path, 'endpoints');
  groups.forEach((rawGroup, gi) => {
    const groupPath = item(groupsPath, gi);
    if (!isObject(rawGroup)) {
      d.error(groupPath, `expected a LocalityLbEndpoints mapping, got ${describe(rawGroup)}`);
      return;
    }
    checkFields(rawGroup, groupPath, d, localityLbEndpointsFields);
    const localityObj = readObject(rawGroup, 'locality', groupPath, d);
    if (localityObj) checkFields(localityObj, field(groupPath, 'locality'), d, localityFields);
    const locality = localityName(localityObj);
    const priority = readUint(rawGroup, 'priority', groupPath, d) ?? 0;
    const localityWeight = readUint(rawGroup, 'load_balancing_weight', groupPath, d, { min: 1 });
    const lbEndpoints = readArray(rawGroup, 'lb_endpoints', groupPath, d) ?? [];
    const lbPath = field(groupPath, 'lb_endpoints');
    lbEndpoints.forEach((rawEndpoint, ei) => {
      const e = readLbEndpoint(rawEndpoint, item(lbPath, ei), d, ctx);
      if (!e) return;
      const model: EndpointModel = { ...e, priority };
      if (locality !== undefined) model.locality = locality;
      if (localityWeight !== undefined) model.localityWeight = localityWeight;
      out.push(model);
    });
  });
  return d.errors.length === before ? out : undefined;
}
