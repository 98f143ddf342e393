// The L7 parser fuzz run: a seeded generator of request heads (valid, malformed, adversarial) and, for
// each, what the spec (docs/l7.md) allows as an outcome; plus a reference router that implements the
// spec's virtual-host and route selection for the fuzz route table. Pure code (no root): the kernel test
// (integration/l7-fuzz.kernel.test.ts) sends the heads and compares.

// ---------------------------------------------------------------- reference router (the spec)

export interface RefHeaderMatcher { name: string; kind: 'exact' | 'prefix' | 'suffix' | 'contains' | 'present'; value?: string; invert?: boolean }
export interface RefRoute { prefix?: string; path?: string; regex?: RegExp; caseSensitive?: boolean; headers?: RefHeaderMatcher[]; backend: string }
export interface RefVirtualHost { domains: string[]; routes: RefRoute[] }
export interface RefRequest { host: string; target: string; headers: [string, string][] }

/** Virtual host by Host: exact, longest *.suffix (≥ 1 char for *), longest prefix.*, *; as sent, then without :port. */
export function selectVirtualHost(vhosts: RefVirtualHost[], hostHeader: string): RefVirtualHost | null {
  const pick = (host: string): RefVirtualHost | null => {
    const exact = vhosts.find((v) => v.domains.includes(host));
    if (exact) return exact;
    let best: { v: RefVirtualHost; len: number } | null = null;
    for (const v of vhosts) for (const d of v.domains) {
      if (d.startsWith('*') && d.length > 1 && host.length > d.length - 1 && host.endsWith(d.slice(1)) && (!best || d.length > best.len)) best = { v, len: d.length };
    }
    if (best) return best.v;
    for (const v of vhosts) for (const d of v.domains) {
      if (d.endsWith('*') && d.length > 1 && host.length > d.length - 1 && host.startsWith(d.slice(0, -1)) && (!best || d.length > best.len)) best = { v, len: d.length };
    }
    if (best) return best.v;
    return vhosts.find((v) => v.domains.includes('*')) ?? null;
  };
  const host = hostHeader.toLowerCase();
  const first = pick(host);
  if (first) return first;
  const port = /^(.*):\d+$/.exec(host);
  return port ? pick(port[1]) : null;
}

function headerMatches(m: RefHeaderMatcher, headers: [string, string][]): boolean {
  const found = headers.find(([n]) => n.toLowerCase() === m.name.toLowerCase());
  let result: boolean;
  if (!found) result = false;
  else {
    const v = found[1];
    const table: Record<RefHeaderMatcher['kind'], () => boolean> = {
      exact: () => v === m.value,
      prefix: () => v.startsWith(m.value!),
      suffix: () => v.endsWith(m.value!),
      contains: () => v.includes(m.value!),
      present: () => true,
    };
    result = table[m.kind]();
  }
  return m.invert ? !result : result;
}

/** The backend the spec routes the request to, or "kmesh:404". */
export function referenceRoute(vhosts: RefVirtualHost[], req: RefRequest): string {
  const vh = selectVirtualHost(vhosts, req.host);
  if (!vh) return 'kmesh:404';
  const pathOnly = req.target.split('?')[0];
  for (const r of vh.routes) {
    const fold = (s: string) => (r.caseSensitive === false ? s.toLowerCase() : s);
    let ok = true;
    if (r.prefix !== undefined) ok = fold(req.target).startsWith(fold(r.prefix));
    else if (r.path !== undefined) ok = fold(pathOnly) === fold(r.path);
    else if (r.regex) ok = new RegExp(`^(?:${r.regex.source})$`).test(pathOnly);
    if (ok && r.headers) ok = r.headers.every((m) => headerMatches(m, req.headers));
    if (ok) return r.backend;
  }
  return 'kmesh:404';
}

// ---------------------------------------------------------------- the fuzz route table

export const FUZZ_BACKENDS = ['fz-exact', 'fz-wild', 'fz-pre', 'fz-api', 'fz-path', 'fz-header', 'fz-user'];

export const FUZZ_VHOSTS: RefVirtualHost[] = [
  { domains: ['exact.fuzz'], routes: [{ prefix: '/', backend: 'fz-exact' }] },
  { domains: ['*.wild.fuzz'], routes: [{ prefix: '/', backend: 'fz-wild' }] },
  { domains: ['pre.*'], routes: [{ prefix: '/', backend: 'fz-pre' }] },
  {
    domains: ['*'],
    routes: [
      { prefix: '/api/', backend: 'fz-api' },
      { path: '/exact', backend: 'fz-path' },
      { prefix: '/', headers: [{ name: 'x-route', kind: 'exact', value: 'yes' }], backend: 'fz-header' },
      { prefix: '/', headers: [{ name: 'end-user', kind: 'prefix', value: 'ja' }], backend: 'fz-user' },
    ],
  },
];

