/**
 * Generation bookkeeping: how a new configuration reaches the kernel atomically
 * (DESIGN constraint 2).
 *
 *   1. read km_active.gen = g; the new generation is g+1 (wraps past 2^32-1 to 1: 0 means "no config")
 *   2. check capacity before anything is written
 *   3. write every record of g+1 (invisible: connect() only reads the active generation)
 *      - any failure: delete what was written and throw; generation g keeps serving untouched
 *   4. flip km_active to {g+1, version} in one 8-byte update
 *   5. after a grace period, delete every record whose generation is not the active one
 *      (a connect() that read km_active just before the flip may still be looking up g)
 *
 * Endpoints are keyed by an endpoint set that the cluster record names (ep_set; = gen after a
 * full apply). An endpoint-only change (applyEndpoints) takes a shorter, equally atomic path
 * per cluster, without a new generation:
 *   1. write the cluster's endpoints under a fresh set number (high bit set: never a generation);
 *      nothing names that set yet, so it is invisible
 *   2. replace the cluster's record of the active generation in one map update: a connect()
 *      reads the old record (old set, complete) or the new one (new set, complete)
 *   3. after the grace period, delete the old set's records of that cluster
 * The sweep deletes an endpoint record when no cluster record names its (set, cluster) and it
 * is not inside a grace period.
 *
 * Map operations are synchronous syscalls, so apply() runs to completion before any
 * other JavaScript (another apply, a sweep timer) can start: applies never interleave.
 *
 * This file is pure: it talks to maps through the small ConfigMap surface (a BpfMap
 * satisfies it) and to the ABI through RecordCodec (@kmesh/api satisfies it), so its
 * logic is unit-tested with in-memory maps.
 */
import { endianness } from 'node:os';
import type { ClusterModel, Diagnostic, KernelRecord, KernelRecords, MeshModel } from '@kmesh/api';

export interface ConfigMap {
  readonly name: string;
  lookup(key: Buffer): Buffer | null;
  update(key: Buffer, value: Buffer, flag?: 'any' | 'noexist' | 'exist'): void;
  delete(key: Buffer): boolean;
  keys(): Buffer[];
}

export interface GenerationMaps {
  active: ConfigMap;
  listener: ConfigMap;
  /** km_chain (filter chains of wildcard listeners); optional so that stores without wildcard support still work. */
  chain?: ConfigMap;
  cluster: ConfigMap;
  endpoint: ConfigMap;
  /** issue 6 part A: km_cl_limits {gen, cluster id} and km_lsn_limit {gen, listener}; optional (older objects lack them). */
  clusterLimit?: ConfigMap;
  listenerLimit?: ConfigMap;
  /** issue 4: L7 route tables (kmesh_l7.bpf.o); optional: without the L7 object their records are not written. */
  l7Vhost?: ConfigMap;
  l7Route?: ConfigMap;
  l7HeaderMatch?: ConfigMap;
  l7HeaderNames?: ConfigMap;
  l7Dfa?: ConfigMap;
  /** km_l7_text (ARRAY): written with the generation into its own block of slots, never deleted (see http-routes.ts). */
  l7Text?: ConfigMap;
}

/** The parts of @kmesh/api the generation logic needs. */
export interface RecordCodec {
  checkCapacity(model: MeshModel): Diagnostic[];
  encodeModel(model: MeshModel, gen: number): KernelRecords;
  encodeActive(gen: number, version: number): Buffer;
  activeKey(): Buffer;
  generationOfKey(key: Buffer): number;
  /** km_chain keys start with the LPM prefix length, not the generation. */
  generationOfChainKey?(key: Buffer): number;
  /** issue 4: km_l7_vhost keys (LPM: prefixlen, then the generation). */
  generationOfL7VhostKey?(key: Buffer): number;
  /** One cluster's record of generation gen naming endpoint set `set`, and those endpoints. */
  encodeClusterEndpoints(cluster: ClusterModel, clusterId: number, gen: number, set: number, context?: { nodeLocality?: string; ejected?: ReadonlySet<string> }): { cluster: KernelRecord; endpoints: KernelRecord[] };
  encodeEndpointKey(set: number, clusterId: number, index: number): Buffer;
  /** What a cluster record (key and value) says about its endpoints. */
  clusterRecordEndpoints(key: Buffer, value: Buffer): EndpointRef & { count: number };
  endpointKeyRef(key: Buffer): EndpointRef;
  /** Endpoint records one generation may use (half of km_endpoint). */
  maxEndpointsPerGeneration: number;
}

