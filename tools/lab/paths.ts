// Where things are, resolved from this file whether it runs compiled (tools/dist/lab/*.js) or as
// TypeScript under vitest (tools/lab/*.ts).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRepoRoot(start: string): string {
  let dir = start;
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { workspaces?: unknown }).workspaces) return dir;
      } catch { /* keep walking */ }
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find the Kmesh repository root above ${start}`);
    dir = parent;
  }
}

export const repoRoot = findRepoRoot(dirname(fileURLToPath(import.meta.url)));

/** Compiled lab programs (`npx tsc -p tools` writes them). */
export const labScripts = {
  backendServer: join(repoRoot, 'tools/dist/lab/backend-server.js'),
  client: join(repoRoot, 'tools/dist/lab/client.js'),
};

/**
 * The `kmesh` command of @kmesh/controller (exists once that package is built). KMESH_CLI points
 * the lab at another build of it.
 */
export const kmeshCli = process.env.KMESH_CLI ?? join(repoRoot, 'packages/kmesh-controller/dist/cli/kmesh.js');

export function requireCompiled(path: string): string {
  if (!existsSync(path)) throw new Error(`${path} is missing: build the lab first (cd ${repoRoot} && npx tsc -p tools)`);
  return path;
}
