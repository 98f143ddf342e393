#!/usr/bin/env node
/**
 * kmesh run | validate | cleanup. The kernel-facing modules are imported lazily, so
 * `kmesh validate` and `--help` work without root or the native addon.
 */
import { readFile } from 'node:fs/promises';
import { parseKmeshArgs, type CleanupOptions, type RunOptions, type ValidateOptions } from './args.js';
import { print, runMain } from './main.js';
import { jsonReplacer, createLogger } from '../log.js';

async function validate(options: ValidateOptions): Promise<number> {
  const { loadConfigText } = await import('@kmesh/api');
  const { formatTranslation } = await import('../model/summary.js');
  let text: string;
  try {
    text = await readFile(options.file, 'utf8');
  } catch (error) {
    process.stderr.write(`kmesh validate: cannot read ${options.file}: ${(error as Error).message}\n`);
    return 1;
  }
  const translation = loadConfigText(text, options.file);
  print(options.json ? JSON.stringify(translation, jsonReplacer, 2) : formatTranslation(translation, options.file));
  return translation.ok ? 0 : 1;
}

async function cleanupCommand(options: CleanupOptions): Promise<number> {
  const { cleanup, formatCleanupReport } = await import('../kernel/cleanup.js');
  print(formatCleanupReport(cleanup(options)));
  return 0;
}

async function run(options: RunOptions): Promise<number> {
  const log = createLogger(options.logFormat);
  const { Daemon, ConfigError } = await import('../daemon/daemon.js');
  const daemon = new Daemon({ ...options, logger: log });
  try {
    await daemon.start();
  } catch (error) {
    if (error instanceof ConfigError) log.error('invalid config; nothing attached', { file: error.file, errors: error.errors });
    else log.error((error as Error).message);
    return 1;
  }
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  log.info('shutting down', { signal });
  await daemon.stop();
  return 0;
}

await runMain(async (argv) => {
  const command = parseKmeshArgs(argv);
  switch (command.kind) {
    case 'help':
      print(command.text);
      return 0;
    case 'run':
      return run(command.options);
    case 'validate':
      return validate(command.options);
    case 'cleanup':
      return cleanupCommand(command.options);
  }
});
