// The job shim: a small supervisor between the daemon and one job. It runs as its own program
// (`<daemon> --job-shim <job_dir>`), so it holds none of the daemon's memory, threads or
// descriptors, and it outlives daemon restarts. It starts the job in its own process group,
// reports the job's identity to its launcher, enforces the timeout and the stop sequence, caps
// the log, reaps the job and writes status.json atomically.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "orchestrator/jobs/process.h"
#include "orchestrator/jobs/process_internal.h"

namespace rift::jobs {
namespace {

using internal::json;
using Steady = std::chrono::steady_clock;

constexpr auto kTick = std::chrono::milliseconds(100);
constexpr auto kLogCheck = std::chrono::milliseconds(500);

volatile sig_atomic_t g_stop = 0;
int g_wake_w = -1;

void OnSignal(int sig) {
  int saved = errno;
  if (sig != SIGCHLD) g_stop = 1;
  ssize_t n = ::write(g_wake_w, "x", 1);
  (void)n;
  errno = saved;
}

void Report(const std::string& line) {
  std::string text = line + "\n";
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(internal::kReportFd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the launcher is gone: nothing to tell
    off += static_cast<size_t>(n);
  }
}

// Shim notes go to the job's log (fd 2), marked as ours.
void Note(const std::string& text) {
  std::string line = "[job-shim] " + text + "\n";
  ssize_t n = ::write(2, line.data(), line.size());
  (void)n;
}

void WriteStatus(const std::string& job_dir, const ExitRecord& e) {
  Status st = internal::WriteFileAtomic(internal::StatusPath(job_dir), internal::ExitJson(e).dump(), true);
  if (!st.ok()) Note("cannot record the exit: " + st.message());
}

// The job could not be started: record it and tell the launcher.
int Fail(const std::string& job_dir, const std::string& error, int err) {
  ExitRecord e;
  e.exit_code = 127;
  e.error = error;
  e.ended_ms = internal::WallMillis();
  WriteStatus(job_dir, e);
  Report("err " + json({{"error", error}, {"errno", err}}).dump());
  return 1;
}

// copytruncate: the job keeps writing through its O_APPEND descriptor, which lands at the new
// end of file (0) after the truncate. Lines written between the copy and the truncate are lost.
void MaybeRotate(const std::string& job_dir, uint64_t cap) {
  struct stat st {};
  if (::fstat(1, &st) != 0 || static_cast<uint64_t>(st.st_size) <= cap) return;
  std::string tmp = RotatedLogPath(job_dir) + ".tmp";
  int in = ::open(LogPath(job_dir).c_str(), O_RDONLY | O_CLOEXEC);
  int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  bool ok = in >= 0 && out >= 0;
  char buf[64 * 1024];
  while (ok) {
    ssize_t n = ::read(in, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = n == 0;
      break;
    }
    for (ssize_t off = 0; ok && off < n;) {
      ssize_t w = ::write(out, buf + off, static_cast<size_t>(n - off));
      if (w < 0 && errno == EINTR) continue;
      ok = w > 0;
      off += w > 0 ? w : 0;
    }
  }
  if (in >= 0) ::close(in);
  if (out >= 0) ::close(out);
  if (ok && ::rename(tmp.c_str(), RotatedLogPath(job_dir).c_str()) == 0) {
    if (::ftruncate(1, 0) != 0) Note(std::string("cannot truncate the log: ") + strerror(errno));
  } else {
    ::unlink(tmp.c_str());
  }
}

struct Spec {
  std::vector<std::string> argv, env;
  std::string cwd;
  uint64_t log_cap = 8u << 20;
  std::chrono::milliseconds timeout{0}, grace{10000};
};

Result<Spec> LoadSpec(const std::string& job_dir) {
  RIFT_ASSIGN_OR_RETURN(std::string text, internal::ReadWholeFile(internal::SpecPath(job_dir)));
  json j = json::parse(text, nullptr, false);
  if (!j.is_object() || !j.value("argv", json()).is_array()) {
    return InvalidArgument("malformed " + internal::SpecPath(job_dir));
  }
  Spec s;
  s.argv = j["argv"].get<std::vector<std::string>>();
  s.env = j.value("env", std::vector<std::string>{});
  s.cwd = j.value("cwd", "/");
  s.log_cap = j.value("log_cap_bytes", s.log_cap);
  s.timeout = std::chrono::milliseconds(j.value("timeout_ms", int64_t{0}));
  s.grace = std::chrono::milliseconds(j.value("grace_ms", int64_t{10000}));
  if (s.argv.empty()) return InvalidArgument("empty argv");
  return s;
}

std::string EnvValue(const std::vector<std::string>& env, const std::string& key) {
  for (const auto& kv : env) {
    if (kv.compare(0, key.size() + 1, key + "=") == 0) return kv.substr(key.size() + 1);
  }
  return "";
}

// In the forked job: async-signal-safe calls only (the shim is single-threaded, but stay strict).
[[noreturn]] void ExecJob(const char* path, char* const* argv, char* const* envp, const char* cwd,
                          int err_w) {
  ::setpgid(0, 0);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; ++s) {
    if (s != SIGKILL && s != SIGSTOP) sigaction(s, &dfl, nullptr);
  }
  char what = 'c';
  if (::chdir(cwd) == 0) {
    what = 'e';
    ::execve(path, argv, envp);
  }
  int err = errno;
  char msg[1 + sizeof err];
  msg[0] = what;
  std::memcpy(msg + 1, &err, sizeof err);
  ssize_t n = ::write(err_w, msg, sizeof msg);
  (void)n;
  _exit(127);
}

std::vector<char*> CStrings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

int Shim(const std::string& job_dir) {
  ::fcntl(internal::kReportFd, F_SETFD, FD_CLOEXEC);  // never inherited by the job
  long max_fd = ::sysconf(_SC_OPEN_MAX);
  internal::CloseFrom(internal::kReportFd + 1, max_fd <= 0 || max_fd > 65536 ? 65536 : max_fd);
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGHUP, SIG_IGN);
  if (::chdir("/") != 0) Note("cannot chdir to /");  // hold no mount busy

