// NativeMap: element operations on a map fd, with key/value sizes checked before the kernel is called.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "handles.h"

// Map types whose values are stored once per possible CPU (lookup/update exchange all slots at once).
static bool IsPerCpu(uint32_t type) {
  switch (type) {
    case BPF_MAP_TYPE_PERCPU_HASH:
    case BPF_MAP_TYPE_PERCPU_ARRAY:
    case BPF_MAP_TYPE_LRU_PERCPU_HASH:
    case BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE:
      return true;
    default:
      return false;
  }
}

Napi::Function NativeMap::Define(Napi::Env env) {
  return DefineClass(env, "NativeMap",
                     {
                         StaticMethod<&NativeMap::FromPin>("fromPin"),
                         InstanceMethod<&NativeMap::Info>("info"),
                         InstanceMethod<&NativeMap::Lookup>("lookup"),
                         InstanceMethod<&NativeMap::Update>("update"),
                         InstanceMethod<&NativeMap::Delete>("delete"),
                         InstanceMethod<&NativeMap::Keys>("keys"),
                         InstanceMethod<&NativeMap::Pin>("pin"),
                         InstanceMethod<&NativeMap::Close>("close"),
                     });
}

Napi::Object NativeMap::Wrap(Napi::Env env, int fd, const std::string& name, const std::string& origin) {
  return GetAddonData(env).mapCtor.New({Napi::Number::New(env, fd), Napi::String::New(env, name),
                                        Napi::String::New(env, origin)});
}

// new NativeMap(fd, name, origin): takes ownership of fd and reads the map's shape from the kernel.
NativeMap::NativeMap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeMap>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsString() || !info[2].IsString()) {
    ThrowType(env, "BpfMap cannot be constructed directly: use BpfObject.map() or BpfMap.fromPin()");
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  std::string origin = info[2].As<Napi::String>().Utf8Value();
  // A throwing constructor never reaches the destructor, so the fd is closed here on failure.
  try {
    Describe(env, fd, info[1].As<Napi::String>().Utf8Value(), origin);
  } catch (...) {
    close(fd);
    throw;
  }
  fd_ = fd;
}

void NativeMap::Describe(Napi::Env env, int fd, const std::string& name, const std::string& origin) {
  std::string kind = BpfFdKind(fd);
  if (kind != "bpf-map") {
    ThrowUsage(env, origin + " is not a BPF map (it is " + (kind.empty() ? "unknown" : kind) + ")");
  }
  bpf_map_info mapInfo{};
  uint32_t length = sizeof(mapInfo);
  if (bpf_obj_get_info_by_fd(fd, &mapInfo, &length) != 0) {
    ThrowBpfError(env, "bpf_obj_get_info_by_fd", errno, "map at " + origin);
  }
  name_ = name;
  if (name_.empty()) name_ = mapInfo.name;
  type_ = mapInfo.type;
  keySize_ = mapInfo.key_size;
  valueSize_ = mapInfo.value_size;
  maxEntries_ = mapInfo.max_entries;
  valueBufferSize_ = valueSize_;
  if (IsPerCpu(type_)) {
    int cpus = libbpf_num_possible_cpus();
    if (cpus < 0) ThrowBpfError(env, "libbpf_num_possible_cpus", -cpus, Subject());
    valueBufferSize_ = ((valueSize_ + 7) / 8) * 8 * static_cast<uint32_t>(cpus);
  }
}

NativeMap::~NativeMap() {
  if (fd_ >= 0) close(fd_);
}

int NativeMap::Checked(Napi::Env env) const {
  if (fd_ < 0) ThrowUsage(env, "BpfMap \"" + name_ + "\" is closed");
  return fd_;
}

void NativeMap::CheckKey(Napi::Env env, const Napi::Buffer<uint8_t>& key) const {
  if (key.Length() != keySize_) {
    throw Napi::RangeError::New(env, "BpfMap \"" + name_ + "\": key must be " + std::to_string(keySize_) +
                                         " bytes, got " + std::to_string(key.Length()));
  }
}

