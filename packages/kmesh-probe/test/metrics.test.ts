// The daemon-health part of /metrics: sockmap counters appear only when the instance has a sockmap.
import { describe, expect, it } from 'vitest';
import { ProbeMetrics, type DaemonHealth } from '../src/metrics.js';

async function scrape(health: DaemonHealth): Promise<string> {
  const metrics = new ProbeMetrics(() => health, () => ({}));
  try {
    return await metrics.text();
  } finally {
    await metrics.shutdown();
  }
}

describe('sockmap metrics', () => {
  it('exposes the bytes and messages sockmap redirected, and every outcome', async () => {
    const text = await scrape({
      sockmap: {
        inserted: { count: 4, bytes: 0 },
        insert_failed: { count: 0, bytes: 0 },
        redirected: { count: 120, bytes: 122_880 },
        no_peer: { count: 2, bytes: 150 },
        not_tcp_family: { count: 0, bytes: 0 },
        not_local_peer: { count: 0, bytes: 0 },
      },
    });
    expect(text).toMatch(/^kmesh_sockmap_redirected_bytes_total 122880$/m);
    expect(text).toMatch(/^kmesh_sockmap_redirected_messages_total 120$/m);
    expect(text).toMatch(/^kmesh_sockmap_events_total\{outcome="inserted"\} 4$/m);
    expect(text).toMatch(/^kmesh_sockmap_events_total\{outcome="no_peer"\} 2$/m);
  });

  it('has no sockmap samples when the acceleration is off', async () => {
    const text = await scrape({});
    expect(text).not.toMatch(/^kmesh_sockmap_\w+(\{[^}]*\})? \d/m);
  });
});
