// Test ADS server: import { XdsServer } from '../tools/xds-server/index.js'
export { XdsServer, formatRequest, type RecordedRequest } from './server.js';
export { emptySet, loadResourceFile, resourcesFromDocument, type ResourceSet } from './resources.js';
export { encodeAny, envoyRoot } from './protos.js';