/** The same table as Envoy route_config JSON (the daemon's input). */
export function fuzzRouteConfig(): object {
  return {
    name: 'fuzz',
    virtual_hosts: FUZZ_VHOSTS.map((v, i) => ({
      name: `vh${i}`,
      domains: v.domains,
      routes: v.routes.map((r, j) => ({
        name: `r${j}`,
        match: {
          ...(r.prefix !== undefined ? { prefix: r.prefix } : { path: r.path }),
          ...(r.headers ? { headers: r.headers.map((h) => (h.kind === 'exact' ? { name: h.name, exact_match: h.value } : { name: h.name, prefix_match: h.value })) } : {}),
        },
        route: { cluster: r.backend },
      })),
    })),
  };
}

// ---------------------------------------------------------------- generator

/** Small seeded PRNG (mulberry32): the same seed gives the same run, so a failure can be replayed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface FuzzCase {
  id: number;
  family: 'valid' | 'must-400' | 'junk' | 'random' | 'mutation';
  kind: string;
  bytes: Buffer;
  /** half-close after sending (heads the kernel may legitimately wait on) */
  shutWrite: boolean;
  /** backends that may answer; any other backend answering is misrouting */
  backends: string[];
  /** statuses Kmesh may generate (x-kmesh-reason responses); null = any */
  kmesh: number[] | null;
  /** may the connection end without any response? */
  none: boolean;
}

const HOSTS = ['exact.fuzz', 'EXACT.fuzz', 'a.wild.fuzz', 'x.y.wild.fuzz', 'wild.fuzz', 'pre.example', 'pre.', 'other.example', 'exact.fuzz:80', 'a.wild.fuzz:8080', 'pre.x:1', '127.0.0.1', 'exact.fuzzx'];
const PATHS = ['/', '/api/', '/api/x?y=1', '/apix', '/API/x', '/exact', '/exact?q=1', '/exact/', '/Exact', '/other', '/a/b/c?d=e&f=g', '/%2e%2e/x', '/api/../x'];
// Methods Node's HTTP parser (the backend) knows: an unknown one would be refused by the backend, not by us.
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'M-SEARCH', 'PURGE'];
const FILLER_NAMES = ['accept', 'user-agent', 'x-a', 'X-Forwarded-For', 'cookie', 'x-request-id', 'if-none-match', 'x-b-c-d'];

const CRLF = '\r\n';

