// The only file that includes <httplib.h> for outbound requests of the daemon.
#include "orchestrator/net/http_client.h"

#include <httplib.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>

namespace rift::net {
namespace {

// Accepts http(s)://host[:port][/]; the path part must be empty.
bool ValidBaseUrl(const std::string& url) {
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return false;
  std::string scheme = url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") return false;
  std::string rest = url.substr(scheme_end + 3);
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.empty() || rest.find('/') != std::string::npos) return false;
  return rest.find_first_of(" \t\r\n?#@") == std::string::npos;
}

Status TransportError(httplib::Error e, const std::string& url) {
  std::string what = httplib::to_string(e);
  if (e == httplib::Error::ConnectionTimeout) return DeadlineExceeded(url + ": " + what);
  if (e == httplib::Error::Read) return Unavailable(url + ": " + what + " (or timeout)");
  return Unavailable(url + ": " + what);
}

// A connected socket, closed on scope exit.
class Socket {
 public:
  Socket() = default;
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd() const { return fd_; }
  void reset(int fd) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

int Millis(std::chrono::milliseconds d) { return static_cast<int>(std::max<int64_t>(1, d.count())); }

// Waits for `events` on a non-blocking socket: true when ready.
bool WaitFor(int fd, short events, std::chrono::milliseconds timeout) {
  pollfd p{fd, events, 0};
  for (;;) {
    int n = ::poll(&p, 1, Millis(timeout));
    if (n < 0 && errno == EINTR) continue;
    return n > 0;
  }
}

Status Connect(const std::string& host, const std::string& port, std::chrono::milliseconds timeout,
               const std::string& url, Socket* out) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    return Unavailable(url + ": cannot resolve: " + ::gai_strerror(rc));
  }
  std::string last = "no address";
  bool timed_out = false;
  for (addrinfo* a = res; a; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) continue;
    out->reset(fd);
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        last = std::strerror(errno);
        continue;
      }
      if (!WaitFor(fd, POLLOUT, timeout)) {
        last = "connect timed out";
        timed_out = true;
        continue;
      }
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        last = std::strerror(err);
        continue;
      }
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ::freeaddrinfo(res);
    return Status::Ok();
  }
  ::freeaddrinfo(res);
  out->reset(-1);
  if (timed_out) return DeadlineExceeded(url + ": " + last);
  return Unavailable(url + ": " + last);
}

// Reads what is there (at most `len`): >0 bytes, 0 at EOF, -1 on error/timeout (in *error).
ssize_t ReadSome(int fd, char* buf, size_t len, std::chrono::milliseconds timeout,
                 const std::string& url, Status* error) {
  for (;;) {
    ssize_t n = ::recv(fd, buf, len, 0);
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      *error = Unavailable(url + ": read: " + std::strerror(errno));
      return -1;
    }
    if (!WaitFor(fd, POLLIN, timeout)) {
      *error = Unavailable(url + ": read timed out");
      return -1;
    }
  }
}

Status WriteFull(int fd, const std::string& data, std::chrono::milliseconds timeout,
                 const std::string& url) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n >= 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      return Unavailable(url + ": write: " + std::strerror(errno));
    }
    if (!WaitFor(fd, POLLOUT, timeout)) return Unavailable(url + ": write timed out");
  }
  return Status::Ok();
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string Trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t");
  if (a == std::string::npos) return "";
  size_t b = s.find_last_not_of(" \t\r");
  return s.substr(a, b - a + 1);
}

// Parses "HTTP/1.x NNN reason\r\n(name: value\r\n)*" (the blank line excluded).
bool ParseHead(const std::string& text, HttpResult* out) {
  size_t eol = text.find("\r\n");
  std::string status_line = text.substr(0, eol);
  if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12) return false;
  out->status = std::atoi(status_line.c_str() + 9);
  if (out->status < 100 || out->status > 599) return false;
  size_t pos = eol == std::string::npos ? text.size() : eol + 2;
  while (pos < text.size()) {
    size_t end = text.find("\r\n", pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 2;
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    out->headers[Lower(Trim(line.substr(0, colon)))] = Trim(line.substr(colon + 1));
  }
  auto ct = out->headers.find("content-type");
  if (ct != out->headers.end()) out->content_type = ct->second;
  return true;
}

}  // namespace

