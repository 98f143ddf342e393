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
 * Map operations are synchronous syscalls, so apply() runs to completion before any
 * other JavaScript (another apply, a sweep timer) can start: applies never interleave.
 *
 * This file is pure: it talks to maps through the small ConfigMap surface (a BpfMap
 * satisfies it) and to the ABI through RecordCodec (@kmesh/api satisfies it), so its
 * logic is unit-tested with in-memory maps.
 */
import { endianness } from 'node:os';
import type { Diagnostic, KernelRecord, KernelRecords, MeshModel } from '@kmesh/api';

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
}

export interface ActiveGeneration {
  gen: number;
  version: number;
}

export interface ApplyResult extends ActiveGeneration {
  previousGen: number;
  records: { listeners: number; chains: number; clusters: number; endpoints: number };
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
const littleEndian = endianness() === 'LE';

/** g+1, wrapping past 2^32-1 to 1 because generation 0 means "no configuration". */
export function nextGeneration(gen: number): number {
  return gen >= U32_MAX ? 1 : gen + 1;
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

type RecordKind = 'listener' | 'chain' | 'cluster' | 'endpoint';
type RecordField = 'listeners' | 'chains' | 'clusters' | 'endpoints';
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
    this.deleteGenerations((g) => g === gen);

    const records = this.codec.encodeModel(model, gen);
    const written: { map: ConfigMap; key: Buffer }[] = [];
    try {
      for (const { kind, field } of recordKinds) {
        const map = this.maps[kind];
        const list: KernelRecord[] = records[field] ?? [];
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
        }
      }
      throw error;
    }

    // The flip: one update of one 8-byte value. From here on connect() sees generation gen.
    this.maps.active.update(this.codec.activeKey(), this.codec.encodeActive(gen, version), 'any');
    if (previous.gen !== 0) this.retired.set(previous.gen, this.now());
    this.scheduleSweep();
    return {
      gen,
      version,
      previousGen: previous.gen,
      records: { listeners: records.listeners.length, chains: records.chains?.length ?? 0, clusters: records.clusters.length, endpoints: records.endpoints.length },
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
    for (const [gen, retiredAt] of this.retired) {
      if (options.force || now - retiredAt >= this.graceMs) this.retired.delete(gen);
    }
    return this.deleteGenerations((g) => g !== active && !this.retired.has(g));
  }

  /** Records per generation, for diagnostics and tests. */
  generations(): Map<number, RecordCounts> {
    const byGen = new Map<number, RecordCounts>();
    for (const { kind, field } of recordKinds) {
      const map = this.maps[kind];
      if (!map) continue;
      for (const key of map.keys()) {
        const gen = this.generationOf(kind, key);
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

  private deleteGenerations(doomed: (gen: number) => boolean): SweepResult {
    let deleted = 0;
    const generations = new Set<number>();
    for (const { kind } of recordKinds) {
      const map = this.maps[kind];
      if (!map) continue;
      for (const key of map.keys()) {
        const gen = this.generationOf(kind, key);
        if (!doomed(gen)) continue;
        if (map.delete(key)) deleted++;
        generations.add(gen);
      }
    }
    return { deleted, generations: [...generations].sort((a, b) => a - b) };
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
      if (this.retired.size > 0) this.scheduleSweep();
    }, this.graceMs);
    this.sweepTimer.unref();
  }
}
