#pragma once
// CPU priority of the calling thread, for threads that do background work for their whole life
// (the data service's scanner, pull workers and push agent). Lowering needs no privilege; going
// back up does (CAP_SYS_NICE or RLIMIT_NICE), so threads that serve anything latency-sensitive
// (HTTP workers, the ticker) never call this. See docs/decisions.md 10.
#include <optional>
#include <string_view>

#include "orchestrator/base/status.h"

namespace rift {

enum class CpuPriority {
  kNormal,  // the daemon's own priority: nothing is changed
  kLow,     // nice 10 (a tenth of a nice-0 thread's share when they compete)
  kIdle,    // SCHED_IDLE: runs only on CPU time no other thread wants
};

inline constexpr int kLowPriorityNice = 10;

// "normal", "low", "idle".
std::string_view CpuPriorityName(CpuPriority p);
std::optional<CpuPriority> ParseCpuPriority(std::string_view text);

// Applies `p` to the calling thread only (Linux schedules threads individually); threads it
// starts afterwards inherit it. Never raises a priority: kLow leaves a thread already at nice
// 10 or above alone, and kNormal changes nothing. Unimplemented off Linux (the thread keeps
// its priority).
Status SetThreadCpuPriority(CpuPriority p);

// The calling thread's priority as the scheduler sees it: kIdle under SCHED_IDLE, kLow at
// nice >= 10, else kNormal.
CpuPriority ThreadCpuPriority();

}  // namespace rift
