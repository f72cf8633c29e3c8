#pragma once
// Router: (method, path pattern) -> handler, with the auth middleware and per-route request
// counters. Handle() never throws: a throwing handler becomes a 500 with the JSON error shape.
//
// Patterns are exact paths or have `{name}` segments (`/jobs/{id}/log`): a segment in braces
// matches one non-empty path segment, whose value the handler finds in
// HttpRequest::path_params. Exact paths take priority; among patterns, the first added that
// matches wins. Requests are counted under the pattern, never the raw path.
//
// Order of checks: unknown path -> 404; known path, other method -> 405 with Allow; then auth
// (every route except those added as public) -> 401; then the handler.
//
// Thread-safety: Add() before serving; Handle() and the counters are safe from many threads.
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "orchestrator/api/http.h"

namespace rift::api {

using Handler = std::function<HttpResponse(const HttpRequest&)>;

enum class Access { kToken, kPublic };

class Router {
 public:
  // `token` empty = no auth (open cluster; the daemon warns at start).
  explicit Router(std::string token);

  void Add(const std::string& method, const std::string& path, Handler handler,
           Access access = Access::kToken);
  HttpResponse Handle(const HttpRequest& request) const;

  // Counts a response produced outside Handle() (e.g. 413 from the HTTP layer).
  void Count(const std::string& route, int status) const;
  // (route pattern or "unmatched", status) -> count.
  std::map<std::pair<std::string, int>, uint64_t> RequestCounts() const;

 private:
  struct Route {
    Handler handler;
    Access access;
  };
  using Methods = std::map<std::string, Route>;
  struct Pattern {
    std::string text;                   // as added, e.g. "/jobs/{id}/log"
    std::vector<std::string> segments;  // "{id}" stays in braces
    Methods methods;
  };
  bool Authorized(const HttpRequest& request) const;
  // The route for `path` (exact first, then patterns), with its pattern text and captured
  // values; nullptr if none.
  const Methods* Match(const std::string& path, std::string* pattern,
                       std::map<std::string, std::string>* params) const;

  std::string token_;
  std::map<std::string, Methods> routes_;  // exact path -> method -> route
  std::vector<Pattern> patterns_;          // paths with {name} segments, in the order added
  mutable std::mutex mu_;
  mutable std::map<std::pair<std::string, int>, uint64_t> counts_;
};

// Token from `Authorization: Bearer <t>` or `X-RingRift-Auth: <t>`; empty if neither.
std::string RequestToken(const HttpRequest& request);
// Constant-time comparison (time depends only on the lengths).
bool TokenEquals(std::string_view expected, std::string_view given);

}  // namespace rift::api
