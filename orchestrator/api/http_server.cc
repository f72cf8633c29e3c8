// The only file that includes <httplib.h> for serving.
#include "orchestrator/api/http_server.h"

#include <dirent.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>

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

constexpr int kListenBacklog = 1024;

// An elastic pool with a bounded queue. cpp-httplib runs a keep-alive connection on one worker
// for the connection's whole life, so a fixed pool lets a few busy clients starve everyone else
// (including /health). Workers are therefore started on demand, up to `max_workers`, and extra
// idle ones retire after `idle_retire`, so an idle daemon keeps only `min_workers` threads.
// cpp-httplib hands us "process this socket" closures that own the socket, so a full queue
// cannot simply drop one: it runs it inline on the accept thread flagged as overloaded, and the
// pre-routing handler answers 503 with Connection: close at once.
class ElasticPool : public httplib::TaskQueue {
 public:
  ElasticPool(size_t min_workers, size_t max_workers, size_t capacity,
              std::atomic<size_t>* rejected)
      : min_(std::max<size_t>(1, min_workers)),
        max_(std::max(min_, max_workers)),
        capacity_(capacity),
        rejected_(rejected) {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < min_; ++i) StartWorkerLocked();
  }
  void enqueue(std::function<void()> fn) override {
    {
      std::lock_guard lock(mu_);
      if (idle_ <= jobs_.size() && live_ < max_) StartWorkerLocked();
      if (idle_ > jobs_.size() || jobs_.size() < capacity_) {
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
    std::vector<std::thread> finished;
    {
      std::unique_lock lock(mu_);
      stop_ = true;
      cv_.notify_all();
      done_.wait(lock, [this] { return live_ == 0; });
      finished.swap(finished_);
    }
    for (auto& t : finished) t.join();
  }

 private:
  void StartWorkerLocked() {
    ++live_;
    // Join workers that retired since the last start (they have left Work(); join is quick).
    for (auto& t : finished_) t.join();
    finished_.clear();
    std::thread t([this] { Work(); });
    std::thread::id id = t.get_id();
    threads_.emplace(id, std::move(t));
  }
  void Work() {
    std::unique_lock lock(mu_);
    for (;;) {
      ++idle_;
      bool woke = cv_.wait_for(lock, kIdleRetire, [this] { return stop_ || !jobs_.empty(); });
      --idle_;
      if (jobs_.empty() && (stop_ || (!woke && live_ > min_))) break;
      if (jobs_.empty()) continue;
      std::function<void()> fn = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      fn();
      fn = nullptr;  // release the connection before re-locking
      lock.lock();
    }
    // Hand our own thread object over to be joined by someone else (a thread cannot join itself).
    auto it = threads_.find(std::this_thread::get_id());
    finished_.push_back(std::move(it->second));
    threads_.erase(it);
    if (--live_ == 0) done_.notify_all();
  }

  static constexpr std::chrono::seconds kIdleRetire{10};
  const size_t min_, max_, capacity_;
  std::atomic<size_t>* rejected_;
  std::mutex mu_;
  std::condition_variable cv_, done_;
  std::deque<std::function<void()>> jobs_;
  std::map<std::thread::id, std::thread> threads_;
  std::vector<std::thread> finished_;
  size_t live_ = 0, idle_ = 0;
  bool stop_ = false;
};

constexpr size_t kStreamChunk = 256 << 10;

// Streams a BodySource through a content provider: one chunk buffer per response, whatever the
// body's size. The provider (and with it the source) is released when the response is done.
void StreamBody(std::shared_ptr<BodySource> src, const std::string& content_type,
                httplib::Response& out) {
  auto buf = std::make_shared<std::vector<char>>();
  auto read = [src, buf](size_t offset, size_t* got) {
    if (buf->empty()) buf->resize(kStreamChunk);
    *got = 0;
    return src->Read(offset, buf->data(), buf->size(), got);
  };
  uint64_t size = src->size();
  if (size == BodySource::kUnknownSize) {
    out.set_chunked_content_provider(content_type, [read, buf](size_t offset,
                                                               httplib::DataSink& sink) {
      size_t got = 0;
      if (!read(offset, &got)) return false;
      if (got == 0) {
        sink.done();
        return true;
      }
      return sink.write(buf->data(), got);
    });
    return;
  }
  out.set_content_provider(static_cast<size_t>(size), content_type,
                           [read, buf](size_t offset, size_t length, httplib::DataSink& sink) {
                             size_t got = 0;
                             if (!read(offset, &got) || got == 0) return false;
                             return sink.write(buf->data(), std::min(got, length));
                           });
}

void WriteResponse(const HttpResponse& in, httplib::Response& out) {
  out.status = in.status;
  for (const auto& [k, v] : in.headers) out.set_header(k, v);
  if (in.body_source) {
    StreamBody(in.body_source, in.content_type, out);
    return;
  }
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

// Shuts down (without closing: their owners close them) this process's TCP sockets whose local
// port is `port`, i.e. the connections our server accepted. cpp-httplib gives no handle on
// them, and a worker blocked sending to a client that does not read would otherwise hold Stop()
// for the whole write timeout. Run after the listener is closed.
void ShutdownAcceptedConnections(int port) {
  DIR* d = ::opendir("/proc/self/fd");
  if (!d) return;
  while (dirent* e = ::readdir(d)) {
    int fd = std::atoi(e->d_name);
    if (fd <= 2 || fd == ::dirfd(d)) continue;
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    sockaddr_storage local{};
    socklen_t len = sizeof local;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) continue;
    int local_port = -1;
    if (local.ss_family == AF_INET) {
      local_port = ntohs(reinterpret_cast<sockaddr_in*>(&local)->sin_port);
    } else if (local.ss_family == AF_INET6) {
      local_port = ntohs(reinterpret_cast<sockaddr_in6*>(&local)->sin6_port);
    }
    int type = 0;
    socklen_t tlen = sizeof type;
    if (local_port != port || ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0 ||
        type != SOCK_STREAM) {
      continue;
    }
    sockaddr_storage peer{};
    len = sizeof peer;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) continue;  // listener
    ::shutdown(fd, SHUT_RDWR);
  }
  ::closedir(d);
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
  int listen_fd = -1;  // recorded when the socket is created, to widen its backlog
};

