#!/usr/bin/env node
/**
 * kmeshctl dump config|maps|stats: read the daemon's state from its admin API.
 */
import { formatAdminAddress, parseKmeshctlArgs, type DumpTarget } from './args.js';
import { print, runMain } from './main.js';

const paths: Record<DumpTarget, string> = { config: '/config_dump', maps: '/maps', stats: '/stats' };

await runMain(async (argv) => {
  const command = parseKmeshctlArgs(argv);
  if (command.kind === 'help') {
    print(command.text);
    return 0;
  }
  const url = `http://${formatAdminAddress(command.admin)}${paths[command.target]}`;
  let response: Response;
  try {
    response = await fetch(url);
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    process.stderr.write(`kmeshctl: cannot reach the admin API at ${url}: ${cause?.code ?? cause?.message ?? (error as Error).message} (is 'kmesh run' up? see --admin)\n`);
    return 1;
  }
  const body = await response.text();
  if (!response.ok) {
    process.stderr.write(`kmeshctl: ${url} answered ${response.status}: ${body.trim()}\n`);
    return 1;
  }
  print(body.trimEnd());
  return 0;
});
