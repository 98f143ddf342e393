/**
 * A small reader for `bpftool -j btf dump file X`: enough to answer "what is
 * the layout of struct S" and "how is map M declared" in a compiled BPF object.
 */
import { execFileSync } from 'node:child_process';

export interface BtfMember { name: string; type_id: number; bits_offset: number }
export interface BtfType {
  id: number;
  kind: string;
  name: string;
  size?: number;
  type_id?: number;
  nr_elems?: number;
  members?: BtfMember[];
  vars?: { type_id: number; offset: number; size: number }[];
}

/** Member of a struct with its resolved byte offset and size. */
export interface ResolvedMember { name: string; offset: number; size: number; type: BtfType }

/** Type modifiers that do not change layout. */
const transparentKinds = new Set(['TYPEDEF', 'CONST', 'VOLATILE', 'RESTRICT', 'TYPE_TAG']);

export class Btf {
  private readonly byId = new Map<number, BtfType>();

  constructor(readonly types: BtfType[]) {
    for (const t of types) this.byId.set(t.id, t);
  }

  static fromObject(path: string): Btf {
    let out: string;
    try {
      out = execFileSync('bpftool', ['-j', 'btf', 'dump', 'file', path], { encoding: 'utf8', maxBuffer: 64 << 20 });
    } catch (err) {
      throw new Error(`bpftool could not dump the BTF of ${path} (is bpftool installed? Debian: apt-get install bpftool): ${String(err)}`);
    }
    return new Btf((JSON.parse(out) as { types: BtfType[] }).types);
  }

  type(id: number): BtfType {
    const t = this.byId.get(id);
    if (!t) throw new Error(`BTF type id ${id} not found`);
    return t;
  }

  /** Follow typedefs and qualifiers to the type that has a layout. */
  strip(id: number): BtfType {
    let t = this.type(id);
    while (transparentKinds.has(t.kind)) t = this.type(t.type_id!);
    return t;
  }

  sizeOf(id: number): number {
    const t = this.strip(id);
    switch (t.kind) {
      case 'INT':
      case 'STRUCT':
      case 'UNION':
      case 'ENUM':
        return t.size!;
      case 'PTR':
        return 8;
      case 'ARRAY':
        return this.sizeOf(t.type_id!) * t.nr_elems!;
      default:
        throw new Error(`no size for BTF kind ${t.kind} (id ${id})`);
    }
  }

  struct(name: string): BtfType | undefined {
    return this.types.find((t) => t.kind === 'STRUCT' && t.name === name);
  }

  members(struct: BtfType): ResolvedMember[] {
    return (struct.members ?? []).map((m) => ({
      name: m.name,
      offset: m.bits_offset / 8,
      size: this.sizeOf(m.type_id),
      type: this.strip(m.type_id),
    }));
  }

  /** Names of global functions (BPF programs). */
  functions(): string[] {
    return this.types.filter((t) => t.kind === 'FUNC').map((t) => t.name);
  }

  /**
   * A BTF-style map definition from the .maps section: integer attributes
   * (type, max_entries, map_flags, pinning: encoded as int (*name)[N]) and
   * the key/value types (encoded as pointers to them).
   */
  mapDef(name: string): { ints: Record<string, number>; key?: BtfType; value?: BtfType } | undefined {
    const maps = this.types.find((t) => t.kind === 'DATASEC' && t.name === '.maps');
    const v = maps?.vars?.map((x) => this.type(x.type_id)).find((x) => x.kind === 'VAR' && x.name === name);
    if (!v) return undefined;
    const def = this.strip(v.type_id!);
    const ints: Record<string, number> = {};
    let key: BtfType | undefined;
    let value: BtfType | undefined;
    for (const m of def.members ?? []) {
      const pointee = this.type(this.type(m.type_id).type_id!);
      if (m.name === 'key') key = pointee;
      else if (m.name === 'value') value = pointee;
      else if (pointee.kind === 'ARRAY') ints[m.name] = pointee.nr_elems!;
    }
    return { ints, key, value };
  }
}
