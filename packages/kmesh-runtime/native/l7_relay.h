// L7 relay: a native thread that owns the anchors of the L7 (HTTP/1.1) path and joins each client
// connection to the endpoint the kernel chose for it.
//
//   client --(connect4 rewrote VIP -> anchor)--> anchor (127.0.0.1:port in the client's netns)
//   relay: accept; first bytes readable -> take km_l7_decision[{netns cookie, client addr}]
//          FORWARD -> non-blocking connect to the endpoint (same netns), then splice both ways
//          otherwise -> a generated HTTP response (404 / 400 / 503 / direct response / redirect)
//
// Nothing here touches Node: the engine is plain C++ with its own thread and epoll loop; the N-API
// wrapper (l7_relay_addon.cc) only starts it, reads its counters and stops it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct L7RelayConfig {
  // BPF map fds, owned by the relay from now on (the wrapper hands it duplicates).
  int decisionMapFd = -1;  // km_l7_decision (LRU_HASH km_l7_conn_key -> km_l7_decision)
  int anchorMapFd = -1;    // km_l7_anchor (HASH netns cookie -> km_l7_anchor)
  int textMapFd = -1;      // km_l7_text (ARRAY u32 -> km_l7_text)
  // Same-node direct path (kernel/include/kmesh_l7_direct.h); all four or none (-1: off).
  int expectMapFd = -1;    // km_l7_expect (LRU_HASH km_l7_expect_key -> km_l7_expect)
  int upstreamMapFd = -1;  // km_l7_upstream (SOCKHASH km_l7_conn_key -> U)
  int directMapFd = -1;    // km_l7_direct (HASH km_l7_conn_key -> km_l7_direct)
  int peerMapFd = -1;      // km_l7_peer (SK_STORAGE -> km_l7_conn_key)
  // kmesh_l7_connect_outcome (BPF_PROG_TYPE_SYSCALL, owned like the map fds): the relay runs it after
  // each upstream connect of a counted decision, so L7 connects feed outlier detection. -1: off.
  int connectOutcomeProgFd = -1;
  uint32_t directWaitMs = 2;  // how long after connect the endpoint socket may take to show up
  std::vector<std::string> netns;  // network namespaces to serve, by path; "" = the caller's own
  uint16_t anchorPort = 15001;     // 0: any free port (per netns; see L7AnchorInfo)
  uint32_t defaultConnectTimeoutMs = 5000;  // when a decision carries 0 (Envoy's default)
  uint32_t pipeSize = 256 * 1024;           // splice pipe capacity in bytes; 0 = kernel default (64 KiB)
  uint32_t closeDrainMs = 1000;             // after a generated response: how long unread request
                                            // bytes are drained before the socket is closed
  uint32_t requestHeadTimeoutMs = 300000;   // a client that has not completed its first request head
                                            // by then is answered 408 and closed; 0: never
};

// Why the relay could not start: which call failed, with which errno, in which namespace.
struct L7RelayStartError {
  std::string op;     // e.g. "setns", "bind 127.0.0.1:15001"
  int err = 0;        // positive errno
  std::string netns;  // the netns path as given ("" = the caller's own)
  std::string message;
};

struct L7AnchorInfo {
  std::string netns;  // path as given
  uint64_t cookie = 0;  // SO_NETNS_COOKIE of the namespace (the km_l7_anchor key)
  uint16_t port = 0;    // host byte order
  bool ipv6 = false;    // a ::1 anchor is open too
};

// Counters, written by the relay thread, read by anyone (relaxed atomics).
struct L7RelayStats {
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> forwarded{0};        // upstream connected and relaying started
  std::atomic<uint64_t> verdicts[7] = {};    // by enum kmesh_l7_verdict (KMESH_L7_VERDICT_MAX)
  std::atomic<uint64_t> noDecision{0};       // bytes arrived without a decision -> 503
  std::atomic<uint64_t> lateDecisions{0};    // ... whose decision a later look found (no 503)
  std::atomic<uint64_t> unknownVerdict{0};
  std::atomic<uint64_t> connectRefused{0};
  std::atomic<uint64_t> connectTimeouts{0};
  std::atomic<uint64_t> connectErrors{0};    // other connect failures (unreachable, ...)
  std::atomic<uint64_t> headTimeouts{0};     // clients answered 408: no complete request head in time
  std::atomic<uint64_t> connectReports{0};   // upstream outcomes (failed connect, first response) reported
                                             // to the kernel's outlier detection
  std::atomic<uint64_t> reportErrors{0};     // ... and reports the kernel refused
  std::atomic<uint64_t> responses{0};        // generated HTTP responses
  std::atomic<uint64_t> resets{0};           // connections ended by a reset (either side)
  std::atomic<uint64_t> acceptErrors{0};
  std::atomic<uint64_t> spliceFallbacks{0};  // directions that fell back to read/write
  std::atomic<uint64_t> directConnections{0};  // connections switched to the direct path
  std::atomic<uint64_t> directMisses{0};       // endpoint socket not seen in time: stayed relayed
  std::atomic<uint64_t> bytesToUpstream{0};
  std::atomic<uint64_t> bytesToClient{0};
  std::atomic<int64_t> activeConnections{0};
  std::atomic<int64_t> openFds{0};           // every fd the relay owns (anchors, sockets, pipes, maps)
};

class L7RelayEngine;

class L7Relay {
 public:
  // Opens the anchors (on the relay thread, after setns into each namespace), registers them in
  // km_l7_anchor and starts serving. Returns nullptr and fills `error` when an anchor cannot be opened;
  // then nothing stays open or registered.
  static std::unique_ptr<L7Relay> Start(const L7RelayConfig& config, L7RelayStartError* error);
  ~L7Relay();

  // Closes every connection and anchor, deletes the km_l7_anchor entries, joins the thread. Idempotent.
  void Stop();
  const L7RelayStats& Stats() const;
  const std::vector<L7AnchorInfo>& Anchors() const;

 private:
  explicit L7Relay(std::unique_ptr<L7RelayEngine> engine);
  std::unique_ptr<L7RelayEngine> engine_;
};
