#pragma once
// HTTP client for the node daemon's API, used by riftctl and the watchdog. httplib and JSON stay
// in api_client.cc.
//
// Contract:
// - Addresses are tried in the order given. A transport failure (refused, connect timeout,
//   reset, read timeout) moves on to the next address; an HTTP answer of any status does not:
//   it is returned as an ApiResponse and the caller decides what it means.
// - When every address fails, the result is Code::kUnavailable with a message naming each
//   address and why it failed.
// - POST fails over only when the request surely never reached the server (connect failed);
//   after a read/write failure it stops, since the server may have applied it.
// - Immutable after construction; safe to use from several threads (one connection per call).
#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "orchestrator/base/status.h"

namespace rift::net {

struct ApiTimeouts {
  std::chrono::milliseconds connect{1000};
  std::chrono::milliseconds read{5000};
};

struct ApiResponse {
  int status = 0;  // HTTP status
  std::string body;
  std::string addr_used;  // the address that answered
  bool ok() const { return status >= 200 && status < 300; }
};

// The daemon's error shape {"error":{"code":..,"message":..}}. For a body that is not in that
// shape: code "HTTP_<status>" and the start of the body as message.
struct ApiError {
  std::string code;
  std::string message;
};
ApiError ParseApiError(const ApiResponse& response);

// "host:port" -> "http://host:port"; strips a trailing '/'. Returns kInvalidArgument for an
// empty address, an unknown scheme or a missing host.
Result<std::string> NormalizeAddr(std::string addr);

class ApiClient {
 public:
  // `addrs` like "http://10.0.0.5:8770" (see NormalizeAddr); `token` empty = no auth header.
  ApiClient(std::vector<std::string> addrs, std::string token, ApiTimeouts timeouts = {});

  // `path` starts with '/', may carry a query string.
  Result<ApiResponse> Get(const std::string& path) const;
  Result<ApiResponse> Post(const std::string& path, const std::string& body) const;

  // For leader-only requests: like Get/Post, but a 421 whose JSON names a `leader_url` (other
  // than the address that answered) is retried once against that leader. If the leader cannot
  // be reached, the result is kUnavailable naming it.
  Result<ApiResponse> GetFromLeader(const std::string& path) const;
  Result<ApiResponse> PostToLeader(const std::string& path, const std::string& body) const;

  // GET whose 2xx body goes to `on_data` piece by piece as it arrives (a false return stops the
  // transfer); another status's body is returned in the response. `read` bounds the wait for
  // each piece. Fails over to the next address only while nothing was received.
  Result<ApiResponse> GetStream(const std::string& path,
                                const std::function<bool(std::string_view)>& on_data,
                                std::chrono::milliseconds read) const;

  const std::vector<std::string>& addrs() const { return addrs_; }
  const ApiTimeouts& timeouts() const { return timeouts_; }

 private:
  enum class Method { kGet, kPost };
  Result<ApiResponse> Send(Method method, const std::vector<std::string>& addrs,
                           const std::string& path, const std::string& body) const;
  Result<ApiResponse> FollowLeader(Method method, const std::string& path,
                                   const std::string& body) const;

  std::vector<std::string> addrs_;
  std::string token_;
  ApiTimeouts timeouts_;
};

}  // namespace rift::net
