// The demo's command line: defaults a user relies on and errors that name the bad option.
import { describe, expect, it } from 'vitest';
import { parseArgs } from './args.js';

describe('demo parseArgs', () => {
  it('defaults to examples/bookinfo.yaml under the repo root and 1000 connections', () => {
    expect(parseArgs([], '/repo')).toEqual({ config: '/repo/examples/bookinfo.yaml', connections: 1000, keep: false, help: false });
  });

  it('reads --config, --connections (also as --opt=value), --keep and --help', () => {
    expect(parseArgs(['--config=/tmp/x.yaml', '--connections', '1000', '--keep', '--help'], '/repo')).toEqual({
      config: '/tmp/x.yaml',
      connections: 1000,
      keep: true,
      help: true,
    });
  });

  it('rejects bad values and unknown options by name', () => {
    expect(() => parseArgs(['--connections', '0'], '/r')).toThrow('--connections must be a positive integer, got "0"');
    expect(() => parseArgs(['--connections', '1e3'], '/r')).toThrow(/--connections/);
    expect(() => parseArgs(['--config'], '/r')).toThrow('--config needs a value');
    expect(() => parseArgs(['--fast'], '/r')).toThrow('unknown option "--fast"');
  });
});
