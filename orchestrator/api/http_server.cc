// The only file that includes <httplib.h> for serving.
#include "orchestrator/api/http_server.h"

#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "orchestrator/api/errors.h"
#include "orchestrator/base/log.h"

namespace rift::api {
namespace {

// Set on the accept thread while it runs a connection that the queue had no room for.
thread_local bool t_overloaded = false;

// A fixed pool with a bounded queue. cpp-httplib hands us "process this socket" closures that
// own the socket, so a full queue cannot simply drop one: it runs it inline on the accept thread
// flagged as overloaded, and the pre-routing handler answers 503 with Connection: close at once.
class BoundedPool : public httplib::TaskQueue {
 public:
  BoundedPool(size_t workers, size_t capacity, std::atomic<size_t>* rejected)
      : capacity_(capacity), rejected_(rejected) {
    for (size_t i = 0; i < workers; ++i) threads_.emplace_back([this] { Work(); });
  }
  void enqueue(std::function<void()> fn) override {
    {
      std::lock_guard lock(mu_);
      if (jobs_.size() < capacity_) {
        jobs_.push_back(std::move(fn));
        cv_.notify_one();
        return;
      }
    }
    rejected_->fetch_add(1);
    t_overloaded = true;
    fn();
    t_overloaded = false;
  }
  void shutdown() override {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

 private:
  void Work() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        fn = std::move(jobs_.front());
        jobs_.pop_front();
      }
      fn();
    }
  }
  size_t capacity_;
  std::atomic<size_t>* rejected_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  bool stop_ = false;
};

void WriteResponse(const HttpResponse& in, httplib::Response& out) {
  out.status = in.status;
  for (const auto& [k, v] : in.headers) out.set_header(k, v);
  out.set_content(in.body, in.content_type.c_str());
}

HttpRequest Convert(const httplib::Request& req) {
  HttpRequest r;
  r.method = req.method;
  r.path = req.path;
  for (const auto& [k, v] : req.params) r.query.emplace(k, v);
  for (const auto& [k, v] : req.headers) {
    if (k == "REMOTE_ADDR" || k == "REMOTE_PORT" || k == "LOCAL_ADDR" || k == "LOCAL_PORT") {
      continue;  // set by the library (or spoofed by the client): the socket's value is used
    }
    r.headers.emplace(k, v);
  }
  r.body = req.body;
  r.remote_addr = req.remote_addr;
  return r;
}

}  // namespace

struct HttpServer::Impl {
  const Router* router;
  ServerOptions options;
  httplib::Server server;
  std::thread thread;
  int port = 0;
  bool bound = false;
  std::atomic<size_t> rejected{0};
  std::atomic<bool> listen_failed{false};
  std::atomic<bool> finished{false};
};

HttpServer::HttpServer(const Router* router, ServerOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->router = router;
  impl_->options = std::move(options);
  auto& s = impl_->server;
  const auto& o = impl_->options;
  s.set_tcp_nodelay(true);
  s.set_payload_max_length(o.max_body_bytes);
  s.set_read_timeout(o.read_timeout);
  s.set_write_timeout(o.write_timeout);
  s.set_keep_alive_timeout(o.keep_alive_timeout.count());
  s.set_keep_alive_max_count(o.keep_alive_max_requests);
  Impl* impl = impl_.get();
  s.new_task_queue = [impl] {
    return new BoundedPool(impl->options.workers, impl->options.max_pending_connections,
                           &impl->rejected);
  };
  s.set_pre_routing_handler([impl](const httplib::Request& req, httplib::Response& res) {
    if (!t_overloaded) return httplib::Server::HandlerResponse::Unhandled;
    // Ask the client to close so the accept thread is free again at once.
    const_cast<httplib::Request&>(req).set_header("Connection", "close");
    WriteResponse(ErrorResponse(Unavailable("server busy; retry")), res);
    res.set_header("Retry-After", "1");
    impl->router->Count("overloaded", 503);
    return httplib::Server::HandlerResponse::Handled;
  });
  auto dispatch = [impl](const httplib::Request& req, httplib::Response& res) {
    WriteResponse(impl->router->Handle(Convert(req)), res);
  };
  for (const char* pattern : {".*"}) {
    s.Get(pattern, dispatch);
    s.Post(pattern, dispatch);
    s.Put(pattern, dispatch);
    s.Delete(pattern, dispatch);
    s.Patch(pattern, dispatch);
    s.Options(pattern, dispatch);
  }
  // Errors the library produces itself (413 body too large, 400 bad request line, 414 ...):
  // give them the JSON shape unless a handler already wrote a body.
  s.set_error_handler(
      httplib::Server::HandlerWithResponse([impl](const httplib::Request&, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        std::string message =
            res.status == 413
                ? "request body exceeds " + std::to_string(impl->options.max_body_bytes) + " bytes"
                : "malformed or unsupported HTTP request (a body "
                  "needs Content-Length or chunked encoding)";
        WriteResponse(ErrorResponse(res.status, CodeNameForHttpStatus(res.status), message), res);
        impl->router->Count("unmatched", res.status);
        return httplib::Server::HandlerResponse::Handled;
      }));
  s.set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown";
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        log::Error("exception serving " + req.path + ": " + what);
        WriteResponse(ErrorResponse(Internal("internal error")), res);
      });
}

HttpServer::~HttpServer() { Stop(); }

Status HttpServer::Bind() {
  auto& o = impl_->options;
  int port = o.port == 0 ? impl_->server.bind_to_any_port(o.bind_host)
                         : (impl_->server.bind_to_port(o.bind_host, o.port) ? o.port : -1);
  if (port <= 0) {
    return Unavailable("cannot bind " + o.bind_host + ":" + std::to_string(o.port) +
                       " (address in use or not available)");
  }
  impl_->port = port;
  impl_->bound = true;
  return Status::Ok();
}

int HttpServer::port() const { return impl_->port; }

Status HttpServer::Serve() {
  if (!impl_->bound) return FailedPrecondition("Serve() before Bind()");
  if (impl_->thread.joinable()) return Status::Ok();
  Impl* impl = impl_.get();
  impl_->thread = std::thread([impl] {
    if (!impl->server.listen_after_bind()) impl->listen_failed = true;
    impl->finished = true;
  });
  while (!impl_->server.is_running() && !impl_->finished) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (impl_->listen_failed) return Unavailable("HTTP server failed to start listening");
  return Status::Ok();
}

void HttpServer::Stop() {
  if (!impl_) return;
  if (impl_->thread.joinable()) {
    impl_->server.stop();
    impl_->thread.join();
  } else if (impl_->bound) {
    impl_->server.stop();  // closes the bound socket
  }
  impl_->bound = false;
}

size_t HttpServer::rejected() const { return impl_->rejected.load(); }

}  // namespace rift::api
