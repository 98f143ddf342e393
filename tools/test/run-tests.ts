/**
 * The test command behind `npm test` and CI: runs every vitest project (unit and kernel), then refuses a
 * green result in which kernel tests were skipped while running as root. A kernel test that skips on a
 * machine that could run it hides a broken data path, so that is a failure, not a pass.
 *
 * Usage: node tools/dist/test/run-tests.js [vitest filters...]
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

interface AssertionResult { status: string; fullName: string }
interface FileResult { name: string; status: string; message?: string; assertionResults: AssertionResult[] }
interface VitestReport { testResults: FileResult[] }

const repoRoot = resolve(fileURLToPath(import.meta.url), '../../../..');
const isKernelFile = (name: string): boolean => name.endsWith('.kernel.test.ts');
const isRoot = process.getuid?.() === 0;

/**
 * A whole run takes minutes; a test that blocks its worker synchronously (a native call or a sync loop
 * that never returns) cannot be stopped by vitest's own timeouts, so the runner stops it after this.
 */
const runLimitMinutes = Number(process.env.KMESH_TEST_LIMIT_MINUTES ?? 40);

async function runVitest(reportFile: string, filters: string[]): Promise<number> {
  const vitest = join(repoRoot, 'node_modules', 'vitest', 'vitest.mjs');
  const args = [vitest, 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${reportFile}`, ...filters];
  // Its own process group, so that a stop takes vitest's workers and whatever they started with it.
  const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: 'inherit', detached: true });
  const limit = setTimeout(() => {
    console.error(`test runner: vitest did not finish within ${runLimitMinutes} min; stopping it (KMESH_TEST_LIMIT_MINUTES)`);
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
  }, runLimitMinutes * 60_000);
  // Ctrl-C reaches only the foreground group: pass it on.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        /* already gone */
      }
    });
  }
  const status = await new Promise<number>((done) => child.on('exit', (code) => done(code ?? 1)));
  clearTimeout(limit);
  return status;
}

function summarize(report: VitestReport): { passed: number; failed: number; skipped: number; kernelRun: number; kernelSkipped: string[] } {
  const totals = { passed: 0, failed: 0, skipped: 0, kernelRun: 0, kernelSkipped: [] as string[] };
  for (const file of report.testResults) {
    const kernel = isKernelFile(file.name);
    if (file.assertionResults.length === 0 && file.status === 'failed') totals.failed += 1; // suite-level failure (e.g. beforeAll threw)
    for (const test of file.assertionResults) {
      if (test.status === 'passed') {
        totals.passed += 1;
        if (kernel) totals.kernelRun += 1;
      } else if (test.status === 'failed') {
        totals.failed += 1;
      } else {
        totals.skipped += 1;
        if (kernel) totals.kernelSkipped.push(`${file.name.replace(repoRoot + '/', '')}: ${test.fullName}`);
      }
    }
  }
  return totals;
}

/** vitest strips types without checking them: the tests and sources are type-checked first. */
function typeCheck(): number {
  const tsc = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', join(repoRoot, 'tsconfig.check.json')], { cwd: repoRoot, stdio: 'inherit' });
  return result.status ?? 1;
}

if (typeCheck() !== 0) {
  console.error('test runner: type errors in the sources or tests (tsc -p tsconfig.check.json)');
  process.exit(1);
}

const workDir = mkdtempSync(join(tmpdir(), 'kmesh-test-'));
const reportFile = join(workDir, 'report.json');
const filters = process.argv.slice(2);
const vitestStatus = await runVitest(reportFile, filters);

let report: VitestReport;
try {
  report = JSON.parse(readFileSync(reportFile, 'utf8')) as VitestReport;
} catch (error) {
  console.error(`test runner: vitest wrote no report (${(error as Error).message}); exit status ${vitestStatus}`);
  process.exit(vitestStatus === 0 ? 1 : vitestStatus);
} finally {
  rmSync(workDir, { recursive: true, force: true });
}

const totals = summarize(report);
const problems: string[] = [];
if (isRoot && totals.kernelSkipped.length > 0) {
  problems.push(`${totals.kernelSkipped.length} kernel test(s) were skipped while running as root:`);
  problems.push(...totals.kernelSkipped.map((name) => `  - ${name}`));
}
if (isRoot && filters.length === 0 && totals.kernelRun === 0) problems.push('no kernel test ran although running as root');
if (!isRoot) console.warn('test runner: not root, kernel tests were skipped (run as root to exercise the kernel data path)');
for (const line of problems) console.error(`test runner: ${line}`);

console.log(`\nkernel tests run: ${totals.kernelRun}`);
console.log(`${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(vitestStatus !== 0 || totals.failed > 0 || problems.length > 0 ? 1 : 0);
