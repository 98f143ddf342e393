// NativeL7Relay: the N-API face of the L7 relay engine (l7_relay.cc). Starting validates the three
// contract maps, hands the engine duplicates of their fds and waits for the anchors to be open;
// stats() reads the engine's counters; stop() joins the relay thread.
#include <bpf/bpf.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "handles.h"
#include "l7_relay.h"

#include <linux/types.h>
#include "kmesh_l7.h"

namespace {

struct MapShape {
  const char* role;  // what the option is called in L7Relay.start()
  uint32_t type;
  uint32_t keySize;
  uint32_t valueSize;
};

// The contract maps of kernel/include/kmesh_l7_maps.h.
const MapShape kDecisionMap = {"decisionMap (km_l7_decision)", BPF_MAP_TYPE_LRU_HASH, sizeof(km_l7_conn_key),
                               sizeof(km_l7_decision)};
const MapShape kAnchorMap = {"anchorMap (km_l7_anchor)", BPF_MAP_TYPE_HASH, 8, 40};
const MapShape kTextMap = {"textMap (km_l7_text)", BPF_MAP_TYPE_ARRAY, 4, 1024};
// The direct path's maps (kernel/include/kmesh_l7_direct.h, bpf/l7_direct.h).
const MapShape kExpectMap = {"direct.expectMap (km_l7_expect)", BPF_MAP_TYPE_LRU_HASH, 24, 40};
const MapShape kUpstreamMap = {"direct.upstreamMap (km_l7_upstream)", BPF_MAP_TYPE_SOCKHASH, 32, 4};
const MapShape kDirectMap = {"direct.directMap (km_l7_direct)", BPF_MAP_TYPE_HASH, 32, 16};
const MapShape kPeerMap = {"direct.peerMap (km_l7_peer)", BPF_MAP_TYPE_SK_STORAGE, 4, 32};

// Checks the map against its contract and returns a duplicate fd the relay will own.
int DupCheckedMap(Napi::Env env, Napi::Value value, const MapShape& shape) {
  if (!value.IsObject()) ThrowType(env, std::string("L7Relay: ") + shape.role + " must be a BpfMap");
  NativeMap* map = NativeMap::Unwrap(value.As<Napi::Object>());
  int fd = map->Fd(env);
  bpf_map_info info{};
  uint32_t len = sizeof info;
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) {
    ThrowBpfError(env, "bpf_obj_get_info_by_fd", errno, "map \"" + map->Name() + "\"");
  }
  if (info.type != shape.type || info.key_size != shape.keySize || info.value_size != shape.valueSize) {
    ThrowType(env, std::string("L7Relay: ") + shape.role + ": map \"" + map->Name() + "\" has type " +
                       std::to_string(info.type) + ", key " + std::to_string(info.key_size) + " B, value " +
                       std::to_string(info.value_size) + " B; expected type " + std::to_string(shape.type) +
                       ", key " + std::to_string(shape.keySize) + " B, value " +
                       std::to_string(shape.valueSize) + " B");
  }
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (copy < 0) ThrowBpfError(env, "dup", errno, "map \"" + map->Name() + "\"");
  return copy;
}

// Opens the pinned connect-outcome program (kmesh_l7_connect_outcome) and checks it is a syscall
// program; returns the fd the relay will own.
int OpenOutcomeProgram(Napi::Env env, const std::string& path) {
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) ThrowBpfError(env, "bpf_obj_get", errno, "connectOutcomeProgram " + path);
  bpf_prog_info info{};
  uint32_t len = sizeof info;
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0 || info.type != BPF_PROG_TYPE_SYSCALL) {
    close(fd);
    ThrowType(env, "L7Relay: connectOutcomeProgram " + path + " is not a syscall program (kmesh_l7_connect_outcome)");
  }
  return fd;
}

