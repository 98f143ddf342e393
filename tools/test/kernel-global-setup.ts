/**
 * Global setup of the kernel test project: the tests pin maps under /sys/fs/bpf, so a bpf filesystem
 * must be mounted there. A fresh machine may have none (sysfs then answers ENOENT to every mkdir below
 * /sys/fs/bpf, and Node's recursive mkdir retries that forever). Mount it when running as root, and
 * unmount it afterwards if we mounted it and nothing but the kernel's own iterators is left in it.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

import { isBpffs, mountBpffs } from '@kmesh/runtime';

const bpffs = '/sys/fs/bpf';
const kernelEntries = new Set(['maps.debug', 'progs.debug']);

export default function setup(): (() => void) | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const mounted = mountBpffs(bpffs);
  if (!isBpffs(bpffs)) throw new Error(`kernel tests: no bpf filesystem at ${bpffs} and mounting one failed`);
  if (!mounted) return undefined;
  return () => {
    const left = readdirSync(bpffs).filter((name) => !kernelEntries.has(name));
    if (left.length > 0) {
      console.warn(`kernel tests: leaving ${bpffs} mounted, tests left pins behind: ${left.join(', ')}`);
      return;
    }
    execFileSync('umount', [bpffs]);
  };
}
