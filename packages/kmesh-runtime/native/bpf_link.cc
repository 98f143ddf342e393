// NativeLink: pin/unpin, reopen from a pin, atomic program update, detach, close.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>

#include "handles.h"

Napi::Function NativeLink::Define(Napi::Env env) {
  return DefineClass(env, "NativeLink",
                     {
                         StaticMethod<&NativeLink::FromPin>("fromPin"),
                         InstanceAccessor<&NativeLink::GetDescription>("description"),
                         InstanceMethod<&NativeLink::Pin>("pin"),
                         InstanceMethod<&NativeLink::Unpin>("unpin"),
                         InstanceMethod<&NativeLink::Update>("update"),
                         InstanceMethod<&NativeLink::Detach>("detach"),
                         InstanceMethod<&NativeLink::Close>("close"),
                     });
}

Napi::Object NativeLink::Wrap(Napi::Env env, bpf_link* link, const std::string& description) {
  return GetAddonData(env).linkCtor.New(
      {Napi::External<bpf_link>::New(env, link), Napi::String::New(env, description)});
}

NativeLink::NativeLink(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeLink>(info) {
  if (info.Length() < 2 || !info[0].IsExternal() || !info[1].IsString()) {
    ThrowType(info.Env(), "BpfLink cannot be constructed directly: use attachCgroup() or BpfLink.fromPin()");
  }
  link_ = info[0].As<Napi::External<bpf_link>>().Data();
  description_ = info[1].As<Napi::String>().Utf8Value();
}

// Destroying a bpf_link closes its fd; the kernel link survives if it is pinned.
NativeLink::~NativeLink() {
  if (link_ != nullptr) bpf_link__destroy(link_);
}

bpf_link* NativeLink::Checked(Napi::Env env) const {
  if (link_ == nullptr) ThrowUsage(env, "BpfLink (" + description_ + ") is closed");
  return link_;
}

Napi::Value NativeLink::FromPin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info, 0, "link pin path");
  LibbpfLogCapture capture;
  bpf_link* link = bpf_link__open(path.c_str());
  if (link == nullptr) ThrowBpfError(env, "bpf_link__open", errno, path, capture.Tail());
  std::string kind = BpfFdKind(bpf_link__fd(link));
  if (kind != "bpf-link") {
    bpf_link__disconnect(link);  // do not let destroy() run a link detach on a foreign fd
    close(bpf_link__fd(link));
    bpf_link__destroy(link);
    ThrowUsage(env, path + " is not a pinned BPF link (it is " + (kind.empty() ? "unknown" : kind) + ")");
  }
  Napi::Object wrapped = Wrap(env, link, "link pinned at " + path);
  NativeLink::Unwrap(wrapped)->pinPath_ = path;
  return wrapped;
}

Napi::Value NativeLink::Pin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info, 0, "link pin path");
  bpf_link* link = Checked(env);
  if (bpf_obj_pin(bpf_link__fd(link), path.c_str()) != 0) {
    ThrowBpfError(env, "bpf_obj_pin", errno, description_ + " at " + path);
  }
  pinPath_ = path;
  return env.Undefined();
}

Napi::Value NativeLink::Unpin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Checked(env);
  if (pinPath_.empty()) ThrowUsage(env, "BpfLink (" + description_ + ") is not pinned");
  if (unlink(pinPath_.c_str()) != 0 && errno != ENOENT) {
    ThrowBpfError(env, "unlink", errno, description_ + " at " + pinPath_);
  }
  pinPath_.clear();
  return env.Undefined();
}

Napi::Value NativeLink::Update(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_link* link = Checked(env);
  if (info.Length() < 1 || !info[0].IsObject()) ThrowType(env, "update() needs a BpfProgram");
  NativeProgram* program = NativeProgram::Unwrap(info[0].As<Napi::Object>());
  if (program == nullptr) ThrowType(env, "update() needs a BpfProgram");
  bpf_program* replacement = program->CheckedLoaded(env);
  LibbpfLogCapture capture;
  int err = bpf_link__update_program(link, replacement);
  if (err != 0) {
    ThrowBpfError(env, "bpf_link__update_program", -err,
                  description_ + " to program \"" + program->Name() + "\"", capture.Tail());
  }
  return env.Undefined();
}

Napi::Value NativeLink::Detach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_link* link = Checked(env);
  int err = bpf_link__detach(link);
  if (err != 0) ThrowBpfError(env, "bpf_link__detach", -err, description_);
  return env.Undefined();
}

Napi::Value NativeLink::Close(const Napi::CallbackInfo& info) {
  if (link_ != nullptr) {
    bpf_link__destroy(link_);
    link_ = nullptr;
  }
  return info.Env().Undefined();
}
