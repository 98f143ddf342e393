// NativeObject: open (with a pin root for LIBBPF_PIN_BY_NAME maps), load, find programs and maps.
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "handles.h"

Napi::Function NativeObject::Define(Napi::Env env) {
  return DefineClass(env, "NativeObject",
                     {
                         InstanceMethod<&NativeObject::Load>("load"),
                         InstanceMethod<&NativeObject::ProgramNames>("programNames"),
                         InstanceMethod<&NativeObject::Program>("program"),
                         InstanceMethod<&NativeObject::MapNames>("mapNames"),
                         InstanceMethod<&NativeObject::Map>("map"),
                         InstanceMethod<&NativeObject::Close>("close"),
                     });
}

// new NativeObject(path, pinRoot?)
NativeObject::NativeObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeObject>(info) {
  Napi::Env env = info.Env();
  path_ = StringArg(info, 0, "object path");
  std::string pinRoot;
  bool hasPinRoot = info.Length() > 1 && !info[1].IsUndefined() && !info[1].IsNull();
  if (hasPinRoot) pinRoot = StringArg(info, 1, "pinRoot");

  // Fields are set one by one: libbpf's LIBBPF_OPTS macro relies on C compound literals.
  bpf_object_open_opts opts{};
  opts.sz = sizeof(opts);
  opts.pin_root_path = hasPinRoot ? pinRoot.c_str() : nullptr;

  LibbpfLogCapture capture;
  bpf_object* object = bpf_object__open_file(path_.c_str(), &opts);
  if (object == nullptr) {
    int err = errno;
    ThrowBpfError(env, "bpf_object__open_file", err, path_, capture.Tail());
  }
  object_ = object;
}

NativeObject::~NativeObject() {
  if (object_ != nullptr) bpf_object__close(object_);
}

bpf_object* NativeObject::Checked(Napi::Env env) const {
  if (object_ == nullptr) ThrowUsage(env, "BpfObject " + path_ + " is closed");
  return object_;
}

Napi::Value NativeObject::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_object* object = Checked(env);
  if (loaded_) ThrowUsage(env, "BpfObject " + path_ + " is already loaded");
  LibbpfLogCapture capture;
  int err = bpf_object__load(object);
  if (err != 0) ThrowBpfError(env, "bpf_object__load", -err, path_, capture.Tail());
  loaded_ = true;
  return env.Undefined();
}

Napi::Value NativeObject::ProgramNames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_object* object = Checked(env);
  Napi::Array names = Napi::Array::New(env);
  uint32_t i = 0;
  bpf_program* program;
  bpf_object__for_each_program(program, object) {
    names.Set(i++, Napi::String::New(env, bpf_program__name(program)));
  }
  return names;
}

Napi::Value NativeObject::Program(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_object* object = Checked(env);
  std::string name = StringArg(info, 0, "program name");
  bpf_program* program = bpf_object__find_program_by_name(object, name.c_str());
  if (program == nullptr) {
    ThrowUsage(env, "BpfObject " + path_ + " has no program named \"" + name + "\"");
  }
  return GetAddonData(env).programCtor.New(
      {Value(), Napi::External<bpf_program>::New(env, program)});
}

Napi::Value NativeObject::MapNames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_object* object = Checked(env);
  Napi::Array names = Napi::Array::New(env);
  uint32_t i = 0;
  bpf_map* map;
  bpf_object__for_each_map(map, object) { names.Set(i++, Napi::String::New(env, bpf_map__name(map))); }
  return names;
}

Napi::Value NativeObject::Map(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_object* object = Checked(env);
  std::string name = StringArg(info, 0, "map name");
  bpf_map* map = bpf_object__find_map_by_name(object, name.c_str());
  if (map == nullptr) ThrowUsage(env, "BpfObject " + path_ + " has no map named \"" + name + "\"");
  if (!loaded_) {
    ThrowUsage(env, "map \"" + name + "\" of BpfObject " + path_ +
                        " has no fd before load(): call load() first");
  }
  // The handle gets its own fd so it stays usable after the object is closed.
  int fd = fcntl(bpf_map__fd(map), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) ThrowBpfError(env, "dup", errno, "map \"" + name + "\"");
  return NativeMap::Wrap(env, fd, name, path_);
}

Napi::Value NativeObject::Close(const Napi::CallbackInfo& info) {
  if (object_ != nullptr) {
    bpf_object__close(object_);
    object_ = nullptr;
  }
  return info.Env().Undefined();
}
