// Loads the compiled addon (build/Release/kmesh_runtime.node) and describes its shape.
// Only this package's facade talks to these types; users see the classes exported by index.ts.
import { createRequire } from 'node:module';

import { makeBpfError } from './errors.js';

export interface NativeMapInfo {
  name: string;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  valueBufferSize: number;
}

export interface NativeMapHandle {
  info(): NativeMapInfo;
  lookup(key: Buffer): Buffer | null;
  update(key: Buffer, value: Buffer, flags: number): void;
  delete(key: Buffer): boolean;
  keys(): Buffer[];
  pin(path: string): void;
  close(): void;
}

export interface NativeLinkHandle {
  readonly description: string;
  pin(path: string): void;
  unpin(): void;
  update(program: NativeProgramHandle): void;
  detach(): void;
  close(): void;
}

export interface NativeProgramHandle {
  readonly name: string;
  readonly section: string;
  attachCgroup(dir: string): NativeLinkHandle;
  attach(): NativeLinkHandle;
  attachToMap(map: NativeMapHandle, type: MapAttachType): void;
  detachFromMap(map: NativeMapHandle, type: MapAttachType): void;
  pin(path: string): void;
}

/** How an sk_msg / sk_skb program attaches to a sockmap or sockhash (BPF_SK_MSG_VERDICT, ...). */
export type MapAttachType = 'msg_verdict' | 'stream_verdict' | 'stream_parser';

export interface NativeRingBufferHandle {
  consume(): number;
  ref(): void;
  unref(): void;
  close(): void;
}

export interface NativeObjectHandle {
  load(): void;
  programNames(): string[];
  program(name: string): NativeProgramHandle;
  mapNames(): string[];
  map(name: string): NativeMapHandle;
  close(): void;
}

export type ErrorFactory = (op: string, errno: number, subject: string, description: string, log: string) => Error;

interface NativeModule {
  NativeObject: new (path: string, pinRoot?: string) => NativeObjectHandle;
  NativeLink: { fromPin(path: string): NativeLinkHandle };
  NativeMap: { fromPin(path: string): NativeMapHandle };
  NativeRingBuffer: new (map: NativeMapHandle, onRecords: (records: Buffer[]) => void) => NativeRingBufferHandle;
  isBpffs(dir: string): boolean;
  mountBpffs(dir: string): void;
  possibleCpus(): number;
  unpinPath(path: string): boolean;
  setErrorFactory(factory: ErrorFactory): void;
}

const require = createRequire(import.meta.url);

// Same relative path from src/ (tests) and dist/ (published build).
function loadAddon(): NativeModule {
  const file = '../build/Release/kmesh_runtime.node';
  try {
    return require(file) as NativeModule;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(
      `@kmesh/runtime: cannot load the native addon ${new URL(file, import.meta.url).pathname} (${reason}); ` +
        'build it with `npx nx run @kmesh/runtime:build`',
    );
  }
}

export const native: NativeModule = loadAddon();
// Every failed kernel/libbpf call in the addon throws a BpfError built here.
native.setErrorFactory(makeBpfError);
