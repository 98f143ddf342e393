// Builds the relay's own HTTP responses. Data-driven: one row per reply kind.
#include "l7_response.h"

#include <cstdio>

namespace {

struct ReplyRow {
  L7Reply reply;
  uint32_t status;     // 0: the decision's status
  const char* reason;  // x-kmesh-reason and the one-line body
  const char* header;  // one more header line (with CRLF), or nullptr
};

const ReplyRow kReplies[] = {
    {L7Reply::NoRoute, 404, "no route", nullptr},
    {L7Reply::BadRequest, 400, "bad request", nullptr},
    {L7Reply::NoEndpoint, 503, "no healthy upstream", nullptr},
    // Envoy marks a response its circuit breaker caused with x-envoy-overloaded; clients that retry on
    // it should see the same here.
    {L7Reply::CircuitOpen, 503, "circuit breaker open", "x-envoy-overloaded: true\r\n"},
    {L7Reply::HeadTimeout, 408, "request head timeout", nullptr},
    {L7Reply::NoDecision, 503, "no routing decision", nullptr},
    {L7Reply::UnknownVerdict, 503, "unknown routing verdict", nullptr},
    {L7Reply::ConnectRefused, 503, "upstream connect error: connection refused", nullptr},
    {L7Reply::ConnectTimeout, 503, "upstream connect timeout", nullptr},
    {L7Reply::ConnectError, 503, "upstream connect error", nullptr},
    {L7Reply::DirectResponse, 0, "direct response", nullptr},
    {L7Reply::Redirect, 0, "redirect", nullptr},
};

struct StatusText {
  uint32_t status;
  const char* text;
};

const StatusText kStatusTexts[] = {
    {200, "OK"},          {201, "Created"},          {202, "Accepted"},
    {204, "No Content"},  {301, "Moved Permanently"}, {302, "Found"},
    {303, "See Other"},   {304, "Not Modified"},     {307, "Temporary Redirect"},
    {308, "Permanent Redirect"}, {400, "Bad Request"}, {401, "Unauthorized"},
    {403, "Forbidden"},   {404, "Not Found"},        {405, "Method Not Allowed"},
    {408, "Request Timeout"}, {429, "Too Many Requests"}, {500, "Internal Server Error"},
    {502, "Bad Gateway"}, {503, "Service Unavailable"}, {504, "Gateway Timeout"},
};

const char* StatusTextOf(uint32_t status) {
  for (const StatusText& row : kStatusTexts) {
    if (row.status == status) return row.text;
  }
  return "Status";
}

// Header values must not carry CR/LF (a configured location could): replace them.
std::string HeaderSafe(const std::string& value) {
  std::string out = value;
  for (char& c : out) {
    if (c == '\r' || c == '\n') c = ' ';
  }
  return out;
}

}  // namespace

std::string BuildL7Reply(L7Reply reply, uint32_t status, const std::string& text, const std::string& detail) {
  const ReplyRow* row = &kReplies[0];
  for (const ReplyRow& r : kReplies) {
    if (r.reply == reply) row = &r;
  }
  uint32_t code = row->status != 0 ? row->status : status;
  if (code < 100 || code > 999) code = reply == L7Reply::Redirect ? 302 : 200;
  std::string reason = row->reason;
  if (reply == L7Reply::ConnectError && !detail.empty()) reason += ": " + detail;

  std::string body;
  std::string extra = row->header != nullptr ? row->header : "";
  if (reply == L7Reply::DirectResponse) {
    body = text;
  } else if (reply == L7Reply::Redirect) {
    extra += "location: " + HeaderSafe(text) + "\r\n";
    body = reason + "\n";
  } else {
    body = reason + "\n";
  }

  char statusLine[64];
  snprintf(statusLine, sizeof statusLine, "HTTP/1.1 %u %s\r\n", code, StatusTextOf(code));
  std::string out = statusLine;
  out += "content-type: text/plain\r\n";
  out += "connection: close\r\n";
  out += "x-kmesh-reason: " + reason + "\r\n";
  out += extra;
  out += "content-length: " + std::to_string(body.size()) + "\r\n\r\n";
  out += body;
  return out;
}
