// BpfProgram: a program of a BpfObject, found by function name.
import { BpfLink } from './link.js';
import type { NativeProgramHandle } from './native.js';

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
}
