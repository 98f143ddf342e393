import { describe, expect, it } from 'vitest';
import { parseKmeshArgs } from '../src/cli/args.js';
import { usage } from './usage.js';

describe('kmesh run --xds', () => {
  it('takes --xds without --config, with TLS files and node overrides', () => {
    const cmd = parseKmeshArgs(['run', '--xds', 'istiod.istio-system.svc:15012', '--cgroup', '/cg', '--xds-ca', '/certs/root-cert.pem',
      '--xds-cert', '/certs/cert-chain.pem', '--xds-key', '/certs/key.pem', '--node-id', 'sidecar~10.0.0.1~p.ns~ns.svc.cluster.local', '--xds-mode', 'delta']);
    expect(cmd).toMatchObject({
      kind: 'run',
      options: {
        configFile: undefined,
        xds: {
          address: 'istiod.istio-system.svc:15012',
          mode: 'delta',
          tls: { ca: '/certs/root-cert.pem', cert: '/certs/cert-chain.pem', key: '/certs/key.pem' },
          node: { id: 'sidecar~10.0.0.1~p.ns~ns.svc.cluster.local' },
        },
      },
    });
  });

  it('keeps --config next to --xds and defaults to SotW plaintext', () => {
    const cmd = parseKmeshArgs(['run', '--xds', '127.0.0.1:15010', '--config', '/etc/static.yaml', '--cgroup', '/cg']);
    expect(cmd).toMatchObject({ options: { configFile: '/etc/static.yaml', xds: { address: '127.0.0.1:15010', mode: 'sotw', node: {} } } });
    expect(cmd.kind === 'run' && cmd.options.xds?.tls).toBeUndefined();
  });

  it('names the problem', () => {
    expect(usage(['run', '--xds', 'istiod', '--cgroup', '/cg'])).toMatch(/--xds 'istiod' is not HOST:PORT/);
    expect(usage(['run', '--xds', 'a:1', '--xds-mode', 'incremental', '--cgroup', '/cg'])).toMatch(/--xds-mode must be sotw or delta/);
    expect(usage(['run', '--xds', 'a:1', '--xds-cert', 'c.pem', '--cgroup', '/cg'])).toMatch(/--xds-cert and --xds-key go together/);
    expect(usage(['run', '--config', 'a.yaml', '--node-id', 'x', '--cgroup', '/cg'])).toMatch(/--node-id needs --xds/);
  });
});
