/**
 * Human-readable views of a translation: what `kmesh validate` prints.
 */
import { acceptsConnections, clusterLimits, endpointShares } from '@kmesh/api';
import type { ClusterModel, Diagnostic, EndpointModel, MeshModel, SocketAddress, Translation } from '@kmesh/api';

/** Why the encoder leaves an endpoint out of the kernel, or null when it is encoded. */
export function skipReason(endpoint: EndpointModel, taking: ReadonlySet<EndpointModel>): string | null {
  if (!acceptsConnections[endpoint.health]) return `${endpoint.health} takes no new connections`;
  // Priority failover (issue 6): a level gets connections only when the ones before it are not healthy enough.
  if (!taking.has(endpoint)) return `standby: priority ${endpoint.priority}${endpoint.locality ? ' / its locality' : ''} gets no load while nearer or higher levels are healthy enough`;
  return null;
}

export function formatAddress(address: SocketAddress): string {
  return address.family === 6 ? `[${address.ip}]:${address.port}` : `${address.ip}:${address.port}`;
}

export function formatDiagnostic(d: Diagnostic): string {
  return d.path ? `${d.severity}: ${d.path}: ${d.message}` : `${d.severity}: ${d.message}`;
}

function percent(part: number, total: number): string {
  return total > 0 ? `${Math.round((part / total) * 1000) / 10}%` : '0%';
}

/** issue 6 part A: what the kernel enforces for a cluster that configures it (defaults are not repeated). */
function protectionLine(cluster: ClusterModel): string | null {
  const limits = clusterLimits(cluster);
  const parts: string[] = [];
  if (cluster.circuitBreakers) parts.push(`max_connections=${limits.maxConnections}`);
  if (limits.outlierFailures > 0) {
    parts.push(`outlier: eject after ${limits.outlierFailures} consecutive failures (connect; HTTP: a 5xx first response) for ${limits.baseEjectionTimeMs / 1000}s x ejections (max ${limits.maxEjectionTimeMs / 1000}s, ${limits.maxEjectionPercent}% of endpoints)`);
  }
  if (cluster.lbPolicy === 'LEAST_REQUEST') parts.push(`least request of ${limits.choiceCount} choices`);
  return parts.length > 0 ? `    enforced: ${parts.join('; ')}` : null;
}

function clusterLines(cluster: ClusterModel, nodeLocality: string | undefined): string[] {
  // The shares the kernel gets: priority failover, locality weights, node locality (lb/priority.ts).
  const shares = endpointShares(cluster, { nodeLocality });
  const taking = new Map(shares.endpoints.map((e) => [e.endpoint, e.weight]));
  const total = shares.endpoints.reduce((s, e) => s + e.weight, 0);
  const skipped = cluster.endpoints.length - shares.endpoints.length;
  const lines = [`  ${cluster.name}  lb=${cluster.lbPolicy}  endpoints=${shares.endpoints.length}${skipped ? ` (+${skipped} skipped)` : ''}`];
  const protection = protectionLine(cluster);
  if (protection) lines.push(protection);
  for (const endpoint of cluster.endpoints) {
    const notes = [`weight=${endpoint.weight}`, endpoint.health];
    if (endpoint.priority) notes.push(`priority=${endpoint.priority}`);
    if (endpoint.locality) notes.push(`locality=${endpoint.locality}`);
    const weight = taking.get(endpoint);
    if (weight !== undefined) notes.push(`share=${percent(weight, total)}`);
    const reason = skipReason(endpoint, new Set(taking.keys()));
    lines.push(`    ${formatAddress(endpoint.address)}  ${notes.join(' ')}${reason ? `  skipped: ${reason}` : ''}`);
  }
  if (shares.endpoints.length === 0) lines.push('    (no endpoint takes connections: connects routed to this cluster are refused)');
  return lines;
}

