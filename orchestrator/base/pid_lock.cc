#include "orchestrator/base/pid_lock.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#ifdef __APPLE__
#include <sys/sysctl.h>
#include <sys/time.h>
#endif

namespace rift {
namespace {

struct ProcInfo {
  uint64_t start_time = 0;
  bool zombie = false;
};

#ifdef __APPLE__
std::optional<ProcInfo> ReadProc(pid_t pid) {
  int mib[4] = {CTL_KERN, KERN_PROC, KERN_PROC_PID, static_cast<int>(pid)};
  struct kinfo_proc info {};
  size_t size = sizeof info;
  if (::sysctl(mib, 4, &info, &size, nullptr, 0) != 0 || size == 0) return std::nullopt;
  const timeval& tv = info.kp_proc.p_starttime;
  return ProcInfo{static_cast<uint64_t>(tv.tv_sec) * 1'000'000 + static_cast<uint64_t>(tv.tv_usec),
                  info.kp_proc.p_stat == SZOMB};
}
#else
// /proc/<pid>/stat: "pid (comm) state ppid ... starttime" (field 22); comm may hold spaces and
// parentheses, so parse from the last ')'.
std::optional<ProcInfo> ReadProc(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t close = text.rfind(')');
  if (!in.good() && text.empty()) return std::nullopt;
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(text.substr(close + 1));
  std::string field;
  ProcInfo info;
  for (int i = 3; rest >> field; ++i) {  // field 3 is the state
    if (i == 3) info.zombie = field == "Z" || field == "X";
    if (i == 22) {
      info.start_time = std::strtoull(field.c_str(), nullptr, 10);
      return info;
    }
  }
  return std::nullopt;
}
#endif

}  // namespace

Result<std::unique_ptr<PidLock>> PidLock::Acquire(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Internal("cannot open " + path + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(fd);
    if (err != EWOULDBLOCK) return Internal("cannot lock " + path + ": " + std::strerror(err));
    auto holder = ReadLockHolder(path);
    return AlreadyExists(path + " is held by " +
                         (holder ? "pid " + std::to_string(holder->pid) : "another process"));
  }
  pid_t self = ::getpid();
  std::string record = std::to_string(self) + " " +
                       std::to_string(ProcessStartTime(self).value_or(0)) + "\n";
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, record.data(), record.size(), 0) != static_cast<ssize_t>(record.size())) {
    int err = errno;
    ::close(fd);
    return Internal("cannot write " + path + ": " + std::strerror(err));
  }
  return std::unique_ptr<PidLock>(new PidLock(fd, path));
}

PidLock::~PidLock() {
  // The record stays: readers check the process behind it. Closing releases the lock.
  ::close(fd_);
}

std::optional<LockHolder> ReadLockHolder(const std::string& path) {
  std::ifstream in(path);
  LockHolder h;
  long long pid = 0;
  if (!(in >> pid) || pid <= 0) return std::nullopt;
  h.pid = static_cast<pid_t>(pid);
  unsigned long long start = 0;
  if (in >> start) h.start_time = start;
  return h;
}

std::optional<uint64_t> ProcessStartTime(pid_t pid) {
  auto info = ReadProc(pid);
  if (!info) return std::nullopt;
  return info->start_time;
}

bool IsRunning(const LockHolder& holder) {
  if (holder.pid <= 0) return false;
  if (::kill(holder.pid, 0) != 0 && errno == ESRCH) return false;
  auto info = ReadProc(holder.pid);
  if (!info || info->zombie) return false;
  return holder.start_time == 0 || info->start_time == holder.start_time;
}

std::optional<double> ProcessAgeSeconds(pid_t pid) {
  auto info = ReadProc(pid);
  if (!info) return std::nullopt;
#ifdef __APPLE__
  timeval now{};
  ::gettimeofday(&now, nullptr);
  double now_us = static_cast<double>(now.tv_sec) * 1e6 + static_cast<double>(now.tv_usec);
  return (now_us - static_cast<double>(info->start_time)) / 1e6;
#else
  std::ifstream up("/proc/uptime");
  double uptime = 0;
  if (!(up >> uptime)) return std::nullopt;
  long ticks = ::sysconf(_SC_CLK_TCK);
  if (ticks <= 0) return std::nullopt;
  return uptime - static_cast<double>(info->start_time) / static_cast<double>(ticks);
#endif
}

}  // namespace rift
