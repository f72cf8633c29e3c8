// The launcher side of the process runner: fork + exec of the shim with only async-signal-safe
// calls between them (the daemon is multi-threaded), its report, probes, stops and kills.
#include "orchestrator/jobs/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "orchestrator/base/time.h"
#include "orchestrator/jobs/process_internal.h"

#ifdef __APPLE__
#include <mach-o/dyld.h>
#endif

extern char** environ;  // NOLINT: POSIX

namespace rift::jobs {
namespace fs = std::filesystem;
using internal::json;

namespace {

// Environment entries the shim itself needs (it gets none of the daemon's secrets).
constexpr const char* kShimEnv[] = {"PATH",          "LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH",
                                    "ASAN_OPTIONS",  "UBSAN_OPTIONS",   "LSAN_OPTIONS",
                                    "TSAN_OPTIONS"};

std::string SelfExe() {
#ifdef __APPLE__
  char buf[4096];
  uint32_t size = sizeof buf;
  if (_NSGetExecutablePath(buf, &size) == 0) return buf;
  return "";
#else
  return "/proc/self/exe";
#endif
}

int MaxFd() {
  long n = ::sysconf(_SC_OPEN_MAX);
  return n <= 0 || n > 65536 ? 65536 : static_cast<int>(n);
}

// Moves `fd` to a number >= 10 (close-on-exec), so that dup2 onto 0..3 in the child can never
// clobber another of the descriptors it still needs.
int Lift(int fd) {
  if (fd < 0 || fd >= 10) return fd;
  int lifted = ::fcntl(fd, F_DUPFD_CLOEXEC, 10);
  ::close(fd);
  return lifted;
}

std::vector<char*> CStrings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// In the forked child: nothing here may allocate or take a lock.
void ResetSignals() {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; ++s) {
    if (s != SIGKILL && s != SIGSTOP) sigaction(s, &dfl, nullptr);
  }
}

[[noreturn]] void ExecShimChild(const char* path, char* const* argv, char* const* envp,
                                int devnull, int log, int report, int max_fd) {
  ResetSignals();
  ::setsid();
  if (::dup2(devnull, 0) < 0 || ::dup2(log, 1) < 0 || ::dup2(log, 2) < 0 ||
      ::dup2(report, internal::kReportFd) < 0) {
    _exit(126);
  }
  internal::CloseFrom(internal::kReportFd + 1, max_fd);
  ::execve(path, argv, envp);
  _exit(127);
}

// Sends `sig` to exactly the process `id` names (a pidfd closes the pid-reuse window on Linux).
void SignalExact(const ProcessIdentity& id, int sig) {
  if (!id.valid()) return;
#if defined(__linux__) && defined(SYS_pidfd_open) && defined(SYS_pidfd_send_signal)
  int pfd = static_cast<int>(::syscall(SYS_pidfd_open, id.pid, 0));
  if (pfd >= 0) {
    if (IsAlive(id)) ::syscall(SYS_pidfd_send_signal, pfd, sig, nullptr, 0);
    ::close(pfd);
    return;
  }
#endif
  if (IsAlive(id)) ::kill(id.pid, sig);
}

Status FromErrno(int err, const std::string& message) {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return NotFound(message);
    case EACCES:
    case EPERM:
      return PermissionDenied(message);
    default:
      return FailedPrecondition(message);
  }
}

std::string DescribeWait(int st) {
  if (WIFEXITED(st)) return "exit code " + std::to_string(WEXITSTATUS(st));
  if (WIFSIGNALED(st)) return "signal " + std::to_string(WTERMSIG(st));
  return "status " + std::to_string(st);
}

}  // namespace

struct ProcessRunner::Impl {
  RunnerOptions options;
  std::mutex mu;
  std::map<int, int> children;  // our shims: pid -> report pipe (-1 once it reached EOF)
  int wake_r = -1, wake_w = -1;