  auto spec = LoadSpec(job_dir);
  if (!spec.ok()) return Fail(job_dir, spec.status().message(), EINVAL);
  std::string path = FindProgram(spec->argv[0], EnvValue(spec->env, "PATH"));
  if (path.empty()) {
    return Fail(job_dir, spec->argv[0] + ": program not found in the job's PATH", ENOENT);
  }

  int wake[2], errp[2];
  if (::pipe(wake) != 0 || ::pipe(errp) != 0) return Fail(job_dir, "pipe failed", errno);
  for (int fd : {wake[0], wake[1], errp[0], errp[1]}) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  ::fcntl(wake[1], F_SETFL, O_NONBLOCK);
  ::fcntl(wake[0], F_SETFL, O_NONBLOCK);
  g_wake_w = wake[1];
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  for (int s : {SIGTERM, SIGINT, SIGCHLD}) sigaction(s, &sa, nullptr);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);

  std::vector<char*> argv = CStrings(spec->argv), envp = CStrings(spec->env);
  pid_t pid = ::fork();
  if (pid == 0) ExecJob(path.c_str(), argv.data(), envp.data(), spec->cwd.c_str(), errp[1]);
  ::close(errp[1]);
  if (pid < 0) return Fail(job_dir, std::string("fork: ") + std::strerror(errno), errno);
  ::setpgid(pid, pid);  // also here, so that the group exists before we signal it
  char msg[1 + sizeof(int)];
  ssize_t got;
  while ((got = ::read(errp[0], msg, sizeof msg)) < 0 && errno == EINTR) {
  }
  ::close(errp[0]);
  if (got == static_cast<ssize_t>(sizeof msg)) {
    int err = 0;
    std::memcpy(&err, msg + 1, sizeof err);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    std::string what = msg[0] == 'c' ? "chdir " + spec->cwd : "exec " + path;
    return Fail(job_dir, what + ": " + std::strerror(err), err);
  }

  Launched l;
  l.started_ms = internal::WallMillis();
  char state = '?';
  l.job.pid = pid;
  internal::ReadProcStat(pid, &state, &l.job.start_time);  // zombies too: a job may be quick
  l.job.boot_id = internal::BootId();
  l.shim.pid = ::getpid();
  internal::ReadProcStat(l.shim.pid, &state, &l.shim.start_time);
  l.shim.boot_id = l.job.boot_id;
  json started = internal::LaunchedJson(l);
  Status st = internal::WriteFileAtomic(internal::StartedPath(job_dir), started.dump(), false);
  if (!st.ok()) Note(st.message());
  Report("ok " + started.dump());

  ExitRecord e;
  const auto t0 = Steady::now();
  Steady::time_point kill_at{}, next_log_check = t0 + kLogCheck;
  bool stopping = false, killed = false, reaped = false;
  int wst = 0;
  while (true) {
    pid_t r = ::waitpid(pid, &wst, WNOHANG);
    if (r == pid) {
      reaped = true;
      break;
    }
    if (r < 0 && errno != EINTR) {
      e.error = std::string("waitpid: ") + std::strerror(errno);
      break;
    }
    auto now = Steady::now();
    if (!stopping && (g_stop || (spec->timeout.count() > 0 && now - t0 >= spec->timeout))) {
      stopping = true;
      e.stop_requested = g_stop != 0;
      e.timed_out = !e.stop_requested;
      Note(std::string(e.timed_out ? "timeout" : "stop") + ": SIGTERM to the job's process group");
      ::kill(-pid, SIGTERM);
      kill_at = now + spec->grace;
    }
    if (stopping && !killed && now >= kill_at) {
      Note("grace over: SIGKILL to the job's process group");
      ::kill(-pid, SIGKILL);
      killed = true;
    }
    if (now >= next_log_check) {
      MaybeRotate(job_dir, spec->log_cap);
      next_log_check = now + kLogCheck;
    }
    pollfd p{wake[0], POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(kTick.count())) > 0) {
      char buf[64];
      while (::read(wake[0], buf, sizeof buf) > 0) {
      }
    }
  }
  ::kill(-pid, SIGKILL);  // whatever the job left behind in its group
  if (reaped && WIFEXITED(wst)) e.exit_code = WEXITSTATUS(wst);
  if (reaped && WIFSIGNALED(wst)) e.signal = WTERMSIG(wst);
  e.ended_ms = internal::WallMillis();
  MaybeRotate(job_dir, spec->log_cap);
  WriteStatus(job_dir, e);
  return 0;
}

}  // namespace

std::optional<int> RunShimIfRequested(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], internal::kShimFlag) != 0) return std::nullopt;
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s %s <job_dir>\n", argv[0], internal::kShimFlag);
    return 2;
  }
  return Shim(argv[2]);
}

}  // namespace rift::jobs
