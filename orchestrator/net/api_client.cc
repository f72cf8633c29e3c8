#include "orchestrator/net/api_client.h"

#include <httplib.h>

#include <nlohmann/json.hpp>
#include <utility>

namespace rift::net {
namespace {

using json = nlohmann::json;

constexpr int kMisdirectedRequest = 421;
constexpr size_t kMaxErrorBodyChars = 200;

// True when the request cannot have reached the server, so another address may safely get it.
bool NeverSent(httplib::Error e) {
  return e == httplib::Error::Connection || e == httplib::Error::ConnectionTimeout ||
         e == httplib::Error::BindIPAddress || e == httplib::Error::SSLConnection ||
         e == httplib::Error::SSLLoadingCerts || e == httplib::Error::SSLServerVerification;
}

std::string Describe(httplib::Error e, const ApiTimeouts& t) {
  switch (e) {
    case httplib::Error::Connection:
      return "connection failed (refused or no route)";
    case httplib::Error::ConnectionTimeout:
      return "connect timed out after " + std::to_string(t.connect.count()) + " ms";
    case httplib::Error::Read:
      return "no complete answer within " + std::to_string(t.read.count()) +
             " ms (read timeout or connection closed)";
    case httplib::Error::Write:
      return "sending the request failed";
    case httplib::Error::SSLConnection:
    case httplib::Error::SSLLoadingCerts:
    case httplib::Error::SSLServerVerification:
      return "TLS failure: " + httplib::to_string(e);
    default:
      return httplib::to_string(e);
  }
}

template <typename Rep, typename Period>
std::pair<time_t, time_t> SecUsec(std::chrono::duration<Rep, Period> d) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  if (us < 0) us = 0;
  return {static_cast<time_t>(us / 1'000'000), static_cast<time_t>(us % 1'000'000)};
}

}  // namespace

ApiError ParseApiError(const ApiResponse& response) {
  ApiError out;
  json doc = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_object() && doc.contains("error") && doc["error"].is_object()) {
    const json& e = doc["error"];
    if (e.contains("code") && e["code"].is_string()) out.code = e["code"].get<std::string>();
    if (e.contains("message") && e["message"].is_string()) {
      out.message = e["message"].get<std::string>();
    }
  }
  if (out.code.empty()) out.code = "HTTP_" + std::to_string(response.status);
  if (out.message.empty()) {
    out.message = response.body.substr(0, kMaxErrorBodyChars);
    while (!out.message.empty() && (out.message.back() == '\n' || out.message.back() == '\r')) {
      out.message.pop_back();
    }
    if (out.message.empty()) out.message = "(no error details in the response)";
  }
  return out;
}

Result<std::string> NormalizeAddr(std::string addr) {
  while (!addr.empty() && addr.back() == '/') addr.pop_back();
  if (addr.empty()) return InvalidArgument("empty address");
  std::string rest = addr;
  std::string scheme = "http";
  if (auto pos = addr.find("://"); pos != std::string::npos) {
    scheme = addr.substr(0, pos);
    rest = addr.substr(pos + 3);
    if (scheme != "http" && scheme != "https") {
      return InvalidArgument("address '" + addr + "': scheme must be http or https");
    }
  } else {
    // "host" or "[v6]" without a port: the daemon's default port.
    bool has_port = rest.front() == '[' ? rest.find("]:") != std::string::npos
                                        : rest.find(':') != std::string::npos;
    if (!has_port) rest += ":8770";
  }
  if (rest.empty() || rest.front() == ':') {
    return InvalidArgument("address '" + addr + "': missing host");
  }
  if (rest.find('/') != std::string::npos) {
    return InvalidArgument("address '" + addr + "': must not carry a path");
  }
  return scheme + "://" + rest;
}

ApiClient::ApiClient(std::vector<std::string> addrs, std::string token, ApiTimeouts timeouts)
    : addrs_(std::move(addrs)), token_(std::move(token)), timeouts_(timeouts) {}

Result<ApiResponse> ApiClient::Get(const std::string& path) const {
  return Send(Method::kGet, addrs_, path, {});
}

Result<ApiResponse> ApiClient::Post(const std::string& path, const std::string& body) const {
  return Send(Method::kPost, addrs_, path, body);
}

