// The L7 relay engine: one thread, one edge-triggered epoll set, non-blocking sockets.
//
// Connection life (one Conn per accepted client):
//   AwaitRequest --first byte readable--> take the decision
//       FORWARD  -> Connecting --connected--> Relaying --both directions done--> closed
//                              --refused/timeout--> Responding (503)
//                   (direct path: Connecting --connected--> AwaitServer, at most directWaitMs for the
//                    endpoint's socket to show up in km_l7_server --> Relaying, switched or not)
//       other    -> Responding --response sent--> Draining (unread request bytes) --> closed
// Relaying moves bytes with splice(2) through one pipe per direction (read/write when splice is
// refused), propagates a half-close as shutdown(SHUT_WR) and a reset as an abortive close (SO_LINGER 0).
//
// Sockets keep the network namespace they were created in: the thread setns(2)s into a namespace
// only to create its anchor and its upstream sockets, and remembers where it is to avoid repeats.
#include "l7_relay.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <future>
#include <map>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "l7_response.h"

#define __KMESH_TYPES_DEFINED
#include <linux/types.h>
#include "kmesh_l7.h"
#include "kmesh_l7_direct.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

static_assert(sizeof(km_l7_conn_key) == 32, "km_l7_conn_key layout");
static_assert(sizeof(km_l7_decision) == 128, "km_l7_decision layout");
static_assert(sizeof(km_l7_connect_report) == 72, "km_l7_connect_report layout");
static_assert(sizeof(km_l7_anchor) == 40, "km_l7_anchor layout");
static_assert(sizeof(km_l7_text) == 1024, "km_l7_text layout");
static_assert(sizeof(km_l7_expect_key) == 24, "km_l7_expect_key layout");
static_assert(sizeof(km_l7_expect) == 40, "km_l7_expect layout");
static_assert(sizeof(km_l7_direct) == 16, "km_l7_direct layout");

namespace {

constexpr int kListenBacklog = 4096;
constexpr size_t kCopyBufferSize = 64 * 1024;   // read/write fallback buffer (per direction, on demand)
// Copy buffers of closed connections kept for the next ones: a direct-path connection reads its first
// bytes through one, and a fresh 64 KiB allocation per connection (grown and trimmed heap, page faults)
// cost more than the bytes it carries.
constexpr size_t kSpareBuffersMax = 64;
constexpr size_t kSpliceChunk = 1 << 20;        // ask for a lot; the pipe capacity bounds it
constexpr int kMaxEvents = 256;
constexpr int kAcceptRetryMs = 100;             // after EMFILE/ENFILE
// Direct path: an endpoint whose accepted socket did not show up this many times in a row (not in the
// mesh cgroup, or not on this node) is not announced again for a while, so its connections do not
// each wait directWaitMs for nothing.
constexpr uint32_t kDirectMissesBeforeBackoff = 3;
constexpr uint64_t kDirectBackoffMs = 10000;
constexpr size_t kDirectEndpointsMax = 4096;

uint64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

void SetNoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

std::string Lower(const char* s) {
  std::string out = s;
  for (char& c : out) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return out;
}

enum class ConnState { AwaitRequest, Connecting, AwaitServer, Relaying, Responding, Draining };

// One direction of a relayed connection: bytes read from src are written to dst.
struct Direction {
  int src = -1;
  int dst = -1;
  int pipeRead = -1;
  int pipeWrite = -1;
  size_t pending = 0;    // bytes read from src not yet written to dst (in the pipe or the buffer)
  bool eof = false;      // src reached EOF and dst was shut down for writing
  bool copyMode = false; // splice refused: read/write through `buffer`
  std::unique_ptr<char[]> buffer;
  size_t bufferOffset = 0;
  std::atomic<uint64_t>* bytes = nullptr;  // stats counter for this direction
  const Direction* other = nullptr;        // the opposite direction of the same connection
  bool countForwarded = false;  // direct path: publish the bytes written in km_l7_direct
  uint64_t forwarded = 0;
  uint64_t published = 0;
};

struct Conn;

// What an epoll event points to.
struct Handle {
  enum Kind { Anchor, Wake, Client, Upstream } kind;
  Conn* conn = nullptr;
  size_t anchor = 0;
};

struct Conn {
  Handle clientHandle{Handle::Client};
  Handle upstreamHandle{Handle::Upstream};
  int client = -1;
  int upstream = -1;
  size_t anchor = 0;  // index into the engine's anchors
  sockaddr_storage peer{};
  ConnState state = ConnState::AwaitRequest;
  bool closed = false;
  Direction toUpstream;
  Direction toClient;
  std::string response;
  size_t responseSent = 0;
  km_l7_conn_key key{};          // the client as the kernel keys it (decision, direct path)
  km_l7_expect_key expectKey{};  // direct path: announced upstream connect
  bool expecting = false;        // expectKey is in km_l7_expect
  km_addr endpoint{};            // where the upstream connects
  km_conn account{};             // the decision's accounting record (account.counted: report the outcome)
  bool watchResponse = false;    // the relay sees the first response (no endpoint socket hooked): report it
  uint32_t decisionLooks = 0;    // bytes arrived without a decision: lookups made since (see AwaitRequest)
  bool direct = false;           // km_l7_direct[key] is active
  bool publishLater = false;     // direct path: the first bytes are being forwarded (not published)
  bool published = false;        // km_l7_direct[key] exists (deleted at close)
  std::multimap<uint64_t, Conn*>::iterator timer;
  bool hasTimer = false;
};

struct Anchor {
  L7AnchorInfo info;
  size_t netnsIndex = 0;
  int fd4 = -1;
  int fd6 = -1;
  Handle handle4{Handle::Anchor};
  Handle handle6{Handle::Anchor};
  bool registered = false;
  bool acceptPaused = false;
};

enum class PumpResult { Waiting, Finished, SrcReset, DstReset, Failed };

}  // namespace

class L7RelayEngine {
 public:
  explicit L7RelayEngine(const L7RelayConfig& config) : config_(config) {
    for (int fd : {config.decisionMapFd, config.anchorMapFd, config.textMapFd, config.expectMapFd,
                   config.upstreamMapFd, config.directMapFd, config.peerMapFd, config.connectOutcomeProgFd}) {
      TrackFd(fd);
    }
    directEnabled_ = config.expectMapFd >= 0 && config.upstreamMapFd >= 0 && config.directMapFd >= 0 &&
                     config.peerMapFd >= 0;
  }

