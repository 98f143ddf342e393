/**
 * Getting an instance into the kernel: a fresh load, or adoption of what a previous
 * daemon left pinned (DESIGN constraint 3: state survives the daemon).
 *
 * Fresh start, in this order so that traffic never meets a half-configured instance:
 *   load the object (libbpf pins the maps under the pin path) → apply the first config
 *   → attach every program to the cgroup and pin its link → record the cgroup in /run.
 * Any failure undoes what this attempt created (links detached and unpinned, new map pins
 * removed, directories it made removed) and rethrows.
 */
import { existsSync, mkdirSync, readdirSync, rmdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { MapNames, ResilienceMapNames } from '@kmesh/api';
import { BpfObject, unpinPath } from '@kmesh/runtime';
import { KernelState, type KernelStateOptions } from './kernel-state.js';
import { adoptedMapNames, linkPin, linksDir, mapPin, readInstanceState, removeInstanceState, stateFilePath, writeInstanceState } from './pins.js';
import { SetupError } from './system.js';
import { inspectL7, installL7, l7Available, removeL7 } from './l7.js';

export interface ProgramSpec {
  name: string;
  attach: string;
}

export type PinnedState =
  | { kind: 'empty' }
  | { kind: 'complete' }
  | { kind: 'partial'; missingLinks: string[]; presentLinks: string[] };

/** What the pin path holds: nothing of ours (maps alone do not count), everything, or some links. */
export function inspectPins(pinPath: string, programs: readonly ProgramSpec[]): PinnedState {
  const present = programs.filter((p) => existsSync(linkPin(pinPath, p.name))).map((p) => p.name);
  const mapsPresent = adoptedMapNames.every((name) => existsSync(mapPin(pinPath, name)));
  if (present.length === 0) return { kind: 'empty' };
  if (present.length === programs.length && mapsPresent) return { kind: 'complete' };
  return { kind: 'partial', presentLinks: present, missingLinks: programs.map((p) => p.name).filter((n) => !present.includes(n)) };
}

export interface FreshInstallOptions extends KernelStateOptions {
  objectPath: string;
  programs: readonly ProgramSpec[];
  /** Writes the first configuration; runs after load, before any program is attached. */
  applyFirst: (state: KernelState) => void;
  stateDir?: string;
}

export function freshInstall(opts: FreshInstallOptions): KernelState {
  const pinPath = resolve(opts.pinPath);
  const undo: (() => void)[] = [];
  const mkdirOwned = (dir: string) => {
    if (existsSync(dir)) return;
    mkdirSync(dir);
    undo.push(() => rmdirSync(dir));
  };
  let object: BpfObject | null = null;
  let state: KernelState | null = null;
  try {
    mkdirOwned(pinPath);
    mkdirOwned(linksDir(pinPath));
    object = BpfObject.open(opts.objectPath, { pinRoot: pinPath });
    // Maps already pinned (an instance whose links were removed) are reused by libbpf, not
    // replaced: only pins this attempt creates are removed on failure.
    for (const name of [...Object.values(MapNames), ...Object.values(ResilienceMapNames)]) {
      const pin = mapPin(pinPath, name);
      if (!existsSync(pin)) undo.push(() => unpinPath(pin));
    }
    object.load();
    // issue 4: the L7 parser before the store opens its maps, so the first config writes its route tables.
    if (opts.l7 !== false && l7Available() && installL7({ pinPath, cgroup: opts.cgroup }) === 'installed') undo.push(() => removeL7(pinPath));

    state = KernelState.open({ ...opts, pinPath });
    state.sweep({ force: true }); // reused maps may carry stale generations
    opts.applyFirst(state);

    for (const program of opts.programs) {
      const link = object.program(program.name).attachCgroup(opts.cgroup);
      undo.push(() => {
        link.detach();
        link.close();
      });
      const pin = linkPin(pinPath, program.name);
      link.pin(pin);
      undo.push(() => unpinPath(pin));
    }
    writeInstanceState({ pinPath, cgroup: opts.cgroup, startedAt: new Date().toISOString() }, opts.stateDir);
    undo.push(() => removeInstanceState(pinPath, opts.stateDir));
    object.close(); // links hold the programs; the object's fds are no longer needed
    object = null;
    return state;
  } catch (error) {
    state?.close();
    object?.close();
    for (const step of undo.reverse()) {
      try {
        step();
      } catch {
        // Keep undoing the rest: one stuck pin must not leave the others behind.
      }
    }
    throw error;
  }
}

export interface AdoptOptions extends KernelStateOptions {
  stateDir?: string;
}

/** Open what a previous daemon pinned, after checking it belongs to this cgroup. No reload. */
export function adopt(opts: AdoptOptions): KernelState {
  const pinPath = resolve(opts.pinPath);
  const recorded = readInstanceState(pinPath, opts.stateDir);
  if (!recorded) {
    throw new SetupError(
      `${pinPath} holds pinned links but ${stateFilePath(pinPath, opts.stateDir)} (which cgroup they are attached to) is missing; ` +
        `refusing to adopt links that may belong to another cgroup. Run 'kmesh cleanup --pin-path ${pinPath}' to start fresh.`,
    );
  }
  if (resolve(recorded.cgroup) !== resolve(opts.cgroup)) {
    throw new SetupError(
      `${pinPath} is attached to cgroup ${recorded.cgroup}, not ${opts.cgroup}: use another --pin-path for this cgroup, ` +
        `or 'kmesh cleanup --pin-path ${pinPath}' first`,
    );
  }
  // issue 4: an instance pinned before the L7 object existed gets it now (its next apply writes the route tables).
  if (opts.l7 !== false && l7Available() && inspectL7(pinPath) !== 'complete') installL7({ pinPath, cgroup: opts.cgroup });
  const state = KernelState.open({ ...opts, pinPath });
  writeInstanceState({ pinPath, cgroup: recorded.cgroup, startedAt: new Date().toISOString() }, opts.stateDir);
  return state;
}

/** Link pins present under the pin path (any program name: cleanup must not depend on the object). */
export function pinnedLinks(pinPath: string): string[] {
  const dir = linksDir(pinPath);
  return existsSync(dir) ? readdirSync(dir).map((name) => linkPin(pinPath, name)) : [];
}
