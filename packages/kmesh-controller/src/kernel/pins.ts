/**
 * Where an instance keeps its state. For pin path P (default /sys/fs/bpf/kmesh):
 *   P/<map name>              maps, pinned by libbpf (LIBBPF_PIN_BY_NAME)
 *   P/links/<program name>    cgroup links, pinned by the daemon
 *   /run/kmesh/<P escaped>.json   which cgroup the links are attached to (bpffs cannot
 *                                 hold regular files, so this lives in /run)
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const defaultPinPath = '/sys/fs/bpf/kmesh';
export const stateDir = '/run/kmesh';

/** The config maps and km_stats: the ones the daemon must find to adopt pinned state. */
export const adoptedMapNames = ['km_active', 'km_listener', 'km_chain', 'km_cluster', 'km_endpoint', 'km_stats'] as const;

export function mapPin(pinPath: string, mapName: string): string {
  return join(pinPath, mapName);
}

export function linksDir(pinPath: string): string {
  return join(pinPath, 'links');
}

export function linkPin(pinPath: string, programName: string): string {
  return join(linksDir(pinPath), programName);
}

/** encodeURIComponent keeps the mapping one-to-one: /a-b and /a/b never share a state file. */
export function stateFilePath(pinPath: string, dir = stateDir): string {
  return join(dir, `${encodeURIComponent(resolve(pinPath))}.json`);
}

export interface InstanceState {
  pinPath: string;
  cgroup: string;
  startedAt: string;
}

export function readInstanceState(pinPath: string, dir = stateDir): InstanceState | null {
  const file = stateFilePath(pinPath, dir);
  if (!existsSync(file)) return null;
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<InstanceState>;
  if (typeof parsed.cgroup !== 'string') throw new Error(`${file} is not a kmesh state file (no "cgroup")`);
  return { pinPath: parsed.pinPath ?? resolve(pinPath), cgroup: parsed.cgroup, startedAt: parsed.startedAt ?? '' };
}

export function writeInstanceState(state: InstanceState, dir = stateDir): string {
  mkdirSync(dir, { recursive: true });
  const file = stateFilePath(state.pinPath, dir);
  writeFileSync(file, JSON.stringify(state, null, 2) + '\n');
  return file;
}

/** Remove the state file; true if there was one. */
export function removeInstanceState(pinPath: string, dir = stateDir): boolean {
  const file = stateFilePath(pinPath, dir);
  if (!existsSync(file)) return false;
  rmSync(file, { force: true });
  return true;
}
