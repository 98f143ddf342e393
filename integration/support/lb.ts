// Helpers of the load-balancing policy tests (issue 6 part B): client source addresses to bind,
// and a probe that connects from each of them (support/bound-client.mjs).
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { Lab } from '../../tools/lab/index.js';

const boundClient = resolve(dirname(fileURLToPath(import.meta.url)), 'bound-client.mjs');

/**
 * Adds `count` addresses 10.250.N.100.. to the client netns' interface (on the lab's /24, so the
 * server netns answers them over the same link) and returns them. They go with the netns.
 */
export async function addClientSources(lab: Lab, count: number): Promise<string[]> {
  if (count > 100) throw new Error(`at most 100 client sources (10.250.${lab.n}.100-199), asked for ${count}`);
  const sources: string[] = [];
  for (let host = 100; host < 100 + count; host++) {
    const address = `10.250.${lab.n}.${host}`;
    const r = await lab.execInClient('ip', ['addr', 'add', `${address}/32`, 'dev', 'eth0'], { inMeshCgroup: false });
    if (r.code !== 0) throw new Error(`adding client source address ${address} failed: ${r.stderr}`);
    sources.push(address);
  }
  return sources;
}

/** source address -> the backends that answered its `perSource` connections (failures as "!CODE"). */
export async function probeFromSources(lab: Lab, target: string, sources: string[], perSource: number): Promise<Record<string, string[]>> {
  const r = await lab.execInClient(process.execPath, [boundClient, '--target', target, '--per-source', String(perSource), ...sources], { inMeshCgroup: true });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, string[]>;
}

/** Each source's one backend; fails when a source reached two backends or failed. */
export function stickyBackends(answers: Record<string, string[]>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [src, got] of Object.entries(answers)) {
    expect(got.every((b) => b === got[0] && !b.startsWith('!')), `${src} reached ${got.join(', ')}`).toBe(true);
    out[src] = got[0]!;
  }
  return out;
}
