// Module entry: registers the handle classes and module functions, and routes libbpf's log.
#include "handles.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  env.SetInstanceData<AddonData>(data);  // deleted by node-addon-api when the environment ends
  InstallLibbpfPrint();

  Napi::Function object = NativeObject::Define(env);
  Napi::Function program = NativeProgram::Define(env);
  Napi::Function link = NativeLink::Define(env);
  Napi::Function map = NativeMap::Define(env);
  data->objectCtor = Napi::Persistent(object);
  data->programCtor = Napi::Persistent(program);
  data->linkCtor = Napi::Persistent(link);
  data->mapCtor = Napi::Persistent(map);

  exports.Set("NativeObject", object);
  exports.Set("NativeProgram", program);
  exports.Set("NativeLink", link);
  exports.Set("NativeMap", map);
  exports.Set("NativeRingBuffer", NativeRingBuffer::Define(env));
  exports.Set("NativeL7Relay", DefineL7Relay(env));
  DefineSystemFunctions(env, exports);
  return exports;
}

NODE_API_MODULE(kmesh_runtime, Init)
