#pragma once
// Plain HTTP request/response structs. Handlers see only these; the one file that talks to
// cpp-httplib (http_server.cc) converts at the edge, so handlers are testable without sockets.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
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
  // Values of the matched route's {name} segments (Router fills it), e.g. {"id": "n1-..."}.
  std::map<std::string, std::string> path_params;
  Headers headers;
  std::string body;
  std::string remote_addr;  // from the socket, never from a header

  // Empty when absent.
  std::string Header(std::string_view name) const;
};

// A response body produced on demand (files): the server pulls it in chunks, so memory stays
// flat whatever the size. Called from the serving thread only; destroyed when the response is
// done (sent, failed or aborted by HttpServer::Stop()), so its destructor releases resources.
class BodySource {
 public:
  static constexpr uint64_t kUnknownSize = ~uint64_t{0};
  virtual ~BodySource() = default;
  // Exact byte count (sent with Content-Length), or kUnknownSize: sent chunked, and the body
  // ends when Read() returns true with *got == 0.
  virtual uint64_t size() const = 0;
  // Reads up to `len` bytes at `offset` (offsets only grow, without gaps). False aborts the
  // response (the connection is closed; the client sees a short body). With a known size,
  // *got == 0 before the end is also an abort.
  virtual bool Read(uint64_t offset, char* buf, size_t len, size_t* got) = 0;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  Headers headers;
  // When set, the body comes from here and `body` is ignored. The HTTP layer does not apply
  // Range to it: the handler answers Range itself (status, Content-Range, the slice).
  std::shared_ptr<BodySource> body_source;
};

HttpResponse JsonResponse(int status, std::string body);

}  // namespace rift::api
