#pragma once
// systemd's notify protocol, without libsystemd: one datagram per state string ("READY=1",
// "WATCHDOG=1", "STOPPING=1", "STATUS=...") to the AF_UNIX socket named by $NOTIFY_SOCKET. A
// leading '@' names a socket in the abstract namespace. Without $NOTIFY_SOCKET (not run by
// systemd, or Type= is not notify) every call is a successful no-op.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "orchestrator/base/status.h"

namespace rift::sd {

class Notifier {
 public:
  // Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID. The watchdog interval is kept only
  // when WATCHDOG_PID is unset or names this process. With `unset_environment` the three
  // variables are removed from the environment, so that children (jobs, a spawned daemon) do
  // not notify on our behalf; call it before starting threads (unsetenv is not thread-safe).
  static Notifier FromEnvironment(bool unset_environment);

  Notifier() = default;
  explicit Notifier(std::string socket_path,
                    std::optional<std::chrono::microseconds> watchdog = std::nullopt)
      : socket_(std::move(socket_path)), watchdog_(watchdog) {}

  bool enabled() const { return !socket_.empty(); }
  const std::string& socket_path() const { return socket_; }
  // How often systemd expects WATCHDOG=1 at the latest (WatchdogSec=); ping at half of it.
  std::optional<std::chrono::microseconds> watchdog_interval() const { return watchdog_; }

  // Sends one message (several assignments may be newline-separated). Ok when disabled;
  // kInvalidArgument for a socket path that is too long or not a unix path; kUnavailable when
  // the datagram cannot be sent. Thread-safe (one short-lived socket per call).
  Status Notify(std::string_view state) const;

 private:
  std::string socket_;
  std::optional<std::chrono::microseconds> watchdog_;
};

}  // namespace rift::sd
