import { expect } from 'vitest';
import { translateBootstrap, type Diagnostic, type MeshModel, type Translation } from '../src/index.js';

export const tcpProxyType = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';

export function tcpProxy(route: Record<string, unknown>): Record<string, unknown> {
  return { name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': tcpProxyType, stat_prefix: 'tcp', ...route } };
}

export function listener(name: string, address: string, port: number, route: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return {
    name,
    address: { socket_address: { address, port_value: port } },
    filter_chains: [{ filters: [tcpProxy(route)] }],
    ...extra,
  };
}

export function endpoint(address: string, port = 8080, extra: Record<string, unknown> = {}) {
  return { endpoint: { address: { socket_address: { address, port_value: port } } }, ...extra };
}

export function cluster(name: string, lbEndpoints: unknown[], extra: Record<string, unknown> = {}) {
  return { name, load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: lbEndpoints }] }, ...extra };
}

/** A valid bootstrap: listener "web" 10.96.0.1:80 → cluster "backend" with two endpoints. */
export function baseDoc(): { static_resources: { listeners: any[]; clusters: any[] } } {
  return {
    static_resources: {
      listeners: [listener('web', '10.96.0.1', 80, { cluster: 'backend' })],
      clusters: [cluster('backend', [endpoint('10.250.1.2'), endpoint('10.250.1.3')])],
    },
  };
}

export function ok(t: Translation): MeshModel {
  if (!t.ok) throw new Error(`expected ok, got errors:\n${t.errors.map((e) => `${e.path}: ${e.message}`).join('\n')}`);
  return t.model;
}

export function errorsOf(t: Translation): Diagnostic[] {
  if (t.ok) throw new Error('expected errors, the translation succeeded');
  return t.errors;
}

/** Asserts one error at exactly `path` whose message contains `text`. */
export function expectError(t: Translation, path: string, text: string): void {
  const errors = errorsOf(t);
  const hit = errors.find((e) => e.path === path && e.message.includes(text));
  expect(hit, `no error at ${path} containing "${text}"; got:\n${errors.map((e) => `${e.path}: ${e.message}`).join('\n')}`).toBeDefined();
}

export function expectWarning(t: Translation, path: string, text: string): void {
  const hit = t.warnings.find((w) => w.path === path && w.message.includes(text));
  expect(hit, `no warning at ${path} containing "${text}"; got:\n${t.warnings.map((e) => `${e.path}: ${e.message}`).join('\n')}`).toBeDefined();
}

export function translate(doc: unknown): Translation {
  return translateBootstrap(doc);
}