  // Reads the shim's one-line report; "" on EOF or timeout (`timed_out` tells which).
  std::string ReadReport(int fd, bool* timed_out) {
    std::string line;
    auto deadline = Clock::now() + options.start_timeout;
    *timed_out = false;
    while (line.find('\n') == std::string::npos) {
      auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) {
        *timed_out = true;
        return "";
      }
      pollfd p{fd, POLLIN, 0};
      int r = ::poll(&p, 1, static_cast<int>(left));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) continue;
      char buf[1024];
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return line.find('\n') == std::string::npos ? "" : line;
      line.append(buf, static_cast<size_t>(n));
    }
    return line.substr(0, line.find('\n'));
  }
};

std::string CurrentExecutable() {
#ifdef __APPLE__
  return SelfExe();
#else
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : p.string();
#endif
}

ProcessRunner::ProcessRunner(RunnerOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  if (impl_->options.shim_path.empty()) {
    fs::path beside = fs::path(CurrentExecutable()).parent_path() / "ringrift-job-shim";
    impl_->options.shim_path =
        !beside.parent_path().empty() && ::access(beside.c_str(), X_OK) == 0 ? beside.string()
                                                                             : SelfExe();
  }
  int p[2];
  if (::pipe(p) == 0) {
    for (int fd : p) {
      ::fcntl(fd, F_SETFD, FD_CLOEXEC);
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    }
    impl_->wake_r = p[0];
    impl_->wake_w = p[1];
  }
}

ProcessRunner::~ProcessRunner() {
  for (auto& [pid, fd] : impl_->children) {
    if (fd >= 0) ::close(fd);
  }
  if (impl_->wake_r >= 0) ::close(impl_->wake_r);
  if (impl_->wake_w >= 0) ::close(impl_->wake_w);
}

