#pragma once
// How the watchdog restarts the daemon: through the service manager that runs it (systemd,
// launchd) or, where there is none, by spawning it directly. Commands go through an injectable
// CommandRunner, so tests see the exact argv.
#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "orchestrator/base/status.h"
#include "orchestrator/base/time.h"

namespace rift::resilience {

inline constexpr char kSystemdUnit[] = "ringrift-p2p";
inline constexpr char kLaunchdLabel[] = "com.ringrift.p2p";

// Runs a command to completion (bounded by `timeout`, then killed). Thread-compatible.
class CommandRunner {
 public:
  struct Outcome {
    int exit_code = -1;  // -1: could not start, killed by a signal, or timed out
    std::string output;  // stdout and stderr, interleaved, capped
  };
  virtual ~CommandRunner() = default;
  virtual Outcome Run(const std::vector<std::string>& argv, Duration timeout) = 0;
};
// fork/exec with its own process group; the child gets no stdin.
std::unique_ptr<CommandRunner> MakeCommandRunner();

enum class ManagerKind { kSystemd, kLaunchd, kNone };

struct ServiceManager {
  ManagerKind kind = ManagerKind::kNone;
  std::string launchd_domain;  // "system" or "gui/<uid>" (launchd only)
  std::string Describe() const;  // "systemd", "launchd (gui/501)", "none (direct spawn)"
};

// What detection looks at, injectable for tests.
struct HostFacts {
  std::function<bool(const std::string&)> exists;  // a path exists
  std::string home;                                // $HOME
  uid_t uid = 0;
  bool macos = false;
};
HostFacts RealHostFacts();

// `setting` is auto | systemd | launchd | none. auto: systemd when it runs this machine
// (/run/systemd/system) and has the ringrift-p2p unit loaded (`systemctl show
// --property=LoadState --value ringrift-p2p` prints "loaded"); launchd on macOS when the
// com.ringrift.p2p plist is installed (/Library/LaunchDaemons: domain system;
// ~/Library/LaunchAgents: gui/<uid>); else none. Forced launchd picks system for root, else
// gui/<uid>. kInvalidArgument for an unknown setting.
Result<ServiceManager> ResolveServiceManager(const std::string& setting, CommandRunner& runner,
                                             const HostFacts& facts);

// The restart command: `systemctl restart ringrift-p2p` or
// `launchctl kickstart -k <domain>/com.ringrift.p2p`; empty for kNone (direct spawn).
std::vector<std::string> RestartCommand(const ServiceManager& manager);

}  // namespace rift::resilience
