import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfigText } from '../src/index.js';
import { baseDoc, errorsOf, expectError, expectWarning, ok, translate } from './helpers.js';

const repoRoot = resolve(fileURLToPath(import.meta.url), '../../../..');

describe('loadConfigText', () => {
  it('loads examples/minimal.yaml: a 90/10 split over two clusters of two endpoints', () => {
    const t = loadConfigText(readFileSync(resolve(repoRoot, 'examples/minimal.yaml'), 'utf8'), 'minimal.yaml');
    const model = ok(t);
    expect(t.warnings).toEqual([]);
    expect(model.listeners[0]).toMatchObject({ address: { family: 4, ip: '10.96.0.1', port: 80 }, route: { clusters: [{ weight: 90 }, { weight: 10 }] } });
    expect(model.clusters.map((c) => c.endpoints.length)).toEqual([2, 2]);
  });

  it('loads JSON', () => {
    ok(loadConfigText(JSON.stringify(baseDoc()), 'x.json'));
  });

  it('reports a YAML syntax error with its line and column', () => {
    const text = 'static_resources:\n  listeners:\n    - name: web\n   bad: [\n';
    const errors = errorsOf(loadConfigText(text, 'bad.yaml'));
    expect(errors[0]!.path).toMatch(/^bad\.yaml:4:\d+$/);
    expect(errors[0]!.message).toMatch(/^YAML syntax error at line 4, column \d+: /);
  });

  it('reports a JSON syntax error with its line', () => {
    const text = '{\n  "static_resources": {\n    "listeners": [,]\n  }\n}\n';
    const errors = errorsOf(loadConfigText(text, 'bad.json'));
    expect(errors[0]!.path).toMatch(/^bad\.json:3:\d+$/);
  });

  it('rejects a repeated key, as Envoy does', () => {
    const errors = errorsOf(loadConfigText('static_resources: {}\nstatic_resources: {}\n'));
    expect(errors[0]!.message).toContain('line 2');
  });

  it('rejects empty text and several YAML documents', () => {
    expect(errorsOf(loadConfigText('  \n'))[0]!.message).toContain('empty configuration');
    expect(errorsOf(loadConfigText('a: 1\n---\nb: 2\n'))[0]!.message).toContain('2 YAML documents in one file');
  });
});

describe('bootstrap shape', () => {
  it('warns about every top-level field it ignores, by name', () => {
    const doc = { ...baseDoc(), admin: { address: {} }, node: { id: 'n' }, layered_runtime: {}, dynamic_resources: {} };
    const t = translate(doc);
    ok(t);
    expectWarning(t, 'admin', 'admin is ignored: kmesh reads only static_resources');
    // node is read since issue 6 (its locality): not reported as ignored.
    expect(t.warnings.filter((w) => w.path === 'node')).toEqual([]);
    expectWarning(t, 'layered_runtime', 'layered_runtime is ignored');
    expectWarning(t, 'dynamic_resources', 'kmesh does not contact an xDS server yet');
  });

  it('reads node.locality as the node locality (issue 6)', () => {
    const t = translate({ ...baseDoc(), node: { id: 'n', locality: { region: 'eu', zone: 'eu-1' } } });
    expect(ok(t).nodeLocality).toBe('eu/eu-1');
    expect(ok(translate(baseDoc())).nodeLocality).toBeUndefined();
  });

  it('explains a config_dump and an xDS resource file', () => {
    expectError(translate({ configs: [] }), '(root)', 'not an Envoy bootstrap: expected static_resources (a config_dump or an xDS resource file is read by loadConfigText and loadConfigDump, not translateBootstrap). This looks like an Envoy admin config_dump.');
    expectError(translate({ resources: [] }), '(root)', 'This looks like an xDS resource file');
    expectError(translate([{ name: 'x' }]), '(root)', 'This is a list, not a mapping.');
    expectError(translate(null), '(root)', 'empty document');
  });

  it('accepts static_resources with no listeners (an empty model)', () => {
    expect(ok(translate({ static_resources: {} }))).toEqual({ listeners: [], clusters: [] });
  });

  it('reads camelCase field names, as Envoy does', () => {
    const doc = {
      staticResources: {
        listeners: [
          {
            name: 'web',
            address: { socketAddress: { address: '10.96.0.1', portValue: 80 } },
            filterChains: [{ filters: [{ name: 't', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', statPrefix: 's', cluster: 'b' } }] }],
          },
        ],
        clusters: [{ name: 'b', lbPolicy: 'RANDOM', loadAssignment: { endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '10.250.1.2', portValue: 8080 } } }, loadBalancingWeight: 3 }] }] } }],
      },
    };
    const model = ok(translate(doc));
    expect(model.clusters[0]).toMatchObject({ lbPolicy: 'RANDOM', endpoints: [{ weight: 3 }] });
  });

  it('rejects a field given in both spellings', () => {
    const doc = baseDoc() as any;
    doc.static_resources.clusters[0].lbPolicy = 'RANDOM';
    doc.static_resources.clusters[0].lb_policy = 'ROUND_ROBIN';
    expectError(translate(doc), 'static_resources.clusters[0](name=backend).lbPolicy', 'both lbPolicy and lb_policy are given');
  });

  it('warns about static_resources.secrets', () => {
    const t = translate({ static_resources: { ...baseDoc().static_resources, secrets: [] } });
    expectWarning(t, 'static_resources.secrets', 'secrets are ignored');
  });
});

describe('examples/', () => {
  const dir = resolve(repoRoot, 'examples');
  it.each(readdirSync(dir).filter((f) => f.endsWith('.yaml')))('%s translates without errors', (name) => {
    const t = loadConfigText(readFileSync(join(dir, name), 'utf8'), name);
    expect(t.ok, t.ok ? '' : t.errors.map((e) => `${e.path}: ${e.message}`).join('\n')).toBe(true);
  });

  it('l7-resilience.yaml: the HTTP listener keeps its token bucket, the cluster its breaker and outlier detection', () => {
    const t = loadConfigText(readFileSync(join(dir, 'l7-resilience.yaml'), 'utf8'), 'l7-resilience.yaml');
    if (!t.ok) throw new Error(t.errors.map((e) => e.message).join('\n'));
    expect(t.model.listeners[0]).toMatchObject({ rateLimit: { maxTokens: 100, tokensPerFill: 20, fillIntervalMs: 1000 } });
    expect(t.model.listeners[0]!.http).toBeDefined();
    expect(t.warnings.filter((w) => /not enforced/.test(w.message))).toEqual([]);
    expect(t.model.clusters[0]).toMatchObject({ lbPolicy: 'LEAST_REQUEST' });
  });
});
