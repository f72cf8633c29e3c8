#include "orchestrator/base/priority.h"

#include <cerrno>
#include <cstring>
#include <string>

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace rift {

std::string_view CpuPriorityName(CpuPriority p) {
  switch (p) {
    case CpuPriority::kNormal:
      return "normal";
    case CpuPriority::kLow:
      return "low";
    case CpuPriority::kIdle:
      return "idle";
  }
  return "normal";
}

std::optional<CpuPriority> ParseCpuPriority(std::string_view text) {
  for (CpuPriority p : {CpuPriority::kNormal, CpuPriority::kLow, CpuPriority::kIdle}) {
    if (text == CpuPriorityName(p)) return p;
  }
  return std::nullopt;
}

#if defined(__linux__)

namespace {
// setpriority(PRIO_PROCESS, tid) acts on one thread on Linux (not POSIX, documented in
// setpriority(2) BUGS).
id_t ThreadId() { return static_cast<id_t>(::syscall(SYS_gettid)); }
}  // namespace

Status SetThreadCpuPriority(CpuPriority p) {
  if (p == CpuPriority::kNormal) return Status::Ok();
  if (p == CpuPriority::kIdle) {
    sched_param param{};
    param.sched_priority = 0;
    int rc = ::pthread_setschedparam(::pthread_self(), SCHED_IDLE, &param);
    if (rc != 0)
      return Internal(std::string("pthread_setschedparam(SCHED_IDLE): ") + std::strerror(rc));
    return Status::Ok();
  }
  errno = 0;
  int nice = ::getpriority(PRIO_PROCESS, ThreadId());
  if (nice == -1 && errno != 0)
    return Internal(std::string("getpriority: ") + std::strerror(errno));
  if (nice >= kLowPriorityNice) return Status::Ok();
  if (::setpriority(PRIO_PROCESS, ThreadId(), kLowPriorityNice) != 0) {
    return Internal("setpriority(nice " + std::to_string(kLowPriorityNice) +
                    "): " + std::strerror(errno));
  }
  return Status::Ok();
}

CpuPriority ThreadCpuPriority() {
  int policy = 0;
  sched_param param{};
  if (::pthread_getschedparam(::pthread_self(), &policy, &param) == 0 && policy == SCHED_IDLE) {
    return CpuPriority::kIdle;
  }
  errno = 0;
  int nice = ::getpriority(PRIO_PROCESS, ThreadId());
  if (errno == 0 && nice >= kLowPriorityNice) return CpuPriority::kLow;
  return CpuPriority::kNormal;
}

#else

Status SetThreadCpuPriority(CpuPriority p) {
  if (p == CpuPriority::kNormal) return Status::Ok();
  return FailedPrecondition(
      "per-thread CPU priority is implemented on Linux only; the thread keeps its priority");
}

CpuPriority ThreadCpuPriority() { return CpuPriority::kNormal; }

#endif

}  // namespace rift
