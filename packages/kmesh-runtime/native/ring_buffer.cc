// NativeRingBuffer: a BPF_MAP_TYPE_RINGBUF consumer driven by the Node event loop.
//
// libbpf's ring_buffer exposes one epoll fd that becomes readable when the kernel submits records. A
// libuv poll handle watches that fd on the loop thread; on readiness we drain the ring with
// ring_buffer__consume (never blocks) and hand the records to JS as one array of Buffers. Nothing here
// runs on another thread, so no locking and no thread-safe functions are needed.
#include <bpf/libbpf.h>
#include <uv.h>

#include <cerrno>
#include <string>
#include <vector>

#include "handles.h"

// Records collected by one consume() pass, before they become JS Buffers.
struct RingBufferBatch {
  std::vector<std::string> records;
};

namespace {

int CollectSample(void* ctx, void* data, size_t size) {
  static_cast<RingBufferBatch*>(ctx)->records.emplace_back(static_cast<const char*>(data), size);
  return 0;  // keep going: a non-zero value would stop consume() early
}

}  // namespace

Napi::Function NativeRingBuffer::Define(Napi::Env env) {
  return DefineClass(env, "NativeRingBuffer",
                     {
                         InstanceMethod<&NativeRingBuffer::Consume>("consume"),
                         InstanceMethod<&NativeRingBuffer::Ref>("ref"),
                         InstanceMethod<&NativeRingBuffer::Unref>("unref"),
                         InstanceMethod<&NativeRingBuffer::Close>("close"),
                     });
}

// new NativeRingBuffer(map: NativeMap, onRecords: (records: Buffer[]) => void)
NativeRingBuffer::NativeRingBuffer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeRingBuffer>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction()) {
    ThrowType(env, "RingBuffer needs a BpfMap of type RINGBUF and a callback");
  }
  Napi::Object mapObject = info[0].As<Napi::Object>();
  NativeMap* map = NativeMap::Unwrap(mapObject);
  name_ = map->Name();
  int fd = map->Fd(env);
  if (map->Type() != BPF_MAP_TYPE_RINGBUF) {
    ThrowUsage(env, "RingBuffer: map \"" + name_ + "\" is not a RINGBUF (type " + std::to_string(map->Type()) + ")");
  }
  RingBufferBatch* batch = new RingBufferBatch();
  LibbpfLogCapture capture;
  ring_buffer* rb = ring_buffer__new(fd, CollectSample, batch, nullptr);
  if (rb == nullptr) {
    int err = errno;
    delete batch;
    ThrowBpfError(env, "ring_buffer__new", err, "map \"" + name_ + "\"", capture.Tail());
  }

  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    ring_buffer__free(rb);
    delete batch;
    ThrowUsage(env, "RingBuffer: cannot get the Node event loop");
  }
  auto* poll = new uv_poll_t();
  int rc = uv_poll_init(loop, poll, ring_buffer__epoll_fd(rb));
  if (rc == 0) {
    poll->data = this;
    rc = uv_poll_start(poll, UV_READABLE, &NativeRingBuffer::OnReadable);
  }
  if (rc != 0) {
    // uv_poll_init may have registered the handle: it must be closed through uv_close, freed in its callback.
    uv_close(reinterpret_cast<uv_handle_t*>(poll), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    ring_buffer__free(rb);
    delete batch;
    ThrowUsage(env, std::string("RingBuffer: cannot watch the ring buffer fd: ") + uv_strerror(rc));
  }

  rb_ = rb;
  batch_ = batch;
  poll_ = poll;
  map_ = Napi::Persistent(mapObject);  // the map fd must outlive the mmap'ed ring
  callback_ = Napi::Persistent(info[1].As<Napi::Function>());
  context_ = std::make_unique<Napi::AsyncContext>(env, "kmesh:RingBuffer");
}

NativeRingBuffer::~NativeRingBuffer() { Release(); }

void NativeRingBuffer::Release() {
  if (poll_ != nullptr) {
    // uv_close removes the fd from the loop's epoll set now; the handle memory is freed in the callback.
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    poll_ = nullptr;
  }
  if (rb_ != nullptr) {
    ring_buffer__free(rb_);
    rb_ = nullptr;
  }
  delete batch_;
  batch_ = nullptr;
}

void NativeRingBuffer::OnReadable(uv_poll_t* handle, int status, int events) {
  auto* self = static_cast<NativeRingBuffer*>(handle->data);
  if (self == nullptr || self->rb_ == nullptr) return;
  Napi::Env env = self->Env();
  Napi::HandleScope scope(env);
  try {
    self->Drain(env);
  } catch (const Napi::Error& error) {
    // An exception from the JS callback has no JS caller here: report it as uncaught, like an
    // exception thrown from an event-emitter listener.
    napi_fatal_exception(env, error.Value());
  }
}

// Consumes everything available and delivers it in one callback call. Returns the number of records.
size_t NativeRingBuffer::Drain(Napi::Env env) {
  batch_->records.clear();
  int n = ring_buffer__consume(rb_);
  if (n < 0) ThrowBpfError(env, "ring_buffer__consume", -n, "map \"" + name_ + "\"");
  size_t count = batch_->records.size();
  if (count == 0) return 0;
  Napi::Array records = Napi::Array::New(env, count);
  for (size_t i = 0; i < count; i++) {
    const std::string& r = batch_->records[i];
    records.Set(static_cast<uint32_t>(i), Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<const uint8_t*>(r.data()), r.size()));
  }
  batch_->records.clear();
  // MakeCallback runs queued microtasks afterwards, as for any libuv-driven callback in Node.
  callback_.MakeCallback(Value(), {records}, *context_);
  return count;
}

Napi::Value NativeRingBuffer::Consume(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (rb_ == nullptr) ThrowUsage(env, "RingBuffer on map \"" + name_ + "\" is closed");
  return Napi::Number::New(env, static_cast<double>(Drain(env)));
}

Napi::Value NativeRingBuffer::Ref(const Napi::CallbackInfo& info) {
  if (poll_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
  return info.Env().Undefined();
}

Napi::Value NativeRingBuffer::Unref(const Napi::CallbackInfo& info) {
  if (poll_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
  return info.Env().Undefined();
}

Napi::Value NativeRingBuffer::Close(const Napi::CallbackInfo& info) {
  Release();
  if (!map_.IsEmpty()) map_.Reset();
  if (!callback_.IsEmpty()) callback_.Reset();
  return info.Env().Undefined();
}
