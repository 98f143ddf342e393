import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfigDump, loadConfigText } from '../src/index.js';

// The shared samples live beside the repository: <repo root>/../shared/xds-samples.
const repoRoot = resolve(fileURLToPath(import.meta.url), '../../../..');
const samplesDir = resolve(repoRoot, '../shared/xds-samples');

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

const present = existsSync(samplesDir);
if (!present) console.log(`skipping the xds-samples robustness test: ${samplesDir} does not exist`);
const files = present ? walk(samplesDir).filter((f) => !f.endsWith('.md')) : [];

describe.skipIf(!present)('robustness over the shared xds samples', () => {
  it('finds sample files', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it.each(files.map((f) => [relative(samplesDir, f), f]))('%s: no throw, ok or precise errors', (_name, file) => {
    const t = loadConfigText(readFileSync(file, 'utf8'), file);
    if (t.ok) return;
    expect(t.errors.length).toBeGreaterThan(0);
    for (const e of t.errors) {
      expect(e.severity).toBe('error');
      expect(e.message.length).toBeGreaterThan(0);
      expect(e.path.length).toBeGreaterThan(0);
    }
  });
});

const istioDumps = files.filter((f) => relative(samplesDir, f).startsWith('istio-'));

describe.skipIf(!present)('Istio config dumps translate resource by resource', () => {
  it.each(istioDumps.map((f) => [relative(samplesDir, f), f]))('%s: outcomes for every resource, errors rooted at their resource', (_name, file) => {
    const r = loadConfigDump(readFileSync(file, 'utf8'), file);
    expect(r.errors).toEqual([]);
    expect(r.outcomes.length).toBeGreaterThan(0);
    for (const o of r.outcomes) {
      for (const e of o.errors) expect(e.path.startsWith(`${o.kind}(${o.name})`)).toBe(true);
    }
  });

  it('the DeathStarBench sidecar dump: every listener and route accepted, only Envoy\'s own bootstrap clusters rejected', () => {
    const file = istioDumps.find((f) => f.includes('deathstarbench'));
    expect(file).toBeDefined();
    const r = loadConfigDump(readFileSync(file!, 'utf8'), file);
    const rejected = (kind: string) => r.outcomes.filter((o) => o.kind === kind && o.errors.length > 0).map((o) => o.name);
    expect(rejected('listener')).toEqual([]);
    expect(rejected('route')).toEqual([]);
    // Unix-socket (pipe) control-plane clusters and a DNS-named tracing cluster.
    expect(rejected('cluster').sort()).toEqual(['sds-grpc', 'xds-grpc', 'zipkin']);
    expect(r.warming).toEqual({ clusters: [], listeners: [] });
    const outbound = r.model.listeners.find((l) => l.name === 'virtualOutbound');
    expect(outbound).toMatchObject({ virtual: true, filterChains: [{ action: { kind: 'blackhole' } }, { action: { kind: 'passthrough' } }] });
    expect(r.model.listeners.find((l) => l.name === '0.0.0.0_80')!.filterChains!.map((c) => [c.action.kind, c.kernelMatchable])).toEqual([
      ['http', false],
      ['passthrough', true],
    ]);
    expect(r.model.clusters.length).toBeGreaterThanOrEqual(120);
    expect(r.model.routes!.length).toBe(92);
  });
});