/** Which endpoint set of which cluster: the identity of a group of km_endpoint records. */
export interface EndpointRef {
  set: number;
  clusterId: number;
}

export interface ActiveGeneration {
  gen: number;
  version: number;
}

export interface ApplyResult extends ActiveGeneration {
  previousGen: number;
  records: { listeners: number; chains: number; clusters: number; endpoints: number };
}

export interface EndpointApplyResult extends ActiveGeneration {
  /** per changed cluster: the set it now names, the set it named before */
  clusters: { name: string; clusterId: number; set: number; previousSet: number; endpoints: number }[];
  records: { clusters: number; endpoints: number };
}

export interface SweepResult {
  deleted: number;
  generations: number[];
}

export interface GenerationStoreOptions {
  /** How long a retired generation stays readable after the flip. */
  graceMs?: number;
  now?: () => number;
  /** Called after a timer-driven sweep (for logging). */
  onSweep?: (result: SweepResult) => void;
  /** Called when a timer-driven sweep fails (for logging); the next apply retries it. */
  onSweepError?: (error: unknown) => void;
}

export class CapacityExceededError extends Error {
  constructor(readonly diagnostics: Diagnostic[]) {
    super(`configuration exceeds kernel capacity: ${diagnostics.map((d) => `${d.path}: ${d.message}`).join('; ')}`);
    this.name = 'CapacityExceededError';
  }
}

export class ApplyError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'ApplyError';
  }
}

const U32_MAX = 0xffff_ffff;
/** KMESH_EP_SET_INPLACE_BIT: in-place endpoint sets have it, generations never do. */
export const IN_PLACE_SET_BIT = 0x8000_0000;
const GEN_MAX = IN_PLACE_SET_BIT - 1;
const littleEndian = endianness() === 'LE';

/** g+1, wrapping past 2^31-1 to 1: 0 means "no configuration", and numbers with the high bit are endpoint sets. */
export function nextGeneration(gen: number): number {
  return gen >= GEN_MAX ? 1 : gen + 1;
}

/** The in-place endpoint set after s: high bit set, wrapping within [2^31+1, 2^32-1]. */
export function nextEndpointSet(set: number): number {
  return set < IN_PLACE_SET_BIT || set >= U32_MAX ? IN_PLACE_SET_BIT + 1 : set + 1;
}

export function isInPlaceSet(set: number): boolean {
  return set >= IN_PLACE_SET_BIT;
}

/** The version counter wraps the same way; it is for diagnostics only. */
export function nextVersion(version: number): number {
  return version >= U32_MAX ? 1 : version + 1;
}

/** km_active is two host-order u32: {gen, version}. */
export function decodeActiveValue(value: Buffer | null): ActiveGeneration {
  if (!value || value.length < 8) return { gen: 0, version: 0 };
  return littleEndian
    ? { gen: value.readUInt32LE(0), version: value.readUInt32LE(4) }
    : { gen: value.readUInt32BE(0), version: value.readUInt32BE(4) };
}

type RecordKind = 'listener' | 'chain' | 'cluster' | 'endpoint' | LimitKind | L7Kind;
type RecordField = 'listeners' | 'chains' | 'clusters' | 'endpoints';
/** issue 6 part A: per-generation limit records, written and deleted with the generation (not counted in generations()). */
type LimitKind = 'clusterLimit' | 'listenerLimit';
const limitKinds: readonly { kind: LimitKind; field: 'clusterLimits' | 'listenerLimits' }[] = [
  { kind: 'clusterLimit', field: 'clusterLimits' },
  { kind: 'listenerLimit', field: 'listenerLimits' },
];
/**
 * issue 4: L7 route tables, written and deleted with the generation (not counted in generations()).
 * Written before the listeners (whose route_config_id names them). A missing map (no L7 object
 * loaded) skips its records: the http listeners then keep the L4 behaviour.
 */
