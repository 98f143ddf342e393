/**
 * Shared plumbing of the two commands: usage errors exit 2, other failures exit 1.
 */
import { UsageError } from './args.js';

export async function runMain(main: (argv: string[]) => Promise<number>): Promise<void> {
  try {
    process.exitCode = await main(process.argv.slice(2));
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\n`);
      process.exitCode = error.exitCode;
      return;
    }
    process.stderr.write(`${(error as Error).message ?? String(error)}\n`);
    process.exitCode = 1;
  }
}

export function print(lines: string[] | string): void {
  process.stdout.write((Array.isArray(lines) ? lines.join('\n') : lines) + '\n');
}
