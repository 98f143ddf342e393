import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfigText } from '../src/index.js';

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
