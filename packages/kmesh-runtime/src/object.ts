// BpfObject: a BPF ELF object opened and loaded by libbpf.
import { mkdirSync } from 'node:fs';

import { fromNodeError } from './errors.js';
import { BpfMap } from './map.js';
import { native, type NativeObjectHandle } from './native.js';
import { BpfProgram } from './program.js';

export interface BpfObjectOpenOptions {
  /** Directory on bpffs where maps declared LIBBPF_PIN_BY_NAME are pinned, or reused when already
   *  pinned there (this is how a restarted daemon keeps its maps). Created at load() when missing. */
  pinRoot?: string;
}

export class BpfObject {
  readonly path: string;
  readonly #native: NativeObjectHandle;
  readonly #pinRoot: string | undefined;

  private constructor(path: string, handle: NativeObjectHandle, pinRoot: string | undefined) {
    this.path = path;
    this.#native = handle;
    this.#pinRoot = pinRoot;
  }

  /** Opens (parses) the ELF object; nothing reaches the kernel before load(). */
  static open(path: string, opts: BpfObjectOpenOptions = {}): BpfObject {
    return new BpfObject(path, new native.NativeObject(path, opts.pinRoot), opts.pinRoot);
  }

  /** Creates or reuses the maps and loads every program; throws a BpfError carrying the verifier log. */
  load(): void {
    if (this.#pinRoot !== undefined) {
      try {
        mkdirSync(this.#pinRoot, { recursive: true });
      } catch (error) {
        throw fromNodeError('mkdir', `pinRoot ${this.#pinRoot}`, error);
      }
    }
    this.#native.load();
  }

  /** The program with this C function name. */
  program(name: string): BpfProgram {
    return new BpfProgram(this.#native.program(name));
  }

  /** A new handle (its own fd) on the map with this name; needs load(). It stays valid after close(). */
  map(name: string): BpfMap {
    return new BpfMap(this.#native.map(name));
  }

  get programs(): BpfProgram[] {
    return this.#native.programNames().map((name) => this.program(name));
  }

  /** Handles on all maps (internal ones such as .rodata included); needs load(). */
  get maps(): BpfMap[] {
    return this.#native.mapNames().map((name) => this.map(name));
  }

  /** Frees the object. Links and map handles obtained from it keep working; its programs do not. */
  close(): void {
    this.#native.close();
  }
}