class Gen {
  readonly r: () => number;
  constructor(seed: number) { this.r = prng(seed); }
  int(n: number): number { return Math.floor(this.r() * n); }
  pick<T>(xs: readonly T[]): T { return xs[this.int(xs.length)]; }
  chance(p: number): boolean { return this.r() < p; }
  word(len: number, alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789-'): string {
    let s = '';
    for (let i = 0; i < len; i++) s += alphabet[this.int(alphabet.length)];
    return s;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}

interface Parts { method: string; target: string; host: string; headers: [string, string][] }

function randomParts(g: Gen): Parts {
  const headers: [string, string][] = [];
  const fillers = g.int(12);
  for (let i = 0; i < fillers; i++) headers.push([g.pick(FILLER_NAMES), g.word(1 + g.int(40))]);
  const routing: [string, string][] = [];
  if (g.chance(0.4)) routing.push([g.pick(['x-route', 'X-Route', 'X-ROUTE']), g.pick(['yes', 'no', 'yes2', 'YES', ''])]);
  if (g.chance(0.3)) routing.push([g.pick(['end-user', 'End-User']), g.pick(['jason', 'ja', 'j', 'xja', 'jason2'])]);
  for (const h of routing) headers.splice(g.int(headers.length + 1), 0, h);
  return { method: g.pick(METHODS), target: g.pick(PATHS), host: g.pick(HOSTS), headers };
}

/** Host placed at a random position among the headers (the parser must find it anywhere). */
function render(p: Parts, opts: { hostAt?: number; eol?: string; requestLine?: string } = {}): string {
  const eol = opts.eol ?? CRLF;
  const lines = [...p.headers.map(([k, v]) => `${k}: ${v}`)];
  lines.splice(Math.min(opts.hostAt ?? 0, lines.length), 0, `Host: ${p.host}`);
  return [opts.requestLine ?? `${p.method} ${p.target} HTTP/1.1`, ...lines].join(eol) + eol + eol;
}

const ref = (p: Parts, over: Partial<Parts> = {}): string => referenceRoute(FUZZ_VHOSTS, { host: over.host ?? p.host, target: over.target ?? p.target, headers: over.headers ?? p.headers });
const backendsOf = (...outcomes: string[]): string[] => [...new Set(outcomes.filter((o) => !o.startsWith('kmesh:')))];

/** Valid requests: the outcome is exactly the reference route. */
function validCase(g: Gen, id: number): FuzzCase {
  const p = randomParts(g);
  if (g.chance(0.1)) p.host = `${g.word(1 + g.int(200))}.wild.fuzz`; // long (≤ 255) Host
  const hostAt = g.int(p.headers.length + 1);
  let text = render(p, { hostAt });
  if (p.method === 'POST' && g.chance(0.5)) text = text.slice(0, -2) + `Content-Length: 5${CRLF}${CRLF}hello`;
  const expected = ref(p);
  return {
    id, family: 'valid', kind: 'valid', bytes: Buffer.from(text, 'latin1'), shutWrite: false,
    backends: backendsOf(expected), kmesh: expected.startsWith('kmesh:') ? [Number(expected.slice(6))] : [], none: false,
  };
}

/** Heads the spec answers with 400 (never a backend). */
const MUST_400: [string, (g: Gen, p: Parts) => { text: Buffer; shutWrite?: boolean }][] = [
  ['no version', (_g, p) => ({ text: Buffer.from(render(p, { requestLine: `${p.method} ${p.target}` })) })],
  ['HTTP/2.0', (_g, p) => ({ text: Buffer.from(render(p, { requestLine: `${p.method} ${p.target} HTTP/2.0` })) })],
  ['HTTP/0.9 style', (_g, p) => ({ text: Buffer.from(`GET ${p.target}${CRLF}${CRLF}`) })],
  ['not HTTP version', (g, p) => ({ text: Buffer.from(render(p, { requestLine: `${p.method} ${p.target} ${g.pick(['HTTX/1.1', 'ICY', 'http/1.1x', 'HTTP/1', 'RTSP/1.0'])}` })) })],
  ['no target', (_g, p) => ({ text: Buffer.from(render(p, { requestLine: `${p.method} HTTP/1.1` })) })],
  ['empty request line', (_g, p) => ({ text: Buffer.from(render(p, { requestLine: '' })) })],
  ['missing Host', (_g, p) => ({ text: Buffer.from(`${p.method} ${p.target} HTTP/1.1${CRLF}${p.headers.filter(([k]) => k.toLowerCase() !== 'host').map(([k, v]) => `${k}: ${v}${CRLF}`).join('')}${CRLF}`) })],
  ['head over 4096 (complete)', (g, p) => ({ text: Buffer.from(render({ ...p, headers: [...p.headers, ['x-big', g.word(4200 + g.int(3000))]] })) })],
  ['head over 4096 (never ends)', (g, p) => ({ text: Buffer.from(`${p.method} ${p.target} HTTP/1.1${CRLF}Host: ${p.host}${CRLF}x-big: ${g.word(4500 + g.int(3000))}`) })],
  ['huge request line', (g, p) => ({ text: Buffer.from(render({ ...p, target: `/${g.word(4200 + g.int(2000))}` })) })],
  ['many headers over 4096', (g, p) => ({ text: Buffer.from(render({ ...p, headers: Array.from({ length: 300 }, (_, i): [string, string] => [`x-h${i}`, g.word(20)]) })) })],
  ['binary with CRLFCRLF', (g) => ({ text: Buffer.concat([g.bytes(1 + g.int(1000)), Buffer.from(CRLF + CRLF)]) })],
  ['NUL in method', (_g, p) => ({ text: Buffer.from(render(p, { requestLine: `G\0ET ${p.target} HTTP/1.1` })) })],
];

function must400Case(g: Gen, id: number): FuzzCase {
  const [kind, make] = g.pick(MUST_400);
  const { text, shutWrite } = make(g, randomParts(g));
  return { id, family: 'must-400', kind, bytes: text, shutWrite: shutWrite ?? false, backends: [], kmesh: [400], none: false };
}

/**
 * Valid request line and Host plus one oddity the spec does not pin down: the connection may be answered
 * by the reference route (or an alternative reading listed), a Kmesh status, or closed; never misrouted.
 */
interface Junk {
  text: string;
  /** the parts as the spec reads them, where they differ from the random ones (for the reference route) */
  parts?: Partial<Parts>;
  /** other outcomes a defensible reading gives */
  alt?: string[];
  shutWrite?: boolean;
}

const JUNK: [string, (g: Gen, p: Parts) => Junk][] = [
  ['header without colon', (_g, p) => ({ text: render({ ...p, headers: [...p.headers, ['x-nocolon', 'v']] }).replace('x-nocolon: v', 'x-nocolon v') })],
  ['NUL in header value', (_g, p) => ({ text: render({ ...p, headers: [...p.headers, ['x-nul', 'a\0b']] }) })],
  ['space before colon', (_g, p) => ({ text: render({ ...p, headers: [...p.headers, ['x-sp ', 'v']] }) })],
  ['obs-fold line', (_g, p) => ({ text: render(p).replace(/\r\n\r\n$/, `${CRLF}x-fold: a${CRLF} continued${CRLF}${CRLF}`) })],
  ['bare LF line ends', (_g, p) => ({ text: render(p, { eol: '\n' }), shutWrite: true })],
  ['mixed line ends', (_g, p) => ({ text: render(p).replace(CRLF, '\n'), shutWrite: true })],
  ['double space in request line', (_g, p) => ({ text: render(p, { requestLine: `${p.method}  ${p.target}  HTTP/1.1` }) })],
  ['tab in request line', (_g, p) => ({ text: render(p, { requestLine: `${p.method}\t${p.target} HTTP/1.1` }) })],
  ['lower-case method', (_g, p) => ({ text: render(p, { requestLine: `${p.method.toLowerCase()} ${p.target} HTTP/1.1` }) })],
  ['HTTP/1.0', (_g, p) => ({ text: render(p, { requestLine: `${p.method} ${p.target} HTTP/1.0` }) })],
  ['OWS around values', (_g, p) => {
    const padded = p.headers.map(([k, v]): [string, string] => [k, `  ${v}\t`]);
    return { text: render({ ...p, headers: padded }), alt: [ref(p, { headers: padded })] };
  }],
  ['control chars in value', (g, p) => ({ text: render({ ...p, headers: [...p.headers, ['x-ctl', String.fromCharCode(1 + g.int(8)) + 'v\x7f']] }) })],
  ['non-token header name', (_g, p) => ({ text: render({ ...p, headers: [...p.headers, ['x(y)', 'v'], ['x"z', 'w']] }) })],
  ['empty header name', (_g, p) => ({ text: render(p).replace(/\r\n\r\n$/, `${CRLF}: novalue${CRLF}${CRLF}`) })],
  ['duplicate Host (different)', (_g, p) => {
    const second = p.host === 'exact.fuzz' ? 'a.wild.fuzz' : 'exact.fuzz';
    return { text: render({ ...p, headers: [...p.headers, ['Host', second]] }) };
  }],
  ['duplicate Host (same)', (_g, p) => ({ text: render({ ...p, headers: [...p.headers, ['host', p.host]] }) })],
  ['absolute-form target', (g, p) => {
    const authority = g.pick(['exact.fuzz', 'a.wild.fuzz', 'pre.x', 'nowhere.example']);
    const path = g.pick(PATHS);
    const target = `http://${authority}${path}`;
    return { text: render({ ...p, target }), parts: { target }, alt: [ref(p, { host: authority, target: path })] };
  }],
  ['asterisk-form target', (_g, p) => ({ text: render({ ...p, method: 'OPTIONS', target: '*' }), parts: { target: '*' } })],
  ['Host over 255 bytes', (g, p) => {
    const host = `${g.word(256 + g.int(500))}.wild.fuzz`;
    return { text: render({ ...p, host }), parts: { host } };
  }],
  ['path over 1024 bytes', (g, p) => {
    const target = `${g.pick(['/api/', '/exact', '/'])}${g.word(1025 + g.int(1500))}`;
    return { text: render({ ...p, target }), parts: { target } };
  }],
  ['Host with spaces', (_g, p) => ({ text: render({ ...p, host: `${p.host} x` }), parts: { host: `${p.host} x` } })],
  ['empty Host', (_g, p) => ({ text: render({ ...p, host: '' }), parts: { host: '' } })],
  ['x-route after 32 headers', (g, p) => {
    const headers: [string, string][] = [...Array.from({ length: 33 }, (_, i): [string, string] => [`x-f${i}`, g.word(3)]), ['x-route', 'yes']];
    // only 32 header lines are examined: x-route (the 34th) may go unseen
    return { text: render({ ...p, headers }), parts: { headers }, alt: [ref(p, { headers: headers.slice(0, 32) })] };
  }],
  ['Host after 32 headers', (g, p) => {
    const headers = Array.from({ length: 40 }, (_, i): [string, string] => [`x-f${i}`, g.word(3)]);
    return { text: render({ ...p, headers }, { hostAt: 40 }), parts: { headers } };
  }],
  ['chunked body', (_g, p) => ({ text: render({ ...p, method: 'POST', headers: [...p.headers, ['Transfer-Encoding', 'chunked']] }) + `5${CRLF}hello${CRLF}0${CRLF}${CRLF}` })],
  ['bytes after the head', (g, p) => ({ text: render(p) + g.word(100), shutWrite: true })],
];

function junkCase(g: Gen, id: number): FuzzCase {
  const [kind, make] = g.pick(JUNK);
  const p = randomParts(g);
  const { text, parts, alt, shutWrite } = make(g, p);
  const bytes = Buffer.from(text, 'latin1');
  return { id, family: 'junk', kind, bytes, shutWrite: shutWrite ?? g.chance(0.3), backends: backendsOf(ref(p, parts), ...(alt ?? [])), kmesh: null, none: true };
}

function randomCase(g: Gen, id: number): FuzzCase {
  const n = 1 + g.int(g.chance(0.5) ? 64 : 6000);
  const tail = g.chance(0.5) ? Buffer.from(CRLF + CRLF) : Buffer.alloc(0);
  return { id, family: 'random', kind: tail.length ? 'random bytes + CRLFCRLF' : 'random bytes', bytes: Buffer.concat([g.bytes(n), tail]), shutWrite: true, backends: [], kmesh: null, none: true };
}

/** Lenient reading of a mutated head: what a forgiving parser would route it to (or null). */
function lenientRoute(bytes: Buffer): string | null {
  const text = bytes.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  const lines = (end >= 0 ? text.slice(0, end) : text).split(/\r?\n/);
  const target = lines[0]?.split(/[ \t]+/)[1];
  const headers: [string, string][] = [];
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers.push([l.slice(0, i).trim(), l.slice(i + 1).trim()]);
  }
  const host = headers.find(([k]) => k.toLowerCase() === 'host')?.[1];
  if (target === undefined || host === undefined) return null;
  return referenceRoute(FUZZ_VHOSTS, { host, target, headers });
}

