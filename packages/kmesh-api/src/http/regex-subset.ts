/**
 * The regex subset the kernel evaluates (route `safe_regex`, header `safe_regex_match`), compiled to a
 * DFA over bytes: one map lookup per input byte in sk_msg, whole-string match.
 *
 * Accepted (RE2 syntax): literals (printable ASCII), `.` (any byte but `\n`), escapes `\d \D \w \W \s \S`,
 * escaped punctuation (`\. \/ \- \\` ...), `\t \n \r \f \v`, `\xHH`; classes `[a-z0-9_-]`, negated
 * `[^/]` (with the same escapes inside); groups `( )`, `(?: )`, `(?P<name> )`; alternation `|`;
 * quantifiers `* + ?`, `{n}`, `{n,}`, `{n,m}` with n <= m <= 16; `^` only at the start and `$` only at the
 * end (the match is whole-string anyway).
 * Rejected with the reason: backreferences, lookaround, lazy/possessive quantifiers, `\b \B \A \z`,
 * flags `(?i)`, Unicode classes `\p{..}`, POSIX classes `[[:alpha:]]`, non-ASCII characters, and a DFA
 * of more than 256 states.
 */

/** KMESH_L7_DFA_MAX_STATES: states of one compiled regex. */
export const maxDfaStates = 256;
const maxRepeat = 16;
/** States the subset construction may build before minimising (keeps a hostile pattern cheap). */
const maxRawStates = 4096;

export class RegexSubsetError extends Error {
  constructor(
    readonly pattern: string,
    readonly position: number,
    readonly reason: string,
  ) {
    super(`regex ${JSON.stringify(pattern)} is outside the supported subset at offset ${position}: ${reason}`);
    this.name = 'RegexSubsetError';
  }
}

/** A DFA: states 0..n-1, start 0; next[s][b] = next state or -1 (no match possible). */
export interface Dfa {
  next: Int16Array[];
  accept: boolean[];
}

type ByteSet = Uint8Array; // 256 entries, 1 = member

type Node =
  | { t: 'set'; set: ByteSet }
  | { t: 'cat'; parts: Node[] }
  | { t: 'alt'; options: Node[] }
  | { t: 'rep'; node: Node; min: number; max: number } // max -1 = unbounded
  | { t: 'empty' };

function setOf(pred: (b: number) => boolean): ByteSet {
  const s = new Uint8Array(256);
  for (let b = 0; b < 256; b++) if (pred(b)) s[b] = 1;
  return s;
}
const isDigit = (b: number) => b >= 0x30 && b <= 0x39;
const isWord = (b: number) => isDigit(b) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x5f;
/** RE2's \s: [\t\n\f\r ] (no \v). */
const isSpace = (b: number) => b === 0x09 || b === 0x0a || b === 0x0c || b === 0x0d || b === 0x20;
const shorthand: Record<string, (b: number) => boolean> = {
  d: isDigit,
  D: (b) => !isDigit(b),
  w: isWord,
  W: (b) => !isWord(b),
  s: isSpace,
  S: (b) => !isSpace(b),
};
const controlEscapes: Record<string, number> = { t: 0x09, n: 0x0a, r: 0x0d, f: 0x0c, v: 0x0b };
/** Escapes that mean something we do not evaluate, with the reason. */
const rejectedEscapes: Record<string, string> = {
  b: 'word boundaries (\\b) are not supported',
  B: 'word boundaries (\\B) are not supported',
  A: '\\A is not supported (the match is always whole-string: leave it out)',
  z: '\\z is not supported (the match is always whole-string: leave it out)',
  Z: '\\Z is not supported',
  p: 'Unicode classes (\\p{..}) are not supported',
  P: 'Unicode classes (\\P{..}) are not supported',
  Q: 'quoted literals (\\Q..\\E) are not supported',
  C: '\\C is not supported',
};

class Parser {
  private i = 0;
  constructor(private readonly src: string) {}

  fail(reason: string, at = this.i): never {
    throw new RegexSubsetError(this.src, at, reason);
  }

  parse(): Node {
    for (let k = 0; k < this.src.length; k++) {
      const c = this.src.charCodeAt(k);
      if (c > 0x7e || (c < 0x20 && c !== 0x09)) this.fail('non-ASCII and control characters are not supported', k);
    }
    if (this.src.startsWith('^')) this.i = 1;
    const node = this.alternation();
    if (this.i < this.src.length) {
      if (this.src[this.i] === ')') this.fail('unbalanced )');
      this.fail(`unexpected ${this.src[this.i]}`);
    }
    return node;
  }

  private peek(): string | undefined {
    return this.src[this.i];
  }

