#include "resilience/spawn.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <thread>

#include "orchestrator/base/pid_lock.h"

extern char** environ;

namespace rift::resilience {
namespace {

// Closes every descriptor from 3 up except `keep` (the exec-status pipe). Async-signal-safe.
void CloseInherited(int keep) {
#if defined(__linux__) && defined(SYS_close_range)
  if (keep > 3) ::syscall(SYS_close_range, 3u, static_cast<unsigned>(keep - 1), 0u);
  if (::syscall(SYS_close_range, static_cast<unsigned>(keep + 1), ~0u, 0u) == 0) return;
#endif
  long max = ::sysconf(_SC_OPEN_MAX);
  if (max < 0 || max > 65536) max = 65536;
  for (int fd = 3; fd < max; ++fd) {
    if (fd != keep) ::close(fd);
  }
}

bool WriteAll(int fd, const void* data, size_t len) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = ::write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

bool ReadAll(int fd, void* data, size_t len) {
  char* p = static_cast<char*>(data);
  while (len > 0) {
    ssize_t n = ::read(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

Result<pid_t> SpawnDetached(const SpawnSpec& spec) {
  if (spec.binary.empty()) return InvalidArgument("no daemon binary to start");
  std::error_code ec;
  if (!spec.log_path.empty()) {
    std::filesystem::create_directories(std::filesystem::path(spec.log_path).parent_path(), ec);
  }
  // Everything the children need is built before fork: after it, only async-signal-safe calls.
  std::vector<std::string> env_strings;
  for (char** e = environ; e && *e; ++e) {
    std::string entry(*e);
    std::string key = entry.substr(0, entry.find('='));
    bool drop = spec.env.count(key) > 0;
    for (const auto& u : spec.unset_env) drop = drop || u == key;
    if (!drop) env_strings.push_back(std::move(entry));
  }
  for (const auto& [k, v] : spec.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, argv;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  argv.push_back(const_cast<char*>(spec.binary.c_str()));
  for (const auto& a : spec.args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const bool search = spec.binary.find('/') == std::string::npos;

  int fds[2];
  if (::pipe(fds) != 0) return Internal(std::string("pipe: ") + std::strerror(errno));
  ::fcntl(fds[0], F_SETFD, FD_CLOEXEC);
  ::fcntl(fds[1], F_SETFD, FD_CLOEXEC);
  pid_t middle = ::fork();
  if (middle < 0) {
    int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    return Internal(std::string("fork: ") + std::strerror(err));
  }
  if (middle == 0) {
    // The middle child starts a session, forks the daemon and exits: the daemon is adopted by
    // init (never our zombie) and, not being a session leader, never gets a terminal.
    ::close(fds[0]);
    ::setsid();
    pid_t daemon = ::fork();
    if (daemon < 0) ::_exit(1);
    if (daemon > 0) {
      WriteAll(fds[1], &daemon, sizeof daemon);
      ::_exit(0);
    }
    ::signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    int in = ::open("/dev/null", O_RDONLY);
    if (in >= 0) ::dup2(in, 0);
    if (!spec.log_path.empty()) {
      int out = ::open(spec.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (out >= 0) {
        ::dup2(out, 1);
        ::dup2(out, 2);
      }
    }
    CloseInherited(fds[1]);
    if (search) {
      ::execvpe(argv[0], argv.data(), envp.data());
    } else {
      ::execve(argv[0], argv.data(), envp.data());
    }
    int err = errno;
    WriteAll(fds[1], &err, sizeof err);
    ::_exit(127);
  }
  ::close(fds[1]);
  int status = 0;
  while (::waitpid(middle, &status, 0) < 0 && errno == EINTR) {
  }
  pid_t pid = 0;
  int exec_errno = 0;
  bool got_pid = ReadAll(fds[0], &pid, sizeof pid);
  bool failed = got_pid && ReadAll(fds[0], &exec_errno, sizeof exec_errno);  // EOF = exec'd
  ::close(fds[0]);
  if (!got_pid) return Internal("could not start " + spec.binary + " (fork failed)");
  if (failed) {
    std::string msg = "cannot execute " + spec.binary + ": " + std::strerror(exec_errno);
    if (exec_errno == ENOENT) return NotFound(msg);
    if (exec_errno == EACCES) return PermissionDenied(msg);
    return Internal(msg);
  }
  return pid;
}

Result<std::optional<pid_t>> KillLockHolder(const std::string& lock_path, Duration wait) {
  auto holder = ReadLockHolder(lock_path);
  if (!holder || !IsRunning(*holder)) return std::optional<pid_t>();
  if (::kill(holder->pid, SIGKILL) != 0 && errno != ESRCH) {
    return PermissionDenied("cannot kill pid " + std::to_string(holder->pid) + ": " +
                            std::strerror(errno));
  }
  const TimePoint deadline = Clock::now() + wait;
  while (IsRunning(*holder)) {
    if (Clock::now() >= deadline) {
      return DeadlineExceeded("pid " + std::to_string(holder->pid) + " survived SIGKILL for " +
                              std::to_string(ToMillis(wait)) + " ms");
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  return std::optional<pid_t>(holder->pid);
}

}  // namespace rift::resilience
