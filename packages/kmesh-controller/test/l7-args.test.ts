// `kmesh run` flags of the L7 relay: --l7-netns (repeatable), --l7-anchor-port, --no-l7.
import { describe, expect, it } from 'vitest';
import { parseKmeshArgs, runUsage, UsageError } from '../src/cli/args.js';

const base = ['run', '--config', '/etc/kmesh/envoy.yaml', '--cgroup', '/sys/fs/cgroup/pod'];

function l7Of(extra: string[]) {
  const command = parseKmeshArgs([...base, ...extra]);
  if (command.kind !== 'run') throw new Error(`expected a run command, got ${command.kind}`);
  return command.options.l7;
}

describe('kmesh run L7 flags', () => {
  it('leaves the relay at its defaults when no L7 flag is given', () => {
    expect(l7Of([])).toBeUndefined();
  });

  it('collects every --l7-netns in order and takes the anchor port', () => {
    expect(l7Of(['--l7-netns', '/run/netns/a', '--l7-netns', '/run/netns/b', '--l7-anchor-port', '16001'])).toEqual({
      enabled: true,
      netns: ['/run/netns/a', '/run/netns/b'],
      anchorPort: 16001,
    });
    expect(l7Of(['--l7-netns', '/run/netns/a'])).toEqual({ enabled: true, netns: ['/run/netns/a'], anchorPort: 15001 });
  });

  it('turns the relay off with --no-l7, and refuses --no-l7 with other L7 flags', () => {
    expect(l7Of(['--no-l7'])).toEqual({ enabled: false, netns: [], anchorPort: 15001 });
    expect(() => l7Of(['--no-l7', '--l7-netns', '/run/netns/a'])).toThrow(UsageError);
  });

  it('takes --l7-head-timeout in whole seconds (0 = never) and rejects anything else', () => {
    expect(l7Of(['--l7-head-timeout', '30'])).toEqual({ enabled: true, netns: [], anchorPort: 15001, headTimeoutS: 30 });
    expect(l7Of(['--l7-head-timeout', '0'])?.headTimeoutS).toBe(0);
    expect(() => l7Of(['--l7-head-timeout', '-1'])).toThrow(UsageError); // parseArgs: looks like an option
    for (const bad of ['1.5', '10s', '86401', 'never']) {
      expect(() => l7Of(['--l7-head-timeout', bad]), bad).toThrow(/--l7-head-timeout must be whole seconds 0-86400/);
    }
    expect(() => l7Of(['--no-l7', '--l7-head-timeout', '5'])).toThrow(UsageError);
  });

  it('rejects an anchor port that is not a port', () => {
    for (const bad of ['0', '65536', 'http', '80x']) {
      expect(() => l7Of(['--l7-anchor-port', bad]), bad).toThrow(/--l7-anchor-port must be a port number 1-65535/);
    }
  });

  it('documents the flags in kmesh run --help', () => {
    const help = parseKmeshArgs(['run', '--help']);
    expect(help).toEqual({ kind: 'help', text: runUsage });
    for (const flag of ['--l7-netns PATH', '--l7-anchor-port N', '--l7-head-timeout S', '--no-l7']) expect(runUsage).toContain(flag);
  });
});