  private alternation(): Node {
    const options = [this.concat()];
    while (this.peek() === '|') {
      this.i++;
      options.push(this.concat());
    }
    return options.length === 1 ? options[0]! : { t: 'alt', options };
  }

  private concat(): Node {
    const parts: Node[] = [];
    for (;;) {
      const c = this.peek();
      if (c === undefined || c === '|' || c === ')') break;
      if (c === '$') {
        // Only at the very end (of the whole pattern).
        if (this.i !== this.src.length - 1) this.fail('$ is only supported at the end of the pattern');
        this.i++;
        break;
      }
      if (c === '^') this.fail('^ is only supported at the start of the pattern');
      parts.push(this.quantified(this.atom()));
    }
    return parts.length === 1 ? parts[0]! : parts.length === 0 ? { t: 'empty' } : { t: 'cat', parts };
  }

  private quantified(node: Node): Node {
    let c = this.peek();
    let out = node;
    let quantified = false;
    while (c === '*' || c === '+' || c === '?' || c === '{') {
      const at = this.i;
      let min: number;
      let max: number;
      if (c === '{') {
        const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.i));
        if (!m) {
          // RE2 treats a "{" that starts no repetition as a literal.
          if (quantified) break;
          return out;
        }
        min = Number(m[1]);
        max = m[2] === undefined ? min : m[3] === '' ? -1 : Number(m[3]);
        if (max !== -1 && max < min) this.fail(`repetition {${min},${max}} has max below min`, at);
        if (min > maxRepeat || max > maxRepeat) this.fail(`repetition counts above ${maxRepeat} are not supported`, at);
        this.i += m[0].length;
      } else {
        this.i++;
        [min, max] = c === '*' ? [0, -1] : c === '+' ? [1, -1] : [0, 1];
      }
      if (quantified) this.fail('a repetition of a repetition is not supported', at);
      if (this.peek() === '?') this.fail('lazy quantifiers (*? +? ?? {n,m}?) are not supported');
      if (this.peek() === '+') this.fail('possessive quantifiers are not supported');
      out = { t: 'rep', node: out, min, max };
      quantified = true;
      c = this.peek();
    }
    return out;
  }

  private atom(): Node {
    const c = this.src[this.i]!;
    if (c === '*' || c === '+' || c === '?') this.fail(`nothing to repeat before ${c}`);
    if (c === '(') return this.group();
    if (c === '[') return { t: 'set', set: this.charClass() };
    if (c === '.') {
      this.i++;
      return { t: 'set', set: setOf((b) => b !== 0x0a) };
    }
    if (c === '\\') return { t: 'set', set: this.escape(false) };
    this.i++;
    const b = c.charCodeAt(0);
    return { t: 'set', set: setOf((x) => x === b) };
  }

  private group(): Node {
    const start = this.i;
    this.i++; // (
    if (this.peek() === '?') {
      const rest = this.src.slice(this.i);
      if (rest.startsWith('?:')) this.i += 2;
      else if (/^\?P?<[A-Za-z_][A-Za-z0-9_]*>/.test(rest)) this.i += /^\?P?<[A-Za-z_][A-Za-z0-9_]*>/.exec(rest)![0].length;
      else if (/^\?<?[=!]/.test(rest)) this.fail('lookaround assertions are not supported');
      else this.fail('flags and other (? groups are not supported (only (?: and (?P<name>)');
    }
    const inner = this.alternation();
    if (this.peek() !== ')') this.fail('missing )', start);
    this.i++;
    return inner;
  }

  /** After a backslash: a byte set. inClass: inside [ ] (same escapes). */
  private escape(inClass: boolean): ByteSet {
    const at = this.i;
    this.i++; // backslash
    const e = this.src[this.i];
    if (e === undefined) this.fail('trailing backslash', at);
    this.i++;
    if (shorthand[e]) return setOf(shorthand[e]!);
    if (controlEscapes[e] !== undefined) {
      const b = controlEscapes[e]!;
      return setOf((x) => x === b);
    }
    if (e === 'x') {
      const m = /^[0-9a-fA-F]{2}/.exec(this.src.slice(this.i));
      if (!m) this.fail('\\x needs two hex digits (\\x{...} is not supported)', at);
      this.i += 2;
      const b = parseInt(m[0], 16);
      if (b > 0x7f) this.fail('non-ASCII bytes are not supported', at);
      return setOf((x) => x === b);
    }
    if (/[1-9]/.test(e)) this.fail('backreferences are not supported', at);
    if (e === '0') this.fail('octal escapes are not supported', at);
    if (rejectedEscapes[e]) this.fail(rejectedEscapes[e]!, at);
    if (/[A-Za-z0-9]/.test(e)) this.fail(`unknown escape \\${e}`, at);
    void inClass;
    const b = e.charCodeAt(0); // escaped punctuation: itself
    return setOf((x) => x === b);
  }

  private charClass(): ByteSet {
    const start = this.i;
    this.i++; // [
    let negate = false;
    if (this.peek() === '^') {
      negate = true;
      this.i++;
    }
    if (this.src.startsWith('[:', this.i)) this.fail('POSIX classes ([[:alpha:]]) are not supported');
    const set = new Uint8Array(256);
    let first = true;
    for (;;) {
      const c = this.peek();
      if (c === undefined) this.fail('missing ]', start);
      if (c === ']' && !first) {
        this.i++;
        break;
      }
      first = false;
      if (c === '[' && this.src[this.i + 1] === ':') this.fail('POSIX classes ([[:alpha:]]) are not supported');
      const lo = this.classAtom();
      if (this.peek() === '-' && this.src[this.i + 1] !== ']' && this.src[this.i + 1] !== undefined) {
        const dash = this.i;
        this.i++;
        const hi = this.classAtom();
        if (lo.single === undefined || hi.single === undefined) this.fail('a range needs single characters at both ends', dash);
        if (hi.single < lo.single) this.fail('range out of order', dash);
        for (let b = lo.single; b <= hi.single; b++) set[b] = 1;
      } else {
        for (let b = 0; b < 256; b++) if (lo.set[b]) set[b] = 1;
      }
    }
    return negate ? setOf((b) => set[b] === 0) : set;
  }

  private classAtom(): { set: ByteSet; single?: number } {
    if (this.peek() === '\\') {
      const e = this.src[this.i + 1];
      const set = this.escape(true);
      const members = [...set].reduce((n, v) => n + v, 0);
      return members === 1 && !(e && shorthand[e]) ? { set, single: set.indexOf(1) } : { set };
    }
    const b = this.src.charCodeAt(this.i);
    this.i++;
    return { set: setOf((x) => x === b), single: b };
  }
}