function mutationCase(g: Gen, id: number): FuzzCase {
  const p = randomParts(g);
  const original = Buffer.from(render(p, { hostAt: g.int(p.headers.length + 1) }), 'latin1');
  let b = original;
  const n = 1 + g.int(4);
  for (let i = 0; i < n; i++) {
    const at = g.int(b.length);
    const op = g.int(3);
    if (op === 0) b = Buffer.concat([b.subarray(0, at), Buffer.from([g.int(256)]), b.subarray(at + 1)]);
    else if (op === 1) b = Buffer.concat([b.subarray(0, at), Buffer.from([g.pick([0, 10, 13, 32, 58, g.int(256)])]), b.subarray(at)]);
    else b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
  }
  const lenient = lenientRoute(b);
  return { id, family: 'mutation', kind: 'mutated valid head', bytes: b, shutWrite: true, backends: backendsOf(ref(p), ...(lenient ? [lenient] : [])), kmesh: null, none: true };
}

/** The run: counts per family, in a shuffled order (so slow cases spread over the run). */
export function generateFuzzCases(seed: number, counts: Record<FuzzCase['family'], number>): FuzzCase[] {
  const g = new Gen(seed);
  const makers: Record<FuzzCase['family'], (g: Gen, id: number) => FuzzCase> = {
    valid: validCase, 'must-400': must400Case, junk: junkCase, random: randomCase, mutation: mutationCase,
  };
  const cases: FuzzCase[] = [];
  for (const family of Object.keys(counts) as FuzzCase['family'][]) {
    for (let i = 0; i < counts[family]; i++) cases.push(makers[family](g, cases.length));
  }
  for (let i = cases.length - 1; i > 0; i--) {
    const j = g.int(i + 1);
    [cases[i], cases[j]] = [cases[j], cases[i]];
  }
  return cases;
}

export type Outcome = { kind: 'backend'; name: string } | { kind: 'kmesh'; status: number } | { kind: 'none' } | { kind: 'hang' } | { kind: 'connect'; error: string };

export type Verdict = 'ok' | 'misrouted' | 'hang' | 'deviation';

/** Compares one outcome with what the case allows. */
export function judge(c: FuzzCase, o: Outcome): Verdict {
  switch (o.kind) {
    case 'backend': return c.backends.includes(o.name) ? 'ok' : 'misrouted';
    case 'kmesh': return c.kmesh === null || c.kmesh.includes(o.status) ? 'ok' : 'deviation';
    case 'none': return c.none ? 'ok' : 'deviation';
    case 'hang': return 'hang';
    case 'connect': return 'deviation';
  }
}
