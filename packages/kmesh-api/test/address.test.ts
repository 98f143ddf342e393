import { describe, expect, it } from 'vitest';
import { parseIp } from '../src/index.js';
import { baseDoc, endpoint, expectError, ok, translate } from './helpers.js';

const L0 = 'static_resources.listeners[0](name=web)';
const E0 = 'static_resources.clusters[0](name=backend).load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address';

describe('IP parsing', () => {
  it.each([
    ['10.0.0.1', 4, '10.0.0.1'],
    ['FD00:6B6D:0001:0000:0000:0000:0000:0001', 6, 'fd00:6b6d:1::1'],
    ['2001:db8:0:0:1:0:0:1', 6, '2001:db8::1:0:0:1'],
    ['0:0:0:0:0:0:0:1', 6, '::1'],
    ['fd00:96::', 6, 'fd00:96::'],
    ['::ffff:10.1.2.3', 6, '::ffff:10.1.2.3'],
    ['2001:db8:1:2:3:4:5:6', 6, '2001:db8:1:2:3:4:5:6'],
  ])('%s → IPv%i %s', (text, family, normal) => {
    expect(parseIp(text)).toMatchObject({ family, ip: normal });
  });

  it.each(['10.0.0.01', '10.0.0', '256.1.1.1', '1::2::3', 'fd00::g', '1:2:3:4:5:6:7:8:9', '10.0.0.1 '])('rejects %j', (text) => {
    expect(parseIp(text)).toBeUndefined();
  });
});

describe('socket_address validation', () => {
  it('normalises an IPv6 listener address in the model', () => {
    const doc = baseDoc();
    doc.static_resources.listeners[0].address.socket_address.address = 'FD00:96:0:0::1';
    expect(ok(translate(doc)).listeners[0]!.address).toEqual({ family: 6, ip: 'fd00:96::1', port: 80 });
  });

  it('rejects UDP', () => {
    const doc = baseDoc();
    doc.static_resources.listeners[0].address.socket_address.protocol = 'UDP';
    expectError(translate(doc), `${L0}.address.socket_address.protocol`, 'protocol UDP is not supported: kmesh routes TCP connections only');
  });

  it('rejects port 0 and ports above 65535', () => {
    const doc = baseDoc();
    doc.static_resources.listeners[0].address.socket_address.port_value = 0;
    doc.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0] = endpoint('10.250.1.2', 70000);
    const t = translate(doc);
    expectError(t, `${L0}.address.socket_address.port_value`, '0 is out of range: accepted 1 to 65535');
    expectError(t, `${E0}.port_value`, '70000 is out of range: accepted 1 to 65535');
  });

  it('rejects a hostname endpoint in a STATIC cluster', () => {
    const doc = baseDoc();
    doc.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0] = endpoint('reviews.default.svc');
    expectError(translate(doc), `${E0}.address`, '"reviews.default.svc" is a hostname: kmesh resolves no names, give an IP address');
  });

  it('accepts a wildcard listener address: its chains match by destination', () => {
    const doc = baseDoc();
    doc.static_resources.listeners[0].address.socket_address.address = '0.0.0.0';
    const l = ok(translate(doc)).listeners[0]!;
    expect(l.route.clusters).toEqual([]);
    expect(l.filterChains).toEqual([
      { name: 'filter_chains[0]', match: { prefixRanges: [] }, action: { kind: 'tcp_proxy', route: { clusters: [{ name: 'backend', weight: 1 }] } }, kernelMatchable: true },
    ]);
  });

  it('rejects a bracketed IPv6 address with a hint', () => {
    const doc = baseDoc();
    doc.static_resources.listeners[0].address.socket_address.address = '[fd00:96::1]';
    expectError(translate(doc), `${L0}.address.socket_address.address`, 'write the IPv6 address without brackets: "fd00:96::1"');
  });

  it('rejects a pipe address', () => {
    const doc = baseDoc();
    (doc.static_resources.listeners[0] as any).address = { pipe: { path: '/tmp/x' } };
    expectError(translate(doc), `${L0}.address.pipe`, 'pipe addresses are not supported');
  });

  it('accepts a port written as a string, as proto3 JSON allows', () => {
    const doc = baseDoc();
    doc.static_resources.listeners[0].address.socket_address.port_value = '8080';
    expect(ok(translate(doc)).listeners[0]!.address.port).toBe(8080);
  });
});
