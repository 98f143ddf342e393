/**
 * kmesh-probe: tracepoint observability (connection open/close, bytes, retransmits → metrics and access
 * logs). Not implemented yet; the L4 data path does not depend on it. Tracked as its own issue.
 */
export const probeImplemented = false as const;
