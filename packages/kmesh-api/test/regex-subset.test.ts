/**
 * The regex subset the kernel evaluates: what is accepted, what is rejected (with the reason a NACK
 * shows), and that the compiled DFA decides exactly like a whole-string RegExp on generated inputs.
 */
import { describe, expect, it } from 'vitest';
import { compileRegexSubset, dfaMatches, maxDfaStates, RegexSubsetError } from '../src/http/regex-subset.js';

/** A deterministic generator (xorshift32): the same strings on every run. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

/** Strings over the pattern's own characters plus a few others (no \r or \v, where JS and RE2 differ). */
function inputs(pattern: string, count: number, seed: number): string[] {
  const rand = rng(seed);
  const alphabet = [...new Set([...pattern.replace(/[\\[\]()|*+?{}^$]/g, ''), 'a', 'Z', '0', '9', '/', '.', '-', '_', ' ', '\n', 'é'])];
  const out = [''];
  for (let i = 0; i < count; i++) {
    const len = Math.floor(rand() * 14);
    let s = '';
    for (let k = 0; k < len; k++) s += alphabet[Math.floor(rand() * alphabet.length)];
    out.push(s);
  }
  return out;
}

const accepted = [
  '/api/v[0-9]+/users',
  '/(foo|bar)baz?',
  '[^/]+\\.json',
  '/x{2,4}',
  '/x{3}y{0,2}',
  '/x{2,}',
  '^/a.*$',
  '/static/[a-z0-9_-]+\\.(css|js)',
  '/users/\\d+/(profile|settings)?',
  '\\w+\\s?\\S*',
  '(?:/v1|/v2)/[^/]*',
  '/(?P<id>[0-9]{1,5})',
  '[\\d.]+',
  '\\x41b',
  '/a|/b|',
  '.*',
  '[a-]x',
];

describe('regex subset: DFA equals whole-string RegExp', () => {
  it.each(accepted)('%s', (pattern) => {
    const dfa = compileRegexSubset(pattern);
    expect(dfa.accept.length).toBeLessThanOrEqual(maxDfaStates);
    // JS named groups are (?<id>...); RE2's \s has no \v (inputs avoid it). Bytes = latin1 chars.
    const js = new RegExp(`^(?:${pattern.replace('(?P<', '(?<')})$`);
    const mismatches: string[] = [];
    for (const s of inputs(pattern, 3000, pattern.length * 7919)) {
      const bytes = Buffer.from(s, 'utf8');
      // JS matches UTF-16 code units: compare on the latin1 view of the same bytes.
      const latin1 = bytes.toString('latin1');
      if (dfaMatches(dfa, bytes) !== js.test(latin1)) mismatches.push(JSON.stringify(s));
    }
    expect(mismatches).toEqual([]);
  });

  it('hand-picked members and non-members', () => {
    const api = compileRegexSubset('/api/v[0-9]+/users');
    expect(dfaMatches(api, '/api/v12/users')).toBe(true);
    expect(dfaMatches(api, '/api/v/users')).toBe(false);
    expect(dfaMatches(api, '/api/v1/users/')).toBe(false); // whole-string
    expect(dfaMatches(compileRegexSubset('/x{2,4}'), '/xxxxx')).toBe(false);
    expect(dfaMatches(compileRegexSubset('.'), '\n')).toBe(false);
  });
});

describe('regex subset: rejected with the reason', () => {
  const rejected: [string, RegExp][] = [
    ['(a)\\1', /backreferences/],
    ['a*?', /lazy quantifiers/],
    ['a+?', /lazy quantifiers/],
    ['(?i)abc', /flags/],
    ['\\bfoo', /word boundaries/],
    ['(?=a)b', /lookaround/],
    ['(?<!a)b', /lookaround/],
    ['a{1,17}', /above 16/],
    ['\\p{L}+', /Unicode classes/],
    ['[[:alpha:]]', /POSIX classes/],
    ['a^b', /\^ is only supported at the start/],
    ['a$b', /\$ is only supported at the end/],
    ['(a|b', /missing \)/],
    ['a)', /unbalanced/],
    ['*a', /nothing to repeat/],
    ['é', /non-ASCII/],
    ['[z-a]', /out of order/],
  ];
  it.each(rejected)('%s', (pattern, reason) => {
    let error: unknown;
    try {
      compileRegexSubset(pattern);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RegexSubsetError);
    expect((error as Error).message).toMatch(reason);
    expect((error as Error).message).toContain(JSON.stringify(pattern));
  });

  it('a pattern whose DFA needs more than 256 states', () => {
    // "the 9th symbol from the end is a": 2^9 = 512 states after minimisation.
    expect(() => compileRegexSubset('[ab]*a[ab]{8}')).toThrow(/more than 256/);
    expect(compileRegexSubset('[ab]*a[ab]{6}').accept.length).toBeLessThanOrEqual(256);
  });
});
