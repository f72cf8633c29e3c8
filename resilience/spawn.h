#pragma once
// Direct restarts, where no service manager runs the daemon: kill the process that holds the
// daemon's lock (only that very process: pid and start time must match), then start a new
// daemon detached from the watchdog (own session, no controlling terminal, stdin from
// /dev/null, stdout and stderr appended to the daemon's log), so the daemon outlives the
// watchdog and the watchdog never has to reap it.
#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "orchestrator/base/status.h"
#include "orchestrator/base/time.h"

namespace rift::resilience {

struct SpawnSpec {
  std::string binary;  // a path, or a name looked up in PATH
  std::vector<std::string> args;
  std::map<std::string, std::string> env;  // set on top of this process's environment
  std::vector<std::string> unset_env;      // removed from it
  std::string log_path;                    // appended to; parents are created
};

// Returns the new process's pid once it has exec'd the binary; kNotFound / kPermissionDenied /
// kInternal naming the binary when it could not be started.
Result<pid_t> SpawnDetached(const SpawnSpec& spec);

// SIGKILLs the process recorded in the lock file at `lock_path` if it is still that process, and
// waits until it is gone (or a zombie: its lock is released either way), at most `wait`.
// Returns the pid killed (nullopt: nobody to kill); kDeadlineExceeded if it outlived `wait`.
Result<std::optional<pid_t>> KillLockHolder(const std::string& lock_path, Duration wait);

}  // namespace rift::resilience
