/**
 * Diagnostics: what is wrong with a configuration, where, and what is accepted.
 *
 * Every validator appends to one Diagnostics collector instead of throwing, so a
 * single run reports every problem of a file (a NACK reason lists them all).
 */

export interface Diagnostic {
  severity: 'error' | 'warning';
  /** Where in the document, e.g. "static_resources.listeners[0](name=web).filter_chains[0]". */
  path: string;
  message: string;
}

export class Diagnostics {
  readonly errors: Diagnostic[] = [];
  readonly warnings: Diagnostic[] = [];

  error(path: string, message: string): void {
    this.errors.push({ severity: 'error', path, message });
  }

  warn(path: string, message: string): void {
    this.warnings.push({ severity: 'warning', path, message });
  }

  get hasErrors(): boolean {
    return this.errors.length > 0;
  }
}

/** "a.b" from "a" and "b"; a field of the root is just its name. */
export function field(path: string, name: string): string {
  return path === '' ? name : `${path}.${name}`;
}

/** "a[2]" or "a[2](name=reviews)": the name makes a path readable in a long list. */
export function item(path: string, index: number, name?: string): string {
  return name === undefined ? `${path}[${index}]` : `${path}[${index}](name=${name})`;
}
