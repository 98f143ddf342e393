/** Helpers shared by the runtime's kernel tests: fixture build, cgroup discovery and removal, key encoding. */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { BpfError } from '../src/index.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');

/** Compiles test/fixtures/NAME with clang -target bpf into OUTDIR; returns the object's path. */
export function compileFixture(name: string, outDir: string, extraFlags: string[] = []): string {
  const output = join(outDir, name.replace(/\.c$/, '.o'));
  // With -target bpf clang does not search the multiarch directory that holds <asm/types.h>.
  const multiarch = `/usr/include/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`;
  const includes = existsSync(multiarch) ? ['-I', multiarch] : [];
  execFileSync('clang', ['-O2', '-g', '-target', 'bpf', ...extraFlags, ...includes, '-c', join(fixtures, name), '-o', output], { stdio: 'pipe' });
  return output;
}

export function cgroup2Mount(): string {
  const line = readFileSync('/proc/self/mounts', 'utf8').split('\n').find((l) => l.split(' ')[2] === 'cgroup2');
  if (line === undefined) throw new Error('no cgroup2 filesystem in /proc/self/mounts: cannot test cgroup programs');
  return line.split(' ')[1]!;
}

/** Removes a test cgroup; the last process may still be leaving it, and rmdir answers EBUSY until it has. */
export async function removeCgroup(cgroup: string | undefined): Promise<void> {
  for (let attempt = 0; cgroup && existsSync(cgroup); attempt++) {
    try {
      rmdirSync(cgroup);
    } catch (error) {
      if (attempt > 50) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

export function expectBpfError(fn: () => unknown): BpfError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(BpfError);
    return error as BpfError;
  }
  throw new Error('expected a BpfError, nothing was thrown');
}
