// RingBuffer: reads a BPF_MAP_TYPE_RINGBUF from the Node event loop without blocking it. The native side
// watches libbpf's ring_buffer epoll fd with a libuv poll handle; every wakeup drains the ring and calls
// the handler once with the records (each a copy, safe to keep).
import { nativeMap, type BpfMap } from './map.js';
import { native, type NativeRingBufferHandle } from './native.js';

export type RingBufferRecordsHandler = (records: Buffer[]) => void;

/** BPF_MAP_TYPE_RINGBUF from linux/bpf.h. */
const RINGBUF_MAP_TYPE = 27;

export class RingBuffer {
  readonly map: BpfMap;
  readonly #native: NativeRingBufferHandle;
  #closed = false;

  private constructor(map: BpfMap, handle: NativeRingBufferHandle) {
    this.map = map;
    this.#native = handle;
  }

  /** Starts delivering the records of `map` (a RINGBUF) to `onRecords` as they arrive. The handle keeps
   *  the process alive until close() or unref(). An exception thrown by the handler is reported as an
   *  uncaught exception (there is no caller to throw to). */
  static open(map: BpfMap, onRecords: RingBufferRecordsHandler): RingBuffer {
    if (map.type !== RINGBUF_MAP_TYPE) {
      throw new TypeError(`RingBuffer: map "${map.name}" is of type ${map.type}, not RINGBUF (${RINGBUF_MAP_TYPE})`);
    }
    return new RingBuffer(map, new native.NativeRingBuffer(nativeMap(map), onRecords));
  }

  /** Drains what is in the ring now, synchronously, through the handler; returns the record count. */
  consume(): number {
    return this.#native.consume();
  }

  /** Lets the process exit while the ring buffer is still open (like timer.unref()). */
  unref(): void {
    this.#native.unref();
  }

  ref(): void {
    this.#native.ref();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Stops watching and unmaps the ring. Records not consumed yet are dropped. Idempotent. */
  close(): void {
    this.#closed = true;
    this.#native.close();
  }
}