  ~L7RelayEngine() {
    Stop();
    for (int* fd : {&config_.decisionMapFd, &config_.anchorMapFd, &config_.textMapFd, &config_.expectMapFd,
                    &config_.upstreamMapFd, &config_.directMapFd, &config_.peerMapFd,
                    &config_.connectOutcomeProgFd}) {
      CloseFd(*fd);
    }
  }

  bool Start(L7RelayStartError* error) {
    wakeFd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wakeFd_ < 0) return Fail(error, "eventfd", errno, "");
    stats_.openFds++;
    std::promise<bool> started;
    std::future<bool> ready = started.get_future();
    thread_ = std::thread([this, &started, error]() {
      // Signals are Node's business (its handlers run on the main thread); never interrupt the relay.
      sigset_t all;
      sigfillset(&all);
      pthread_sigmask(SIG_BLOCK, &all, nullptr);
      pthread_setname_np(pthread_self(), "kmesh-l7-relay");  // visible in top -H, /proc/PID/task
      bool ok = Setup(error);
      started.set_value(ok);
      if (!ok) {
        Teardown();
        return;
      }
      Run();
      Teardown();
    });
    bool ok = ready.get();
    if (!ok) {
      thread_.join();
      CloseFd(wakeFd_);
    }
    return ok;
  }

  void Stop() {
    if (thread_.joinable()) {
      uint64_t one = 1;
      ssize_t ignored = write(wakeFd_, &one, sizeof one);
      (void)ignored;
      thread_.join();
    }
    CloseFd(wakeFd_);
  }

  const L7RelayStats& Stats() const { return stats_; }
  const std::vector<L7AnchorInfo>& Anchors() const { return anchorInfos_; }

 private:
  // ---- fds -------------------------------------------------------------------------------------
  void TrackFd(int fd) {
    if (fd >= 0) stats_.openFds++;
  }
  void CloseFd(int& fd) {
    if (fd >= 0) {
      close(fd);
      stats_.openFds--;
      fd = -1;
    }
  }
  // Abortive close: the peer sees a reset, as the other side of the relay did.
  void ResetFd(int& fd) {
    if (fd < 0) return;
    linger abort{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
    CloseFd(fd);
  }

  static bool Fail(L7RelayStartError* error, const std::string& op, int err, const std::string& netns) {
    error->op = op;
    error->err = err;
    error->netns = netns;
    std::string where = netns.empty() ? "the daemon's own network namespace" : "network namespace " + netns;
    error->message = "L7 relay: cannot open the anchor in " + where + ": " + op + ": " + strerror(err);
    return false;
  }

  // ---- namespaces ------------------------------------------------------------------------------
  bool EnterNetns(size_t index) {
    if (currentNetns_ == index) return true;
    if (setns(netnsFds_[index], CLONE_NEWNET) != 0) return false;
    currentNetns_ = index;
    return true;
  }

  // ---- setup / teardown (relay thread) ---------------------------------------------------------
  bool Setup(L7RelayStartError* error) {
    epollFd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epollFd_ < 0) return Fail(error, "epoll_create1", errno, "");
    TrackFd(epollFd_);
    epoll_event wake{};
    wake.events = EPOLLIN;
    wake.data.ptr = &wakeHandle_;
    epoll_ctl(epollFd_, EPOLL_CTL_ADD, wakeFd_, &wake);

    // The thread starts in the namespace of the thread that created it: that is "".
    homeNetns_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (homeNetns_ < 0) return Fail(error, "open /proc/thread-self/ns/net", errno, "");
    TrackFd(homeNetns_);

    std::vector<std::string> paths = config_.netns;
    if (paths.empty()) paths.push_back("");
    anchors_.reserve(paths.size());
    for (size_t i = 0; i < paths.size(); i++) {
      const std::string& path = paths[i];
      int fd = -1;
      if (path.empty()) {
        fd = dup(homeNetns_);
        if (fd < 0) return Fail(error, "dup", errno, path);
        // dup keeps O_CLOEXEC off; set it so a fork/exec in Node does not inherit it.
        fcntl(fd, F_SETFD, FD_CLOEXEC);
      } else {
        fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return Fail(error, "open " + path, errno, path);
      }
      TrackFd(fd);
      netnsFds_.push_back(fd);
      if (!EnterNetns(i)) return Fail(error, "setns " + path, errno, path);
      anchors_.emplace_back();
      Anchor& anchor = anchors_.back();
      anchor.info.netns = path;
      anchor.netnsIndex = i;
      if (!OpenAnchor(anchor, error)) return false;
    }
    // Register the anchors only once all are open: connect4 starts sending clients to them.
    for (Anchor& anchor : anchors_) {
      if (!RegisterAnchor(anchor, error)) return false;
      anchorInfos_.push_back(anchor.info);
    }
    for (size_t i = 0; i < anchors_.size(); i++) {
      Anchor& anchor = anchors_[i];
      anchor.handle4.anchor = anchor.handle6.anchor = i;
      WatchListener(anchor.fd4, &anchor.handle4);
      if (anchor.fd6 >= 0) WatchListener(anchor.fd6, &anchor.handle6);
    }
    return true;
  }

  void WatchListener(int fd, Handle* handle) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    ev.data.ptr = handle;
    epoll_ctl(epollFd_, EPOLL_CTL_ADD, fd, &ev);
  }

  int Listen(int family, uint16_t port, int* err) {
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      *err = errno;
      return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    // Accepted sockets inherit TCP_NODELAY from the listener: one setsockopt per anchor instead of
    // one per connection.
    SetNoDelay(fd);
    int rc;
    if (family == AF_INET) {
      sockaddr_in sa{};
      sa.sin_family = AF_INET;
      sa.sin_port = htons(port);
      sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      rc = bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    } else {
      setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
      sockaddr_in6 sa{};
      sa.sin6_family = AF_INET6;
      sa.sin6_port = htons(port);
      sa.sin6_addr = in6addr_loopback;
      rc = bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    }
    if (rc != 0 || listen(fd, kListenBacklog) != 0) {
      *err = errno;
      close(fd);
      return -1;
    }
    TrackFd(fd);
    return fd;
  }

  bool OpenAnchor(Anchor& anchor, L7RelayStartError* error) {
    const std::string& path = anchor.info.netns;
    int err = 0;
    anchor.fd4 = Listen(AF_INET, config_.anchorPort, &err);
    if (anchor.fd4 < 0) {
      std::string op = "bind 127.0.0.1:" + std::to_string(config_.anchorPort);
      if (err == EADDRNOTAVAIL) op += " (is the loopback interface up in that namespace?)";
      return Fail(error, op, err, path);
    }
    sockaddr_in bound{};
    socklen_t len = sizeof bound;
    getsockname(anchor.fd4, reinterpret_cast<sockaddr*>(&bound), &len);
    anchor.info.port = ntohs(bound.sin_port);
    // The IPv6 anchor is optional (IPv6 may be disabled in the namespace): IPv6 clients then use the
    // v4-mapped IPv4 anchor.
    anchor.fd6 = Listen(AF_INET6, anchor.info.port, &err);
    anchor.info.ipv6 = anchor.fd6 >= 0;
    uint64_t cookie = 0;
    socklen_t cookieLen = sizeof cookie;
    if (getsockopt(anchor.fd4, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &cookieLen) != 0) {
      return Fail(error, "getsockopt SO_NETNS_COOKIE", errno, path);
    }
    for (const Anchor& other : anchors_) {
      if (&other != &anchor && other.info.cookie == cookie) {
        return Fail(error, "the same namespace as " + (other.info.netns.empty() ? "\"\"" : other.info.netns), EEXIST, path);
      }
    }
    anchor.info.cookie = cookie;
    return true;
  }

  bool RegisterAnchor(Anchor& anchor, L7RelayStartError* error) {
    km_l7_anchor value{};
    value.addr.ip[0] = htonl(INADDR_LOOPBACK);
    value.addr.port = htons(anchor.info.port);
    value.addr.family = KMESH_AF_INET;
    if (anchor.info.ipv6) {
      memcpy(value.addr6.ip, &in6addr_loopback, 16);
      value.addr6.port = htons(anchor.info.port);
      value.addr6.family = KMESH_AF_INET6;
    }
    uint64_t key = anchor.info.cookie;
    if (bpf_map_update_elem(config_.anchorMapFd, &key, &value, BPF_ANY) != 0) {
      return Fail(error, "bpf_map_update_elem km_l7_anchor", errno, anchor.info.netns);
    }
    anchor.registered = true;
    return true;
  }

  void Teardown() {
    std::vector<Conn*> all(conns_.begin(), conns_.end());
    for (Conn* conn : all) CloseConn(conn, false, false);
    graveyard_.clear();
    for (Anchor& anchor : anchors_) {
      if (anchor.registered) {
        uint64_t key = anchor.info.cookie;
        bpf_map_delete_elem(config_.anchorMapFd, &key);
        anchor.registered = false;
      }
      CloseFd(anchor.fd4);
      CloseFd(anchor.fd6);
    }
    if (currentNetns_ != kHome && homeNetns_ >= 0) setns(homeNetns_, CLONE_NEWNET);
    for (int& fd : netnsFds_) CloseFd(fd);
    CloseFd(homeNetns_);
    CloseFd(epollFd_);
  }

  // ---- main loop -------------------------------------------------------------------------------
  void Run() {
    epoll_event events[kMaxEvents];
    for (;;) {
      int n = epoll_wait(epollFd_, events, kMaxEvents, NextTimeoutMs());
      if (n < 0 && errno != EINTR) break;
      for (int i = 0; i < n; i++) {
        Handle* handle = static_cast<Handle*>(events[i].data.ptr);
        uint32_t ev = events[i].events;
        switch (handle->kind) {
          case Handle::Wake:
            return;
          case Handle::Anchor:
            AcceptAll(handle->anchor, handle == &anchors_[handle->anchor].handle4
                                          ? anchors_[handle->anchor].fd4
                                          : anchors_[handle->anchor].fd6);
            break;
          case Handle::Client:
            if (!handle->conn->closed) OnClient(handle->conn, ev);
            break;
          case Handle::Upstream:
            if (!handle->conn->closed) OnUpstream(handle->conn, ev);
            break;
        }
      }
      RunTimers();
      RetryPausedAccepts();
      graveyard_.clear();
    }
  }

  int NextTimeoutMs() {
    int timeout = -1;
    if (acceptsPaused_) timeout = kAcceptRetryMs;
    if (!timers_.empty()) {
      uint64_t now = NowMs();
      uint64_t due = timers_.begin()->first;
      int wait = due <= now ? 0 : static_cast<int>(std::min<uint64_t>(due - now, 60000));
      if (timeout < 0 || wait < timeout) timeout = wait;
    }
    return timeout;
  }

  void SetTimer(Conn* conn, uint64_t delayMs) {
    ClearTimer(conn);
    conn->timer = timers_.emplace(NowMs() + delayMs, conn);
    conn->hasTimer = true;
  }

  void ClearTimer(Conn* conn) {
    if (conn->hasTimer) {
      timers_.erase(conn->timer);
      conn->hasTimer = false;
    }
  }

  void RunTimers() {
    uint64_t now = NowMs();
    while (!timers_.empty() && timers_.begin()->first <= now) {
      Conn* conn = timers_.begin()->second;
      timers_.erase(timers_.begin());
      conn->hasTimer = false;
      if (conn->closed) continue;
      if (conn->state == ConnState::Connecting) {
        stats_.connectTimeouts++;
        ReportOutcome(conn, KMESH_L7_OUTCOME_FAILED);
        ForgetExpect(conn);
        CloseFd(conn->upstream);
        Reply(conn, L7Reply::ConnectTimeout, 0, "", "");
      } else if (conn->state == ConnState::AwaitServer) {
        Connected(conn, true);
      } else if (conn->state == ConnState::AwaitRequest && conn->decisionLooks > 0) {
        LookForDecision(conn);
      } else if (conn->state == ConnState::AwaitRequest) {
        stats_.headTimeouts++;
        Reply(conn, L7Reply::HeadTimeout, 0, "", "");
      } else {
        CloseConn(conn, false, false);  // draining took too long
      }
    }
  }

  // ---- accept ----------------------------------------------------------------------------------
  void AcceptAll(size_t anchorIndex, int listenFd) {
    for (;;) {
      sockaddr_storage peer{};
      socklen_t len = sizeof peer;
      int fd = accept4(listenFd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EAGAIN) return;
        stats_.acceptErrors++;
        // Out of fds: the pending connections stay queued; retry shortly (edge-triggered epoll
        // would not report them again until a new one arrives).
        anchors_[anchorIndex].acceptPaused = true;
        acceptsPaused_ = true;
        return;
      }
      TrackFd(fd);
      stats_.accepted++;
      stats_.activeConnections++;
      Conn* conn = new Conn();
      conn->clientHandle.conn = conn->upstreamHandle.conn = conn;
      conn->client = fd;
      conn->anchor = anchorIndex;
      conn->peer = peer;
      conns_.insert(conn);
      // Registered once for the connection's whole life: in/out/hang-up, edge-triggered.
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
      ev.data.ptr = &conn->clientHandle;
      epoll_ctl(epollFd_, EPOLL_CTL_ADD, fd, &ev);
      // Bytes may already be queued (epoll reports them as the first edge anyway).
      // A client that never completes its head (the kernel holds an incomplete one) must not hold
      // the connection forever.
      if (config_.requestHeadTimeoutMs > 0) SetTimer(conn, config_.requestHeadTimeoutMs);
    }
  }

  void RetryPausedAccepts() {
    if (!acceptsPaused_) return;
    acceptsPaused_ = false;
    for (size_t i = 0; i < anchors_.size(); i++) {
      if (!anchors_[i].acceptPaused) continue;
      anchors_[i].acceptPaused = false;
      AcceptAll(i, anchors_[i].fd4);
      if (anchors_[i].fd6 >= 0) AcceptAll(i, anchors_[i].fd6);
    }
  }

  // ---- client events ---------------------------------------------------------------------------
  void OnClient(Conn* conn, uint32_t ev) {
    switch (conn->state) {
      case ConnState::AwaitRequest:
        AwaitRequest(conn, ev);
        break;
      case ConnState::Connecting:
      case ConnState::AwaitServer:
        // Bytes wait in the socket until the upstream is connected; a reset ends it all.
        if (ev & EPOLLERR) CloseConn(conn, false, false);
        break;
      case ConnState::Relaying:
        OnRelayEvent(conn, ev, true);
        break;
      case ConnState::Responding:
        if (ev & EPOLLERR) {
          CloseConn(conn, false, false);
        } else {
          SendReply(conn);
        }
        break;
      case ConnState::Draining:
        Drain(conn);
        break;
    }
  }

  void AwaitRequest(Conn* conn, uint32_t ev) {
    if (ev & EPOLLERR) {
      CloseConn(conn, false, false);
      return;
    }
    if (!(ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))) return;  // the first "writable" edge
    // The kernel stores the decision before the bytes reach the anchor: readable with a decision
    // means a request to act on, no peek needed. Not so when the client hung up: readable may then be
    // the EOF alone, and the decision under this client's address and port may already be a NEW
    // connection's (a port in TIME_WAIT is reused at once on loopback). Taking it here would leave
    // that connection without one, so a hung-up client must show a byte first.
    km_l7_decision decision{};
    if ((ev & EPOLLIN) && !(ev & (EPOLLRDHUP | EPOLLHUP)) && TakeClientDecision(conn, &decision)) {
      Act(conn, decision);
      return;
    }
    char byte;
    ssize_t n = recv(conn->client, &byte, 1, MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
      CloseConn(conn, false, false);  // left before sending a request
      return;
    }
    // Bytes without a decision (the lookup above may have raced the first edge: look once more).
    LookForDecision(conn);
  }

  // The kernel stores the decision before it passes the bytes on, so bytes without one are not
  // expected (one seen in CI was a hung-up client taking a new connection's decision, see
  // AwaitRequest). Defensively, look again a few times, kDecisionLookIntervalMs apart, before the 503
  // "no routing decision".
  static constexpr uint32_t kDecisionLooks = 5;
  static constexpr uint32_t kDecisionLookIntervalMs = 2;
  void LookForDecision(Conn* conn) {
    km_l7_decision decision{};
    if (TakeClientDecision(conn, &decision)) {
      if (conn->decisionLooks > 0) stats_.lateDecisions++;
      Act(conn, decision);
      return;
    }
    if (++conn->decisionLooks <= kDecisionLooks) {
      SetTimer(conn, kDecisionLookIntervalMs);  // replaces the request-head timer
      return;
    }
    stats_.noDecision++;
    Reply(conn, L7Reply::NoDecision, 0, "", "");
  }

  // Fills `key` with the client as this anchor saw it; false for an unexpected address family.
  bool ClientKey(const Conn* conn, km_l7_conn_key* key) {
    memset(key, 0, sizeof *key);
    key->netns = anchors_[conn->anchor].info.cookie;
    if (conn->peer.ss_family == AF_INET) {
      const auto* sa = reinterpret_cast<const sockaddr_in*>(&conn->peer);
      key->client_ip[0] = sa->sin_addr.s_addr;
      key->client_port = sa->sin_port;
      key->family = KMESH_AF_INET;
      return true;
    }
    if (conn->peer.ss_family == AF_INET6) {
      const auto* sa = reinterpret_cast<const sockaddr_in6*>(&conn->peer);
      memcpy(key->client_ip, &sa->sin6_addr, 16);
      key->client_port = sa->sin6_port;
      key->family = KMESH_AF_INET6;
      return true;
    }
    return false;
  }

  bool TakeDecision(const km_l7_conn_key& key, km_l7_decision* decision) {
    if (bpf_map_lookup_and_delete_elem(config_.decisionMapFd, &key, decision) == 0) return true;
    if (errno == ENOENT) return false;
    // Older kernels: no lookup-and-delete for this map type.
    if (bpf_map_lookup_elem(config_.decisionMapFd, &key, decision) != 0) return false;
    bpf_map_delete_elem(config_.decisionMapFd, &key);
    return true;
  }

  // Takes (looks up and deletes) the decision for this client; false when there is none.
  bool TakeClientDecision(Conn* conn, km_l7_decision* out) {
    km_l7_conn_key key;
    km_l7_decision& decision = *out;
    bool found = false;
    if (ClientKey(conn, &key)) {
      conn->key = key;
      found = TakeDecision(key, &decision);
      if (!found && key.family == KMESH_AF_INET) {
        // A dual-stack client socket that dialled v4-mapped: the kernel saw ::ffff:a.b.c.d.
        km_l7_conn_key mapped = key;
        mapped.family = KMESH_AF_INET6;
        mapped.client_ip[0] = 0;
        mapped.client_ip[1] = 0;
        mapped.client_ip[2] = htonl(0xffff);
        mapped.client_ip[3] = key.client_ip[0];
        found = TakeDecision(mapped, &decision);
        if (found) conn->key = mapped;
      }
    }
    return found;
  }

  void Act(Conn* conn, const km_l7_decision& decision) {
    ClearTimer(conn);  // the request-head timeout
    if (decision.verdict < KMESH_L7_VERDICT_MAX) stats_.verdicts[decision.verdict]++;
    switch (decision.verdict) {
      case KMESH_L7_FORWARD:
        Connect(conn, decision);
        return;
      case KMESH_L7_NO_ROUTE:
        Reply(conn, L7Reply::NoRoute, 0, "", "");
        return;
      case KMESH_L7_BAD_REQUEST:
        Reply(conn, L7Reply::BadRequest, 0, "", "");
        return;
      case KMESH_L7_NO_ENDPOINT:
        Reply(conn, L7Reply::NoEndpoint, 0, "", "");
        return;
      case KMESH_L7_CIRCUIT_OPEN:
        Reply(conn, L7Reply::CircuitOpen, 0, "", "");
        return;
      case KMESH_L7_DIRECT_RESPONSE:
        Reply(conn, L7Reply::DirectResponse, decision.status, Text(decision.body_id), "");
        return;
      case KMESH_L7_REDIRECT:
        Reply(conn, L7Reply::Redirect, decision.status, Text(decision.body_id), "");
        return;
      default:
        stats_.unknownVerdict++;
        Reply(conn, L7Reply::UnknownVerdict, 0, "", "");
        return;
    }
  }

  std::string Text(uint32_t id) {
    if (id == 0 || id >= KMESH_MAX_L7_TEXTS) return "";
    km_l7_text text{};
    if (bpf_map_lookup_elem(config_.textMapFd, &id, &text) != 0) return "";
    return std::string(text.text, std::min<size_t>(text.len, KMESH_L7_TEXT_MAX));
  }

  // ---- upstream --------------------------------------------------------------------------------
  void Connect(Conn* conn, const km_l7_decision& decision) {
    sockaddr_storage target{};
    socklen_t len = 0;
    if (decision.endpoint.family == KMESH_AF_INET6) {
      auto* sa = reinterpret_cast<sockaddr_in6*>(&target);
      sa->sin6_family = AF_INET6;
      memcpy(&sa->sin6_addr, decision.endpoint.ip, 16);
      sa->sin6_port = decision.endpoint.port;
      len = sizeof *sa;
    } else {
      auto* sa = reinterpret_cast<sockaddr_in*>(&target);
      sa->sin_family = AF_INET;
      sa->sin_addr.s_addr = decision.endpoint.ip[0];
      sa->sin_port = decision.endpoint.port;
      len = sizeof *sa;
    }
    if (!EnterNetns(anchors_[conn->anchor].netnsIndex)) {
      ConnectFailed(conn, errno);
      return;
    }
    int fd = socket(target.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      ConnectFailed(conn, errno);
      return;
    }
    TrackFd(fd);
    conn->upstream = fd;
    conn->endpoint = decision.endpoint;
    conn->account = decision.conn;
    if (directEnabled_ && !EndpointBackedOff(decision.endpoint)) Announce(conn, decision.endpoint, target.ss_family);
    conn->state = ConnState::Connecting;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = &conn->upstreamHandle;
    epoll_ctl(epollFd_, EPOLL_CTL_ADD, fd, &ev);
    if (connect(fd, reinterpret_cast<sockaddr*>(&target), len) == 0) {
      Connected(conn, false);
      return;
    }
    if (errno != EINPROGRESS) {
      ConnectFailed(conn, errno);
      return;
    }
    uint32_t timeout = decision.connect_timeout_ms != 0 ? decision.connect_timeout_ms : config_.defaultConnectTimeoutMs;
    SetTimer(conn, timeout);
  }

  // The upstream's outcome (a failed connect, or the first response's status), to the kernel's outlier
  // detection (kmesh_l7_connect_outcome): the relay's socket is outside the mesh cgroup, so no sock_ops
  // sees it. Once per connection.
  void ReportOutcome(Conn* conn, uint32_t outcome) {
    if (config_.connectOutcomeProgFd < 0 || conn->account.counted == 0) return;
    km_l7_connect_report report{};
    report.outcome = outcome;
    report.conn = conn->account;
    conn->account.counted = 0;
    LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &report, .ctx_size_in = sizeof report);
    if (bpf_prog_test_run_opts(config_.connectOutcomeProgFd, &opts) == 0) {
      stats_.connectReports++;
    } else {
      stats_.reportErrors++;
    }
  }

  // Errors of the connect itself say something about the endpoint; a local failure (no socket, no
  // namespace) does not, and is not reported.
  static bool EndpointFault(int err) {
    return err == ECONNREFUSED || err == ETIMEDOUT || err == EHOSTUNREACH || err == ENETUNREACH ||
           err == ECONNRESET;
  }

  void ConnectFailed(Conn* conn, int err) {
    if (EndpointFault(err)) ReportOutcome(conn, KMESH_L7_OUTCOME_FAILED);
    ClearTimer(conn);
    ForgetExpect(conn);
    CloseFd(conn->upstream);
    if (err == ECONNREFUSED) {
      stats_.connectRefused++;
      Reply(conn, L7Reply::ConnectRefused, 0, "", "");
    } else if (err == ETIMEDOUT) {
      stats_.connectTimeouts++;
      Reply(conn, L7Reply::ConnectTimeout, 0, "", "");
    } else {
      stats_.connectErrors++;
      Reply(conn, L7Reply::ConnectError, 0, "", Lower(strerror(err)));
    }
  }

  void OnUpstream(Conn* conn, uint32_t ev) {
    if (conn->state == ConnState::Connecting) {
      if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
      int err = 0;
      // Writable without an error or hang-up is a completed connect: SO_ERROR is only worth a
      // syscall when the kernel flagged something.
      if (ev & (EPOLLERR | EPOLLHUP)) {
        socklen_t len = sizeof err;
        getsockopt(conn->upstream, SOL_SOCKET, SO_ERROR, &err, &len);
      }
      if (err == 0 && (ev & EPOLLERR)) err = ECONNRESET;
      if (err != 0) {
        ConnectFailed(conn, err);
        return;
      }
      Connected(conn, false);
      return;
    }
    if (conn->state == ConnState::Relaying) OnRelayEvent(conn, ev, false);
  }

  // ---- direct path ---------------------------------------------------------------------------
  // Before connect(): bind U to learn its port and tell the endpoint side's sock_ops which accepted
  // socket will be ours. Without it the connection simply stays relayed.
  void Announce(Conn* conn, const km_addr& endpoint, int family) {
    sockaddr_storage local{};
    socklen_t len = family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    local.ss_family = static_cast<sa_family_t>(family);
    if (bind(conn->upstream, reinterpret_cast<sockaddr*>(&local), len) != 0) return;
    if (getsockname(conn->upstream, reinterpret_cast<sockaddr*>(&local), &len) != 0) return;
    km_l7_expect_key& ek = conn->expectKey;
    memset(&ek, 0, sizeof ek);
    memcpy(ek.ip, endpoint.ip, sizeof ek.ip);
    ek.port = endpoint.port;
    ek.upstream_port = family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&local)->sin6_port
                                          : reinterpret_cast<sockaddr_in*>(&local)->sin_port;
    ek.family = endpoint.family;
    km_l7_expect value{};
    value.client = conn->key;
    conn->expecting = bpf_map_update_elem(config_.expectMapFd, &ek, &value, BPF_ANY) == 0;
  }

  bool TakeExpect(const km_l7_expect_key& key, km_l7_expect* out) {
    if (bpf_map_lookup_and_delete_elem(config_.expectMapFd, &key, out) == 0) return true;
    if (errno == ENOENT) return false;
    // Older kernels: no lookup-and-delete for this map type.
    if (bpf_map_lookup_elem(config_.expectMapFd, &key, out) != 0) return false;
    bpf_map_delete_elem(config_.expectMapFd, &key);
    return true;
  }

  void ForgetExpect(Conn* conn) {
    if (!conn->expecting) return;
    bpf_map_delete_elem(config_.expectMapFd, &conn->expectKey);
    conn->expecting = false;
  }

  static std::string EndpointId(const km_addr& a) {
    return std::string(reinterpret_cast<const char*>(&a), sizeof a);
  }

  struct EndpointMisses {
    uint32_t inRow = 0;
    uint64_t retryAt = 0;  // NowMs() before which the endpoint is not announced
  };

  bool EndpointBackedOff(const km_addr& endpoint) {
    auto it = endpointMisses_.find(EndpointId(endpoint));
    return it != endpointMisses_.end() && it->second.retryAt > NowMs();
  }

  void RecordMiss(const km_addr& endpoint) {
    if (endpointMisses_.size() >= kDirectEndpointsMax) endpointMisses_.clear();  // bounded memory
    EndpointMisses& m = endpointMisses_[EndpointId(endpoint)];
    if (++m.inRow >= kDirectMissesBeforeBackoff) {
      m.inRow = 0;
      m.retryAt = NowMs() + kDirectBackoffMs;
    }
  }

  // The upstream is connected. With an announced connect, give the endpoint's socket up to
  // directWaitMs to show up in km_l7_server before relaying; `waited` once that time is over.
  void Connected(Conn* conn, bool waited) {
    ClearTimer(conn);
    bool serverHooked = false;  // the endpoint's socket is in km_l7_server: the kernel sees its answers
    if (conn->expecting) {
      // Usually the endpoint's socket is already there: take the entry in one call. When it is not
      // and there is time to wait, put it back for the endpoint's sock_ops to find.
      km_l7_expect expect{};
      bool found = TakeExpect(conn->expectKey, &expect);
      conn->expecting = false;
      bool ready = found && expect.ready != 0;
      serverHooked = ready;
      if (found && !ready && !waited && config_.directWaitMs > 0) {
        conn->expecting = bpf_map_update_elem(config_.expectMapFd, &conn->expectKey, &expect, BPF_ANY) == 0;
        if (conn->expecting) {
          conn->state = ConnState::AwaitServer;
          SetTimer(conn, config_.directWaitMs);
          return;
        }
      }
      if (ready && EnableDirect(conn)) {
        stats_.directConnections++;
        endpointMisses_.erase(EndpointId(conn->endpoint));
      } else {
        stats_.directMisses++;
        RecordMiss(conn->endpoint);
      }
    }
    // A connected endpoint is judged by its first response (consecutive_5xx), not by the connect:
    // by kmesh_l7_server_msg when its socket is hooked, else here.
    conn->watchResponse = conn->account.counted != 0 && !serverHooked;
    StartRelay(conn);
  }

  // U joins km_l7_upstream (its sends go into S's ingress) and the client's later sends may be
  // redirected once the relay caught up. Every step undone when one fails.
  bool EnableDirect(Conn* conn) {
    int fd = conn->upstream;
    if (bpf_map_update_elem(config_.peerMapFd, &fd, &conn->key, BPF_ANY) != 0) return false;
    uint32_t sock = static_cast<uint32_t>(fd);
    if (bpf_map_update_elem(config_.upstreamMapFd, &conn->key, &sock, BPF_ANY) != 0) return false;
    // km_l7_direct[key] is created by the first PublishForwarded(), once the first bytes are in S:
    // until then the client's sends keep passing to the anchor.
    conn->direct = true;
    return true;
  }

  // The relay wrote more client bytes into U: publish the total, the parser's sk_msg redirects only
  // when it equals what the client passed to the anchor.
  //
  // The bytes queued when relaying starts (normally the whole first request) are not published: a
  // client that sends nothing more (one request, `Connection: close`) never needs km_l7_direct, which
  // saves creating and deleting it. Its next bytes then pass through the relay once, and the total
  // published with them switches the rest of the connection to the direct path.
  void PublishForwarded(Conn* conn) {
    if (!conn->direct || conn->publishLater || conn->toUpstream.forwarded == conn->toUpstream.published) return;
    conn->toUpstream.published = conn->toUpstream.forwarded;
    km_l7_direct state{};
    state.forwarded = conn->toUpstream.forwarded;
    state.active = 1;
    if (bpf_map_update_elem(config_.directMapFd, &conn->key, &state, BPF_ANY) == 0) conn->published = true;
  }

  // ---- relaying --------------------------------------------------------------------------------
  bool OpenPipe(Direction& d) {
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return false;
    TrackFd(fds[0]);
    TrackFd(fds[1]);
    d.pipeRead = fds[0];
    d.pipeWrite = fds[1];
    if (config_.pipeSize != 0) fcntl(d.pipeWrite, F_SETPIPE_SZ, static_cast<int>(config_.pipeSize));
    return true;
  }

  void UseCopyMode(Direction& d) {
    d.copyMode = true;
    if (!d.buffer) d.buffer = TakeBuffer();
    stats_.spliceFallbacks++;
  }

  std::unique_ptr<char[]> TakeBuffer() {
    if (spareBuffers_.empty()) return std::unique_ptr<char[]>(new char[kCopyBufferSize]);
    std::unique_ptr<char[]> buffer = std::move(spareBuffers_.back());
    spareBuffers_.pop_back();
    return buffer;
  }

  void ReturnBuffer(std::unique_ptr<char[]>& buffer) {
    if (buffer && spareBuffers_.size() < kSpareBuffersMax) spareBuffers_.push_back(std::move(buffer));
    buffer.reset();
  }

  void StartRelay(Conn* conn) {
    ClearTimer(conn);
    conn->state = ConnState::Relaying;
    stats_.forwarded++;
    conn->toUpstream.src = conn->client;
    conn->toUpstream.dst = conn->upstream;
    conn->toUpstream.bytes = &stats_.bytesToUpstream;
    conn->toClient.src = conn->upstream;
    conn->toClient.dst = conn->client;
    conn->toClient.bytes = &stats_.bytesToClient;
    conn->toUpstream.other = &conn->toClient;
    conn->toClient.other = &conn->toUpstream;
    // No pipe (fd limit): relay with read/write instead.
    if (conn->direct) {
      // Plain sends on U (its sk_msg redirects them) and a count of every byte written. The other
      // direction carries only S's FIN/RST (its bytes go straight to the client): no pipe either,
      // a buffer only if bytes ever come that way.
      conn->toUpstream.copyMode = true;
      conn->toUpstream.countForwarded = true;
      conn->toClient.copyMode = true;
    } else {
      // Relayed: the request bytes go out as TCP segments on U, without waiting for more.
      SetNoDelay(conn->upstream);
      if (!OpenPipe(conn->toUpstream)) UseCopyMode(conn->toUpstream);
      if (!OpenPipe(conn->toClient)) UseCopyMode(conn->toClient);
    }
    // The request's bytes are already queued on the client socket and its edge was consumed.
    conn->publishLater = conn->direct;
    OnRelayEvent(conn, EPOLLIN, true);
    conn->publishLater = false;
    if (!conn->closed) OnRelayEvent(conn, EPOLLIN, false);
  }

  // The start of the endpoint's first response, peeked before it is spliced on: a 5xx is an outlier
  // detection failure of the endpoint, anything else ends its run of failures. False when the peek
  // found the upstream reset (recv consumed the socket error): the connection is then closed here.
  bool InspectResponse(Conn* conn) {
    char head[10];
    ssize_t n = recv(conn->upstream, head, sizeof head, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return true;  // next event
    conn->watchResponse = false;
    if (n < 0 && errno == ECONNRESET) {
      stats_.resets++;
      CloseConn(conn, true, false);  // as OnRelayEvent does for an upstream reset
      return false;
    }
    if (n < static_cast<ssize_t>(sizeof head) || memcmp(head, "HTTP/1.", 7) != 0 || head[8] != ' ' ||
        head[9] < '1' || head[9] > '5') {
      return true;  // not a status line (or a tiny first segment): no verdict on the endpoint
    }
    ReportOutcome(conn, head[9] == '5' ? KMESH_L7_OUTCOME_FAILED : KMESH_L7_OUTCOME_OK);
    return true;
  }

  // An event on one side of a relayed connection: pump the direction it reads for and the one it
  // writes for, then act on resets and completion.
  void OnRelayEvent(Conn* conn, uint32_t ev, bool clientSide) {
    if (ev & EPOLLERR) {
      int fd = clientSide ? conn->client : conn->upstream;
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        // This side reset (or failed): abort the other side the same way.
        stats_.resets++;
        CloseConn(conn, !clientSide, clientSide);
        return;
      }
    }
    // After the error check: a peek would consume a pending reset.
    if (!clientSide && conn->watchResponse && (ev & EPOLLIN) && !InspectResponse(conn)) return;
    Direction& reads = clientSide ? conn->toUpstream : conn->toClient;
    Direction& writes = clientSide ? conn->toClient : conn->toUpstream;
    PumpResult a = PumpResult::Waiting;
    PumpResult b = PumpResult::Waiting;
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) a = Pump(reads);
    if (reads.countForwarded) PublishForwarded(conn);
    // The other direction needs this side's writability only when bytes wait for it.
    if (!Handled(conn, a, clientSide) && writes.pending > 0 && (ev & (EPOLLOUT | EPOLLHUP))) {
      b = Pump(writes);
      if (writes.countForwarded) PublishForwarded(conn);
      Handled(conn, b, !clientSide);
    }
    if (conn->closed) return;
    if (conn->toUpstream.eof && conn->toUpstream.pending == 0 && conn->toClient.eof &&
        conn->toClient.pending == 0) {
      CloseConn(conn, false, false);
    }
  }

  // Acts on a pump's result for the direction whose source is the client (srcIsClient) or the
  // upstream; true when the connection was closed.
  bool Handled(Conn* conn, PumpResult result, bool srcIsClient) {
    switch (result) {
      case PumpResult::Waiting:
      case PumpResult::Finished:
        return false;
      case PumpResult::SrcReset:
        stats_.resets++;
        // The source reset: reset the destination (the other side).
        CloseConn(conn, !srcIsClient, srcIsClient);
        return true;
      case PumpResult::DstReset:
        stats_.resets++;
        CloseConn(conn, srcIsClient, !srcIsClient);
        return true;
      case PumpResult::Failed:
        CloseConn(conn, false, false);
        return true;
    }
    return false;
  }

  static bool IsReset(int err) { return err == ECONNRESET || err == EPIPE || err == ECONNABORTED; }

  // Moves bytes src -> dst until one of them would block, src ends, or an error.
  PumpResult Pump(Direction& d) {
    for (;;) {
      if (d.pending > 0) {
        ssize_t n;
        if (d.copyMode) {
          n = send(d.dst, d.buffer.get() + d.bufferOffset, d.pending, MSG_NOSIGNAL | MSG_DONTWAIT);
        } else {
          n = splice(d.pipeRead, nullptr, d.dst, nullptr, d.pending, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        }
        if (n > 0) {
          d.pending -= static_cast<size_t>(n);
          d.bufferOffset += static_cast<size_t>(n);
          d.forwarded += static_cast<uint64_t>(n);
          d.bytes->fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
          continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return PumpResult::Waiting;
        return n < 0 && IsReset(errno) ? PumpResult::DstReset : PumpResult::Failed;
      }
      if (d.eof) return PumpResult::Finished;
      ssize_t n;
      if (d.copyMode) {
        if (!d.buffer) d.buffer = TakeBuffer();
        n = recv(d.src, d.buffer.get(), kCopyBufferSize, MSG_DONTWAIT);
        d.bufferOffset = 0;
      } else {
        n = splice(d.src, nullptr, d.pipeWrite, nullptr, kSpliceChunk, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      }
      if (n > 0) {
        d.pending = static_cast<size_t>(n);
        continue;
      }
      if (n == 0) {
        d.eof = true;
        // Half-close travels on. When the other direction is already done the connection is closed
        // right after, and close() sends the same FIN: no shutdown() needed.
        if (!(d.other && d.other->eof && d.other->pending == 0)) shutdown(d.dst, SHUT_WR);
        return PumpResult::Finished;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return PumpResult::Waiting;
      if (!d.copyMode && (errno == EINVAL || errno == EOPNOTSUPP)) {
        UseCopyMode(d);
        continue;
      }
      return IsReset(errno) ? PumpResult::SrcReset : PumpResult::Failed;
    }
  }

  // ---- generated responses ---------------------------------------------------------------------
  void Reply(Conn* conn, L7Reply reply, uint32_t status, const std::string& text, const std::string& detail) {
    stats_.responses++;
    conn->state = ConnState::Responding;
    conn->response = BuildL7Reply(reply, status, text, detail);
    conn->responseSent = 0;
    SendReply(conn);
  }

  void SendReply(Conn* conn) {
    while (conn->responseSent < conn->response.size()) {
      ssize_t n = send(conn->client, conn->response.data() + conn->responseSent,
                       conn->response.size() - conn->responseSent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        conn->responseSent += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return;  // EPOLLOUT brings us back
      CloseConn(conn, false, false);
      return;
    }
    // Sent: FIN now, then read what the client still sends so that closing does not turn into a
    // reset that could destroy the response before the client read it.
    std::string().swap(conn->response);
    shutdown(conn->client, SHUT_WR);
    conn->state = ConnState::Draining;
    SetTimer(conn, config_.closeDrainMs);
    Drain(conn);
  }

  void Drain(Conn* conn) {
    char sink[16384];
    for (;;) {
      ssize_t n = recv(conn->client, sink, sizeof sink, MSG_DONTWAIT);
      if (n > 0) continue;
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return;
      CloseConn(conn, false, false);  // EOF or error: the client is done
      return;
    }
  }

  // ---- closing ---------------------------------------------------------------------------------
  void CloseConn(Conn* conn, bool resetClient, bool resetUpstream) {
    if (conn->closed) return;
    conn->closed = true;
    ClearTimer(conn);
    ForgetExpect(conn);
    if (conn->published) {
      bpf_map_delete_elem(config_.directMapFd, &conn->key);
      conn->published = false;
    }
    conn->direct = false;
    if (resetClient) {
      ResetFd(conn->client);
    } else {
      CloseFd(conn->client);
    }
    if (resetUpstream) {
      ResetFd(conn->upstream);
    } else {
      CloseFd(conn->upstream);
    }
    for (Direction* d : {&conn->toUpstream, &conn->toClient}) {
      CloseFd(d->pipeRead);
      CloseFd(d->pipeWrite);
      ReturnBuffer(d->buffer);
    }
    conns_.erase(conn);
    stats_.activeConnections--;
    // Freed after the current batch of events: later events of the batch may still point to it.
    graveyard_.emplace_back(conn);
  }

  static constexpr size_t kHome = static_cast<size_t>(-1);

  L7RelayConfig config_;
  L7RelayStats stats_;
  std::vector<L7AnchorInfo> anchorInfos_;
  std::vector<Anchor> anchors_;
  std::vector<int> netnsFds_;
  int homeNetns_ = -1;
  size_t currentNetns_ = kHome;
  int epollFd_ = -1;
  int wakeFd_ = -1;
  Handle wakeHandle_{Handle::Wake};
  bool acceptsPaused_ = false;
  bool directEnabled_ = false;
  std::unordered_map<std::string, EndpointMisses> endpointMisses_;
  std::thread thread_;
  std::unordered_set<Conn*> conns_;
  std::vector<std::unique_ptr<Conn>> graveyard_;
  std::vector<std::unique_ptr<char[]>> spareBuffers_;
  std::multimap<uint64_t, Conn*> timers_;
};

std::unique_ptr<L7Relay> L7Relay::Start(const L7RelayConfig& config, L7RelayStartError* error) {
  auto engine = std::make_unique<L7RelayEngine>(config);
  if (!engine->Start(error)) return nullptr;
  return std::unique_ptr<L7Relay>(new L7Relay(std::move(engine)));
}

L7Relay::L7Relay(std::unique_ptr<L7RelayEngine> engine) : engine_(std::move(engine)) {}

L7Relay::~L7Relay() { Stop(); }

void L7Relay::Stop() { engine_->Stop(); }

const L7RelayStats& L7Relay::Stats() const { return engine_->Stats(); }

const std::vector<L7AnchorInfo>& L7Relay::Anchors() const { return engine_->Anchors(); }
