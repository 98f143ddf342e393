// Errors, libbpf log capture and argument helpers.
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common.h"

AddonData& GetAddonData(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

void ThrowBpfError(Napi::Env env, const char* op, int err, const std::string& subject,
                   const std::string& log) {
  AddonData& data = GetAddonData(env);
  const char* description = std::strerror(err);
  if (data.errorFactory.IsEmpty()) {
    throw Napi::Error::New(env, std::string(op) + " failed for " + subject + ": " + description);
  }
  Napi::Value error = data.errorFactory.Call(
      {Napi::String::New(env, op), Napi::Number::New(env, err), Napi::String::New(env, subject),
       Napi::String::New(env, description), Napi::String::New(env, log)});
  throw Napi::Error(env, error);
}

void ThrowUsage(Napi::Env env, const std::string& message) { throw Napi::Error::New(env, message); }

void ThrowType(Napi::Env env, const std::string& message) {
  throw Napi::TypeError::New(env, message);
}

// The capture in effect; libbpf calls are made from the JS thread only, so a plain pointer is enough.
static std::string* g_capture = nullptr;

static int LibbpfPrint(enum libbpf_print_level level, const char* format, va_list args) {
  int savedErrno = errno;  // libbpf reads errno after printing; do not disturb it
  if (g_capture != nullptr) {
    char line[1024];
    va_list copy;
    va_copy(copy, args);
    int n = vsnprintf(line, sizeof line, format, copy);
    va_end(copy);
    if (n >= static_cast<int>(sizeof line)) {
      std::string big(static_cast<size_t>(n) + 1, '\0');
      vsnprintf(big.data(), big.size(), format, args);
      big.resize(static_cast<size_t>(n));
      g_capture->append(big);
    } else if (n > 0) {
      g_capture->append(line, static_cast<size_t>(n));
    }
  } else if (std::getenv("KMESH_RUNTIME_DEBUG") != nullptr) {
    vfprintf(stderr, format, args);
  }
  errno = savedErrno;
  return 0;
}

void InstallLibbpfPrint() { libbpf_set_print(LibbpfPrint); }

LibbpfLogCapture::LibbpfLogCapture() : previous_(g_capture) { g_capture = &buffer_; }

LibbpfLogCapture::~LibbpfLogCapture() { g_capture = previous_; }

std::string LibbpfLogCapture::Tail(size_t maxBytes) const {
  if (buffer_.size() <= maxBytes) return buffer_;
  size_t start = buffer_.size() - maxBytes;
  size_t newline = buffer_.find('\n', start);
  if (newline != std::string::npos) start = newline + 1;
  return "...\n" + buffer_.substr(start);
}

std::string StringArg(const Napi::CallbackInfo& info, size_t index, const char* what) {
  if (info.Length() <= index || !info[index].IsString()) {
    ThrowType(info.Env(), std::string(what) + " must be a string");
  }
  return info[index].As<Napi::String>().Utf8Value();
}

Napi::Buffer<uint8_t> BufferArg(const Napi::CallbackInfo& info, size_t index, const char* what) {
  if (info.Length() <= index || !info[index].IsBuffer()) {
    ThrowType(info.Env(), std::string(what) + " must be a Buffer");
  }
  return info[index].As<Napi::Buffer<uint8_t>>();
}

std::string BpfFdKind(int fd) {
  char link[64];
  char target[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, target, sizeof target - 1);
  if (n <= 0) return "";
  target[n] = '\0';
  const char* prefix = "anon_inode:";
  if (std::strncmp(target, prefix, std::strlen(prefix)) != 0) return target;
  return target + std::strlen(prefix);
}
