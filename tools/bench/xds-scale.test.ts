// Unit tests of the xds-scale report (no root, no load):
//   cd /work/main && npx vitest run --root . tools/bench/xds-scale.test.ts
import { describe, expect, it } from 'vitest';
import { mergeXdsScaleSection, percentiles, renderXdsScaleMarkdown, XDS_SCALE_TARGETS, type XdsScaleResults } from './xds-scale.js';

const results = (over: Partial<XdsScaleResults> = {}): XdsScaleResults => ({
  scenario: 'xds-scale',
  startedAt: 's',
  finishedAt: 'f',
  settings: { services: 10000, endpointsPerService: 10, changes: 1000, mode: 'delta', command: 'cmd' },
  fullPush: { daemonMs: 1500, kernelMs: 900, externalMs: 1900, records: { listeners: 10000, clusters: 10000, endpoints: 100000 } },
  incremental: { changes: 1000, inPlace: 1000, daemonMs: percentiles([1, 2, 3]), kernelMs: percentiles([0.1]), externalMs: percentiles([2, 3, 4]), generationUnchanged: true },
  peakRssMb: 120,
  targets: { ...XDS_SCALE_TARGETS },
  ...over,
});

describe('xds-scale report', () => {
  it('percentiles are nearest-rank', () => {
    const p = percentiles(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(p).toMatchObject({ p50: 50, p90: 90, p99: 99, max: 100 });
  });

  it('says which targets are missed and by how much, using the worse of the two figures', () => {
    const md = renderXdsScaleMarkdown(results({ fullPush: { daemonMs: 1500, kernelMs: 900, externalMs: 6000, records: { listeners: 1, clusters: 1, endpoints: 1 } }, peakRssMb: 200 }));
    expect(md).toMatch(/full push.*\*\*misses\*\* \(3\.0× the target\)/);
    expect(md).toMatch(/p99.*meets/);
    expect(md).toMatch(/peak RSS.*\*\*misses\*\* \(50 MB over\)/);
  });

  it('replaces only its own section and keeps the hand-written notes', () => {
    const page = `# Benchmarks\n\n<!-- bench:l4:start -->\nL4\n<!-- bench:l4:end -->\n`;
    const once = mergeXdsScaleSection(page, renderXdsScaleMarkdown(results()));
    expect(once).toContain('L4');
    const withNotes = once.replace('<!-- bench:xds-scale:notes -->\n', '<!-- bench:xds-scale:notes -->\nWhy: notes.\n');
    const twice = mergeXdsScaleSection(withNotes, renderXdsScaleMarkdown(results({ peakRssMb: 99 })));
    expect(twice).toContain('Why: notes.');
    expect(twice).toContain('| 99 MB |');
    expect(twice.match(/bench:xds-scale:start/g)).toHaveLength(1);
    expect(twice.startsWith(page.trimEnd())).toBe(true);
  });
});
