// examples/bookinfo.yaml as the demo runs it: the lab with network number 1 and the bookinfo
// backends, the daemon on the example file as it is shipped.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOOKINFO_BACKENDS, BOOKINFO_CONFIG, BOOKINFO_NETWORK, BOOKINFO_VIPS, Lab, repoRoot } from '../tools/lab/index.js';
import { expectShares, requireDaemon } from './support/mesh.js';
import type { DaemonHandle } from '../tools/lab/index.js';

const pinPath = `/sys/fs/bpf/kmesh-it-bi${process.pid}`;

describe.skipIf(process.getuid?.() !== 0)('examples/bookinfo.yaml in the lab', () => {
  let lab: Lab;
  let daemon: DaemonHandle;

  beforeAll(async () => {
    requireDaemon();
    lab = await Lab.create({ id: `bi${process.pid}`, n: BOOKINFO_NETWORK, servers: [...BOOKINFO_BACKENDS], ipv6: true });
    daemon = await lab.startDaemon({ config: join(repoRoot, BOOKINFO_CONFIG), pinPath });
  });
  afterAll(async () => {
    await lab?.destroy(); // also runs kmesh cleanup on the pin path
  });

  it('applies without warnings', () => {
    expect(daemon.logs()).toMatch(/"msg":"config applied"/);
    expect(daemon.logs()).not.toMatch(/"level":"(warn|error)"/);
  });

  it('productpage reaches its one endpoint', async () => {
    const r = await lab.runClient({ target: BOOKINFO_VIPS.productpage, connections: 20 });
    expect(r.byBackend).toEqual({ productpage: 20 });
  });

  it('reviews splits 70/20/10 (weighted clusters, a random choice per connection: 5,000 connections)', async () => {
    const r = await lab.runClient({ target: BOOKINFO_VIPS.reviews, connections: 5000, concurrency: 8 });
    expect(r.failed).toBe(0);
    expectShares(r.byBackend, { 'reviews-v1': 0.7, 'reviews-v2': 0.2, 'reviews-v3': 0.1 });
  });

  it('details alternates between its two healthy endpoints; the UNHEALTHY one gets nothing', async () => {
    const r = await lab.runClient({ target: BOOKINFO_VIPS.details, connections: 20, concurrency: 1 });
    expect(r.byBackend).toEqual({ 'details-1': 10, 'details-2': 10 });
    expect(r.sequence.every((b, i) => b !== r.sequence[i + 1])).toBe(true);
  });

  it('ratings is 3:1 over IPv4 and IPv6, and getpeername() shows each VIP', async () => {
    for (const vip of [BOOKINFO_VIPS.ratings, BOOKINFO_VIPS.ratingsV6]) {
      // RANDOM with endpoint weights 3:1: 4,500 connections keep ±3 % at ~4.5 standard deviations
      const r = await lab.runClient({ target: vip, connections: 4500, concurrency: 8 });
      expect(r.failed, JSON.stringify(r.errors)).toBe(0);
      expectShares(r.byBackend, { 'ratings-1': 0.75, 'ratings-2': 0.25 });
      expect(r.peers).toEqual({ [vip]: 4500 });
    }
  });
});