type L7Kind = 'l7Vhost' | 'l7Route' | 'l7HeaderMatch' | 'l7HeaderNames' | 'l7Dfa' | 'l7Text';
const l7Kinds: readonly { kind: L7Kind; field: 'l7Vhosts' | 'l7Routes' | 'l7HeaderMatches' | 'l7HeaderNames' | 'l7Dfa' }[] = [
  { kind: 'l7Dfa', field: 'l7Dfa' },
  { kind: 'l7HeaderMatch', field: 'l7HeaderMatches' },
  { kind: 'l7HeaderNames', field: 'l7HeaderNames' },
  { kind: 'l7Route', field: 'l7Routes' },
  { kind: 'l7Vhost', field: 'l7Vhosts' },
];
const isL7Kind = (kind: RecordKind): kind is L7Kind => l7Kinds.some((k) => k.kind === kind);
const recordKinds: readonly { kind: RecordKind; field: RecordField }[] = [
  // Endpoints first, listeners last: not required for atomicity (nothing of the new
  // generation is visible before the flip), but a partial write is then never a
  // listener pointing at nothing, which keeps map dumps during an apply readable.
  { kind: 'endpoint', field: 'endpoints' },
  { kind: 'cluster', field: 'clusters' },
  { kind: 'chain', field: 'chains' },
  { kind: 'listener', field: 'listeners' },
];

type RecordCounts = Record<RecordField, number>;

