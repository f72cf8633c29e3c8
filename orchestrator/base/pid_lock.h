#pragma once
// A singleton lock: an exclusive flock on a file that also records who holds it (pid and
// process start time, so that a reused pid is never mistaken for the holder). The lock goes
// away with the descriptor: on destruction, or when the process dies, however it dies. The
// descriptor is close-on-exec, so children (jobs, a spawned daemon) never inherit the lock.
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "orchestrator/base/status.h"

namespace rift {

struct LockHolder {
  pid_t pid = 0;
  uint64_t start_time = 0;  // ProcessStartTime(pid) when it locked; 0 = unknown
};

class PidLock {
 public:
  // Creates the file if needed (not its directory), locks it without waiting and records this
  // process. kAlreadyExists naming the holder's pid when another process holds it; kInternal
  // when the file cannot be opened or written.
  static Result<std::unique_ptr<PidLock>> Acquire(const std::string& path);
  ~PidLock();
  PidLock(const PidLock&) = delete;
  PidLock& operator=(const PidLock&) = delete;
  const std::string& path() const { return path_; }

 private:
  PidLock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_;
  std::string path_;
};

// The holder recorded in a lock file; nullopt if the file is missing or holds no pid. The record
// stays after the holder dies: check it with IsRunning().
std::optional<LockHolder> ReadLockHolder(const std::string& path);

// The start time of a process, in a unit stable for its lifetime (Linux: clock ticks since boot;
// macOS: microseconds since the epoch). nullopt when there is no such process.
std::optional<uint64_t> ProcessStartTime(pid_t pid);

// True when that very process (pid and, if recorded, start time) exists and is not a zombie.
bool IsRunning(const LockHolder& holder);

// Seconds since the process started; nullopt when there is no such process.
std::optional<double> ProcessAgeSeconds(pid_t pid);

}  // namespace rift
