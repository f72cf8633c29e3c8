#pragma once
// A keep-alive HTTP client for one base URL ("http://host:port"); httplib stays in
// http_client.cc. Thread-safe: requests on one client are serialised (one connection).
#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "orchestrator/base/status.h"

namespace rift::net {

struct ClientOptions {
  std::chrono::milliseconds connect_timeout{300};
  std::chrono::milliseconds read_timeout{1000};
  std::chrono::milliseconds write_timeout{1000};
  std::string auth_token;  // sent as `Authorization: Bearer` when non-empty
};

struct HttpResult {
  int status = 0;
  std::string body;
  std::string content_type;
  std::map<std::string, std::string> headers;  // lower-case names; filled by Stream() only
};

// Streaming: `on_head` sees the status and headers first (false cancels); `on_data` then gets
// the body of a 2xx answer as it arrives (false cancels). Other answers' bodies (errors) are
// collected into HttpResult::body, up to 64 KiB.
struct StreamHandlers {
  std::function<bool(const HttpResult& head)> on_head;
  std::function<bool(const char* data, size_t len)> on_data;
};

class HttpClient {
 public:
  // kInvalidArgument for a URL that is not http(s)://host[:port].
  static Result<std::unique_ptr<HttpClient>> Create(const std::string& base_url,
                                                    ClientOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Transport failures (refused, timeout, reset) come back as kUnavailable / kDeadlineExceeded;
  // any HTTP status is a success here.
  Result<HttpResult> Post(const std::string& path, const std::string& body,
                          const std::string& content_type,
                          const std::vector<std::pair<std::string, std::string>>& headers = {});
  Result<HttpResult> Get(const std::string& path,
                         const std::vector<std::pair<std::string, std::string>>& headers = {});
  // Any method, body streamed out of the response (large files, batches). A cancel by a handler
  // comes back as kUnavailable ("canceled"); the handler knows why it cancelled.
  Result<HttpResult> Stream(const std::string& method, const std::string& path,
                            const std::vector<std::pair<std::string, std::string>>& headers,
                            const StreamHandlers& handlers, const std::string& body = "",
                            const std::string& content_type = "");
  // GET with the body read straight off a plain socket into a buffer of `buffer_bytes`, and
  // handed to `on_data` in pieces of up to that size (large files: cpp-httplib's compiled
  // client reads 4 KiB at a time). One connection per call (Connection: close), same timeouts,
  // token and answer shapes as Stream(); bodies need Content-Length or end at EOF (chunked
  // answers are refused). https:// base URLs fall back to Stream().
  Result<HttpResult> Download(const std::string& path,
                              const std::vector<std::pair<std::string, std::string>>& headers,
                              const StreamHandlers& handlers, size_t buffer_bytes = 1 << 20);
  const std::string& base_url() const;

 private:
  struct Impl;
  explicit HttpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace rift::net