Napi::Value NativeMap::FromPin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info, 0, "map pin path");
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) ThrowBpfError(env, "bpf_obj_get", errno, path);
  return Wrap(env, fd, "", path);
}

Napi::Value NativeMap::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object result = Napi::Object::New(env);
  result.Set("name", name_);
  result.Set("type", type_);
  result.Set("keySize", keySize_);
  result.Set("valueSize", valueSize_);
  result.Set("maxEntries", maxEntries_);
  result.Set("valueBufferSize", valueBufferSize_);
  return result;
}

Napi::Value NativeMap::Lookup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = Checked(env);
  Napi::Buffer<uint8_t> key = BufferArg(info, 0, "key");
  CheckKey(env, key);
  std::vector<uint8_t> value(valueBufferSize_);
  if (bpf_map_lookup_elem(fd, key.Data(), value.data()) != 0) {
    if (errno == ENOENT) return env.Null();
    ThrowBpfError(env, "bpf_map_lookup_elem", errno, Subject());
  }
  return Napi::Buffer<uint8_t>::Copy(env, value.data(), value.size());
}

// update(key, value, flags): flags is BPF_ANY / BPF_NOEXIST / BPF_EXIST, chosen by the TS layer.
Napi::Value NativeMap::Update(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = Checked(env);
  Napi::Buffer<uint8_t> key = BufferArg(info, 0, "key");
  Napi::Buffer<uint8_t> value = BufferArg(info, 1, "value");
  uint64_t flags = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Int64Value()
                                                              : static_cast<uint64_t>(BPF_ANY);
  CheckKey(env, key);
  if (value.Length() != valueBufferSize_) {
    std::string hint = IsPerCpu(type_) ? " (per-CPU map: 8-byte-aligned value times possible CPUs)" : "";
    throw Napi::RangeError::New(env, "BpfMap \"" + name_ + "\": value must be " +
                                         std::to_string(valueBufferSize_) + " bytes" + hint + ", got " +
                                         std::to_string(value.Length()));
  }
  if (bpf_map_update_elem(fd, key.Data(), value.Data(), flags) != 0) {
    ThrowBpfError(env, "bpf_map_update_elem", errno, Subject());
  }
  return env.Undefined();
}

Napi::Value NativeMap::Delete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = Checked(env);
  Napi::Buffer<uint8_t> key = BufferArg(info, 0, "key");
  CheckKey(env, key);
  if (bpf_map_delete_elem(fd, key.Data()) != 0) {
    if (errno == ENOENT) return Napi::Boolean::New(env, false);
    ThrowBpfError(env, "bpf_map_delete_elem", errno, Subject());
  }
  return Napi::Boolean::New(env, true);
}

Napi::Value NativeMap::Keys(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = Checked(env);
  Napi::Array keys = Napi::Array::New(env);
  std::vector<uint8_t> current(keySize_ > 0 ? keySize_ : 1);
  std::vector<uint8_t> next(current.size());
  const void* previous = nullptr;  // NULL asks the kernel for the first key
  // A hash map restarts from its first key when the current one is deleted concurrently; the bound
  // keeps such a race from looping forever.
  uint64_t limit = static_cast<uint64_t>(maxEntries_) * 2 + 16;
  for (uint32_t count = 0; count < limit; count++) {
    if (bpf_map_get_next_key(fd, previous, next.data()) != 0) {
      if (errno == ENOENT) break;
      ThrowBpfError(env, "bpf_map_get_next_key", errno, Subject());
    }
    keys.Set(count, Napi::Buffer<uint8_t>::Copy(env, next.data(), keySize_));
    current.swap(next);
    previous = current.data();
  }
  return keys;
}

Napi::Value NativeMap::Pin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info, 0, "map pin path");
  int fd = Checked(env);
  if (bpf_obj_pin(fd, path.c_str()) != 0) ThrowBpfError(env, "bpf_obj_pin", errno, Subject() + " at " + path);
  return env.Undefined();
}

Napi::Value NativeMap::Close(const Napi::CallbackInfo& info) {
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
  return info.Env().Undefined();
}
