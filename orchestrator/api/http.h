#pragma once
// Plain HTTP request/response structs. Handlers see only these; the one file that talks to
// cpp-httplib (http_server.cc) converts at the edge, so handlers are testable without sockets.
#include <map>
#include <string>
#include <string_view>

namespace rift::api {

struct CaseInsensitiveLess {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const;
};
using Headers = std::map<std::string, std::string, CaseInsensitiveLess>;

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // without the query string
  std::map<std::string, std::string> query;
  Headers headers;
  std::string body;
  std::string remote_addr;  // from the socket, never from a header

  // Empty when absent.
  std::string Header(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  Headers headers;
};

HttpResponse JsonResponse(int status, std::string body);

}  // namespace rift::api
