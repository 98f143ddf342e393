// The L7 parser under adversarial input (issue 4): >= 10,000 request heads (valid ones with random routing
// inputs, heads the spec answers with 400, valid heads with one oddity, random bytes, mutated valid heads),
// sent over as many connections from the client netns through the mesh. Asserted:
//   - the daemon is alive afterwards and still routes;
//   - every connection is answered or closed within the client's timeout (no hang);
//   - no misrouting: a connection that got a backend's answer got a backend the spec allows for those
//     bytes (support/l7-fuzz.ts has the reference router and, per case, what is allowed);
//   - spec conformance: valid heads get exactly the reference route, the must-400 heads get a 400.
// The seed is printed; KMESH_FUZZ_SEED=<n> replays a run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminGet, type Lab } from '../tools/lab/index.js';
import { cluster } from './support/envoy.js';
import { FUZZ_BACKENDS, fuzzRouteConfig, generateFuzzCases, judge, type FuzzCase, type Outcome, type Verdict } from './support/l7-fuzz.js';
import { answeredBy, describe as show, exchange, httpListener, processAlive, rawRequests, request, startL7Mesh, type L7Mesh, type RawResult } from './support/l7.js';

const id = `l7f${process.pid % 100000}`;
const VIP = '10.96.9.1';
const TARGET = `${VIP}:80`;
const SEED = Number(process.env.KMESH_FUZZ_SEED ?? Date.now() % 1_000_000);
const COUNTS = { valid: 3000, 'must-400': 2000, junk: 2600, random: 1400, mutation: 1400 } as const;
/** Per connection: an answer or a close must come within this (the slowest legitimate case is a 400 after corking). */
const CASE_TIMEOUT_MS = 4000;

function config(lab: Lab): object {
  return {
    static_resources: {
      listeners: [httpListener('l7-fuzz', VIP, 80, fuzzRouteConfig())],
      clusters: FUZZ_BACKENDS.map((name) => cluster(name, 'ROUND_ROBIN', [{ address: lab.backend(name).ipv4 }])),
    },
  };
}

function outcomeOf(r: RawResult): Outcome {
  if (r.connect !== 'ok') return { kind: 'connect', error: r.connect };
  const first = r.responses[0];
  if (first) {
    const backend = first.headers['x-backend'];
    if (backend) return { kind: 'backend', name: backend };
    if (first.headers['x-kmesh-reason'] !== undefined) return { kind: 'kmesh', status: first.status };
    // An answer from neither (a status line without our headers) cannot be attributed: count it apart.
    return { kind: 'backend', name: `unattributed:${first.status}` };
  }
  return r.end === 'timeout' ? { kind: 'hang' } : { kind: 'none' };
}

