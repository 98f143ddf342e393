// HTTP responses the L7 relay generates itself (no route, bad request, endpoint unavailable, direct
// responses and redirects). Every one closes the connection: the relay never parses later requests.
#pragma once

#include <cstdint>
#include <string>

// Why the relay answers instead of the endpoint.
enum class L7Reply {
  NoRoute,          // 404: no virtual host or route matched
  BadRequest,       // 400: not HTTP/1.x, head over the parse limit, no Host
  NoEndpoint,       // 503: the route's cluster has no endpoint
  CircuitOpen,      // 503: the route's cluster is at its max_connections (circuit breaker)
  HeadTimeout,      // 408: no complete request head within the relay's request-head timeout
  NoDecision,       // 503: bytes arrived but the kernel stored no decision for this connection
  UnknownVerdict,   // 503: a decision the relay does not understand (newer kernel object)
  ConnectRefused,   // 503: the endpoint refused the connection
  ConnectTimeout,   // 503: the endpoint did not answer within connect_timeout
  ConnectError,     // 503: another connect failure (unreachable, ...); reason carries strerror
  DirectResponse,   // route's direct_response: configured status and body
  Redirect,         // route's redirect: configured status, Location = configured text
};

// The whole response (head and body). `text` is the configured body (DirectResponse) or location
// (Redirect); `status` is used by those two only; `detail` completes ConnectError's reason.
std::string BuildL7Reply(L7Reply reply, uint32_t status, const std::string& text, const std::string& detail);
