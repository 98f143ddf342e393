/**
 * @kmesh/probe: tracepoint observability of mesh connections (open, close, failures, bytes,
 * retransmits) → Prometheus metrics through OpenTelemetry, JSON access logs, endpoint health signals.
 */
export { Probe, probeObjectPath, probePrograms, type ProbeOptions } from './probe.js';
export { ConnectionSeries, ProbeMetrics, connectionLabels, type ConnectionLabels, type DaemonHealth } from './metrics.js';
export { accessLogEntry, accessLogHeader, formatAccessLogRow, type AccessLogEntry } from './access-log.js';
export { ConnectionRecorder, type RecorderOptions } from './recorder.js';
export { EndpointHealth, type EndpointHealthTotals, type EndpointSignal, type EndpointSignalListener } from './health.js';
export { closeReason, decodeEvent, eventLayout, formatAddress, ProbeKind, ProbeStatNames, type ProbeAddress, type ProbeEvent } from './event.js';