describe.skipIf(process.getuid?.() !== 0)(`L7 parser fuzz: ${Object.values(COUNTS).reduce((a, b) => a + b, 0)} adversarial request heads`, () => {
  let mesh: L7Mesh;
  let lab: Lab;

  beforeAll(async () => {
    mesh = await startL7Mesh({ id, servers: FUZZ_BACKENDS.map((name) => ({ name })), config });
    lab = mesh.lab;
  });
  afterAll(async () => {
    await mesh?.teardown();
  });

  it(`no crash, no hang, no misrouting (seed ${SEED})`, async () => {
    const cases = generateFuzzCases(SEED, { ...COUNTS });
    expect(cases.length).toBeGreaterThanOrEqual(10_000);
    const started = Date.now();
    const results = await rawRequests(
      lab,
      cases.map((c) => ({ id: c.id, requests: [c.bytes], shutWrite: c.shutWrite, timeoutMs: CASE_TIMEOUT_MS, responses: 1 })),
      { target: TARGET, concurrency: 128, timeoutMs: 110_000 },
    );
    const elapsed = Date.now() - started;

    const by: Record<Verdict | 'noDecision', { c: FuzzCase; r: RawResult }[]> = { ok: [], misrouted: [], hang: [], deviation: [], noDecision: [] };
    const outcomes: Record<string, number> = {};
    for (const c of cases) {
      const r = results.get(c.id)!;
      const o = outcomeOf(r);
      const label = `${c.family}/${o.kind === 'backend' ? 'backend' : o.kind === 'kmesh' ? `kmesh:${o.status}` : o.kind}`;
      outcomes[label] = (outcomes[label] ?? 0) + 1;
      const verdict = judge(c, o);
      // A 503 "no routing decision" (the relay got bytes but found no decision after its retries) is the
      // fail-safe answer, never a misrouting: counted apart and bounded below.
      const noDecision = verdict === 'deviation' && r.responses[0]?.headers['x-kmesh-reason'] === 'no routing decision';
      by[noDecision ? 'noDecision' : verdict].push({ c, r });
    }
    // Group failures by kind, and by whether the Host carried a port (the vhost tiers differ there), and
    // show a few of each group: one root cause must not hide another.
    const hostPort = (c: FuzzCase) => /\r\nhost:[ \t]*[^\r\n]*:\d+[ \t]*\r\n/i.test(c.bytes.toString('latin1'));
    const groupOf = (c: FuzzCase) => `${c.family}/${c.kind}${hostPort(c) ? ' (Host with :port)' : ''}`;
    const list = (all: { c: FuzzCase; r: RawResult }[]) => {
      const groups = new Map<string, { c: FuzzCase; r: RawResult }[]>();
      for (const x of all) groups.set(groupOf(x.c), [...(groups.get(groupOf(x.c)) ?? []), x]);
      const counts = [...groups].sort((a, b) => b[1].length - a[1].length).map(([g, xs]) => `${g}: ${xs.length}`).join(', ');
      const examples = [...groups.values()].flatMap((xs) => xs.slice(0, 2)).slice(0, 16);
      return `by group: ${counts}\n${listCases(examples)}`;
    };
    const listCases = (xs: { c: FuzzCase; r: RawResult }[]) => xs.map(({ c, r }) =>
      `  #${c.id} ${c.family}/${c.kind}: allowed backends [${c.backends.join(', ')}], kmesh ${c.kmesh ? `[${c.kmesh.join(', ')}]` : 'any'}${c.none ? ', or a close' : ''}; ${show(c.bytes, r)}`).join('\n');
    console.log(`fuzz seed ${SEED}: ${cases.length} connections in ${(elapsed / 1000).toFixed(1)} s; outcomes ${JSON.stringify(outcomes)}`);
    // The kernel parser's and the relay's counters, to tell a deviation's cause (decision_failed, scratch_busy, ...)
    const counters = JSON.parse((await adminGet(mesh.daemon.adminUrl, '/stats')).body) as { l7Parser?: object; l7Relay?: object };
    const diag = `kernel parser ${JSON.stringify(counters.l7Parser)}; relay ${JSON.stringify(counters.l7Relay)}`;
    console.log(diag);

    expect(processAlive(mesh.daemon.pid), `the daemon exited during the fuzz run; log tail:\n${mesh.daemon.logs().slice(-3000)}`).toBe(true);
    expect.soft(by.misrouted.length, `${by.misrouted.length} connections answered by a backend the spec does not allow (seed ${SEED}):\n${list(by.misrouted)}`).toBe(0);
    expect.soft(by.hang.length, `${by.hang.length} connections neither answered nor closed within ${CASE_TIMEOUT_MS} ms (seed ${SEED}):\n${list(by.hang)}`).toBe(0);
    expect.soft(by.deviation.length, `${by.deviation.length} connections got an outcome the spec does not give (seed ${SEED}):\n${list(by.deviation)}\n${diag}`).toBe(0);
    // Seen once in CI (1 of 10,400): a client that hung up without sending took the decision of a new
    // connection on its reused port (fixed in the relay, unit-tested in kmesh-runtime). Still the fail-safe
    // answer, never a misrouting: at most 1 in 2,000 is tolerated, and shown.
    if (by.noDecision.length > 0) console.warn(`fuzz: ${by.noDecision.length} connection(s) answered 503 "no routing decision":\n${list(by.noDecision)}\n${diag}`);
    expect.soft(by.noDecision.length, `503 "no routing decision" on ${by.noDecision.length} connections (seed ${SEED}):\n${list(by.noDecision)}\n${diag}`).toBeLessThanOrEqual(Math.floor(cases.length / 2000));

    // ...and the daemon still routes.
    const sent = request('GET', '/api/after-fuzz', 'any.host');
    const after = await exchange(lab, TARGET, [sent]);
    expect(answeredBy(after), show(sent, after)).toEqual(['fz-api']);
  }, 150_000);
});
