#include "orchestrator/api/router.h"

#include <exception>
#include <string_view>

#include "orchestrator/api/errors.h"
#include "orchestrator/base/log.h"

namespace rift::api {

constexpr std::string_view kUnmatched = "unmatched";

Router::Router(std::string token) : token_(std::move(token)) {}

void Router::Add(const std::string& method, const std::string& path, Handler handler,
                 Access access) {
  routes_[path][method] = Route{std::move(handler), access};
}

std::string RequestToken(const HttpRequest& request) {
  std::string auth = request.Header("Authorization");
  constexpr std::string_view kBearer = "Bearer ";
  if (auth.size() > kBearer.size() && auth.compare(0, kBearer.size(), kBearer) == 0) {
    return auth.substr(kBearer.size());
  }
  return request.Header("X-RingRift-Auth");
}

bool TokenEquals(std::string_view expected, std::string_view given) {
  // Compare over the expected length always; fold the length difference into the result.
  unsigned char diff = expected.size() == given.size() ? 0 : 1;
  for (size_t i = 0; i < expected.size(); ++i) {
    unsigned char g = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
    diff |= static_cast<unsigned char>(expected[i]) ^ g;
  }
  return diff == 0 && !expected.empty();
}

bool Router::Authorized(const HttpRequest& request) const {
  if (token_.empty()) return true;
  return TokenEquals(token_, RequestToken(request));
}

HttpResponse Router::Handle(const HttpRequest& request) const {
  std::string route(kUnmatched);
  HttpResponse response;
  auto path_it = routes_.find(request.path);
  if (path_it == routes_.end()) {
    response = ErrorResponse(404, "NOT_FOUND", "no route for " + request.path);
  } else if (auto it = path_it->second.find(request.method); it == path_it->second.end()) {
    route = request.path;
    std::string allow;
    for (const auto& [method, unused] : path_it->second) {
      allow += (allow.empty() ? "" : ", ") + method;
    }
    response = ErrorResponse(405, "METHOD_NOT_ALLOWED",
                             request.method + " not allowed on " + request.path + "; use " + allow);
    response.headers["Allow"] = allow;
  } else {
    route = request.path;
    if (it->second.access == Access::kToken && !Authorized(request)) {
      response = ErrorResponse(Unauthenticated("missing or wrong cluster token"));
      response.headers["WWW-Authenticate"] = "Bearer";
    } else {
      try {
        response = it->second.handler(request);
      } catch (const std::exception& e) {
        log::Error("handler for " + route + " threw: " + e.what());
        response = ErrorResponse(Internal("internal error"));
      } catch (...) {
        log::Error("handler for " + route + " threw a non-exception");
        response = ErrorResponse(Internal("internal error"));
      }
    }
  }
  Count(route, response.status);
  return response;
}

void Router::Count(const std::string& route, int status) const {
  std::lock_guard lock(mu_);
  ++counts_[{route, status}];
}

std::map<std::pair<std::string, int>, uint64_t> Router::RequestCounts() const {
  std::lock_guard lock(mu_);
  return counts_;
}

}  // namespace rift::api
