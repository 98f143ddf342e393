/**
 * @kmesh/orchestration: where the compiled BPF objects are and which programs
 * they hold. The C sources are in ../bpf; `bpf/build.sh` compiles them to
 * dist/bpf/*.bpf.o.
 *
 * Paths are resolved from this module's own location (src/ when run from
 * source, dist/ when built: both sit one level below the package root), so
 * they are correct whatever the caller's working directory.
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const repoRoot = resolve(packageRoot, '..', '..');

/** Absolute paths of the compiled BPF objects. */
export const objectPaths: { readonly l4: string } = Object.freeze({
  l4: resolve(packageRoot, 'dist', 'bpf', 'kmesh_l4.bpf.o'),
});

/** The cgroup hooks the L4 object serves. */
export type L4Attach = 'connect4' | 'connect6' | 'getpeername4' | 'getpeername6';

/** Programs in kmesh_l4.bpf.o by function name, with the cgroup hook each attaches to. */
export const l4Programs: readonly { readonly name: string; readonly attach: L4Attach }[] = Object.freeze([
  Object.freeze({ name: 'kmesh_connect4', attach: 'connect4' }),
  Object.freeze({ name: 'kmesh_connect6', attach: 'connect6' }),
  Object.freeze({ name: 'kmesh_getpeername4', attach: 'getpeername4' }),
  Object.freeze({ name: 'kmesh_getpeername6', attach: 'getpeername6' }),
] as const);

/** Absolute path of the kernel ABI header (map keys and values). */
export const abiHeader: string = resolve(repoRoot, 'kernel', 'include', 'kmesh_abi.h');
