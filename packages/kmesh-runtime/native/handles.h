// The four handle classes of the binding. Each owns one kernel/libbpf resource, refuses to work once
// closed (a clear JS error, never a dangling pointer), and frees its resource in its finalizer when the
// user forgot close().
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common.h"

struct ring_buffer;
typedef struct uv_poll_s uv_poll_t;

// Owns a struct bpf_object (from bpf_object__open_file).
class NativeObject : public Napi::ObjectWrap<NativeObject> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit NativeObject(const Napi::CallbackInfo& info);
  ~NativeObject() override;

  // The open object, or throws when closed.
  bpf_object* Checked(Napi::Env env) const;
  bool Loaded() const { return loaded_; }
  const std::string& Path() const { return path_; }

 private:
  Napi::Value Load(const Napi::CallbackInfo& info);
  Napi::Value ProgramNames(const Napi::CallbackInfo& info);
  Napi::Value Program(const Napi::CallbackInfo& info);
  Napi::Value MapNames(const Napi::CallbackInfo& info);
  Napi::Value Map(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  bpf_object* object_ = nullptr;
  std::string path_;
  bool loaded_ = false;
};

// A program inside a NativeObject. Holds a strong reference to its object so the object outlives it,
// and re-checks on every call that the object was not closed.
class NativeProgram : public Napi::ObjectWrap<NativeProgram> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit NativeProgram(const Napi::CallbackInfo& info);  // (owner, External<bpf_program>)

  // The program, or throws when its object is closed or not loaded yet.
  bpf_program* CheckedLoaded(Napi::Env env) const;
  const std::string& Name() const { return name_; }

 private:
  Napi::Value GetName(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), name_); }
  Napi::Value GetSection(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), section_);
  }
  Napi::Value AttachCgroup(const Napi::CallbackInfo& info);
  Napi::Value Attach(const Napi::CallbackInfo& info);
  Napi::Value AttachToMap(const Napi::CallbackInfo& info);
  Napi::Value DetachFromMap(const Napi::CallbackInfo& info);
  Napi::Value Pin(const Napi::CallbackInfo& info);
  void MapAttachment(const Napi::CallbackInfo& info, bool attach);

  Napi::ObjectReference owner_;
  NativeObject* object_ = nullptr;
  bpf_program* program_ = nullptr;
  std::string name_;
  std::string section_;
};

// Owns a struct bpf_link (from an attach or bpf_link__open). Destroying it closes the fd only: the link
// stays attached while a pin or another fd holds it.
class NativeLink : public Napi::ObjectWrap<NativeLink> {
 public:
  static Napi::Function Define(Napi::Env env);
  static Napi::Object Wrap(Napi::Env env, bpf_link* link, const std::string& description);
  explicit NativeLink(const Napi::CallbackInfo& info);  // (External<bpf_link>, description)
  ~NativeLink() override;

 private:
  static Napi::Value FromPin(const Napi::CallbackInfo& info);
  Napi::Value Pin(const Napi::CallbackInfo& info);
  Napi::Value Unpin(const Napi::CallbackInfo& info);
  Napi::Value Update(const Napi::CallbackInfo& info);
  Napi::Value Detach(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetDescription(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), description_);
  }
  bpf_link* Checked(Napi::Env env) const;

  bpf_link* link_ = nullptr;
  std::string description_;  // for error messages: "link of program \"x\"" or "link pinned at /p"
  std::string pinPath_;      // where this handle pinned (or opened) the link, for unpin()
};

// Owns a map fd (duplicated from a bpf_object, or from bpf_obj_get on a pin), so a map handle stays
// valid after its object is closed.
class NativeMap : public Napi::ObjectWrap<NativeMap> {
 public:
  static Napi::Function Define(Napi::Env env);
  // Takes ownership of `fd`; `name` overrides the kernel's 15-character truncated name when known.
  static Napi::Object Wrap(Napi::Env env, int fd, const std::string& name, const std::string& origin);
  explicit NativeMap(const Napi::CallbackInfo& info);  // (fd, name, origin)
  ~NativeMap() override;

  // The map fd, or throws when closed (for the ring buffer, which mmaps it).
  int Fd(Napi::Env env) const { return Checked(env); }
  int Checked(Napi::Env env) const;
  uint32_t Type() const { return type_; }
  const std::string& Name() const { return name_; }

 private:
  static Napi::Value FromPin(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Lookup(const Napi::CallbackInfo& info);
  Napi::Value Update(const Napi::CallbackInfo& info);
  Napi::Value Delete(const Napi::CallbackInfo& info);
  Napi::Value Keys(const Napi::CallbackInfo& info);
  Napi::Value Pin(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  void Describe(Napi::Env env, int fd, const std::string& name, const std::string& origin);
  void CheckKey(Napi::Env env, const Napi::Buffer<uint8_t>& key) const;
  std::string Subject() const { return "map \"" + name_ + "\""; }

  int fd_ = -1;
  std::string name_;
  uint32_t type_ = 0;
  uint32_t keySize_ = 0;
  uint32_t valueSize_ = 0;
  uint32_t maxEntries_ = 0;
  uint32_t valueBufferSize_ = 0;  // what lookup returns: per-CPU maps hold one 8-byte-aligned slot per CPU
};

// Consumes a BPF ring buffer map from the Node event loop: a libuv poll handle watches the epoll fd
// of libbpf's ring_buffer, and each wakeup drains the ring into one JS callback call (Buffer[]).
class NativeRingBuffer : public Napi::ObjectWrap<NativeRingBuffer> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit NativeRingBuffer(const Napi::CallbackInfo& info);  // (NativeMap, callback)
  ~NativeRingBuffer() override;

 private:
  static void OnReadable(uv_poll_t* handle, int status, int events);
  size_t Drain(Napi::Env env);
  void Release();
  Napi::Value Consume(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  ring_buffer* rb_ = nullptr;
  struct RingBufferBatch* batch_ = nullptr;
  uv_poll_t* poll_ = nullptr;
  std::string name_;
  Napi::ObjectReference map_;
  Napi::FunctionReference callback_;
  std::unique_ptr<Napi::AsyncContext> context_;
};

// Functions of the module that are not tied to a handle (bpffs, cpus, pins).
void DefineSystemFunctions(Napi::Env env, Napi::Object exports);

// The L7 relay's class (l7_relay_addon.cc).
Napi::Function DefineL7Relay(Napi::Env env);
