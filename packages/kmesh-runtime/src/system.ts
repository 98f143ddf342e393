// Host-level helpers: the bpf filesystem, CPU count, pins.
import { mkdirSync } from 'node:fs';

import { fromNodeError } from './errors.js';
import { native } from './native.js';

/** True when dir is on a bpf filesystem (statfs magic BPF_FS_MAGIC); false when absent or another fs. */
export function isBpffs(dir: string): boolean {
  return native.isBpffs(dir);
}

/** Mounts a bpffs at dir unless dir already is one; true when it mounted. */
export function mountBpffs(dir = '/sys/fs/bpf'): boolean {
  if (native.isBpffs(dir)) return false;
  try {
    mkdirSync(dir, { recursive: true });
  } catch (error) {
    throw fromNodeError('mkdir', dir, error);
  }
  native.mountBpffs(dir);
  return true;
}

/** Number of possible CPUs: the number of slots in a per-CPU map value. */
export function possibleCpus(): number {
  return native.possibleCpus();
}

/** Removes a bpffs pin (a file); no error when it is already gone. */
export function unpinPath(path: string): void {
  native.unpinPath(path);
}