uint32_t OptionalUint(Napi::Object options, const char* name, uint32_t fallback, uint32_t max) {
  Napi::Value v = options.Get(name);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber()) ThrowType(options.Env(), std::string("L7Relay: ") + name + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (d < 0 || d > max || d != static_cast<double>(static_cast<uint32_t>(d))) {
    throw Napi::RangeError::New(options.Env(), std::string("L7Relay: ") + name + " must be an integer in 0.." +
                                                   std::to_string(max) + ", got " + std::to_string(d));
  }
  return static_cast<uint32_t>(d);
}

class NativeL7Relay : public Napi::ObjectWrap<NativeL7Relay> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeL7Relay",
                       {
                           InstanceMethod<&NativeL7Relay::StatsMethod>("stats"),
                           InstanceMethod<&NativeL7Relay::AnchorsMethod>("anchors"),
                           InstanceMethod<&NativeL7Relay::StopMethod>("stop"),
                       });
  }

  // new NativeL7Relay({ decisionMap, anchorMap, textMap, netns: string[], anchorPort,
  //                     defaultConnectTimeoutMs?, pipeSize?, closeDrainMs? })
  explicit NativeL7Relay(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeL7Relay>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) ThrowType(env, "L7Relay: options object expected");
    Napi::Object options = info[0].As<Napi::Object>();
    L7RelayConfig config;
    Napi::Value netns = options.Get("netns");
    if (!netns.IsArray()) ThrowType(env, "L7Relay: netns must be an array of paths");
    Napi::Array paths = netns.As<Napi::Array>();
    for (uint32_t i = 0; i < paths.Length(); i++) {
      Napi::Value p = paths.Get(i);
      if (!p.IsString()) ThrowType(env, "L7Relay: netns entries must be strings");
      config.netns.push_back(p.As<Napi::String>().Utf8Value());
    }
    config.anchorPort = static_cast<uint16_t>(OptionalUint(options, "anchorPort", 15001, 65535));
    config.defaultConnectTimeoutMs = OptionalUint(options, "defaultConnectTimeoutMs", 5000, 3600000);
    config.pipeSize = OptionalUint(options, "pipeSize", 256 * 1024, 1 << 26);
    config.closeDrainMs = OptionalUint(options, "closeDrainMs", 1000, 600000);
    config.directWaitMs = OptionalUint(options, "directWaitMs", 2, 1000);
    config.requestHeadTimeoutMs = OptionalUint(options, "requestHeadTimeoutMs", 300000, 86400000);
    Napi::Value direct = options.Get("direct");
    if (!direct.IsUndefined() && !direct.IsObject()) ThrowType(env, "L7Relay: direct must be an object of four maps");
    Napi::Value outcome = options.Get("connectOutcomeProgram");
    if (!outcome.IsUndefined() && !outcome.IsString()) ThrowType(env, "L7Relay: connectOutcomeProgram must be a pin path");

    // Dup last: nothing to undo when an argument is wrong.
    try {
      config.decisionMapFd = DupCheckedMap(env, options.Get("decisionMap"), kDecisionMap);
      config.anchorMapFd = DupCheckedMap(env, options.Get("anchorMap"), kAnchorMap);
      config.textMapFd = DupCheckedMap(env, options.Get("textMap"), kTextMap);
      if (direct.IsObject()) {
        Napi::Object maps = direct.As<Napi::Object>();
        config.expectMapFd = DupCheckedMap(env, maps.Get("expectMap"), kExpectMap);
        config.upstreamMapFd = DupCheckedMap(env, maps.Get("upstreamMap"), kUpstreamMap);
        config.directMapFd = DupCheckedMap(env, maps.Get("directMap"), kDirectMap);
        config.peerMapFd = DupCheckedMap(env, maps.Get("peerMap"), kPeerMap);
      }
      if (outcome.IsString()) config.connectOutcomeProgFd = OpenOutcomeProgram(env, outcome.As<Napi::String>().Utf8Value());
    } catch (...) {
      // A wrong map or program: close the fds taken so far.
      for (int fd : {config.decisionMapFd, config.anchorMapFd, config.textMapFd, config.expectMapFd,
                     config.upstreamMapFd, config.directMapFd, config.peerMapFd, config.connectOutcomeProgFd}) {
        if (fd >= 0) close(fd);
      }
      throw;
    }

    L7RelayStartError error;
    relay_ = L7Relay::Start(config, &error);  // the engine owns (and on failure closed) the map fds
    if (!relay_) {
      Napi::Error e = Napi::Error::New(env, error.message);
      e.Set("op", Napi::String::New(env, error.op));
      e.Set("errno", Napi::Number::New(env, error.err));
      e.Set("netns", Napi::String::New(env, error.netns));
      throw e;
    }
  }

  ~NativeL7Relay() override {
    if (relay_) relay_->Stop();
  }

 private:
  const L7Relay& Checked(Napi::Env env) {
    if (!relay_) ThrowUsage(env, "L7Relay is stopped");
    return *relay_;
  }

  Napi::Value StatsMethod(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object out = Napi::Object::New(env);
    if (!relay_) {
      // After stop(): the last counters are gone with the engine; report an idle relay.
      out.Set("stopped", true);
      return out;
    }
    const L7RelayStats& s = Checked(env).Stats();
    auto num = [&](const char* name, double v) { out.Set(name, Napi::Number::New(env, v)); };
    num("accepted", s.accepted.load());
    num("forwarded", s.forwarded.load());
    Napi::Object verdicts = Napi::Object::New(env);
    const char* names[KMESH_L7_VERDICT_MAX] = {"forward",        "noRoute",  "badRequest", "noEndpoint",
                                               "directResponse", "redirect", "circuitOpen"};
    for (int i = 0; i < KMESH_L7_VERDICT_MAX; i++) verdicts.Set(names[i], Napi::Number::New(env, s.verdicts[i].load()));
    out.Set("verdicts", verdicts);
    num("noDecision", s.noDecision.load());
    num("lateDecisions", s.lateDecisions.load());
    num("unknownVerdict", s.unknownVerdict.load());
    num("connectRefused", s.connectRefused.load());
    num("connectTimeouts", s.connectTimeouts.load());
    num("connectErrors", s.connectErrors.load());
    num("headTimeouts", s.headTimeouts.load());
    num("connectReports", s.connectReports.load());
    num("reportErrors", s.reportErrors.load());
    num("responses", s.responses.load());
    num("resets", s.resets.load());
    num("acceptErrors", s.acceptErrors.load());
    num("spliceFallbacks", s.spliceFallbacks.load());
    num("directConnections", s.directConnections.load());
    num("directMisses", s.directMisses.load());
    num("bytesToUpstream", s.bytesToUpstream.load());
    num("bytesToClient", s.bytesToClient.load());
    num("activeConnections", s.activeConnections.load());
    num("openFds", s.openFds.load());
    return out;
  }

  Napi::Value AnchorsMethod(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const std::vector<L7AnchorInfo>& anchors = Checked(env).Anchors();
    Napi::Array out = Napi::Array::New(env, anchors.size());
    for (size_t i = 0; i < anchors.size(); i++) {
      Napi::Object a = Napi::Object::New(env);
      a.Set("netns", anchors[i].netns);
      a.Set("cookie", Napi::BigInt::New(env, static_cast<uint64_t>(anchors[i].cookie)));
      a.Set("port", anchors[i].port);
      a.Set("ipv6", anchors[i].ipv6);
      out.Set(static_cast<uint32_t>(i), a);
    }
    return out;
  }

  Napi::Value StopMethod(const Napi::CallbackInfo& info) {
    if (relay_) {
      relay_->Stop();
      relay_.reset();
    }
    return info.Env().Undefined();
  }

  std::unique_ptr<L7Relay> relay_;
};

}  // namespace

Napi::Function DefineL7Relay(Napi::Env env) { return NativeL7Relay::Define(env); }
