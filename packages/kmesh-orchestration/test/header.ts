/**
 * Reads the numeric #defines and enums of a C header (kmesh_abi.h): just the
 * plain `#define NAME 123` and `NAME = 123,` forms the ABI header uses.
 */
import { readFileSync } from 'node:fs';

export interface CHeader {
  defines: Map<string, number>;
  enums: Map<string, { name: string; value: number }[]>;
}

export function readHeader(path: string): CHeader {
  const text = readFileSync(path, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
  const defines = new Map<string, number>();
  // Decimal or hex, with an optional unsigned suffix (0x80000000u).
  for (const m of text.matchAll(/^#define\s+(\w+)\s+(0x[0-9a-fA-F]+|\d+)[uU]?\s*$/gm)) defines.set(m[1]!, Number(m[2]));

  const enums = new Map<string, { name: string; value: number }[]>();
  for (const m of text.matchAll(/enum\s+(\w+)\s*\{([^}]*)\}/g)) {
    const entries = m[2]!
      .split(',')
      .map((e) => e.trim())
      .filter((e) => e !== '')
      .map((e) => {
        // The ABI spells every value out, so that a reordering is a visible diff.
        const entry = /^(\w+)\s*=\s*(\d+)$/.exec(e);
        if (!entry) throw new Error(`enum ${m[1]} in ${path}: entry '${e}' has no explicit numeric value`);
        return { name: entry[1]!, value: Number(entry[2]) };
      });
    enums.set(m[1]!, entries);
  }
  return { defines, enums };
}
