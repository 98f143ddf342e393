// Module-level functions: bpffs detection and mounting, possible CPUs, unlinking pins.
#include <bpf/libbpf.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>

#include "handles.h"

// From linux/magic.h; spelled out so the check does not depend on that header's presence.
static constexpr unsigned long kBpfFsMagic = 0xcafe4a11;

// isBpffs(dir): true when dir is the root or inside of a bpf filesystem; false when absent or another fs.
static Napi::Value IsBpffs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string dir = StringArg(info, 0, "directory");
  struct statfs fs {};
  if (statfs(dir.c_str(), &fs) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return Napi::Boolean::New(env, false);
    ThrowBpfError(env, "statfs", errno, dir);
  }
  return Napi::Boolean::New(env, static_cast<unsigned long>(fs.f_type) == kBpfFsMagic);
}

// mountBpffs(dir): mount(2) only; the TS layer checks isBpffs first and creates the directory.
static Napi::Value MountBpffs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string dir = StringArg(info, 0, "directory");
  if (mount("bpf", dir.c_str(), "bpf", 0, nullptr) != 0) ThrowBpfError(env, "mount", errno, "bpffs at " + dir);
  return env.Undefined();
}

static Napi::Value PossibleCpus(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int cpus = libbpf_num_possible_cpus();
  if (cpus < 0) ThrowBpfError(env, "libbpf_num_possible_cpus", -cpus, "/sys/devices/system/cpu/possible");
  return Napi::Number::New(env, cpus);
}

// unpinPath(path): true when a pin was removed, false when there was none.
static Napi::Value UnpinPath(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info, 0, "pin path");
  if (unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return Napi::Boolean::New(env, false);
    ThrowBpfError(env, "unlink", errno, path);
  }
  return Napi::Boolean::New(env, true);
}

// setErrorFactory(fn): the TS layer supplies how BpfError objects are built.
static Napi::Value SetErrorFactory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsFunction()) ThrowType(env, "setErrorFactory needs a function");
  GetAddonData(env).errorFactory = Napi::Persistent(info[0].As<Napi::Function>());
  return env.Undefined();
}

void DefineSystemFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("isBpffs", Napi::Function::New<IsBpffs>(env, "isBpffs"));
  exports.Set("mountBpffs", Napi::Function::New<MountBpffs>(env, "mountBpffs"));
  exports.Set("possibleCpus", Napi::Function::New<PossibleCpus>(env, "possibleCpus"));
  exports.Set("unpinPath", Napi::Function::New<UnpinPath>(env, "unpinPath"));
  exports.Set("setErrorFactory", Napi::Function::New<SetErrorFactory>(env, "setErrorFactory"));
}