Result<Launched> ProcessRunner::Launch(const LaunchSpec& spec) {
  if (spec.argv.empty() || spec.argv[0].empty()) return InvalidArgument("empty argv");
  if (spec.job_dir.empty()) return InvalidArgument("no job dir");
  std::string job_dir = fs::absolute(spec.job_dir).lexically_normal().string();
  std::error_code ec;
  fs::create_directories(job_dir, ec);
  if (ec) return Internal("cannot create " + job_dir + ": " + ec.message());
  for (const auto& stale : {internal::StatusPath(job_dir), internal::StartedPath(job_dir)}) {
    fs::remove(stale, ec);
  }
  json j = {{"argv", spec.argv},
            {"env", spec.env},
            {"cwd", spec.cwd.empty() ? std::string("/") : spec.cwd},
            {"log_cap_bytes", spec.log_cap_bytes},
            {"timeout_ms", spec.timeout.count()},
            {"grace_ms", spec.grace.count()}};
  RIFT_RETURN_IF_ERROR(internal::WriteFileAtomic(
      internal::SpecPath(job_dir), j.dump(-1, ' ', false, json::error_handler_t::replace),
      false));

  int devnull = Lift(::open("/dev/null", O_RDWR | O_CLOEXEC));
  int log = Lift(::open(LogPath(job_dir).c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640));
  int p[2] = {-1, -1};
  if (::pipe(p) == 0) {
    ::fcntl(p[0], F_SETFD, FD_CLOEXEC);
    ::fcntl(p[1], F_SETFD, FD_CLOEXEC);
  }
  int report_r = p[0], report_w = Lift(p[1]);
  auto close_all = [&] {
    for (int fd : {devnull, log, report_r, report_w}) {
      if (fd >= 0) ::close(fd);
    }
  };
  if (devnull < 0 || log < 0 || report_r < 0 || report_w < 0) {
    int err = errno;
    close_all();
    return Internal("cannot open the job's descriptors in " + job_dir + ": " + std::strerror(err));
  }

  // Everything the child needs is built before fork().
  // argv[0] names the real program (ps shows it), whatever path execs it.
  std::string shown = impl_->options.shim_path;
  if (shown == SelfExe()) shown = CurrentExecutable();
  std::vector<std::string> args = {shown.empty() ? impl_->options.shim_path : shown,
                                   internal::kShimFlag, job_dir};
  const std::string exec_path = impl_->options.shim_path;
  std::vector<std::string> env;
  for (const char* name : kShimEnv) {
    if (const char* v = std::getenv(name)) env.push_back(std::string(name) + "=" + v);
  }
  std::vector<char*> argv = CStrings(args), envp = CStrings(env);
  const int max_fd = MaxFd();

  pid_t pid = ::fork();
  if (pid == 0) {
    ExecShimChild(exec_path.c_str(), argv.data(), envp.data(), devnull, log, report_w, max_fd);
  }
  int fork_errno = errno;
  for (int* fd : {&devnull, &log, &report_w}) {
    ::close(*fd);
    *fd = -1;
  }
  if (pid < 0) {
    close_all();
    return Unavailable(std::string("fork: ") + std::strerror(fork_errno));
  }

  bool timed_out = false;
  std::string line = impl_->ReadReport(report_r, &timed_out);
  if (line.rfind("ok ", 0) == 0) {
    json r = json::parse(line.substr(3), nullptr, false);
    Launched l;
    l.job = internal::IdentityFromJson(r.value("job", json()));
    l.shim = internal::IdentityFromJson(r.value("shim", json()));
    l.started_ms = r.value("started_ms", int64_t{0});
    if (l.job.valid() && l.shim.pid == pid) {
      std::lock_guard lock(impl_->mu);
      impl_->children[pid] = report_r;
      return l;
    }
    line = "err " + json({{"error", "malformed report from the shim: " + line}}).dump();
  }
  close_all();
  if (timed_out) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return Unavailable("the job shim did not report within " +
                       std::to_string(impl_->options.start_timeout.count()) + " ms");
  }
  int st = 0;
  ::waitpid(pid, &st, 0);
  if (line.rfind("err ", 0) == 0) {
    json r = json::parse(line.substr(4), nullptr, false);
    std::string error = r.is_object() ? r.value("error", line) : line;
    return FromErrno(r.is_object() ? r.value("errno", 0) : 0, error);
  }
  return Internal("the job shim (" + impl_->options.shim_path + " " + internal::kShimFlag +
                  ") ended with " + DescribeWait(st) +
                  " before reporting; does that program call RunShimIfRequested()?");
}

ProcessRunner::Probe ProcessRunner::Check(const std::string& job_dir, const Launched& l) {
  auto reap = [&] {
    std::lock_guard lock(impl_->mu);
    auto it = impl_->children.find(l.shim.pid);
    if (it == impl_->children.end()) return;
    int st = 0;
    if (::waitpid(it->first, &st, WNOHANG) == it->first) {
      if (it->second >= 0) ::close(it->second);
      impl_->children.erase(it);
    }
  };
  if (auto e = ReadExit(job_dir)) {
    reap();
    return {JobState::kExited, *e};
  }
  reap();
  if (IsAlive(l.shim)) return {JobState::kRunning, {}};
  if (auto e = ReadExit(job_dir)) return {JobState::kExited, *e};  // it just finished
  if (IsAlive(l.job)) return {JobState::kOrphaned, {}};
  return {JobState::kGone, {}};
}

Status ProcessRunner::Stop(const Launched& l) {
  if (IsAlive(l.shim)) {
    SignalExact(l.shim, SIGTERM);
    return Status::Ok();
  }
  if (IsAlive(l.job)) {
    ::kill(-l.job.pid, SIGTERM);
    return Status::Ok();
  }
  return NotFound("the job (pid " + std::to_string(l.job.pid) + ") no longer runs");
}

void ProcessRunner::Kill(const Launched& l) {
  if (IsAlive(l.job)) ::kill(-l.job.pid, SIGKILL);
  SignalExact(l.shim, SIGKILL);
}