/** Parse only: throws RegexSubsetError with the position and reason when outside the subset. */
export function parseRegexSubset(pattern: string): void {
  new Parser(pattern).parse();
}

// --- Thompson NFA -------------------------------------------------------------------------------

interface Nfa {
  /** per state: byte-set transitions and epsilon transitions */
  edges: { set: ByteSet; to: number }[][];
  eps: number[][];
  start: number;
  accept: number;
}

function buildNfa(root: Node): Nfa {
  const edges: { set: ByteSet; to: number }[][] = [];
  const eps: number[][] = [];
  const state = () => {
    edges.push([]);
    eps.push([]);
    return edges.length - 1;
  };
  // Returns [entry, exit] of a fragment.
  const build = (n: Node): [number, number] => {
    switch (n.t) {
      case 'empty': {
        const s = state();
        return [s, s];
      }
      case 'set': {
        const a = state();
        const b = state();
        edges[a]!.push({ set: n.set, to: b });
        return [a, b];
      }
      case 'cat': {
        let [entry, exit] = build(n.parts[0]!);
        for (const p of n.parts.slice(1)) {
          const [e2, x2] = build(p);
          eps[exit]!.push(e2);
          exit = x2;
        }
        return [entry, exit];
      }
      case 'alt': {
        const a = state();
        const b = state();
        for (const o of n.options) {
          const [e, x] = build(o);
          eps[a]!.push(e);
          eps[x]!.push(b);
        }
        return [a, b];
      }
      case 'rep': {
        const a = state();
        let cur = a;
        for (let k = 0; k < n.min; k++) {
          const [e, x] = build(n.node);
          eps[cur]!.push(e);
          cur = x;
        }
        const end = state();
        if (n.max === -1) {
          const [e, x] = build(n.node);
          eps[cur]!.push(e, end);
          eps[x]!.push(e, end);
        } else {
          for (let k = n.min; k < n.max; k++) {
            const [e, x] = build(n.node);
            eps[cur]!.push(e, end);
            cur = x;
          }
          eps[cur]!.push(end);
        }
        return [a, end];
      }
    }
  };
  const [start, accept] = build(root);
  return { edges, eps, start, accept };
}

function closure(nfa: Nfa, states: Iterable<number>): number[] {
  const seen = new Set<number>();
  const stack = [...states];
  while (stack.length > 0) {
    const s = stack.pop()!;
    if (seen.has(s)) continue;
    seen.add(s);
    for (const t of nfa.eps[s]!) stack.push(t);
  }
  return [...seen].sort((a, b) => a - b);
}