Result<ApiResponse> ApiClient::GetFromLeader(const std::string& path) const {
  return FollowLeader(Method::kGet, path, {});
}

Result<ApiResponse> ApiClient::PostToLeader(const std::string& path,
                                            const std::string& body) const {
  return FollowLeader(Method::kPost, path, body);
}

Result<ApiResponse> ApiClient::FollowLeader(Method method, const std::string& path,
                                            const std::string& body) const {
  Result<ApiResponse> first = Send(method, addrs_, path, body);
  if (!first.ok() || first->status != kMisdirectedRequest) return first;
  json doc = json::parse(first->body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains("leader_url") || !doc["leader_url"].is_string()) {
    return first;  // no leader known: the caller reports the NOT_LEADER error
  }
  Result<std::string> leader = NormalizeAddr(doc["leader_url"].get<std::string>());
  if (!leader.ok() || *leader == first->addr_used) return first;
  return Send(method, {*leader}, path, body);
}

Result<ApiResponse> ApiClient::Send(Method method, const std::vector<std::string>& addrs,
                                    const std::string& path, const std::string& body) const {
  if (addrs.empty()) return InvalidArgument("no address to send " + path + " to");
  std::string failures;
  for (const std::string& addr : addrs) {
    httplib::Client cli(addr);
    if (!cli.is_valid()) {
      failures += (failures.empty() ? "" : "; ") + addr + ": invalid address";
      continue;
    }
    auto [cs, cu] = SecUsec(timeouts_.connect);
    auto [rs, ru] = SecUsec(timeouts_.read);
    cli.set_connection_timeout(cs, cu);
    cli.set_read_timeout(rs, ru);
    cli.set_write_timeout(rs, ru);
    cli.set_tcp_nodelay(true);
    cli.set_keep_alive(false);
    httplib::Headers headers = {{"Accept", "application/json"}};
    if (!token_.empty()) headers.emplace("Authorization", "Bearer " + token_);

    httplib::Result res = method == Method::kGet
                              ? cli.Get(path.c_str(), headers)
                              : cli.Post(path.c_str(), headers, body, "application/json");
    if (res) {
      return ApiResponse{res->status, std::move(res->body), addr};
    }
    failures += (failures.empty() ? "" : "; ") + addr + ": " + Describe(res.error(), timeouts_);
    if (method == Method::kPost && !NeverSent(res.error())) {
      return Unavailable(failures + " (the request may have been applied; not retried)");
    }
  }
  return Unavailable(failures);
}

Result<ApiResponse> ApiClient::GetStream(const std::string& path,
                                         const std::function<bool(std::string_view)>& on_data,
                                         std::chrono::milliseconds read) const {
  if (addrs_.empty()) return InvalidArgument("no address to send " + path + " to");
  ApiTimeouts t = timeouts_;
  t.read = read;
  std::string failures;
  for (const std::string& addr : addrs_) {
    httplib::Client cli(addr);
    if (!cli.is_valid()) {
      failures += (failures.empty() ? "" : "; ") + addr + ": invalid address";
      continue;
    }
    auto [cs, cu] = SecUsec(t.connect);
    auto [rs, ru] = SecUsec(t.read);
    cli.set_connection_timeout(cs, cu);
    cli.set_read_timeout(rs, ru);
    cli.set_tcp_nodelay(true);
    httplib::Headers headers;
    if (!token_.empty()) headers.emplace("Authorization", "Bearer " + token_);
    ApiResponse out{0, "", addr};
    bool received = false;
    httplib::Result res = cli.Get(
        path.c_str(), headers,
        [&](const httplib::Response& r) {
          out.status = r.status;
          return true;
        },
        [&](const char* data, size_t len) {
          received = true;
          if (!out.ok()) {
            if (out.body.size() < (1u << 20)) out.body.append(data, len);
            return true;
          }
          return on_data(std::string_view(data, len));
        });
    if (res || res.error() == httplib::Error::Canceled) return out;
    failures += (failures.empty() ? "" : "; ") + addr + ": " + Describe(res.error(), t);
    if (received || out.status != 0) return Unavailable(failures);
  }
  return Unavailable(failures);
}

}  // namespace rift::net
