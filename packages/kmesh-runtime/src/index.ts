// @kmesh/runtime: a general, typed libbpf binding for Node.js. Knows nothing about xDS.
export { BpfError } from './errors.js';
export { BpfObject, type BpfObjectOpenOptions } from './object.js';
export { BpfProgram, type MapAttachType } from './program.js';
export { BpfLink } from './link.js';
export { BpfMap, type UpdateFlag } from './map.js';
export { RingBuffer, type RingBufferRecordsHandler } from './ring-buffer.js';
export { isBpffs, mountBpffs, possibleCpus, unpinPath } from './system.js';
export {
  L7Relay,
  L7RelayError,
  type L7RelayAnchor,
  type L7RelayDirectMaps,
  type L7RelayOptions,
  type L7RelayStats,
  type L7RelayVerdictCounts,
} from './l7-relay.js';