struct HttpClient::Impl {
  std::string base_url;
  ClientOptions options;
  std::mutex mu;  // one request at a time on the keep-alive connection
  std::unique_ptr<httplib::Client> client;

  httplib::Headers MakeHeaders(const std::vector<std::pair<std::string, std::string>>& extra) {
    httplib::Headers h;
    if (!options.auth_token.empty()) h.emplace("Authorization", "Bearer " + options.auth_token);
    for (const auto& [k, v] : extra) h.emplace(k, v);
    return h;
  }

  Result<HttpResult> Convert(httplib::Result r) {
    if (!r) return TransportError(r.error(), base_url);
    HttpResult out;
    out.status = r->status;
    out.body = std::move(r->body);
    out.content_type = r->get_header_value("Content-Type");
    return out;
  }
};

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpClient::~HttpClient() = default;

Result<std::unique_ptr<HttpClient>> HttpClient::Create(const std::string& base_url,
                                                       ClientOptions options) {
  if (!ValidBaseUrl(base_url)) {
    return InvalidArgument("not an http(s)://host[:port] URL: '" + base_url + "'");
  }
  auto impl = std::make_unique<Impl>();
  impl->base_url = base_url;
  impl->options = std::move(options);
  std::string url = base_url;
  if (url.back() == '/') url.pop_back();
  impl->client = std::make_unique<httplib::Client>(url);
  if (!impl->client->is_valid()) return InvalidArgument("cannot create a client for " + url);
  auto& c = *impl->client;
  c.set_tcp_nodelay(true);
  c.set_keep_alive(true);
  c.set_connection_timeout(impl->options.connect_timeout);
  c.set_read_timeout(impl->options.read_timeout);
  c.set_write_timeout(impl->options.write_timeout);
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(impl)));
}

Result<HttpResult> HttpClient::Post(
    const std::string& path, const std::string& body, const std::string& content_type,
    const std::vector<std::pair<std::string, std::string>>& headers) {
  std::lock_guard lock(impl_->mu);
  return impl_->Convert(
      impl_->client->Post(path.c_str(), impl_->MakeHeaders(headers), body, content_type.c_str()));
}

Result<HttpResult> HttpClient::Get(
    const std::string& path, const std::vector<std::pair<std::string, std::string>>& headers) {
  std::lock_guard lock(impl_->mu);
  return impl_->Convert(impl_->client->Get(path.c_str(), impl_->MakeHeaders(headers)));
}

Result<HttpResult> HttpClient::Stream(
    const std::string& method, const std::string& path,
    const std::vector<std::pair<std::string, std::string>>& headers,
    const StreamHandlers& handlers, const std::string& body, const std::string& content_type) {
  constexpr size_t kMaxErrorBody = 64 << 10;
  std::lock_guard lock(impl_->mu);
  HttpResult head;
  httplib::Request req;
  req.method = method;
  req.path = path;
  req.headers = impl_->MakeHeaders(headers);
  req.body = body;
  if (!content_type.empty()) req.set_header("Content-Type", content_type);
  req.response_handler = [&](const httplib::Response& r) {
    head.status = r.status;
    head.content_type = r.get_header_value("Content-Type");
    for (const auto& [k, v] : r.headers) {
      std::string name = k;
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      head.headers[name] = v;
    }
    return !handlers.on_head || handlers.on_head(head);
  };
  req.content_receiver = [&](const char* data, size_t len, uint64_t, uint64_t) {
    if (head.status >= 200 && head.status < 300) return handlers.on_data(data, len);
    if (head.body.size() < kMaxErrorBody) {
      head.body.append(data, std::min(len, kMaxErrorBody - head.body.size()));
    }
    return true;
  };
  httplib::Result r = impl_->client->send(req);
  if (!r) {
    if (r.error() == httplib::Error::Canceled) return Unavailable(impl_->base_url + ": canceled");
    return TransportError(r.error(), impl_->base_url);
  }
  return head;
}

