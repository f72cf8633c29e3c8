#pragma once
// The one adapter between cpp-httplib and the Router (httplib stays in http_server.cc).
//
// Bounds: body size, request line and headers (the library's 8 KiB limits), worker count, a
// bounded queue of accepted connections (when full, the connection is answered 503 and closed
// at once), read/write timeouts, keep-alive time and request count. TCP_NODELAY on.
// Exceptions become the JSON error shape; exception text never reaches a header.
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "orchestrator/api/router.h"
#include "orchestrator/base/status.h"

namespace rift::api {

struct ServerOptions {
  std::string bind_host = "0.0.0.0";
  int port = 8770;  // 0 = any free port (see HttpServer::port())
  size_t max_body_bytes = 1 << 20;
  size_t min_workers = 4;   // resident threads; more start on demand
  size_t workers = 96;      // at most this many connections are served at once
  size_t max_pending_connections = 64;
  std::chrono::milliseconds read_timeout{5000};
  std::chrono::milliseconds write_timeout{5000};
  std::chrono::seconds keep_alive_timeout{2};
  size_t keep_alive_max_requests = 10000;
};

class HttpServer {
 public:
  // `router` must outlive the server.
  HttpServer(const Router* router, ServerOptions options);
  ~HttpServer();  // Stop()s
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds the listening socket (kUnavailable if the address is taken). Connections made after
  // Bind() wait in the kernel's backlog until Serve().
  Status Bind();
  // The bound port (the real one when options.port was 0); 0 before Bind().
  int port() const;
  // Starts the accept loop on its own thread and returns once it runs.
  Status Serve();
  // Stops accepting, closes connections, joins the workers. Idempotent.
  void Stop();

  // Connections refused because the queue was full.
  size_t rejected() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rift::api