HttpServer::HttpServer(const Router* router, ServerOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->router = router;
  impl_->options = std::move(options);
  auto& s = impl_->server;
  const auto& o = impl_->options;
  s.set_tcp_nodelay(true);
  // Replaces cpp-httplib's default option setter (SO_REUSEADDR), and records the listening
  // socket: the library listens with a backlog of 5, which drops SYNs (a 1 s retransmit) as
  // soon as a few dozen clients connect at once; Bind() raises it.
  Impl* raw = impl_.get();
  s.set_socket_options([raw](int fd) {
    int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    raw->listen_fd = fd;
  });
  s.set_payload_max_length(o.max_body_bytes);
  s.set_read_timeout(o.read_timeout);
  s.set_write_timeout(o.write_timeout);
  s.set_keep_alive_timeout(o.keep_alive_timeout.count());
  s.set_keep_alive_max_count(o.keep_alive_max_requests);
  Impl* impl = impl_.get();
  s.new_task_queue = [impl] {
    return new ElasticPool(impl->options.min_workers, impl->options.workers,
                           impl->options.max_pending_connections,
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
    HttpResponse out = impl->router->Handle(Convert(req));
    // The library would slice these by the request's Range again: streamed bodies answer Range
    // themselves (206/416 with the exact slice), and an error body is never a byte range.
    if (out.body_source || out.status != 200) const_cast<httplib::Request&>(req).ranges.clear();
    WriteResponse(out, res);
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
  if (impl_->listen_fd >= 0) ::listen(impl_->listen_fd, kListenBacklog);  // re-listen: new backlog
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
    // Workers still streaming or waiting on keep-alive connections end at once, not after
    // their read/write timeouts.
    if (impl_->port > 0) ShutdownAcceptedConnections(impl_->port);
    impl_->thread.join();
  } else if (impl_->bound && impl_->listen_fd >= 0) {
    // cpp-httplib's stop() is a no-op until listen() runs: close the bound socket ourselves.
    ::close(impl_->listen_fd);
    impl_->listen_fd = -1;
  }
  impl_->bound = false;
}

size_t HttpServer::rejected() const { return impl_->rejected.load(); }

}  // namespace rift::api
