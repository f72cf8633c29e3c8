#include "orchestrator/base/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace rift::sd {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::optional<uint64_t> ParseUnsigned(const std::string& s) {
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

#ifndef MSG_NOSIGNAL
constexpr int MSG_NOSIGNAL = 0;  // macOS: SIGPIPE is ignored by the daemons anyway
#endif

}  // namespace

Notifier Notifier::FromEnvironment(bool unset_environment) {
  std::string socket = Env("NOTIFY_SOCKET");
  std::optional<std::chrono::microseconds> watchdog;
  auto usec = ParseUnsigned(Env("WATCHDOG_USEC"));
  std::string pid_text = Env("WATCHDOG_PID");
  auto pid = ParseUnsigned(pid_text);
  bool ours = pid_text.empty() || (pid && *pid == static_cast<uint64_t>(::getpid()));
  if (usec && *usec > 0 && ours) watchdog = std::chrono::microseconds(*usec);
  if (unset_environment) {
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    ::unsetenv("WATCHDOG_PID");
  }
  return Notifier(std::move(socket), watchdog);
}

Status Notifier::Notify(std::string_view state) const {
  if (socket_.empty()) return Status::Ok();
  if (socket_[0] != '/' && socket_[0] != '@') {
    return InvalidArgument("NOTIFY_SOCKET '" + socket_ + "': only unix socket paths are supported");
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_.size() > sizeof(addr.sun_path) - (socket_[0] == '@' ? 0 : 1)) {
    return InvalidArgument("NOTIFY_SOCKET '" + socket_ + "' is too long");
  }
  std::memcpy(addr.sun_path, socket_.data(), socket_.size());
  if (socket_[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace: no trailing NUL
  auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_.size() +
                                    (socket_[0] == '@' ? 0 : 1));
#ifdef SOCK_CLOEXEC
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
#else
  int fd = ::socket(AF_UNIX, SOCK_DGRAM, 0);
#endif
  if (fd < 0) return Unavailable(std::string("notify socket: ") + std::strerror(errno));
  ssize_t n = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                       reinterpret_cast<const sockaddr*>(&addr), len);
  int err = errno;
  ::close(fd);
  if (n < 0) {
    return Unavailable("cannot notify " + socket_ + ": " + std::strerror(err));
  }
  return Status::Ok();
}

}  // namespace rift::sd
