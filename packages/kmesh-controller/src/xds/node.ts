/**
 * The Node this daemon presents to the management server. istiod identifies a proxy by the node
 * id `TYPE~IP~POD.NAMESPACE~NAMESPACE.svc.cluster.local` and reads its namespace, cluster and
 * labels from the metadata; presenting ourselves as a sidecar makes istiod generate exactly the
 * config an Envoy sidecar in that pod would get.
 */
import { hostname, networkInterfaces } from 'node:os';

export interface NodeIdentityOptions {
  /** full node id; overrides the sidecar~IP~POD.NS~NS.svc.cluster.local default */
  id?: string;
  /** node.cluster (istiod: the service cluster, default 'Kubernetes') */
  cluster?: string;
  /** namespace used in the default id and in metadata.NAMESPACE (default 'default') */
  namespace?: string;
  /** extra metadata merged over the defaults */
  metadata?: Record<string, unknown>;
  /** kmesh run --locality: "region[/zone[/sub_zone]]", sent as node.locality (issue 6) */
  locality?: string;
}

/** The Envoy Node message as proto JSON (snake_case). */
export interface XdsNode {
  id: string;
  cluster: string;
  metadata: Record<string, unknown>;
  user_agent_name: string;
  user_agent_version?: string;
  locality?: { region: string; zone: string; sub_zone: string };
}

/** First non-internal IPv4 address of the host, 127.0.0.1 when there is none. */
export function hostIPv4(interfaces = networkInterfaces()): string {
  for (const addresses of Object.values(interfaces)) {
    for (const a of addresses ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

export function defaultNodeId(ip: string, pod: string, namespace: string): string {
  return `sidecar~${ip}~${pod}.${namespace}~${namespace}.svc.cluster.local`;
}

export function buildNode(opts: NodeIdentityOptions = {}, version = '0.1.0'): XdsNode {
  const namespace = opts.namespace ?? 'default';
  const ip = hostIPv4();
  const pod = hostname();
  const cluster = opts.cluster ?? 'Kubernetes';
  return {
    id: opts.id ?? defaultNodeId(ip, pod, namespace),
    cluster,
    metadata: {
      NAMESPACE: namespace,
      CLUSTER_ID: cluster,
      ISTIO_VERSION: '1.24.0', // istiod shapes its output by proxy version; claim a current one
      LABELS: {},
      INTERCEPTION_MODE: 'REDIRECT',
      NAME: pod,
      INSTANCE_IPS: ip,
      POD_PORTS: '[]',
      ...opts.metadata,
    },
    user_agent_name: 'kmesh',
    user_agent_version: version,
    ...(opts.locality ? { locality: localityMessage(opts.locality) } : {}),
  };
}

/** "region/zone/sub_zone" -> envoy.config.core.v3.Locality (missing parts empty). */
function localityMessage(text: string): { region: string; zone: string; sub_zone: string } {
  const [region = '', zone = '', subZone = ''] = text.split('/');
  return { region, zone, sub_zone: subZone };
}

/**
 * Node.metadata is a google.protobuf.Struct: on the wire (proto JSON through proto-loader) it must
 * be written as {fields: {KEY: {string_value | struct_value | ...}}}.
 */
export function toStruct(value: Record<string, unknown>): { fields: Record<string, unknown> } {
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) fields[k] = toValue(v);
  return { fields };
}

function toValue(v: unknown): unknown {
  if (v === null || v === undefined) return { null_value: 'NULL_VALUE' };
  if (typeof v === 'string') return { string_value: v };
  if (typeof v === 'number') return { number_value: v };
  if (typeof v === 'boolean') return { bool_value: v };
  if (Array.isArray(v)) return { list_value: { values: v.map(toValue) } };
  return { struct_value: toStruct(v as Record<string, unknown>) };
}

/** The Node as it goes into a DiscoveryRequest. */
export function nodeMessage(node: XdsNode): Record<string, unknown> {
  return { ...node, metadata: toStruct(node.metadata) };
}
