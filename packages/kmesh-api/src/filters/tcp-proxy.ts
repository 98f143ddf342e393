/**
 * envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy → WeightedRoute.
 *
 * `cluster` is a route to one cluster (weight 1); `weighted_clusters` splits
 * new connections by weight. Cluster names are checked against the clusters
 * by the translator, which knows them all.
 */
import { Diagnostics, field, item } from '../diagnostics.js';
import { describe, isObject, readArray, readString, readUint, type Obj } from '../config/fields.js';
import { checkFields, ignore, accept, read, reject, type FieldTable } from '../config/field-table.js';
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

const metadataMatch = reject('it selects a subset of the cluster\'s endpoints, and ignoring it would send connections to all of them');

/** Every field of TcpProxy (see config/field-table.ts for the kinds). */
const tcpProxyFields: FieldTable = {
  message: 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
  fields: {
    stat_prefix: read,
    cluster: read,
    weighted_clusters: read,
    metadata_match: metadataMatch,
    tunneling_config: reject('kmesh does not tunnel TCP over HTTP: ignoring it would send raw TCP where an HTTP tunnel is expected'),
    on_demand: reject('on-demand cluster discovery picks clusters kmesh cannot know in advance'),
    // RING_HASH and MAGLEV always hash the client's source (bpf/lb_hash.h: the bound source
    // address, else the network namespace), which is what source_ip asks for (issue 6).
    hash_policy: accept,
    idle_timeout: ignore('idle connections are not closed'),
    downstream_idle_timeout: ignore('idle connections are not closed'),
    upstream_idle_timeout: ignore('idle connections are not closed'),
    max_downstream_connection_duration: ignore('connections are not closed after a maximum duration'),
    max_connect_attempts: ignore('the application\'s own connect() is the only attempt'),
    backoff_options: ignore('the application\'s own connect() is the only attempt'),
    access_log: ignore('kmesh writes no access log'),
    // Settings of features above that are already reported, or of Envoy's own buffering.
    access_log_flush_interval: accept,
    access_log_options: accept,
    flush_access_log_on_connected: accept,
    proxy_protocol_tlvs: accept,
    max_early_data_bytes: accept,
  },
};

const weightedClustersFields: FieldTable = {
  message: 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.WeightedCluster',
  fields: { clusters: read },
};

const clusterWeightFields: FieldTable = {
  message: 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.WeightedCluster.ClusterWeight',
  fields: { name: read, weight: read, metadata_match: metadataMatch },
};

export function readTcpProxy(config: Obj, path: string, d: Diagnostics): RouteDraft | undefined {
  const before = d.errors.length;
  readString(config, 'stat_prefix', path, d, true);
  // '@type' is the Any's type URL, not a TcpProxy field.
  const { ['@type']: _typeUrl, ...fields } = config;
  checkFields(fields, path, d, tcpProxyFields);
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
  checkFields(config.weighted_clusters, wcPath, d, weightedClustersFields);
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
    checkFields(raw, at, d, clusterWeightFields);
    const name = readString(raw, 'name', at, d, true);
    const weight = readUint(raw, 'weight', at, d, { required: true });
    if (name === undefined || weight === undefined) return;
    refs.push({ name, path: field(item(listPath, i, name), 'name') });
    // The same cluster named twice gets the sum of its weights: the share of
    // connections it would get in Envoy, where each entry is picked on its own.
    const same = clusters.find((c) => c.name === name);
    if (same) {
      same.weight += weight;
      d.warn(item(listPath, i, name), `cluster ${name} is listed more than once in weighted_clusters: its weights are added (${same.weight} in total)`);
    } else {
      clusters.push({ name, weight });
    }
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
