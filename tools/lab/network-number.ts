// Claims the lab network number N (10.250.N.0/24) so two labs, even in two processes, never share
// one. A claim is a file /run/kmesh-lab/net-<N>.lock holding the owner's pid; a claim whose owner
// is dead is stale and taken over.
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { checkNetworkNumber } from './addressing.js';

const LOCK_DIR = '/run/kmesh-lab';
/** N=1 is left to labs that ask for it (the demo: examples/bookinfo.yaml is written for N=1). */
const AUTO_FIRST = 2;
const AUTO_LAST = 254;

function lockPath(n: number): string {
  return `${LOCK_DIR}/net-${n}.lock`;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function tryClaim(n: number, id: string): boolean {
  const path = lockPath(n);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, JSON.stringify({ pid: process.pid, id }));
      closeSync(fd);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let owner: { pid?: number } = {};
      try { owner = JSON.parse(readFileSync(path, 'utf8')) as { pid?: number }; } catch { /* torn write: treat as stale */ }
      if (owner.pid && alive(owner.pid)) return false;
      rmSync(path, { force: true });
    }
  }
  return false;
}

/** Claim `wanted` (error if taken) or, without it, a free number derived from the lab id. */
export function claimNetworkNumber(id: string, wanted?: number): number {
  mkdirSync(LOCK_DIR, { recursive: true });
  if (wanted !== undefined) {
    checkNetworkNumber(wanted);
    if (!tryClaim(wanted, id)) throw new Error(`lab network 10.250.${wanted}.0/24 is in use by another live lab (${lockPath(wanted)})`);
    return wanted;
  }
  const span = AUTO_LAST - AUTO_FIRST + 1;
  const start = createHash('sha256').update(id).digest().readUInt32BE(0) % span;
  for (let i = 0; i < span; i++) {
    const n = AUTO_FIRST + ((start + i) % span);
    if (tryClaim(n, id)) return n;
  }
  throw new Error(`no free lab network number in ${AUTO_FIRST}..${AUTO_LAST}: too many live labs`);
}

export function releaseNetworkNumber(n: number): void {
  try {
    const owner = JSON.parse(readFileSync(lockPath(n), 'utf8')) as { pid?: number };
    if (owner.pid !== process.pid) return;
  } catch {
    return;
  }
  rmSync(lockPath(n), { force: true });
}
