// BpfMap: one map fd with element operations. Buffers are exchanged as-is (host byte order is the
// caller's business); sizes are checked before the kernel is called.
import { native, type NativeMapHandle } from './native.js';

export type UpdateFlag = 'any' | 'noexist' | 'exist';

// BPF_ANY, BPF_NOEXIST, BPF_EXIST from linux/bpf.h.
const updateFlagValues: Record<UpdateFlag, number> = { any: 0, noexist: 1, exist: 2 };

const handles = new WeakMap<BpfMap, NativeMapHandle>();

/** @internal The native handle behind a map (for RingBuffer). */
export function nativeMap(map: BpfMap): NativeMapHandle {
  const handle = handles.get(map);
  if (handle === undefined) throw new TypeError('expected a BpfMap from BpfObject.map() or BpfMap.fromPin()');
  return handle;
}

export class BpfMap {
  readonly name: string;
  /** enum bpf_map_type, e.g. 1 = HASH, 2 = ARRAY, 6 = PERCPU_ARRAY. */
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  /** Bytes lookup() returns and update() expects: valueSize, or for per-CPU maps
   *  valueSize rounded up to 8 times possibleCpus(). */
  readonly valueBufferSize: number;
  readonly #native: NativeMapHandle;

  /** @internal Use BpfObject.map() or BpfMap.fromPin(). */
  constructor(handle: NativeMapHandle) {
    this.#native = handle;
    handles.set(this, handle);
    const info = handle.info();
    this.name = info.name;
    this.type = info.type;
    this.keySize = info.keySize;
    this.valueSize = info.valueSize;
    this.maxEntries = info.maxEntries;
    this.valueBufferSize = info.valueBufferSize;
  }

  /** Opens a pinned map (bpf_obj_get); name is the kernel's (at most 15 characters). */
  static fromPin(path: string): BpfMap {
    return new BpfMap(native.NativeMap.fromPin(path));
  }

  /** The value, or null when the key is absent. */
  lookup(key: Buffer): Buffer | null {
    return this.#native.lookup(key);
  }

  update(key: Buffer, value: Buffer, flag: UpdateFlag = 'any'): void {
    const flags = updateFlagValues[flag];
    if (flags === undefined) {
      throw new TypeError(`BpfMap "${this.name}": update flag must be 'any', 'noexist' or 'exist', got ${String(flag)}`);
    }
    this.#native.update(key, value, flags);
  }

  /** Removes the key; false when it was absent. */
  delete(key: Buffer): boolean {
    return this.#native.delete(key);
  }

  /** All keys, in the kernel's iteration order. */
  keys(): Buffer[] {
    return this.#native.keys();
  }

  /** Pins the map at a bpffs path (bpf_obj_pin). */
  pin(path: string): void {
    this.#native.pin(path);
  }

  /** Closes this handle's fd; the map lives on while pinned or used by a program. */
  close(): void {
    this.#native.close();
  }
}
