#pragma once
// Fallback selfplay while the node is cut off (docs/watchdog.md). The watchdog asks for a number
// of jobs and for all of them to stop; an implementation keeps its jobs' identities on disk, so
// that a later watchdog run (cron's --once) can still count and stop them.
#include "orchestrator/base/status.h"

namespace rift::resilience {

class FallbackJobs {
 public:
  virtual ~FallbackJobs() = default;
  // Jobs still running (exited ones are reaped and forgotten).
  virtual int Running() = 0;
  // Starts `count` more jobs (slots not in use: one per GPU, or CPU jobs).
  virtual Status Start(int count) = 0;
  // Stops every job (SIGTERM to its process group, SIGKILL after a grace).
  virtual void StopAll() = 0;
};

}  // namespace rift::resilience
