/**
 * envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy → WeightedRoute.
 *
 * `cluster` is a route to one cluster (weight 1); `weighted_clusters` splits
 * new connections by weight. Cluster names are checked against the clusters
 * by the translator, which knows them all.
 */
import { Diagnostics, field, item } from '../diagnostics.js';
import { describe, isObject, readArray, readString, readUint, type Obj } from '../config/fields.js';
import { Limits } from '../abi/layout.js';
import type { WeightedRoute } from '../model.js';

/** A cluster name as written, with its path, for cross-reference errors. */
export interface ClusterRef {
  name: string;
  path: string;
}

export interface RouteDraft {
  route: WeightedRoute;
  refs: ClusterRef[];
}

/** TcpProxy fields that would change where or how bytes go; ignoring them would be wrong. */
const rejectedFields: Record<string, string> = {
  metadata_match: 'metadata_match is not supported yet (it selects an endpoint subset)',
  tunneling_config: 'tunneling_config is not supported: kmesh does not tunnel TCP over HTTP',
  on_demand: 'on_demand cluster discovery is not supported',
};

export function readTcpProxy(config: Obj, path: string, d: Diagnostics): RouteDraft | undefined {
  const before = d.errors.length;
  readString(config, 'stat_prefix', path, d, true);
  for (const [key, message] of Object.entries(rejectedFields)) {
    if (config[key] !== undefined && config[key] !== null) d.error(field(path, key), message);
  }
  const hasCluster = config.cluster !== undefined && config.cluster !== null;
  const hasWeighted = config.weighted_clusters !== undefined && config.weighted_clusters !== null;
  if (hasCluster && hasWeighted) {
    d.error(path, 'give either cluster or weighted_clusters, not both');
    return undefined;
  }
  if (!hasCluster && !hasWeighted) {
    d.error(path, 'tcp_proxy needs cluster or weighted_clusters');
    return undefined;
  }
  if (hasCluster) {
    const name = readString(config, 'cluster', path, d, true);
    if (!name || d.errors.length !== before) return undefined;
    return { route: { clusters: [{ name, weight: 1 }] }, refs: [{ name, path: field(path, 'cluster') }] };
  }

  const wcPath = field(path, 'weighted_clusters');
  if (!isObject(config.weighted_clusters)) {
    d.error(wcPath, `expected a mapping {clusters: [{name, weight}]}, got ${describe(config.weighted_clusters)}`);
    return undefined;
  }
  const list = readArray(config.weighted_clusters, 'clusters', wcPath, d, true);
  if (!list) return undefined;
  const listPath = field(wcPath, 'clusters');
  if (list.length === 0) {
    d.error(listPath, `weighted_clusters needs 1 to ${Limits.weightedClusters} clusters, got none`);
    return undefined;
  }
  if (list.length > Limits.weightedClusters) {
    d.error(listPath, `${list.length} weighted clusters is too many: accepted 1 to ${Limits.weightedClusters}`);
    return undefined;
  }
  const clusters: WeightedRoute['clusters'] = [];
  const refs: ClusterRef[] = [];
  list.forEach((raw, i) => {
    const at = item(listPath, i);
    if (!isObject(raw)) {
      d.error(at, `expected a mapping {name, weight}, got ${describe(raw)}`);
      return;
    }
    const name = readString(raw, 'name', at, d, true);
    const weight = readUint(raw, 'weight', at, d, { required: true });
    if (raw.metadata_match !== undefined) d.error(field(at, 'metadata_match'), rejectedFields.metadata_match!);
    if (name === undefined || weight === undefined) return;
    clusters.push({ name, weight });
    refs.push({ name, path: field(item(listPath, i, name), 'name') });
  });
  if (d.errors.length !== before) return undefined;
  const total = clusters.reduce((s, c) => s + c.weight, 0);
  if (total === 0) {
    d.error(listPath, 'the weights add up to 0: at least one cluster needs a weight above 0');
    return undefined;
  }
  if (total > 0xffffffff) {
    d.error(listPath, `the weights add up to ${total}, more than 4294967295`);
    return undefined;
  }
  return { route: { clusters }, refs };
}
