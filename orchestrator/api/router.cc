#include "orchestrator/api/router.h"

#include <exception>
#include <string_view>

#include "orchestrator/api/errors.h"
#include "orchestrator/base/log.h"

namespace rift::api {

constexpr std::string_view kUnmatched = "unmatched";

Router::Router(std::string token) : token_(std::move(token)) {}

namespace {

std::vector<std::string> Segments(const std::string& path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    out.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

bool IsParam(const std::string& segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

}  // namespace

void Router::Add(const std::string& method, const std::string& path, Handler handler,
                 Access access) {
  Route route{std::move(handler), access};
  if (path.find('{') == std::string::npos) {
    routes_[path][method] = std::move(route);
    return;
  }
  for (auto& p : patterns_) {
    if (p.text == path) {
      p.methods[method] = std::move(route);
      return;
    }
  }
  patterns_.push_back(Pattern{path, Segments(path), {}});
  patterns_.back().methods[method] = std::move(route);
}

const Router::Methods* Router::Match(const std::string& path, std::string* pattern,
                                     std::map<std::string, std::string>* params) const {
  if (auto it = routes_.find(path); it != routes_.end()) {
    *pattern = path;
    return &it->second;
  }
  if (patterns_.empty()) return nullptr;
  const std::vector<std::string> segments = Segments(path);
  for (const auto& p : patterns_) {
    if (p.segments.size() != segments.size()) continue;
    std::map<std::string, std::string> captured;
    bool match = true;
    for (size_t i = 0; match && i < segments.size(); ++i) {
      if (IsParam(p.segments[i])) {
        match = !segments[i].empty();
        captured[p.segments[i].substr(1, p.segments[i].size() - 2)] = segments[i];
      } else {
        match = p.segments[i] == segments[i];
      }
    }
    if (match) {
      *pattern = p.text;
      *params = std::move(captured);
      return &p.methods;
    }
  }
  return nullptr;
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
  std::string pattern;
  std::map<std::string, std::string> params;
  const Methods* methods = Match(request.path, &pattern, &params);
  if (methods == nullptr) {
    response = ErrorResponse(404, "NOT_FOUND", "no route for " + request.path);
  } else if (auto it = methods->find(request.method); it == methods->end()) {
    route = pattern;
    std::string allow;
    for (const auto& [method, unused] : *methods) {
      allow += (allow.empty() ? "" : ", ") + method;
    }
    response = ErrorResponse(405, "METHOD_NOT_ALLOWED",
                             request.method + " not allowed on " + request.path + "; use " + allow);
    response.headers["Allow"] = allow;
  } else {
    route = pattern;
    if (it->second.access == Access::kToken && !Authorized(request)) {
      response = ErrorResponse(Unauthenticated("missing or wrong cluster token"));
      response.headers["WWW-Authenticate"] = "Bearer";
    } else {
      try {
        if (params.empty()) {
          response = it->second.handler(request);
        } else {
          HttpRequest with_params = request;
          with_params.path_params = std::move(params);
          response = it->second.handler(with_params);
        }
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
