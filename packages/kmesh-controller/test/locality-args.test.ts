// Issue 6 part B: kmesh run --locality region[/zone[/sub_zone]] (node locality preference).
import { describe, expect, it } from 'vitest';
import { parseKmeshArgs } from '../src/cli/args.js';
import { buildNode } from '../src/xds/node.js';
import { usage } from './usage.js';

describe('kmesh run --locality', () => {
  it('takes region, region/zone or region/zone/sub_zone', () => {
    for (const locality of ['eu', 'eu/eu-1', 'eu/eu-1/rack-a']) {
      expect(parseKmeshArgs(['run', '--config', 'm.yaml', '--cgroup', '/cg', '--locality', locality])).toMatchObject({ kind: 'run', options: { locality } });
    }
    expect(parseKmeshArgs(['run', '--config', 'm.yaml', '--cgroup', '/cg'])).not.toHaveProperty('options.locality');
  });

  it('refuses an empty part or more than three parts, naming the flag', () => {
    expect(usage(['run', '--config', 'm.yaml', '--cgroup', '/cg', '--locality', 'eu//rack'])).toContain("--locality 'eu//rack' is not region[/zone[/sub_zone]]");
    expect(usage(['run', '--config', 'm.yaml', '--cgroup', '/cg', '--locality', 'a/b/c/d'])).toContain('is not region[/zone[/sub_zone]]');
  });

  it('sends the locality to the ADS server as node.locality', () => {
    const cmd = parseKmeshArgs(['run', '--xds', 'istiod:15010', '--cgroup', '/cg', '--locality', 'eu/eu-1']);
    expect(cmd).toMatchObject({ options: { locality: 'eu/eu-1', xds: { node: { locality: 'eu/eu-1' } } } });
    expect(buildNode({ locality: 'eu/eu-1' }).locality).toEqual({ region: 'eu', zone: 'eu-1', sub_zone: '' });
    expect(buildNode({}).locality).toBeUndefined();
  });
});
