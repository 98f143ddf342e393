// Shared declarations of the native layer: per-addon state, error throwing, libbpf log capture and
// argument helpers. Every handle class lives in its own file.
#pragma once

#include <napi.h>

#include <string>

struct bpf_object;
struct bpf_program;
struct bpf_link;

// Per-environment state (worker threads each get their own copy).
struct AddonData {
  Napi::FunctionReference errorFactory;  // (op, errno, subject, strerror, log) => BpfError, set from TS
  Napi::FunctionReference objectCtor;
  Napi::FunctionReference programCtor;
  Napi::FunctionReference linkCtor;
  Napi::FunctionReference mapCtor;
};

AddonData& GetAddonData(Napi::Env env);

// Throws the TS BpfError for a failed system/libbpf call. `err` is a positive errno.
[[noreturn]] void ThrowBpfError(Napi::Env env, const char* op, int err, const std::string& subject,
                                const std::string& log = std::string());

// Plain usage errors (closed handle, wrong argument): a JS Error / TypeError / RangeError.
[[noreturn]] void ThrowUsage(Napi::Env env, const std::string& message);
[[noreturn]] void ThrowType(Napi::Env env, const std::string& message);

// Collects libbpf's log output while alive, so a failed open/load can report the verifier log.
// Outside a capture libbpf stays quiet (unless KMESH_RUNTIME_DEBUG is set, then it prints to stderr).
class LibbpfLogCapture {
 public:
  LibbpfLogCapture();
  ~LibbpfLogCapture();
  // The last `maxBytes` of the log, starting at a line boundary.
  std::string Tail(size_t maxBytes = 6000) const;

 private:
  std::string buffer_;
  std::string* previous_;
};
void InstallLibbpfPrint();

std::string StringArg(const Napi::CallbackInfo& info, size_t index, const char* what);
Napi::Buffer<uint8_t> BufferArg(const Napi::CallbackInfo& info, size_t index, const char* what);

// Returns "bpf-map", "bpf-prog", "bpf-link", ... for a BPF fd (from /proc/self/fd), or "" when unknown.
std::string BpfFdKind(int fd);
