// BpfError: a failed kernel or libbpf operation, with the errno as a number and as a code.
import { constants } from 'node:os';

// Kernel-internal or ambiguous numbers that os.constants.errno does not name the way the kernel does.
const kernelErrnoNames: Record<number, string> = { 95: 'EOPNOTSUPP', 524: 'ENOTSUPP' };

const errnoNames = new Map<number, string>();
for (const [name, value] of Object.entries(constants.errno)) {
  if (!errnoNames.has(value)) errnoNames.set(value, name); // first wins: EAGAIN over EWOULDBLOCK
}
for (const [value, name] of Object.entries(kernelErrnoNames)) errnoNames.set(Number(value), name);

/** The symbolic name of a positive errno ('EPERM'), or `E<number>` when it has none. */
export function errnoCode(errno: number): string {
  return errnoNames.get(errno) ?? `E${errno}`;
}

export class BpfError extends Error {
  /** Positive errno, e.g. 1 for EPERM. */
  readonly errno: number;
  /** Symbolic errno, e.g. 'EPERM'. */
  readonly code: string;
  /** The failed call, e.g. 'bpf_map_update_elem' or 'bpf_object__load'. */
  readonly op: string;
  /** libbpf's log (verifier output included) captured during the call, when there was any. */
  readonly log: string;

  constructor(op: string, errno: number, message: string, log = '') {
    super(message);
    this.name = 'BpfError';
    this.op = op;
    this.errno = errno;
    this.code = errnoCode(errno);
    this.log = log;
  }
}

/** Builds the error thrown by the native layer: "<op> failed for <subject>: <strerror> (<CODE>)". */
export function makeBpfError(op: string, errno: number, subject: string, description: string, log: string): BpfError {
  let message = `${op} failed for ${subject}: ${description} (${errnoCode(errno)})`;
  if (log.trim() !== '') message += `\nlibbpf log (tail):\n${log.trimEnd()}`;
  return new BpfError(op, errno, message, log);
}

/** Turns a Node fs error into a BpfError so every failure of this package has the same shape. */
export function fromNodeError(op: string, subject: string, error: unknown): Error {
  const e = error as NodeJS.ErrnoException;
  if (typeof e?.errno !== 'number') return error as Error;
  const errno = Math.abs(e.errno);
  return new BpfError(op, errno, `${op} failed for ${subject}: ${e.message} (${errnoCode(errno)})`);
}
