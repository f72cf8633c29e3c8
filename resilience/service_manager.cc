#include "resilience/service_manager.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace rift::resilience {
namespace {

constexpr size_t kMaxOutput = 64 * 1024;

std::string Trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

class RealRunner : public CommandRunner {
 public:
  Outcome Run(const std::vector<std::string>& argv, Duration timeout) override {
    Outcome out;
    if (argv.empty()) return out;
    int fds[2];
    if (::pipe(fds) != 0) {
      out.output = std::string("pipe: ") + std::strerror(errno);
      return out;
    }
    // Everything the child needs is built before fork (no allocation after it).
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid < 0) {
      out.output = std::string("fork: ") + std::strerror(errno);
      ::close(fds[0]);
      ::close(fds[1]);
      return out;
    }
    if (pid == 0) {
      ::setpgid(0, 0);
      int devnull = ::open("/dev/null", O_RDONLY);
      if (devnull >= 0) ::dup2(devnull, 0);
      ::dup2(fds[1], 1);
      ::dup2(fds[1], 2);
      ::execvp(args[0], args.data());
      const char msg[] = "cannot execute the command\n";
      (void)!::write(2, msg, sizeof msg - 1);
      ::_exit(127);
    }
    ::close(fds[1]);
    const TimePoint deadline = Clock::now() + timeout;
    bool timed_out = false;
    char buf[4096];
    for (;;) {
      auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) {
        timed_out = true;
        break;
      }
      pollfd p{fds[0], POLLIN, 0};
      int r = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 1000)));
      if (r < 0 && errno != EINTR) break;
      if (r <= 0) continue;
      ssize_t n = ::read(fds[0], buf, sizeof buf);
      if (n <= 0) break;
      if (out.output.size() < kMaxOutput) out.output.append(buf, static_cast<size_t>(n));
    }
    ::close(fds[0]);
    if (timed_out) {
      ::kill(-pid, SIGKILL);
      out.output += "\n(timed out; killed)";
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    out.exit_code = !timed_out && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return out;
  }
};

}  // namespace

std::unique_ptr<CommandRunner> MakeCommandRunner() { return std::make_unique<RealRunner>(); }

std::string ServiceManager::Describe() const {
  switch (kind) {
    case ManagerKind::kSystemd:
      return "systemd";
    case ManagerKind::kLaunchd:
      return "launchd (" + launchd_domain + ")";
    case ManagerKind::kNone:
      return "none (direct spawn)";
  }
  return "?";
}

HostFacts RealHostFacts() {
  HostFacts f;
  f.exists = [](const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
  };
  const char* home = std::getenv("HOME");
  f.home = home ? home : "";
  f.uid = ::getuid();
#ifdef __APPLE__
  f.macos = true;
#endif
  return f;
}

Result<ServiceManager> ResolveServiceManager(const std::string& setting, CommandRunner& runner,
                                             const HostFacts& facts) {
  ServiceManager m;
  const std::string plist = std::string(kLaunchdLabel) + ".plist";
  const std::string gui = "gui/" + std::to_string(facts.uid);
  if (setting == "none") return m;
  if (setting == "systemd") {
    m.kind = ManagerKind::kSystemd;
    return m;
  }
  if (setting == "launchd") {
    m.kind = ManagerKind::kLaunchd;
    m.launchd_domain = facts.uid == 0 ? "system" : gui;
    return m;
  }
  if (setting != "auto") {
    return InvalidArgument("service manager '" + setting +
                           "': expected auto, systemd, launchd or none");
  }
  if (facts.macos) {
    if (facts.exists("/Library/LaunchDaemons/" + plist)) {
      m.kind = ManagerKind::kLaunchd;
      m.launchd_domain = "system";
    } else if (!facts.home.empty() && facts.exists(facts.home + "/Library/LaunchAgents/" + plist)) {
      m.kind = ManagerKind::kLaunchd;
      m.launchd_domain = gui;
    }
    return m;
  }
  if (facts.exists("/run/systemd/system")) {
    auto r = runner.Run({"systemctl", "show", "--property=LoadState", "--value", kSystemdUnit},
                        seconds(10));
    if (r.exit_code == 0 && Trim(r.output) == "loaded") m.kind = ManagerKind::kSystemd;
  }
  return m;
}

std::vector<std::string> RestartCommand(const ServiceManager& m) {
  switch (m.kind) {
    case ManagerKind::kSystemd:
      return {"systemctl", "restart", kSystemdUnit};
    case ManagerKind::kLaunchd:
      return {"launchctl", "kickstart", "-k", m.launchd_domain + "/" + kLaunchdLabel};
    case ManagerKind::kNone:
      return {};
  }
  return {};
}

}  // namespace rift::resilience
