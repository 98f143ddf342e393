import { describe, expect, it } from 'vitest';
import { parseAdminAddress, parseKmeshArgs, parseKmeshctlArgs, UsageError } from '../src/cli/args.js';

function usageError(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).exitCode).toBe(2);
    const message = (error as Error).message;
    expect(message).not.toContain('\n');
    return message;
  }
  throw new Error('expected a UsageError');
}

describe('kmesh run arguments', () => {
  it('parses every option and fills the defaults', () => {
    expect(parseKmeshArgs(['run', '--config', '/etc/kmesh/envoy.yaml', '--cgroup', '/sys/fs/cgroup/pod'])).toEqual({
      kind: 'run',
      options: {
        configFile: '/etc/kmesh/envoy.yaml',
        cgroup: '/sys/fs/cgroup/pod',
        pinPath: '/sys/fs/bpf/kmesh',
        admin: { host: '127.0.0.1', port: 15200 },
        logFormat: 'json',
        sockmap: true,
      },
    });
    const cmd = parseKmeshArgs(['run', '--config=a.yaml', '--cgroup', '/cg', '--pin-path', '/sys/fs/bpf/x', '--admin', 'off', '--log-format', 'text']);
    expect(cmd).toMatchObject({ kind: 'run', options: { pinPath: '/sys/fs/bpf/x', admin: null, logFormat: 'text' } });
    expect(cmd.kind === 'run' && cmd.options.configFile).toBe(`${process.cwd()}/a.yaml`);
  });

  it('--no-sockmap turns the sockmap acceleration off (on by default)', () => {
    const off = parseKmeshArgs(['run', '--config', 'a.yaml', '--cgroup', '/cg', '--no-sockmap']);
    expect(off).toMatchObject({ kind: 'run', options: { sockmap: false } });
    expect(usageError(() => parseKmeshArgs(['run', '--config', 'a', '--cgroup', '/cg', '--no-sockmap=yes']))).toBe(
      "kmesh run: option '--no-sockmap' takes no value (see 'kmesh run --help')",
    );
  });

  it('names the problem on one line', () => {
    expect(usageError(() => parseKmeshArgs(['run', '--cgroup', '/cg']))).toBe("kmesh run: missing required option --config (see 'kmesh run --help')");
    expect(usageError(() => parseKmeshArgs(['run', '--config', 'a', '--cgroup', '/cg', '--verbose']))).toBe("kmesh run: unknown option '--verbose' (see 'kmesh run --help')");
    expect(usageError(() => parseKmeshArgs(['run', '--cgroup', '/cg', '--config']))).toBe("kmesh run: option '--config' needs a value (see 'kmesh run --help')");
    expect(usageError(() => parseKmeshArgs(['run', '--config', 'a', '--cgroup', '/cg', '--admin', '10.0.0.1']))).toMatch(/--admin '10.0.0.1' is not HOST:PORT/);
    expect(usageError(() => parseKmeshArgs(['run', '--config', 'a', '--cgroup', '/cg', '--log-format', 'xml']))).toMatch(/--log-format must be json or text, not 'xml'/);
    expect(usageError(() => parseKmeshArgs(['run', '--config', 'a', '--cgroup', '/cg', 'extra']))).toMatch(/unexpected argument 'extra'/);
    expect(usageError(() => parseKmeshArgs(['start']))).toBe("kmesh: unknown command 'start' (commands: run, validate, cleanup)");
  });

  it('--help wins over missing options for every command', () => {
    for (const cmd of ['run', 'validate', 'cleanup']) {
      const parsed = parseKmeshArgs([cmd, '--help']);
      expect(parsed.kind).toBe('help');
      expect(parsed.kind === 'help' && parsed.text).toContain(`kmesh ${cmd}`);
    }
    expect(parseKmeshArgs([])).toMatchObject({ kind: 'help' });
    expect(parseKmeshctlArgs(['dump', '-h'])).toMatchObject({ kind: 'help' });
  });
});

describe('kmesh validate and cleanup arguments', () => {
  it('validate takes exactly one FILE', () => {
    expect(parseKmeshArgs(['validate', 'envoy.yaml', '--json'])).toEqual({ kind: 'validate', options: { file: 'envoy.yaml', json: true } });
    expect(usageError(() => parseKmeshArgs(['validate']))).toMatch(/missing FILE/);
    expect(usageError(() => parseKmeshArgs(['validate', 'a', 'b']))).toMatch(/expected one FILE, got 2/);
  });

  it('cleanup defaults the pin path and keeps an optional cgroup', () => {
    expect(parseKmeshArgs(['cleanup'])).toEqual({ kind: 'cleanup', options: { pinPath: '/sys/fs/bpf/kmesh' } });
    expect(parseKmeshArgs(['cleanup', '--pin-path', '/sys/fs/bpf/k2', '--cgroup', '/cg'])).toEqual({ kind: 'cleanup', options: { pinPath: '/sys/fs/bpf/k2', cgroup: '/cg' } });
  });
});

describe('admin addresses', () => {
  it('accepts IPv4, localhost, bracketed IPv6 and off', () => {
    expect(parseAdminAddress('127.0.0.1:15200')).toEqual({ host: '127.0.0.1', port: 15200 });
    expect(parseAdminAddress('localhost:0')).toEqual({ host: 'localhost', port: 0 });
    expect(parseAdminAddress('[::1]:9901')).toEqual({ host: '::1', port: 9901 });
    expect(parseAdminAddress('off')).toBeNull();
  });

  it('rejects what it cannot listen on', () => {
    expect(usageError(() => parseAdminAddress('::1:9901'))).toMatch(/not HOST:PORT/);
    expect(usageError(() => parseAdminAddress('127.0.0.1:70000'))).toMatch(/port 70000 is out of range/);
    expect(usageError(() => parseAdminAddress('example.com:80'))).toMatch(/'example.com' is not an IPv4 address or localhost/);
    expect(usageError(() => parseAdminAddress('[10.0.0.1]:80'))).toMatch(/not an IPv6 address/);
  });
});

describe('kmeshctl arguments', () => {
  it('dump takes a target and an admin address', () => {
    expect(parseKmeshctlArgs(['dump', 'maps'])).toEqual({ kind: 'dump', target: 'maps', admin: { host: '127.0.0.1', port: 15200 } });
    expect(parseKmeshctlArgs(['dump', 'config', '--admin', '127.0.0.1:1234'])).toMatchObject({ admin: { port: 1234 } });
    expect(usageError(() => parseKmeshctlArgs(['dump', 'routes']))).toMatch(/unknown target 'routes' \(expected config\|maps\|stats\)/);
    expect(usageError(() => parseKmeshctlArgs(['dump']))).toMatch(/expected one of config\|maps\|stats/);
    expect(usageError(() => parseKmeshctlArgs(['dump', 'maps', '--admin', 'off']))).toMatch(/--admin off makes no sense/);
    expect(usageError(() => parseKmeshctlArgs(['get', 'maps']))).toMatch(/unknown command 'get'/);
  });
});
