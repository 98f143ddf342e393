/**
 * The install, inspect and remove steps shared by the optional objects that sit next to the L4 programs
 * of an instance at pin path P and hook sockets the same way (sockmap.ts, l7.ts):
 *   P/<maps>                   the object's own maps (pinned by libbpf, by name)
 *   P/links/<sock_ops program> sock_ops on the instance's cgroup (a pinned cgroup link)
 *   <msg_verdict program>      attached to one of its sockmaps/sockhashes: the map holds the program
 *   P/<program name>           programs nothing attaches but another process runs (pinned programs)
 *
 * Order at install: load → msg_verdict on the map → sock_ops on the cgroup. A socket takes the map's
 * programs when it is inserted, so the verdict must be there before sock_ops inserts anything.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { BpfLink, BpfObject, unpinPath } from '@kmesh/runtime';
import { linkPin, mapPin } from './pins.js';

export interface SockOpsObject {
  /** the .bpf.o file */
  objectPath: string;
  sockOpsProgram: string;
  msgVerdictProgram: string;
  /** the map that holds the msg_verdict program */
  verdictMap: string;
  /** every map the object pins (those it pinned itself are unpinned again when the install fails) */
  pinnedMaps: readonly string[];
  /** the maps only this object declares: what inspect looks for and remove unpins */
  ownMaps: readonly string[];
  /** programs pinned beside the maps (run with BPF_PROG_RUN by the daemon, never attached) */
  pinnedPrograms?: readonly string[];
}

/** Everything an install pins besides the sock_ops link: the object's own maps and pinned programs. */
function ownPins(spec: SockOpsObject, pinPath: string): string[] {
  return [...spec.ownMaps, ...(spec.pinnedPrograms ?? [])].map((n) => mapPin(pinPath, n));
}

export type SockOpsPins = 'none' | 'complete' | 'partial';

/** What the pin path holds of the object: its sock_ops link and its own maps, none, or some. */
export function inspectSockOpsObject(spec: SockOpsObject, pinPath: string): SockOpsPins {
  const present = [linkPin(pinPath, spec.sockOpsProgram), ...ownPins(spec, pinPath)].map((p) => existsSync(p));
  if (present.every(Boolean)) return 'complete';
  return present.some(Boolean) ? 'partial' : 'none';
}

/**
 * Load the object for the instance and attach it. Idempotent: a complete pinned object is adopted as it
 * is ('adopted'); leftovers of an interrupted install are removed first.
 */
export function installSockOpsObject(spec: SockOpsObject, opts: { pinPath: string; cgroup: string }): 'installed' | 'adopted' {
  const pinPath = resolve(opts.pinPath);
  const state = inspectSockOpsObject(spec, pinPath);
  if (state === 'complete') return 'adopted';
  if (state === 'partial') removeSockOpsObject(spec, pinPath);

  const undo: (() => void)[] = [];
  const object = BpfObject.open(spec.objectPath, { pinRoot: pinPath });
  try {
    // Only the maps this install pins: a shared map already pinned (by the L4 object) stays.
    for (const name of spec.pinnedMaps) {
      const pin = mapPin(pinPath, name);
      if (!existsSync(pin)) undo.push(() => unpinPath(pin));
    }
    object.load();
    for (const name of spec.pinnedPrograms ?? []) {
      const pin = mapPin(pinPath, name);
      object.program(name).pin(pin);
      undo.push(() => unpinPath(pin));
    }
    object.program(spec.msgVerdictProgram).attachToMap(object.map(spec.verdictMap), 'msg_verdict');
    const link = object.program(spec.sockOpsProgram).attachCgroup(opts.cgroup);
    undo.push(() => {
      link.detach();
      link.close();
    });
    const pin = linkPin(pinPath, spec.sockOpsProgram);
    link.pin(pin);
    undo.push(() => unpinPath(pin));
    link.close(); // the pin holds the link now
    return 'installed';
  } catch (error) {
    for (const step of undo.reverse()) {
      try {
        step();
      } catch {
        // keep undoing the rest
      }
    }
    throw error;
  } finally {
    object.close(); // the link holds sock_ops, the verdict map holds msg_verdict
  }
}

/** Detach sock_ops and unpin the object's own maps and programs. Returns true when something was removed. */
export function removeSockOpsObject(spec: SockOpsObject, pinPath: string): boolean {
  let removed = false;
  const pin = linkPin(pinPath, spec.sockOpsProgram);
  if (existsSync(pin)) {
    const link = BpfLink.fromPin(pin);
    try {
      link.detach();
    } finally {
      link.close();
    }
    unpinPath(pin);
    removed = true;
  }
  for (const pinned of ownPins(spec, pinPath)) {
    if (existsSync(pinned)) {
      unpinPath(pinned);
      removed = true;
    }
  }
  return removed;
}