/** Subset construction, then Moore minimisation; the dead state is left implicit (-1). */
function determinise(pattern: string, nfa: Nfa): Dfa {
  const ids = new Map<string, number>();
  const sets: number[][] = [];
  const next: Int16Array[] = [];
  const accept: boolean[] = [];
  const add = (set: number[]): number => {
    const key = set.join(',');
    let id = ids.get(key);
    if (id === undefined) {
      id = sets.length;
      if (id >= maxRawStates) throw new RegexSubsetError(pattern, 0, `the pattern needs more than ${maxDfaStates} DFA states`);
      ids.set(key, id);
      sets.push(set);
      accept.push(set.includes(nfa.accept));
      next.push(new Int16Array(256).fill(-1));
    }
    return id;
  };
  add(closure(nfa, [nfa.start]));
  for (let d = 0; d < sets.length; d++) {
    const byByte: number[][] = Array.from({ length: 256 }, () => []);
    for (const s of sets[d]!) for (const e of nfa.edges[s]!) for (let b = 0; b < 256; b++) if (e.set[b]) byByte[b]!.push(e.to);
    const memo = new Map<string, number>();
    for (let b = 0; b < 256; b++) {
      if (byByte[b]!.length === 0) continue;
      const raw = byByte[b]!.sort((x, y) => x - y).join(',');
      let id = memo.get(raw);
      if (id === undefined) {
        id = add(closure(nfa, byByte[b]!));
        memo.set(raw, id);
      }
      next[d]![b] = id;
    }
  }
  return minimise({ next, accept });
}

/** Moore partition refinement; drops states that cannot reach an accepting state. */
function minimise(dfa: Dfa): Dfa {
  const n = dfa.accept.length;
  // Live states: can reach accept.
  const live = new Array<boolean>(n).fill(false);
  let changed = true;
  for (let s = 0; s < n; s++) if (dfa.accept[s]) live[s] = true;
  while (changed) {
    changed = false;
    for (let s = 0; s < n; s++) {
      if (live[s]) continue;
      for (let b = 0; b < 256; b++) {
        const t = dfa.next[s]![b]!;
        if (t >= 0 && live[t]) {
          live[s] = true;
          changed = true;
          break;
        }
      }
    }
  }
  const target = (s: number, b: number) => {
    const t = dfa.next[s]![b]!;
    return t >= 0 && live[t] ? t : -1;
  };
  let cls: number[] = dfa.accept.map((a) => (a ? 1 : 0));
  let count = 0;
  for (;;) {
    const sig = new Map<string, number>();
    const nextCls = new Array<number>(n);
    for (let s = 0; s < n; s++) {
      const parts = [cls[s]];
      for (let b = 0; b < 256; b++) {
        const t = target(s, b);
        parts.push(t < 0 ? -1 : cls[t]!);
      }
      const key = parts.join(',');
      let c = sig.get(key);
      if (c === undefined) {
        c = sig.size;
        sig.set(key, c);
      }
      nextCls[s] = c;
    }
    if (sig.size === count) break;
    count = sig.size;
    cls = nextCls;
  }
  // Renumber from the start state (BFS) so state 0 is the start.
  const order = new Map<number, number>();
  const queue = [cls[0]!];
  const repr = new Map<number, number>();
  for (let s = 0; s < n; s++) if (!repr.has(cls[s]!) && (live[s] || s === 0)) repr.set(cls[s]!, s);
  order.set(cls[0]!, 0);
  const out: Dfa = { next: [], accept: [] };
  while (queue.length > 0) {
    const c = queue.shift()!;
    const s = repr.get(c)!;
    const row = new Int16Array(256).fill(-1);
    for (let b = 0; b < 256; b++) {
      const t = target(s, b);
      if (t < 0) continue;
      const tc = cls[t]!;
      if (!order.has(tc)) {
        order.set(tc, order.size);
        queue.push(tc);
      }
      row[b] = order.get(tc)!;
    }
    out.next[order.get(c)!] = row;
    out.accept[order.get(c)!] = dfa.accept[s]!;
  }
  return out;
}

/** Compile a pattern of the subset to a DFA of at most 256 states, or throw RegexSubsetError. */
export function compileRegexSubset(pattern: string): Dfa {
  const root = new Parser(pattern).parse();
  const dfa = determinise(pattern, buildNfa(root));
  if (dfa.accept.length > maxDfaStates) {
    throw new RegexSubsetError(pattern, 0, `the pattern needs ${dfa.accept.length} DFA states, more than ${maxDfaStates}`);
  }
  return dfa;
}

/** Whole-string match of bytes by a DFA (what the kernel does, for tests and tools). */
export function dfaMatches(dfa: Dfa, input: Uint8Array | string): boolean {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
  let s = 0;
  for (const b of bytes) {
    s = dfa.next[s]![b]!;
    if (s < 0) return false;
  }
  return dfa.accept[s]!;
}
