#!/usr/bin/env node
/**
 * kmeshctl dump config|maps|stats: read the daemon's state from its admin API.
 * kmeshctl monitoring: tail the access log of mesh connections as a table.
 */
import { accessLogHeader, formatAccessLogRow, type AccessLogEntry } from '@kmesh/probe';
import { formatAdminAddress, parseKmeshctlArgs, type AdminAddress, type DumpTarget } from './args.js';
import { print, runMain } from './main.js';

const paths: Record<DumpTarget, string> = { config: '/config_dump', maps: '/maps', stats: '/stats' };

/** GET a path of the admin API; null (after printing why) when unreachable or not 2xx. */
async function adminGet(admin: AdminAddress, path: string): Promise<string | null> {
  const url = `http://${formatAdminAddress(admin)}${path}`;
  let response: Response;
  try {
    response = await fetch(url);
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    process.stderr.write(`kmeshctl: cannot reach the admin API at ${url}: ${cause?.code ?? cause?.message ?? (error as Error).message} (is 'kmesh run' up? see --admin)\n`);
    return null;
  }
  const body = await response.text();
  if (!response.ok) {
    process.stderr.write(`kmeshctl: ${url} answered ${response.status}: ${body.trim()}\n`);
    return null;
  }
  return body;
}

/** Polls /access_log for entries newer than the last one seen and prints them as rows. */
async function monitoring(admin: AdminAddress, once: boolean, intervalMs: number): Promise<number> {
  let since = 0;
  print(accessLogHeader());
  for (;;) {
    const body = await adminGet(admin, `/access_log?since=${since}`);
    if (body === null) return 1;
    const page = JSON.parse(body) as { next: number; entries: AccessLogEntry[] };
    for (const entry of page.entries) print(formatAccessLogRow(entry));
    since = page.next;
    if (once) return 0;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

await runMain(async (argv) => {
  const command = parseKmeshctlArgs(argv);
  if (command.kind === 'help') {
    print(command.text);
    return 0;
  }
  if (command.kind === 'monitoring') return monitoring(command.admin, command.once, command.intervalMs);
  const body = await adminGet(command.admin, paths[command.target]);
  if (body === null) return 1;
  print(body.trimEnd());
  return 0;
});