export function formatModel(model: MeshModel): string[] {
  const lines = [`listeners (${model.listeners.length}):`];
  for (const listener of model.listeners) {
    const total = listener.route.clusters.reduce((sum, c) => sum + c.weight, 0);
    const routes = listener.route.clusters
      .map((c) => (listener.route.clusters.length === 1 ? c.name : `${c.name} weight=${c.weight} (${percent(c.weight, total)})`))
      .join(', ');
    // Wildcard/virtual listeners route by filter chain; HTTP ones are routed per request head by the L7 path.
    const target = listener.filterChains
      ? `${listener.filterChains.length} filter chains (${listener.filterChains.map((c) => `${c.name}: ${c.action.kind}${c.kernelMatchable ? '' : ', not kernel-matchable'}`).join('; ')})${listener.virtual ? ' [virtual]' : ''}`
      : routes || (listener.http ? `http (route ${listener.http.routeConfigName ?? listener.http.routeConfig?.name ?? 'inline'}), L7: routed in the kernel by the request head` : '(none)');
    lines.push(`  ${listener.name}  ${formatAddress(listener.address)} -> ${target}`);
    const rl = listener.rateLimit; // issue 6 part A
    if (rl) lines.push(`    enforced: local_ratelimit ${rl.maxTokens} tokens, +${rl.tokensPerFill} every ${rl.fillIntervalMs / 1000}s`);
  }
  lines.push(`clusters (${model.clusters.length}):`);
  if (model.nodeLocality) lines.push(`node locality: ${model.nodeLocality} (nearer endpoints preferred)`);
  for (const cluster of model.clusters) lines.push(...clusterLines(cluster, model.nodeLocality));
  return lines;
}

/** For a config_dump or xDS resource file: what Kmesh does with each resource, then the totals. */
export function formatResources(report: NonNullable<Translation['resources']>): string[] {
  const warming = new Set([...report.warming.clusters.map((n) => `cluster ${n}`), ...report.warming.listeners.map((n) => `listener ${n}`)]);
  const lines = [`resources (${report.outcomes.length}):`];
  const totals = { accepted: 0, rejected: 0, warming: 0 };
  for (const o of report.outcomes) {
    const state = o.errors.length > 0 ? 'rejected' : warming.has(`${o.kind} ${o.name}`) ? 'warming' : 'accepted';
    totals[state]++;
    const notes = o.warnings.length ? ` (${o.warnings.length} warning${o.warnings.length === 1 ? '' : 's'})` : '';
    lines.push(`  ${state.padEnd(8)} ${o.kind} ${o.name}${notes}`);
    for (const e of o.errors) lines.push(`    ${formatDiagnostic(e)}`);
  }
  lines.push(`  ${totals.accepted} accepted, ${totals.rejected} rejected, ${totals.warming} warming`);
  return lines;
}

/** The text `kmesh validate` prints: the model and warnings, or every error on its own line. */
export function formatTranslation(translation: Translation, source: string): string[] {
  if (translation.resources) {
    const head = `${source}: ${translation.ok ? 'valid' : `invalid (${translation.errors.length} error${translation.errors.length === 1 ? '' : 's'})`}`;
    const documentErrors = translation.ok ? [] : translation.errors.filter((e) => !translation.resources!.outcomes.some((o) => o.errors.includes(e))).map(formatDiagnostic);
    const warnings = translation.warnings.map((w) => `  ${formatDiagnostic(w)}`);
    return [head, ...documentErrors, ...formatResources(translation.resources), ...(translation.ok ? formatModel(translation.model) : []), ...(warnings.length ? [`warnings (${warnings.length}):`, ...warnings] : [])];
  }
  const warnings = translation.warnings.map(formatDiagnostic);
  if (!translation.ok) {
    return [`${source}: invalid (${translation.errors.length} error${translation.errors.length === 1 ? '' : 's'})`, ...translation.errors.map(formatDiagnostic), ...warnings];
  }
  return [`${source}: valid`, ...formatModel(translation.model), ...(warnings.length ? [`warnings (${warnings.length}):`, ...warnings.map((w) => `  ${w}`)] : [])];
}
