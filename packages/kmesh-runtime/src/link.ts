// BpfLink: an attachment of a program to a hook (bpf_link). The link lives while an fd or a pin holds it.
import { native, type NativeLinkHandle } from './native.js';
import { nativeProgram, type BpfProgram } from './program.js';

export class BpfLink {
  readonly #native: NativeLinkHandle;

  /** @internal Use BpfProgram.attachCgroup() or BpfLink.fromPin(). */
  constructor(handle: NativeLinkHandle) {
    this.#native = handle;
  }

  /** Opens a pinned link, e.g. one a previous daemon left behind. */
  static fromPin(path: string): BpfLink {
    return new BpfLink(native.NativeLink.fromPin(path));
  }

  /** Pins the link at a bpffs path: it then outlives this process. */
  pin(path: string): void {
    this.#native.pin(path);
  }

  /** Removes the pin this handle created or was opened from (the link stays while this fd is open). */
  unpin(): void {
    this.#native.unpin();
  }

  /** Atomically replaces the attached program: no connect() sees the hook empty. */
  update(program: BpfProgram): void {
    this.#native.update(nativeProgram(program));
  }

  /** Detaches the program from its hook, also for a link opened from a pin; the pin (if any) stays. */
  detach(): void {
    this.#native.detach();
  }

  /** Closes this fd only; a pinned link stays attached. */
  close(): void {
    this.#native.close();
  }

  toString(): string {
    return `BpfLink(${this.#native.description})`;
  }
}
