// Terminal styling: a few colors when stdout is a terminal (and NO_COLOR is unset), plain text otherwise,
// plus column alignment that ignores the color codes.
const useColor = process.stdout.isTTY === true && !process.env.NO_COLOR;

const sgr = (code: string) => (text: string): string => (useColor ? `\x1b[${code}m${text}\x1b[0m` : text);

export const bold = sgr('1');
export const dim = sgr('2');
export const green = sgr('32');
export const red = sgr('31');
export const yellow = sgr('33');
export const cyan = sgr('36');

export const tick = (ok: boolean): string => (ok ? green('✓') : red('✗'));

/** Visible width: without ANSI escapes. */
export function visibleWidth(text: string): number {
  // eslint-disable-next-line no-control-regex
  return [...text.replace(/\x1b\[[0-9;]*m/g, '')].length;
}

export type Align = 'left' | 'right';

export interface Column {
  header: string;
  align: Align;
}

/** Renders rows under a header, each column as wide as its widest cell, two spaces apart. */
export function renderTable(columns: Column[], rows: string[][], indent = '  '): string[] {
  const widths = columns.map((c, i) => Math.max(visibleWidth(c.header), ...rows.map((r) => visibleWidth(r[i] ?? ''))));
  const pad = (text: string, i: number): string => {
    const gap = ' '.repeat(widths[i] - visibleWidth(text));
    return columns[i].align === 'right' ? gap + text : text + gap;
  };
  const line = (cells: string[]): string => indent + cells.map(pad).join('  ').trimEnd();
  return [line(columns.map((c) => dim(c.header))), ...rows.map(line)];
}

export function percent(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

export function millis(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '—';
  return x < 10 ? `${x.toFixed(2)} ms` : `${x.toFixed(1)} ms`;
}
