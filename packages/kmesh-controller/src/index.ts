export { KernelState, apiCodec, type KernelStateOptions } from './kernel/kernel-state.js';
export {
  GenerationStore,
  CapacityExceededError,
  ApplyError,
  nextGeneration,
  type ConfigMap,
  type GenerationMaps,
  type RecordCodec,
  type ApplyResult,
  type ActiveGeneration,
} from './kernel/generations.js';
export { Daemon, ConfigError, type DaemonOptions } from './daemon/daemon.js';
export { cleanup, formatCleanupReport, type CleanupReport } from './kernel/cleanup.js';
export { defaultPinPath, linkPin, mapPin, stateFilePath } from './kernel/pins.js';
export { dumpMaps, dumpStats, type MapsDump } from './kernel/dump.js';
export { diffModels, summarizeDiff, type ModelDiff } from './model/diff.js';
export { formatModel, formatTranslation } from './model/summary.js';
export { createLogger, type Logger, type LogFormat } from './log.js';
export { parseAdminAddress, parseKmeshArgs, parseKmeshctlArgs, UsageError } from './cli/args.js';
export * from './xds/index.js';
