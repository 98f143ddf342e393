/**
 * `kmesh cleanup`: remove everything an instance left in the kernel. Idempotent.
 */
import { existsSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BpfLink, unpinPath } from '@kmesh/runtime';
import { linksDir, readInstanceState, removeInstanceState, stateFilePath } from './pins.js';
import { SetupError } from './system.js';

export interface CleanupReport {
  pinPath: string;
  /** Links detached from their cgroup and unpinned. */
  detachedLinks: string[];
  /** Map pins removed. */
  unpinnedMaps: string[];
  /** Directories and files removed (pin directory, links directory, state file). */
  removed: string[];
  /** True when there was nothing to remove. */
  nothingFound: boolean;
}

export function cleanup(opts: { pinPath: string; cgroup?: string; stateDir?: string }): CleanupReport {
  const pinPath = resolve(opts.pinPath);
  const report: CleanupReport = { pinPath, detachedLinks: [], unpinnedMaps: [], removed: [], nothingFound: false };
  const recorded = readInstanceState(pinPath, opts.stateDir);
  if (opts.cgroup && recorded && resolve(recorded.cgroup) !== resolve(opts.cgroup)) {
    throw new SetupError(`${pinPath} belongs to cgroup ${recorded.cgroup}, not ${opts.cgroup}: nothing removed`);
  }

  if (existsSync(pinPath)) {
    const links = linksDir(pinPath);
    if (existsSync(links)) {
      for (const name of readdirSync(links)) {
        const pin = join(links, name);
        // Detach first: unpinning alone would keep the program attached while any fd is open.
        const link = BpfLink.fromPin(pin);
        try {
          link.detach();
        } finally {
          link.close();
        }
        unpinPath(pin);
        report.detachedLinks.push(pin);
      }
      rmdirSync(links);
      report.removed.push(links);
    }
    for (const name of readdirSync(pinPath)) {
      const pin = join(pinPath, name);
      if (statSync(pin).isDirectory()) continue; // not ours: rmdir below will say so
      unpinPath(pin);
      report.unpinnedMaps.push(pin);
    }
    try {
      rmdirSync(pinPath);
    } catch (error) {
      throw new SetupError(`${pinPath} still holds entries kmesh does not know, left in place: ${(error as Error).message}`);
    }
    report.removed.push(pinPath);
  }
  if (removeInstanceState(pinPath, opts.stateDir)) report.removed.push(stateFilePath(pinPath, opts.stateDir));
  report.nothingFound = report.removed.length === 0;
  return report;
}

export function formatCleanupReport(report: CleanupReport): string[] {
  if (report.nothingFound) return [`nothing to clean up at ${report.pinPath}`];
  return [
    ...report.detachedLinks.map((p) => `detached and unpinned link ${p}`),
    ...report.unpinnedMaps.map((p) => `unpinned map ${p}`),
    ...report.removed.map((p) => `removed ${p}`),
  ];
}
