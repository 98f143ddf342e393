// BpfProgram: a program of a BpfObject, found by function name.
import { BpfLink } from './link.js';
import { nativeMap, type BpfMap } from './map.js';
import type { MapAttachType, NativeProgramHandle } from './native.js';

export type { MapAttachType } from './native.js';

const handles = new WeakMap<BpfProgram, NativeProgramHandle>();

/** @internal The native handle behind a program (for BpfLink.update). */
export function nativeProgram(program: BpfProgram): NativeProgramHandle {
  const handle = handles.get(program);
  if (handle === undefined) throw new TypeError('expected a BpfProgram from BpfObject.program()');
  return handle;
}

export class BpfProgram {
  /** Function name in the C source. */
  readonly name: string;
  /** ELF section, e.g. 'cgroup/connect4'. */
  readonly section: string;

  /** @internal Use BpfObject.program(). */
  constructor(handle: NativeProgramHandle) {
    handles.set(this, handle);
    this.name = handle.name;
    this.section = handle.section;
  }

  /** Attaches to a cgroup v2 directory with the attach type of the program's section. Keep the returned
   *  link (or pin it): closing it, or letting it be garbage-collected, detaches the program. */
  attachCgroup(cgroupDir: string): BpfLink {
    return new BpfLink(nativeProgram(this).attachCgroup(cgroupDir));
  }

  /** Attaches by section name (libbpf auto-attach): tp_btf/<event>, tracepoint/<category>/<event>,
   *  raw_tp/<event>. These hooks are host-wide; the program must filter what it reports. The link
   *  detaches when closed or garbage-collected unless pinned. */
  attach(): BpfLink {
    return new BpfLink(nativeProgram(this).attach());
  }

  /** Attaches an sk_msg (msg_verdict) or sk_skb (stream_verdict, stream_parser) program to a sockmap or
   *  sockhash: every socket inserted into the map from then on runs it. There is no link: the map holds
   *  the program until detachFromMap() or until the map itself is freed (last fd closed and unpinned).
   *  Attaching again with the same type replaces the program. */
  attachToMap(map: BpfMap, type: MapAttachType): void {
    nativeProgram(this).attachToMap(nativeMap(map), type);
  }

  /** Detaches this program from the map; a BpfError with code ENOENT when it is not the attached one. */
  detachFromMap(map: BpfMap, type: MapAttachType): void {
    nativeProgram(this).detachFromMap(nativeMap(map), type);
  }

  /** Pins the loaded program at a bpffs path (bpf_obj_pin): it then outlives its object, for a program
   *  that nothing attaches but another process runs (BPF_PROG_RUN), e.g. a syscall program. */
  pin(path: string): void {
    nativeProgram(this).pin(path);
  }
}