export class GenerationStore {
  private readonly graceMs: number;
  private readonly now: () => number;
  /** Generations retired by a flip, and when: kept until their grace period ends. */
  private readonly retired = new Map<number, number>();
  /** Endpoint sets replaced in place ("set:cluster"), and when: deleted by key after their grace period. */
  private readonly retiredSets = new Map<string, EndpointRef & { count: number; at: number }>();
  /** Cluster ids of the active generation, when this store wrote it (in-place changes need them). */
  private clusterIds: { gen: number; ids: ReadonlyMap<string, number>; endpoints: number; nodeLocality?: string } | null = null;
  /** The last in-place endpoint set used (persisted in the maps: read back by any full scan). */
  private lastSet: number | null = null;
  /**
   * Generations (and full-push endpoint sets) that may have records in the maps: exact after a
   * scan of every map (adoption, a sweep), then kept up to date by apply(); null when unknown.
   * It lets apply() skip the scan for stale records of the number it is about to use, which at
   * 110,000 records costs hundreds of ms (one syscall and one Buffer per key). Only this store
   * writes to its maps (a daemon adopting pinned maps sweeps them first).
   */
  private present: Set<number> | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    protected readonly maps: GenerationMaps,
    private readonly codec: RecordCodec,
    private readonly options: GenerationStoreOptions = {},
  ) {
    this.graceMs = options.graceMs ?? 500;
    this.now = options.now ?? Date.now;
  }

  active(): ActiveGeneration {
    return decodeActiveValue(this.maps.active.lookup(this.codec.activeKey()));
  }

  /** Write model as a new generation and make it the active one. Throws with the old config untouched. */
  apply(model: MeshModel): ApplyResult {
    const capacity = this.codec.checkCapacity(model).filter((d) => d.severity === 'error');
    if (capacity.length > 0) throw new CapacityExceededError(capacity);

    const previous = this.active();
    const gen = nextGeneration(previous.gen);
    const version = nextVersion(previous.version);
    // A stale generation with the number we are about to use (left by a crash, or met
    // again after a wrap) would mix into the new one: remove it first.
    if (this.present === null || this.present.has(gen)) this.deleteGenerations((g) => g === gen);

    const records = this.codec.encodeModel(model, gen);
    const written: { map: ConfigMap; key: Buffer }[] = [];
    // issue 4: texts go to slots no live generation uses (array entries: overwritten, never deleted or undone).
    const textMap = this.maps.l7Text;
    if (textMap) for (const record of records.l7Texts ?? []) this.write(textMap, record, 'l7Text', gen);
    try {
      for (const { kind, field } of [...limitKinds, ...l7Kinds, ...recordKinds]) {
        const map = this.maps[kind];
        const list: KernelRecord[] = records[field] ?? [];
        if (!map && isL7Kind(kind)) continue; // no L7 object: route tables unused
        if (!map) {
          if (list.length > 0) throw new ApplyError(`the configuration has ${list.length} ${field} records but no ${kind} map is open`);
          continue;
        }
        for (const record of list) {
          this.write(map, record, kind, gen);
          written.push({ map, key: record.key });
        }
      }
    } catch (error) {
      for (const { map, key } of written.reverse()) {
        try {
          map.delete(key);
        } catch {
          // Best effort: an undeleted record of an inactive generation is invisible and the next sweep removes it.
          this.present = null;
        }
      }
      throw error;
    }
    this.present?.add(gen);

    // The flip: one update of one 8-byte value. From here on connect() sees generation gen.
    this.maps.active.update(this.codec.activeKey(), this.codec.encodeActive(gen, version), 'any');
    if (previous.gen !== 0) this.retired.set(previous.gen, this.now());
    this.clusterIds = { gen, ids: records.clusterIds, endpoints: records.endpoints.length, nodeLocality: model.nodeLocality };
    this.scheduleSweep();
    return {
      gen,
      version,
      previousGen: previous.gen,
      records: { listeners: records.listeners.length, chains: records.chains?.length ?? 0, clusters: records.clusters.length, endpoints: records.endpoints.length },
    };
  }

  /** True when applyEndpoints can run: the active generation was written by this store. */
  canApplyEndpoints(): boolean {
    return this.clusterIds !== null && this.clusterIds.gen === this.active().gen;
  }

  /**
   * Replace the endpoints of some clusters of the active generation in place (their listeners,
   * clusters and policies unchanged: the caller checked). Throws with nothing visible changed
   * when a write fails before the switch; the caller then applies a full generation.
   */
  applyEndpoints(changed: readonly ClusterModel[], ejected?: ReadonlyMap<string, ReadonlySet<string>>): EndpointApplyResult {
    const active = this.active();
    const known = this.clusterIds;
    if (!known || known.gen !== active.gen) {
      throw new ApplyError(`generation ${active.gen} was not written by this daemon (adopted): an endpoint change needs a full generation first`);
    }
    const capacity = this.codec.checkCapacity({ listeners: [], clusters: [...changed] }).filter((d) => d.severity === 'error');
    if (capacity.length > 0) throw new CapacityExceededError(capacity);

    const plans = changed.map((cluster) => {
      const clusterId = known.ids.get(cluster.name);
      if (clusterId === undefined) throw new ApplyError(`cluster ${cluster.name} is not in generation ${active.gen}: not an endpoint-only change`);
      const set = this.takeEndpointSet();
      // The node locality of the applied model decides which endpoints are preferred (issue 6).
      // ejected (issue 6 part B, kernel/ejection-failover.ts): endpoints outlier detection ejected, treated as unhealthy.
      const records = this.codec.encodeClusterEndpoints(cluster, clusterId, active.gen, set, { nodeLocality: known.nodeLocality, ejected: ejected?.get(cluster.name) });
      const current = this.maps.cluster.lookup(records.cluster.key);
      if (!current) throw new ApplyError(`cluster ${cluster.name} (id ${clusterId}) has no record in generation ${active.gen}`);
      const previous = this.codec.clusterRecordEndpoints(records.cluster.key, current);
      return { name: cluster.name, clusterId, set, records, previous };
    });
    const endpointTotal = known.endpoints + plans.reduce((n, p) => n + p.records.endpoints.length - p.previous.count, 0);
    if (endpointTotal > this.codec.maxEndpointsPerGeneration) {
      throw new CapacityExceededError([{ severity: 'error', path: 'clusters', message: `${endpointTotal} endpoints is more than ${this.codec.maxEndpointsPerGeneration}, the per-generation half of km_endpoint` }]);
    }

    // Phase 1: every fresh set, invisible until a cluster record names it.
    const written: Buffer[] = [];
    try {
      for (const plan of plans) {
        for (const record of plan.records.endpoints) {
          this.write(this.maps.endpoint, record, 'endpoint', active.gen);
          written.push(record.key);
        }
      }
    } catch (error) {
      for (const key of written) {
        try {
          this.maps.endpoint.delete(key);
        } catch {
          // Best effort: a set no cluster names is invisible and the next full sweep removes it.
        }
      }
      throw error;
    }

    // Phase 2: one in-place update per cluster: old record and set, or new record and set.
    const now = this.now();
    for (const plan of plans) {
      try {
        this.maps.cluster.update(plan.records.cluster.key, plan.records.cluster.value, 'exist');
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        throw new ApplyError(`replacing the record of cluster ${plan.name} in ${this.maps.cluster.name} failed: ${reason}`, error);
      }
      const old = plan.previous;
      this.retiredSets.set(`${old.set}:${old.clusterId}`, { ...old, at: now });
    }
    known.endpoints = endpointTotal;
    const version = nextVersion(active.version);
    // Same generation, new version: what changed is visible in km_active for diagnostics.
    this.maps.active.update(this.codec.activeKey(), this.codec.encodeActive(active.gen, version), 'any');
    this.scheduleSweep();
    return {
      gen: active.gen,
      version,
      clusters: plans.map((p) => ({ name: p.name, clusterId: p.clusterId, set: p.set, previousSet: p.previous.set, endpoints: p.records.endpoints.length })),
      records: { clusters: plans.length, endpoints: plans.reduce((n, p) => n + p.records.endpoints.length, 0) },
    };
  }

  /**
   * Delete every record that belongs neither to the active generation nor to a generation
   * still inside its grace period. With force, grace periods are ignored (adoption of
   * pinned state: nobody knows how old the stale generations are, so they all go).
   */
  sweep(options: { force?: boolean } = {}): SweepResult {
    const active = this.active().gen;
    const now = this.now();
    const expired = (at: number) => options.force || now - at >= this.graceMs;
    // In-place sets whose grace ended: deleted by key, no scan of the maps.
    let deleted = 0;
    for (const [id, old] of this.retiredSets) {
      if (!expired(old.at)) continue;
      this.retiredSets.delete(id);
      for (let index = 0; index < old.count; index++) if (this.maps.endpoint.delete(this.codec.encodeEndpointKey(old.set, old.clusterId, index))) deleted++;
    }
    let generationExpired = false;
    for (const [gen, retiredAt] of this.retired) {
      if (!expired(retiredAt)) continue;
      this.retired.delete(gen);
      generationExpired = true;
    }
    // A scan of every map only when a whole generation goes (or on adoption).
    if (!generationExpired && !options.force) return { deleted, generations: [] };
    const result = this.deleteGenerations((g) => g !== active && !this.retired.has(g));
    return { deleted: deleted + result.deleted, generations: result.generations };
  }

  /** Records per generation, for diagnostics and tests. */
  generations(): Map<number, RecordCounts> {
    const byGen = new Map<number, RecordCounts>();
    for (const { kind, field } of recordKinds) {
      const map = this.maps[kind];
      if (!map) continue;
      for (const key of map.keys()) {
        // Endpoints count under their set (= the generation after a full apply).
        const gen = kind === 'endpoint' ? this.codec.endpointKeyRef(key).set : this.generationOf(kind, key);
        const counts = byGen.get(gen) ?? { listeners: 0, chains: 0, clusters: 0, endpoints: 0 };
        counts[field]++;
        byGen.set(gen, counts);
      }
    }
    return byGen;
  }

  /** Stop the sweep timer. Retired generations stay in the maps; the next daemon sweeps them on adoption. */
  close(): void {
    this.closed = true;
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    this.sweepTimer = null;
  }

  private generationOf(kind: RecordKind, key: Buffer): number {
    if (kind === 'l7Vhost') {
      if (!this.codec.generationOfL7VhostKey) throw new Error('the record codec cannot read the generation of a km_l7_vhost key');
      return this.codec.generationOfL7VhostKey(key);
    }
    if (kind === 'chain') {
      if (!this.codec.generationOfChainKey) throw new Error('the record codec cannot read the generation of a km_chain key');
      return this.codec.generationOfChainKey(key);
    }
    return this.codec.generationOfKey(key);
  }

  private write(map: ConfigMap, record: KernelRecord, kind: RecordKind, gen: number): void {
    try {
      map.update(record.key, record.value, 'any');
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new ApplyError(`writing ${kind} record of generation ${gen} to ${map.name} failed: ${reason}`, error);
    }
  }

  /**
   * Delete the listener, chain and cluster records of doomed generations, then every endpoint
   * record that no remaining cluster record names and that is not inside a grace period. Also
   * reads back the highest in-place set in use, so a new daemon continues the numbering.
   */
  private deleteGenerations(doomed: (gen: number) => boolean): SweepResult {
    let deleted = 0;
    const generations = new Set<number>();
    const named = new Set<string>();
    const survivors = new Set<number>();
    this.present = null; // unknown until this scan completes
    for (const { kind } of [...limitKinds, ...l7Kinds, ...recordKinds]) {
      const map = this.maps[kind];
      if (!map || kind === 'endpoint') continue;
      for (const key of map.keys()) {
        const gen = this.generationOf(kind, key);
        if (doomed(gen)) {
          if (map.delete(key)) deleted++;
          generations.add(gen);
          continue;
        }
        survivors.add(gen);
        if (kind !== 'cluster') continue;
        const value = map.lookup(key);
        if (!value) continue;
        const ref = this.codec.clusterRecordEndpoints(key, value);
        named.add(`${ref.set}:${ref.clusterId}`);
        this.noteSet(ref.set);
      }
    }
    for (const key of this.maps.endpoint.keys()) {
      const ref = this.codec.endpointKeyRef(key);
      const id = `${ref.set}:${ref.clusterId}`;
      if (named.has(id) || this.retiredSets.has(id)) {
        this.noteSet(ref.set);
        if (!isInPlaceSet(ref.set)) survivors.add(ref.set);
        continue;
      }
      if (this.maps.endpoint.delete(key)) deleted++;
      if (!isInPlaceSet(ref.set)) generations.add(ref.set);
    }
    // Every map was read: the numbering is known (no in-place set yet: start after the bit).
    this.lastSet ??= IN_PLACE_SET_BIT;
    this.present = survivors;
    return { deleted, generations: [...generations].sort((a, b) => a - b) };
  }

  private noteSet(set: number): void {
    if (isInPlaceSet(set) && (this.lastSet === null || set > this.lastSet)) this.lastSet = set;
  }

  /** A fresh in-place set number: after the highest one in the maps, or past a wrap an unused one. */
  private takeEndpointSet(): number {
    if (this.lastSet === null) {
      this.lastSet = IN_PLACE_SET_BIT;
      this.deleteGenerations(() => false); // reads the highest set in use (and drops unnamed records)
    }
    let set = nextEndpointSet(this.lastSet);
    if (set < this.lastSet) {
      // Wrapped after 2^31 - 1 changes: skip the sets still named or retired.
      const used = new Set<number>([...this.retiredSets.values()].map((r) => r.set));
      for (const key of this.maps.endpoint.keys()) used.add(this.codec.endpointKeyRef(key).set);
      while (used.has(set)) set = nextEndpointSet(set);
    }
    this.lastSet = set;
    return set;
  }

  private scheduleSweep(): void {
    if (this.closed || this.sweepTimer) return;
    this.sweepTimer = setTimeout(() => {
      this.sweepTimer = null;
      try {
        const result = this.sweep();
        if (result.deleted > 0) this.options.onSweep?.(result);
      } catch (error) {
        this.options.onSweepError?.(error);
      }
      // A generation retired while this timer was pending still waits for its own grace period.
      if (this.retired.size > 0 || this.retiredSets.size > 0) this.scheduleSweep();
    }, this.graceMs);
    this.sweepTimer.unref();
  }
}
