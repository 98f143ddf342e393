// Test helper for the CLI argument tests: what a user sees when `kmesh` refuses its arguments.
import { parseKmeshArgs, UsageError } from '../src/cli/args.js';

/** The UsageError message parseKmeshArgs gives for argv, or 'no error' when it accepts them. */
export function usage(argv: string[]): string {
  try {
    parseKmeshArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) return e.message;
    throw e;
  }
  return 'no error';
}