Result<HttpResult> HttpClient::Download(
    const std::string& path, const std::vector<std::pair<std::string, std::string>>& headers,
    const StreamHandlers& handlers, size_t buffer_bytes) {
  constexpr size_t kMaxHead = 64 << 10;
  constexpr size_t kMaxErrorBody = 64 << 10;
  const std::string& url = impl_->base_url;
  if (url.rfind("http://", 0) != 0) return Stream("GET", path, headers, handlers);
  std::string hostport = url.substr(7);
  if (!hostport.empty() && hostport.back() == '/') hostport.pop_back();
  std::string host = hostport, port = "80";
  if (size_t colon = hostport.rfind(':');
      colon != std::string::npos && hostport.find(']', colon) == std::string::npos) {
    host = hostport.substr(0, colon);
    port = hostport.substr(colon + 1);
  }
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const ClientOptions& o = impl_->options;
  Socket sock;
  RIFT_RETURN_IF_ERROR(Connect(host, port, o.connect_timeout, url, &sock));
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: " + hostport +
                    "\r\nConnection: close\r\nAccept: */*\r\n";
  if (!o.auth_token.empty()) req += "Authorization: Bearer " + o.auth_token + "\r\n";
  for (const auto& [k, v] : headers) {
    if ((k + v).find_first_of("\r\n") != std::string::npos) {
      return InvalidArgument("header " + k + " contains a line break");
    }
    req += k + ": " + v + "\r\n";
  }
  req += "\r\n";
  RIFT_RETURN_IF_ERROR(WriteFull(sock.fd(), req, o.write_timeout, url));

  std::vector<char> buf(std::max<size_t>(buffer_bytes, kMaxHead));
  size_t fill = 0, head_end = std::string::npos;
  Status error;
  while (head_end == std::string::npos) {
    if (fill == kMaxHead) return Unavailable(url + ": response head over 64 KiB");
    ssize_t n = ReadSome(sock.fd(), buf.data() + fill, kMaxHead - fill, o.read_timeout, url, &error);
    if (n < 0) return error;
    if (n == 0) return Unavailable(url + ": connection closed before the response head");
    size_t from = fill >= 3 ? fill - 3 : 0;
    fill += static_cast<size_t>(n);
    std::string_view seen(buf.data() + from, fill - from);
    if (size_t at = seen.find("\r\n\r\n"); at != std::string_view::npos) head_end = from + at;
  }
  HttpResult head;
  if (!ParseHead(std::string(buf.data(), head_end), &head)) {
    return Unavailable(url + ": malformed response head");
  }
  auto te = head.headers.find("transfer-encoding");
  if (te != head.headers.end() && Lower(te->second) != "identity") {
    return Unavailable(url + ": unsupported Transfer-Encoding " + te->second);
  }
  uint64_t remaining = ~uint64_t{0};  // without Content-Length: to EOF
  auto cl = head.headers.find("content-length");
  bool sized = cl != head.headers.end();
  if (sized) remaining = std::strtoull(cl->second.c_str(), nullptr, 10);
  if (handlers.on_head && !handlers.on_head(head)) return Unavailable(url + ": canceled");
  bool ok_status = head.status >= 200 && head.status < 300;
  // Body bytes already read with the head move to the front of the buffer.
  size_t body_start = head_end + 4;
  fill -= body_start;
  std::memmove(buf.data(), buf.data() + body_start, fill);
  if (fill > remaining) fill = static_cast<size_t>(remaining);
  remaining -= fill;
  bool eof = false;
  for (;;) {
    // Fill the buffer (or reach the end), then hand it over in one piece.
    while (fill < buf.size() && remaining > 0 && !eof) {
      size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size() - fill, remaining));
      ssize_t n = ReadSome(sock.fd(), buf.data() + fill, want, o.read_timeout, url, &error);
      if (n < 0) break;
      if (n == 0) {
        eof = true;
        break;
      }
      fill += static_cast<size_t>(n);
      remaining -= static_cast<size_t>(n);
    }
    if (fill > 0) {
      if (ok_status) {
        if (!handlers.on_data(buf.data(), fill)) return Unavailable(url + ": canceled");
      } else if (head.body.size() < kMaxErrorBody) {
        head.body.append(buf.data(), std::min(fill, kMaxErrorBody - head.body.size()));
      }
      fill = 0;
    }
    if (!error.ok()) return error;
    if (remaining == 0 || eof) break;
  }
  if (eof && sized && remaining > 0) {
    // Short body: the caller sees fewer bytes than announced (as with Stream()).
    return Unavailable(url + ": connection closed " + std::to_string(remaining) +
                       " bytes before the end of the body");
  }
  return head;
}

const std::string& HttpClient::base_url() const { return impl_->base_url; }

}  // namespace rift::net
