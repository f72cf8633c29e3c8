#include "resilience/probe.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace rift::resilience {
namespace {

constexpr size_t kMaxAnswer = 64 * 1024;

#ifndef MSG_NOSIGNAL
constexpr int MSG_NOSIGNAL = 0;  // macOS: the watchdog ignores SIGPIPE
#endif

int LeftMs(TimePoint deadline) {
  auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<int64_t>(left, 60'000));
}

// Waits for `events` on fd until the deadline: 1 ready, 0 timed out, -1 error.
int Wait(int fd, short events, TimePoint deadline) {
  for (;;) {
    int left = LeftMs(deadline);
    if (left == 0) return 0;
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, left);
    if (r < 0 && errno == EINTR) continue;
    return r < 0 ? -1 : r;
  }
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

ProbeResult ProbeHealth(const std::string& host, int port, Duration timeout) {
  ProbeResult out;
  const TimePoint deadline = Clock::now() + timeout;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* ai = nullptr;
  std::string service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &ai); rc != 0) {
    out.detail = "cannot resolve " + host + ": " + ::gai_strerror(rc);
    return out;
  }
  Fd s;
  s.fd = ::socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
  if (s.fd < 0) {
    ::freeaddrinfo(ai);
    out.detail = std::string("socket: ") + std::strerror(errno);
    return out;
  }
  ::fcntl(s.fd, F_SETFD, FD_CLOEXEC);
  ::fcntl(s.fd, F_SETFL, ::fcntl(s.fd, F_GETFL) | O_NONBLOCK);
  int rc = ::connect(s.fd, ai->ai_addr, ai->ai_addrlen);
  int err = rc == 0 ? 0 : errno;
  ::freeaddrinfo(ai);
  const std::string where = host + ":" + service;
  if (rc != 0 && err == EINPROGRESS) {
    int w = Wait(s.fd, POLLOUT, deadline);
    if (w == 0) {
      out.health = Health::kTimeout;
      out.detail = "connect to " + where + " timed out";
      return out;
    }
    socklen_t len = sizeof err;
    if (w < 0 || ::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  }
  if (err != 0) {
    out.health = err == ECONNREFUSED ? Health::kRefused : Health::kError;
    out.detail = "connect to " + where + ": " + std::strerror(err);
    return out;
  }
  const std::string request = "GET /health HTTP/1.0\r\nHost: " + where +
                              "\r\nConnection: close\r\nUser-Agent: ringrift-resilience\r\n\r\n";
  size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = ::send(s.fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (Wait(s.fd, POLLOUT, deadline) > 0) continue;
      out.health = Health::kTimeout;
      out.detail = "sending to " + where + " timed out";
      return out;
    }
    out.detail = std::string("send: ") + std::strerror(errno);
    return out;
  }
  std::string answer;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(s.fd, buf, sizeof buf, 0);
    if (n > 0) {
      answer.append(buf, static_cast<size_t>(n));
      if (answer.size() > kMaxAnswer) break;
      continue;
    }
    if (n == 0) break;
    if (errno == EAGAIN || errno == EINTR) {
      int w = Wait(s.fd, POLLIN, deadline);
      if (w > 0) continue;
      out.health = Health::kTimeout;
      out.detail = "no answer from " + where + " within " + std::to_string(ToMillis(timeout)) +
                   " ms";
      return out;
    }
    out.detail = "receive from " + where + ": " + std::strerror(errno);
    return out;
  }
  // "HTTP/1.x NNN ..." then headers, a blank line and the body.
  if (answer.rfind("HTTP/1.", 0) != 0 || answer.size() < 12) {
    out.detail = answer.empty() ? "connection to " + where + " closed without an answer"
                                : "not an HTTP answer from " + where;
    return out;
  }
  out.http_status = std::atoi(answer.c_str() + 9);
  size_t body = answer.find("\r\n\r\n");
  if (body != std::string::npos) out.body = answer.substr(body + 4);
  if (out.http_status != 200) {
    out.detail = "/health answered HTTP " + std::to_string(out.http_status);
    return out;
  }
  out.health = Health::kOk;
  return out;
}

}  // namespace rift::resilience
