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
export const objectPaths: { readonly l4: string; readonly sockmap: string; readonly l7: string } = Object.freeze({
  l4: resolve(packageRoot, 'dist', 'bpf', 'kmesh_l4.bpf.o'),
  sockmap: resolve(packageRoot, 'dist', 'bpf', 'kmesh_sockmap.bpf.o'),
  l7: resolve(packageRoot, 'dist', 'bpf', 'kmesh_l7.bpf.o'),
});

/** The cgroup hooks the L4 object serves. */
export type L4Attach = 'connect4' | 'connect6' | 'getpeername4' | 'getpeername6' | 'sock_ops' | 'sock_release';

/** Programs in kmesh_l4.bpf.o by function name, with the cgroup hook each attaches to. */
export const l4Programs: readonly { readonly name: string; readonly attach: L4Attach }[] = Object.freeze([
  Object.freeze({ name: 'kmesh_connect4', attach: 'connect4' }),
  Object.freeze({ name: 'kmesh_connect6', attach: 'connect6' }),
  Object.freeze({ name: 'kmesh_getpeername4', attach: 'getpeername4' }),
  Object.freeze({ name: 'kmesh_getpeername6', attach: 'getpeername6' }),
  // issue 6 part A (bpf/conn.h): connect failures and closes of counted connections
  Object.freeze({ name: 'kmesh_conn_sockops', attach: 'sock_ops' }),
  Object.freeze({ name: 'kmesh_conn_release', attach: 'sock_release' }),
] as const);

/** Absolute path of the kernel ABI header (map keys and values). */
export const abiHeader: string = resolve(repoRoot, 'kernel', 'include', 'kmesh_abi.h');

/** Where a program of kmesh_sockmap.bpf.o attaches: the cgroup (sock_ops) or the sockhash (msg_verdict). */
export type SockmapAttach = 'sock_ops' | 'msg_verdict';

/**
 * Programs in kmesh_sockmap.bpf.o by function name. The msg_verdict program must be attached to the
 * sockhash before sock_ops inserts sockets: a socket takes the map's programs when it is inserted.
 */
export const sockmapPrograms: readonly { readonly name: string; readonly attach: SockmapAttach }[] = Object.freeze([
  Object.freeze({ name: 'kmesh_sk_msg', attach: 'msg_verdict' }),
  Object.freeze({ name: 'kmesh_sockops', attach: 'sock_ops' }),
] as const);

/** The sockhash and the counters of kmesh_sockmap.bpf.o (pinned by name, like the L4 maps). */
export const sockmapMapNames = Object.freeze({ sockets: 'km_sock', stats: 'km_sock_stats' } as const);

/** Absolute path of the sockmap ABI header (km_sock key, km_sock_stats reasons). */
export const sockmapHeader: string = resolve(repoRoot, 'kernel', 'include', 'kmesh_sockmap.h');

/** Where a program of kmesh_l7.bpf.o attaches: the mesh cgroup (sock_ops), km_l7_client (msg_verdict),
 *  or nowhere: 'run' is a syscall program the relay runs with BPF_PROG_RUN (pinned by the daemon). */
export type L7Attach = 'sock_ops' | 'msg_verdict' | 'run';

/**
 * Programs in kmesh_l7.bpf.o (the L7 parser and router) by function name. As for the sockmap object,
 * the msg_verdict program must be attached to km_l7_client before sock_ops inserts client sockets.
 */
export const l7Programs: readonly { readonly name: string; readonly attach: L7Attach }[] = Object.freeze([
  Object.freeze({ name: 'kmesh_l7_sk_msg', attach: 'msg_verdict' }),
  Object.freeze({ name: 'kmesh_l7_sockops', attach: 'sock_ops' }),
  Object.freeze({ name: 'kmesh_l7_connect_outcome', attach: 'run' }),
] as const);

/** Absolute paths of the L7 headers: the shared contract (kmesh_l7.h) and the route tables (kmesh_l7_routes.h). */
export const l7Headers: { readonly contract: string; readonly routes: string } = Object.freeze({
  contract: resolve(repoRoot, 'kernel', 'include', 'kmesh_l7.h'),
  routes: resolve(repoRoot, 'kernel', 'include', 'kmesh_l7_routes.h'),
});
