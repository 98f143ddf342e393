// NativeProgram: a program of a loaded object; attaches to a cgroup as a bpf_link.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "handles.h"

Napi::Function NativeProgram::Define(Napi::Env env) {
  return DefineClass(env, "NativeProgram",
                     {
                         InstanceAccessor<&NativeProgram::GetName>("name"),
                         InstanceAccessor<&NativeProgram::GetSection>("section"),
                         InstanceMethod<&NativeProgram::AttachCgroup>("attachCgroup"),
                         InstanceMethod<&NativeProgram::Attach>("attach"),
                         InstanceMethod<&NativeProgram::AttachToMap>("attachToMap"),
                         InstanceMethod<&NativeProgram::DetachFromMap>("detachFromMap"),
                         InstanceMethod<&NativeProgram::Pin>("pin"),
                     });
}

NativeProgram::NativeProgram(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeProgram>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsExternal()) {
    ThrowType(env, "BpfProgram cannot be constructed directly: use BpfObject.program(name)");
  }
  owner_ = Napi::Persistent(info[0].As<Napi::Object>());
  object_ = NativeObject::Unwrap(owner_.Value());
  program_ = info[1].As<Napi::External<bpf_program>>().Data();
  name_ = bpf_program__name(program_);
  const char* section = bpf_program__section_name(program_);
  section_ = section != nullptr ? section : "";
}

bpf_program* NativeProgram::CheckedLoaded(Napi::Env env) const {
  if (object_ == nullptr) ThrowUsage(env, "BpfProgram \"" + name_ + "\" has no object");
  object_->Checked(env);  // throws when the owning object was closed
  if (!object_->Loaded() || bpf_program__fd(program_) < 0) {
    ThrowUsage(env, "BpfProgram \"" + name_ + "\" is not loaded: call BpfObject.load() first");
  }
  return program_;
}

Napi::Value NativeProgram::AttachCgroup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string dir = StringArg(info, 0, "cgroup directory");
  bpf_program* program = CheckedLoaded(env);
  int cgroupFd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cgroupFd < 0) ThrowBpfError(env, "open", errno, "cgroup " + dir);

  LibbpfLogCapture capture;
  bpf_link* link = bpf_program__attach_cgroup(program, cgroupFd);
  int err = errno;
  close(cgroupFd);  // the link holds the cgroup itself
  if (link == nullptr) {
    ThrowBpfError(env, "bpf_program__attach_cgroup", err,
                  "program \"" + name_ + "\" to cgroup " + dir, capture.Tail());
  }
  return NativeLink::Wrap(env, link, "link of program \"" + name_ + "\" on cgroup " + dir);
}

// attach(): libbpf's auto-attach by section name (tp_btf/..., tracepoint/.../..., raw_tp/...). These hooks
// are host-wide: the program itself must filter what it reports.
Napi::Value NativeProgram::Attach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_program* program = CheckedLoaded(env);
  LibbpfLogCapture capture;
  bpf_link* link = bpf_program__attach(program);
  if (link == nullptr) {
    ThrowBpfError(env, "bpf_program__attach", errno, "program \"" + name_ + "\" (section " + section_ + ")",
                  capture.Tail());
  }
  return NativeLink::Wrap(env, link, "link of program \"" + name_ + "\" on " + section_);
}

// attachToMap(map, type) / detachFromMap(map, type): sk_msg and sk_skb programs attach to a sockmap or
// sockhash, not to a hook (BPF_PROG_ATTACH with the map fd as target). There is no link: the map holds
// the program until it is detached or the map is freed (its last fd and pin gone).
struct MapAttachType {
  const char* name;
  bpf_attach_type type;
};
static const MapAttachType kMapAttachTypes[] = {
    {"msg_verdict", BPF_SK_MSG_VERDICT},
    {"stream_verdict", BPF_SK_SKB_STREAM_VERDICT},
    {"stream_parser", BPF_SK_SKB_STREAM_PARSER},
};

void NativeProgram::MapAttachment(const Napi::CallbackInfo& info, bool attach) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsString()) {
    ThrowType(env, "expected (map: BpfMap, type: 'msg_verdict' | 'stream_verdict' | 'stream_parser')");
  }
  NativeMap* map = NativeMap::Unwrap(info[0].As<Napi::Object>());
  std::string typeName = info[1].As<Napi::String>().Utf8Value();
  const MapAttachType* type = nullptr;
  for (const MapAttachType& t : kMapAttachTypes) {
    if (typeName == t.name) type = &t;
  }
  if (type == nullptr) ThrowType(env, "unknown map attach type \"" + typeName + "\" (known: msg_verdict, stream_verdict, stream_parser)");
  bpf_program* program = CheckedLoaded(env);
  int mapFd = map->Fd(env);
  int progFd = bpf_program__fd(program);
  int rc = attach ? bpf_prog_attach(progFd, mapFd, type->type, 0) : bpf_prog_detach2(progFd, mapFd, type->type);
  if (rc < 0) {
    int err = errno;
    ThrowBpfError(env, attach ? "bpf_prog_attach" : "bpf_prog_detach2", err,
                  "program \"" + name_ + "\" as " + typeName + (attach ? " to " : " from ") + "map \"" + map->Name() + "\"");
  }
}

Napi::Value NativeProgram::AttachToMap(const Napi::CallbackInfo& info) {
  MapAttachment(info, true);
  return info.Env().Undefined();
}

Napi::Value NativeProgram::DetachFromMap(const Napi::CallbackInfo& info) {
  MapAttachment(info, false);
  return info.Env().Undefined();
}

// pin(path): bpf_obj_pin of the loaded program, so it outlives the object (a program that nothing
// attaches, e.g. one run with BPF_PROG_RUN by another process).
Napi::Value NativeProgram::Pin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info, 0, "pin path");
  bpf_program* program = CheckedLoaded(env);
  if (bpf_obj_pin(bpf_program__fd(program), path.c_str()) != 0) {
    ThrowBpfError(env, "bpf_obj_pin", errno, "program \"" + name_ + "\" at " + path);
  }
  return env.Undefined();
}
