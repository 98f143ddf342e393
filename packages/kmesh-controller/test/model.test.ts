import { describe, expect, it } from 'vitest';
import type { MeshModel } from '@kmesh/api';
import { diffModels, isEmptyDiff, summarizeDiff } from '../src/model/diff.js';
import { formatTranslation } from '../src/model/summary.js';

const base: MeshModel = {
  listeners: [{ name: 'web', address: { family: 4, ip: '10.96.0.10', port: 80 }, route: { clusters: [{ name: 'v1', weight: 1 }] } }],
  clusters: [
    {
      name: 'v1',
      lbPolicy: 'ROUND_ROBIN',
      endpoints: [
        { address: { family: 4, ip: '10.250.1.2', port: 8080 }, weight: 1, health: 'HEALTHY', priority: 0 },
        { address: { family: 4, ip: '10.250.1.3', port: 8080 }, weight: 1, health: 'HEALTHY', priority: 1 },
      ],
    },
  ],
};

describe('model diff', () => {
  it('reports listeners, clusters and endpoints added, removed and changed', () => {
    const after: MeshModel = structuredClone(base);
    after.listeners[0].route.clusters = [{ name: 'v1', weight: 9 }, { name: 'v2', weight: 1 }];
    after.clusters[0].endpoints[0].weight = 5;
    after.clusters[0].endpoints.pop();
    after.clusters.push({ name: 'v2', lbPolicy: 'RANDOM', endpoints: [{ address: { family: 6, ip: 'fd00:6b6d:2::2', port: 8080 }, weight: 1, health: 'HEALTHY', priority: 0 }] });
    const diff = diffModels(base, after);
    expect(diff).toEqual({
      listeners: { added: [], removed: [], changed: ['web'] },
      clusters: { added: ['v2'], removed: [], changed: [] },
      endpoints: { added: ['v2/[fd00:6b6d:2::2]:8080'], removed: ['v1/10.250.1.3:8080'], changed: ['v1/10.250.1.2:8080'] },
    });
    expect(summarizeDiff(diff)).toBe('listeners +0 -0 ~1, clusters +1 -0 ~0, endpoints +1 -1 ~1');
    expect(isEmptyDiff(diffModels(base, structuredClone(base)))).toBe(true);
  });

  it('everything is added when there was no model before', () => {
    expect(summarizeDiff(diffModels(null, base))).toBe('listeners +1 -0 ~0, clusters +1 -0 ~0, endpoints +2 -0 ~0');
  });
});

describe('validate summary', () => {
  it('marks standby priorities as skipped and lists warnings', () => {
    const lines = formatTranslation({ ok: true, model: base, warnings: [{ severity: 'warning', path: 'static_resources.clusters[0]', message: 'priority failover is not implemented' }] }, 'envoy.yaml');
    expect(lines).toContain('    10.250.1.2:8080  weight=1 HEALTHY share=100%');
    expect(lines).toContain('    10.250.1.3:8080  weight=1 HEALTHY priority=1  skipped: standby: priority 1 gets no load while nearer or higher levels are healthy enough');
    expect(lines).toContain('  web  10.96.0.10:80 -> v1');
    expect(lines.slice(-2)).toEqual(['warnings (1):', '  warning: static_resources.clusters[0]: priority failover is not implemented']);
  });
});
