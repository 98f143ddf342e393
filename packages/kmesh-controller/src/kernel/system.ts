/**
 * Host checks before touching the kernel: root, cgroup v2, bpffs.
 */
import { existsSync, mkdirSync, statfsSync, statSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isBpffs, mountBpffs } from '@kmesh/runtime';

/** statfs f_type of a cgroup v2 filesystem (CGROUP2_SUPER_MAGIC). */
const CGROUP2_SUPER_MAGIC = 0x63677270;

export class SetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SetupError';
  }
}

export function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) throw new SetupError(`${what} must run as root (it loads BPF programs and attaches them to a cgroup)`);
}

/** cgroup2 mount points from /proc/self/mounts, for error messages. */
export function cgroup2Mounts(): string[] {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' '))
    .filter((fields) => fields[2] === 'cgroup2')
    .map((fields) => fields[1].replace(/\\040/g, ' '));
}

/** The cgroup directory must exist and live on a cgroup v2 mount (cgroup v1 cannot take these programs). */
export function requireCgroup2Dir(dir: string): void {
  if (!existsSync(dir)) throw new SetupError(`cgroup ${dir} does not exist (create it under a cgroup v2 mount: ${cgroup2Mounts().join(', ') || 'none found'})`);
  if (!statSync(dir).isDirectory()) throw new SetupError(`cgroup ${dir} is not a directory`);
  if (statfsSync(dir).type !== CGROUP2_SUPER_MAGIC) {
    const mounts = cgroup2Mounts();
    throw new SetupError(`cgroup ${dir} is not on a cgroup v2 mount (cgroup v2 is mounted at: ${mounts.join(', ') || 'nowhere; mount -t cgroup2 none /sys/fs/cgroup'})`);
  }
}

/**
 * Make sure the pin path is on bpffs: if no existing ancestor is, mount bpffs on the pin
 * path's parent (for the default /sys/fs/bpf/kmesh that is /sys/fs/bpf, the usual place).
 * Returns the directory mounted, or null when bpffs was already there.
 */
export function ensureBpffs(pinPath: string): string | null {
  let dir = resolve(pinPath);
  while (!existsSync(dir)) dir = dirname(dir);
  if (isBpffs(dir)) return null;
  const mountPoint = dirname(resolve(pinPath));
  mkdirSync(mountPoint, { recursive: true });
  mountBpffs(mountPoint);
  if (!isBpffs(mountPoint)) throw new SetupError(`could not mount bpffs at ${mountPoint}`);
  return mountPoint;
}
