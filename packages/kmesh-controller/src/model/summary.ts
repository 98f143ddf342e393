/**
 * Human-readable views of a translation: what `kmesh validate` prints.
 */
import { acceptsConnections, usableEndpoints } from '@kmesh/api';
import type { ClusterModel, Diagnostic, EndpointModel, MeshModel, SocketAddress, Translation } from '@kmesh/api';

/** Why the encoder leaves an endpoint out of the kernel, or null when it is encoded. */
export function skipReason(endpoint: EndpointModel, servingPriority: number | undefined): string | null {
  if (!acceptsConnections[endpoint.health]) return `${endpoint.health} takes no new connections`;
  if (endpoint.priority !== servingPriority) return `priority ${endpoint.priority} is standby (priority ${servingPriority} serves)`;
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

function clusterLines(cluster: ClusterModel): string[] {
  const usable = usableEndpoints(cluster);
  const skipped = cluster.endpoints.length - usable.endpoints.length;
  const lines = [`  ${cluster.name}  lb=${cluster.lbPolicy}  endpoints=${usable.endpoints.length}${skipped ? ` (+${skipped} skipped)` : ''}`];
  for (const endpoint of cluster.endpoints) {
    const notes = [`weight=${endpoint.weight}`, endpoint.health];
    if (endpoint.priority) notes.push(`priority=${endpoint.priority}`);
    if (endpoint.locality) notes.push(`locality=${endpoint.locality}`);
    const reason = skipReason(endpoint, usable.priority);
    lines.push(`    ${formatAddress(endpoint.address)}  ${notes.join(' ')}${reason ? `  skipped: ${reason}` : ''}`);
  }
  if (usable.endpoints.length === 0) lines.push('    (no endpoint takes connections: connects routed to this cluster are refused)');
  return lines;
}

export function formatModel(model: MeshModel): string[] {
  const lines = [`listeners (${model.listeners.length}):`];
  for (const listener of model.listeners) {
    const total = listener.route.clusters.reduce((sum, c) => sum + c.weight, 0);
    const routes = listener.route.clusters
      .map((c) => (listener.route.clusters.length === 1 ? c.name : `${c.name} weight=${c.weight} (${percent(c.weight, total)})`))
      .join(', ');
    lines.push(`  ${listener.name}  ${formatAddress(listener.address)} -> ${routes}`);
  }
  lines.push(`clusters (${model.clusters.length}):`);
  for (const cluster of model.clusters) lines.push(...clusterLines(cluster));
  return lines;
}

/** The text `kmesh validate` prints: the model and warnings, or every error on its own line. */
export function formatTranslation(translation: Translation, source: string): string[] {
  const warnings = translation.warnings.map(formatDiagnostic);
  if (!translation.ok) {
    return [`${source}: invalid (${translation.errors.length} error${translation.errors.length === 1 ? '' : 's'})`, ...translation.errors.map(formatDiagnostic), ...warnings];
  }
  return [`${source}: valid`, ...formatModel(translation.model), ...(warnings.length ? [`warnings (${warnings.length}):`, ...warnings.map((w) => `  ${w}`)] : [])];
}
