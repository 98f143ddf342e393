// The Envoy protos as a protobufjs Root (the test server encodes resources itself, so tests
// control exactly what goes on the wire). Same files and include dirs as the controller's client.
import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import '@grpc/proto-loader'; // registers google/protobuf/descriptor.proto etc. with protobufjs
import protobuf from 'protobufjs';
import { protoIncludeDirs, resourceProtoFiles } from '@kmesh/controller';

let root: protobuf.Root | null = null;

export function envoyRoot(): protobuf.Root {
  if (root) return root;
  const r = new protobuf.Root();
  const dirs = protoIncludeDirs();
  r.resolvePath = (_origin, target) => {
    if (isAbsolute(target)) return target;
    for (const d of dirs) if (existsSync(join(d, target))) return join(d, target);
    return target;
  };
  r.loadSync([...resourceProtoFiles], { keepCase: true });
  r.resolveAll();
  root = r;
  return r;
}

/** google.protobuf.Any of a resource: {type_url, value: Type.encode(Type.fromObject(obj))}. */
export function encodeAny(typeUrl: string, object: unknown): { type_url: string; value: Uint8Array } {
  const type = envoyRoot().lookupType(typeUrl.replace(/^type\.googleapis\.com\//, ''));
  const { ['@type']: _t, ...fields } = object as Record<string, unknown>;
  return { type_url: typeUrl, value: type.encode(type.fromObject(fields)).finish() };
}
