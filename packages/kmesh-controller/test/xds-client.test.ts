// The xDS client against the test ADS server on 127.0.0.1, in both protocol variants.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MeshModel } from '@kmesh/api';
import { XdsServer, formatRequest, type RecordedRequest } from '../../../tools/xds-server/index.js';
import { XdsClient, TypeUrl } from '../src/xds/index.js';
import { assignment, edsCluster, tcpListener } from './xds-fixtures.js';

const until = async (what: string, cond: () => boolean, timeoutMs = 5000) => {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

const endpointsOf = (m: MeshModel | undefined, cluster: string) =>
  m?.clusters.find((c) => c.name === cluster)?.endpoints.map((e) => e.address.ip).sort();

describe.each(['sotw', 'delta'] as const)('xDS client (%s)', (mode) => {
  let server: XdsServer;
  let client: XdsClient | null = null;
  let models: MeshModel[];
  const last = () => models[models.length - 1];
  const requests = (kind: string, meaning?: RecordedRequest['meaning']) => server.requests.filter((r) => r.kind === kind && (!meaning || r.meaning === meaning));
  const log = () => server.requests.map(formatRequest).join('\n');

  const connect = (warmingTimeoutMs = 5000) => {
    client = new XdsClient({ address: server.address, mode, warmingTimeoutMs, backoff: { initialMs: 50, maxMs: 200 }, onModel: (m) => models.push(m) });
    client.start();
    return client;
  };

  beforeEach(async () => {
    models = [];
    server = new XdsServer();
    server.setResources({
      cluster: [edsCluster('web')],
      endpoint: [assignment('web', ['10.250.1.2', '10.250.1.3'])],
      listener: [tcpListener('web', '10.96.0.1', 80, 'web')],
    });
    await server.start(0);
  });
  afterEach(async () => {
    client?.stop();
    client = null;
    await server.stop();
  });

  it('subscribes CDS first, then EDS for the EDS clusters, then LDS, and ACKs each response with its version and nonce', async () => {
    connect();
    await until('a model', () => models.length === 1);
    await server.waitForRequest((r) => r.kind === 'listener' && r.meaning === 'ack');
    await server.waitForRequest((r) => r.kind === 'endpoint' && r.meaning === 'ack');
    const subscribes = server.requests.filter((r) => r.meaning === 'subscribe').map((r) => r.kind);
    expect(subscribes, log()).toEqual(['cluster', 'endpoint', 'listener']);
    const eds = requests('endpoint', 'subscribe')[0];
    expect(mode === 'sotw' ? eds.resourceNames : eds.subscribe).toEqual(['web']);
    expect(server.requests[0].nodeId).toMatch(/^sidecar~[\d.]+~[^~]+\.default~default\.svc\.cluster\.local$/);
    expect(server.requests[0].node?.user_agent_name).toBe('kmesh');
    for (const kind of ['cluster', 'endpoint', 'listener']) {
      const ack = requests(kind, 'ack')[0];
      expect(ack, log()).toBeDefined();
      expect(ack.errorDetail).toBeNull();
      if (mode === 'sotw') expect(ack.versionInfo).toBe('1');
      expect(ack.nonce).not.toBe('');
    }
    expect(endpointsOf(last(), 'web')).toEqual(['10.250.1.2', '10.250.1.3']);
    expect(last().listeners.map((l) => `${l.name} ${l.address.ip}:${l.address.port}`)).toEqual(['web 10.96.0.1:80']);
  });

  it('keeps an EDS cluster warming until its endpoints arrive', async () => {
    server.setResources({ endpoint: [] });
    connect(60_000);
    await server.waitForRequest((r) => r.kind === 'listener' && r.meaning === 'ack');
    await new Promise((r) => setTimeout(r, 300));
    expect(models, 'nothing may be applied while the cluster warms').toEqual([]);
    expect(client!.dump().warming).toEqual({ clusters: ['web'], listeners: [] });
    server.setResources({ endpoint: [assignment('web', ['10.250.1.9'])] });
    await until('a model', () => models.length === 1);
    expect(endpointsOf(last(), 'web')).toEqual(['10.250.1.9']);
  });

  it('uses a warming cluster without endpoints after the warming timeout', async () => {
    server.setResources({ endpoint: [] });
    connect(200);
    await until('a model', () => models.length === 1);
    expect(endpointsOf(last(), 'web')).toEqual([]);
  });

  it('NACKs an invalid update with the last accepted version, the rejected nonce and every reason; the previous model stays', async () => {
    connect();
    await until('a model', () => models.length === 1);
    const before = server.requests.length;
    server.setResources({ listener: [tcpListener('web', '10.96.0.1', 80, 'web'), tcpListener('dns', '10.96.0.53', 53, 'web', 'UDP')] });
    const nack = await server.waitForRequest((r) => r.meaning === 'nack', 5000, before);
    expect(nack.kind).toBe('listener');
    expect(nack.errorDetail?.code).toBe(3);
    expect(nack.errorDetail?.message).toContain('dns');
    expect(nack.errorDetail?.message).toMatch(/protocol/);
    if (mode === 'sotw') expect(nack.versionInfo).toBe('1'); // the last ACCEPTED version, not 2
    const rejectedNonce = nack.nonce;
    expect(Number(rejectedNonce)).toBeGreaterThan(Number(requests('listener', 'ack')[0].nonce));
    const dumped = client!.dump() as { types: { listener: { version: string; lastNack: { nonce: string; reason: string } } } };
    expect(dumped.types.listener.lastNack.nonce).toBe(rejectedNonce);
    if (mode === 'sotw') expect(dumped.types.listener.version).toBe('1');
    await new Promise((r) => setTimeout(r, 200));
    expect(models).toHaveLength(1);
    // a valid update after the NACK is accepted
    server.setResources({ listener: [tcpListener('web', '10.96.0.1', 8080, 'web')] });
    await until('the fixed model', () => models.length === 2);
    expect(last().listeners.map((l) => l.address.port)).toEqual([8080]);
  });

  it('removes listeners and clusters the server no longer has', async () => {
    server.setResources({
      cluster: [edsCluster('web'), edsCluster('api')],
      endpoint: [assignment('web', ['10.250.1.2']), assignment('api', ['10.250.1.4'])],
      listener: [tcpListener('web', '10.96.0.1', 80, 'web'), tcpListener('api', '10.96.0.2', 80, 'api')],
    });
    connect();
    await until('both listeners', () => last()?.listeners.length === 2);
    server.setResources({ listener: [tcpListener('web', '10.96.0.1', 80, 'web')] });
    await until('api listener removed', () => last()?.listeners.length === 1);
    server.setResources({ cluster: [edsCluster('web')] });
    await until('api cluster removed', () => last()?.clusters.length === 1);
    expect(last().clusters.map((c) => c.name)).toEqual(['web']);
    // the EDS subscription follows the clusters: api is no longer asked for
    const eds = requests('endpoint').at(-1)!;
    if (mode === 'sotw') expect(eds.resourceNames).toEqual(['web']);
    else expect(eds.unsubscribe.concat(requests('endpoint').flatMap((r) => r.unsubscribe))).toContain('api');
  });

  it('endpoint changes reach the model', async () => {
    connect();
    await until('a model', () => models.length === 1);
    server.setResources({ endpoint: [assignment('web', ['10.250.1.7'])] });
    await until('new endpoints', () => endpointsOf(last(), 'web')?.join() === '10.250.1.7');
  });

  it('an endpoint-only update patches the previous model: the other clusters and listeners are the same objects, the changed cluster is named', async () => {
    const infos: { endpointClusters?: ReadonlySet<string> }[] = [];
    server.setResources({
      cluster: [edsCluster('web'), edsCluster('api')],
      endpoint: [assignment('web', ['10.250.1.2']), assignment('api', ['10.250.2.2'])],
      listener: [tcpListener('web', '10.96.0.1', 80, 'web'), tcpListener('api', '10.96.0.2', 80, 'api')],
    });
    client = new XdsClient({ address: server.address, mode, backoff: { initialMs: 50, maxMs: 200 }, onModel: (m, info) => { models.push(m); infos.push(info); } });
    client.start();
    await until('a model with both clusters', () => last()?.clusters.length === 2 && endpointsOf(last(), 'api') !== undefined);
    const before = last()!;
    const count = models.length;
    server.setResources({ endpoint: [assignment('web', ['10.250.1.9']), assignment('api', ['10.250.2.2'])] });
    await until('the new endpoint', () => models.length > count && endpointsOf(last(), 'web')?.join() === '10.250.1.9');
    const after = last()!;
    expect([...(infos.at(-1)!.endpointClusters ?? [])]).toEqual(['web']);
    expect(after.listeners).toBe(before.listeners);
    expect(after.clusters.find((c) => c.name === 'api')).toBe(before.clusters.find((c) => c.name === 'api'));
    // an invalid assignment is still NACKed on the fast path, the model stays
    server.setResources({ endpoint: [{ cluster_name: 'web', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'not-an-ip', port_value: 80 } } } }] }] }, assignment('api', ['10.250.2.2'])] });
    await server.waitForRequest((r) => r.kind === 'endpoint' && r.meaning === 'nack');
    expect(endpointsOf(last(), 'web')).toEqual(['10.250.1.9']);
  });

  it('reconnects after the server restarts, resubscribing with the versions it knows, and keeps the model meanwhile', async () => {
    connect();
    await until('a model', () => models.length === 1);
    const port = server.port;
    await server.stop();
    await new Promise((r) => setTimeout(r, 300));
    expect((client!.dump() as { connected: boolean }).connected).toBe(false);
    const before = server.requests.length;
    await server.start(port);
    const resub = await server.waitForRequest((r) => r.kind === 'cluster' && r.meaning === 'subscribe', 5000, before);
    expect(resub.stream).toBeGreaterThan(1);
    if (mode === 'sotw') expect(resub.versionInfo).toBe('1');
    else expect(Object.keys(resub.initialVersions)).toEqual(['web']);
    expect(resub.nodeId).toBeDefined();
    const eds = await server.waitForRequest((r) => r.kind === 'endpoint' && r.meaning === 'subscribe', 5000, before);
    if (mode === 'delta') expect(Object.keys(eds.initialVersions)).toEqual(['web']);
    // updates flow again on the new stream
    server.setResources({ endpoint: [assignment('web', ['10.250.1.8'])] });
    await until('update after reconnect', () => endpointsOf(last(), 'web')?.join() === '10.250.1.8');
  });
});

describe('xDS type URLs', () => {
  it('are the Envoy v3 ones', () => {
    expect(TypeUrl.cluster).toBe('type.googleapis.com/envoy.config.cluster.v3.Cluster');
    expect(TypeUrl.endpoint).toBe('type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment');
  });
});
