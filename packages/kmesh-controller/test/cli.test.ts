/**
 * The commands as a user runs them: exit codes and what they print. Runs the built
 * dist/cli (nx builds before testing: `npx nx run @kmesh/controller:build`).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const fixture = (name: string) => `${root}test/fixtures/${name}`;

function run(cli: 'kmesh' | 'kmeshctl', ...args: string[]) {
  const entry = `${root}dist/cli/${cli}.js`;
  if (!existsSync(entry)) throw new Error(`${entry} is missing: build first (npx nx run @kmesh/controller:build)`);
  const result = spawnSync(process.execPath, [entry, ...args], { encoding: 'utf8', timeout: 20_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('kmesh and kmeshctl', () => {
  it('every command has --help (exit 0, usage on stdout)', () => {
    for (const args of [['--help'], ['run', '--help'], ['validate', '--help'], ['cleanup', '--help']]) {
      const r = run('kmesh', ...args);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^Usage: kmesh/);
    }
    expect(run('kmeshctl', 'dump', '--help').stdout).toMatch(/^Usage: kmeshctl dump config\|maps\|stats/);
  });

  it('usage errors are one line on stderr and exit 2', () => {
    const cases: [('kmesh' | 'kmeshctl'), string[], RegExp][] = [
      ['kmesh', ['run', '--config', 'a.yaml', '--cgroup', '/cg', '--bogus'], /^kmesh run: unknown option '--bogus'/],
      ['kmesh', ['run', '--config'], /^kmesh run: option '--config' needs a value/],
      ['kmesh', ['run', '--config', 'a.yaml', '--cgroup', '/cg', '--admin', '1.2.3:80'], /is not an IPv4 address/],
      ['kmesh', ['frobnicate'], /^kmesh: unknown command 'frobnicate'/],
      ['kmeshctl', ['dump', 'maps', '--admin', 'nowhere'], /is not HOST:PORT/],
    ];
    for (const [cli, args, message] of cases) {
      const r = run(cli, ...args);
      expect(r.code, `${cli} ${args.join(' ')}`).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    }
  });

  it('validate prints the model with weights, lb policy and skipped endpoints', () => {
    const r = run('kmesh', 'validate', fixture('canary.yaml'));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('web  10.96.0.10:80 -> web-v1 weight=90 (90%), web-v2 weight=10 (10%)');
    expect(r.stdout).toContain('web-v1  lb=ROUND_ROBIN  endpoints=1 (+1 skipped)');
    expect(r.stdout).toContain('10.250.1.3:8080  weight=1 UNHEALTHY  skipped: UNHEALTHY takes no new connections');
    expect(r.stdout).toContain('web-v2  lb=RANDOM  endpoints=1');
  });

  it('validate of an invalid file prints every reason on its own line and exits 1', () => {
    const r = run('kmesh', 'validate', fixture('invalid.yaml'));
    expect(r.code).toBe(1);
    const errors = r.stdout.split('\n').filter((line) => line.startsWith('error: '));
    expect(errors).toHaveLength(2);
    expect(r.stdout).toMatch(/port_value: 0 is out of range/);
    expect(r.stdout).toMatch(/cluster "missing" is not defined/);
  });

  it('validate --json gives the translation, and a missing file is a clear error', () => {
    const json = JSON.parse(run('kmesh', 'validate', fixture('canary.yaml'), '--json').stdout);
    expect(json.ok).toBe(true);
    expect(json.model.listeners[0].route.clusters).toEqual([{ name: 'web-v1', weight: 90 }, { name: 'web-v2', weight: 10 }]);
    const missing = run('kmesh', 'validate', fixture('nope.yaml'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/kmesh validate: cannot read .*nope\.yaml: ENOENT/);
  });

  it('kmeshctl says which address it could not reach', () => {
    const r = run('kmeshctl', 'dump', 'config', '--admin', '127.0.0.1:9');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot reach the admin API at http:\/\/127\.0\.0\.1:9\/config_dump/);
  });
});
