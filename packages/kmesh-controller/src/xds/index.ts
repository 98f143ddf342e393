export { XdsClient, channelCredentials, type XdsClientOptions, type XdsTls, type StaticResources } from './client.js';
export { buildNode, defaultNodeId, hostIPv4, type NodeIdentityOptions, type XdsNode } from './node.js';
export { Backoff, type BackoffOptions } from './backoff.js';
export { loadXdsProtos, protoIncludeDirs, resourceProtoFiles, decodeOptions, TypeUrl, resourceKinds, type ResourceKind } from './protos.js';
export { translateXds, type XdsResources, type ResourceOutcome, type XdsTranslation } from './translate.js';
export type { XdsMode } from './protocol.js';