void ProcessRunner::WaitForActivity(std::chrono::milliseconds timeout) {
  std::vector<pollfd> fds;
  {
    std::lock_guard lock(impl_->mu);
    // Shims whose pipe reached EOF are exiting: reap them (no zombie outlives a poll interval).
    for (auto it = impl_->children.begin(); it != impl_->children.end();) {
      if (it->second < 0 && ::waitpid(it->first, nullptr, WNOHANG) == it->first) {
        it = impl_->children.erase(it);
      } else {
        ++it;
      }
    }
    if (impl_->wake_r >= 0) fds.push_back({impl_->wake_r, POLLIN, 0});
    for (const auto& [pid, fd] : impl_->children) {
      if (fd >= 0) fds.push_back({fd, POLLIN, 0});
    }
  }
  if (::poll(fds.data(), fds.size(), static_cast<int>(timeout.count())) <= 0) return;
  char buf[256];
  std::lock_guard lock(impl_->mu);
  for (const auto& p : fds) {
    if (p.revents == 0) continue;
    if (p.fd == impl_->wake_r) {
      while (::read(p.fd, buf, sizeof buf) > 0) {
      }
      continue;
    }
    if (::read(p.fd, buf, sizeof buf) > 0) continue;  // nothing more is expected; drop it
    for (auto& [pid, fd] : impl_->children) {
      if (fd == p.fd) {
        ::close(fd);  // EOF: the shim exited
        fd = -1;
      }
    }
  }
}

void ProcessRunner::Wake() {
  if (impl_->wake_w >= 0) {
    ssize_t n = ::write(impl_->wake_w, "w", 1);
    (void)n;
  }
}

Result<std::string> RunCapture(const std::vector<std::string>& argv_in,
                               std::chrono::milliseconds timeout) {
  if (argv_in.empty()) return InvalidArgument("empty argv");
  const char* path_env = std::getenv("PATH");
  std::string program = FindProgram(argv_in[0], path_env ? path_env : "/usr/bin:/bin");
  if (program.empty()) return NotFound(argv_in[0] + ": not found in PATH");
  std::vector<std::string> args = argv_in;
  std::vector<char*> argv = CStrings(args);
  int devnull = Lift(::open("/dev/null", O_RDWR | O_CLOEXEC));
  int p[2] = {-1, -1};
  if (devnull < 0 || ::pipe(p) != 0) {
    if (devnull >= 0) ::close(devnull);
    return Internal(std::string("RunCapture: ") + std::strerror(errno));
  }
  ::fcntl(p[0], F_SETFD, FD_CLOEXEC);
  int out_w = Lift(p[1]);
  const int max_fd = MaxFd();
  pid_t pid = ::fork();
  if (pid == 0) {
    ResetSignals();
    ::setpgid(0, 0);
    if (::dup2(devnull, 0) < 0 || ::dup2(out_w, 1) < 0 || ::dup2(devnull, 2) < 0) _exit(126);
    internal::CloseFrom(3, max_fd);
    ::execve(program.c_str(), argv.data(), environ);
    _exit(127);
  }
  ::close(devnull);
  ::close(out_w);
  if (pid < 0) {
    ::close(p[0]);
    return Unavailable(std::string("fork: ") + std::strerror(errno));
  }
  std::string out;
  auto deadline = Clock::now() + timeout;
  bool expired = false;
  while (true) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      expired = true;
      break;
    }
    pollfd pf{p[0], POLLIN, 0};
    int r = ::poll(&pf, 1, static_cast<int>(left));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    char buf[4096];
    ssize_t n = ::read(p[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (out.size() < (1u << 20)) out.append(buf, static_cast<size_t>(n));
  }
  ::close(p[0]);
  if (expired) ::kill(-pid, SIGKILL);
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (expired) {
    return DeadlineExceeded(argv_in[0] + " did not finish within " +
                            std::to_string(timeout.count()) + " ms");
  }
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    return FailedPrecondition(argv_in[0] + " ended with " + DescribeWait(st));
  }
  return out;
}

}  // namespace rift::jobs
