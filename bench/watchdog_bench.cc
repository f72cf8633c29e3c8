// Watchdog benchmark on loopback with real processes; prints figures, asserts nothing.
//   watchdog_bench [--trials N] [--interval D] [--health-timeout D]
// Each trial: one daemon and one ringrift-resilience (direct spawn); kill -9 the daemon; time
// until a replacement answers /health. Also the daemon's own cold start (spawn -> healthy), the
// floor under any restart. D is a duration such as 200ms, 1s, 10s (the watchdog's syntax).
#include <signal.h>
#include <sys/types.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "orchestrator/base/pid_lock.h"
#include "tests/harness/cluster.h"

using namespace rift::testing;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

namespace {

constexpr char kToken[] = "bench-token";

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

void PrintStats(const std::string& what, std::vector<double> ms) {
  if (ms.empty()) {
    std::printf("%s: no successful trials\n", what.c_str());
    return;
  }
  std::sort(ms.begin(), ms.end());
  double median = ms[ms.size() / 2];
  if (ms.size() % 2 == 0) median = (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]) / 2;
  std::printf("%s: trials=%zu median=%.0f ms min=%.0f ms max=%.0f ms\n", what.c_str(), ms.size(),
              median, ms.front(), ms.back());
}

// A healthy daemon other than `old_pid` on `dir`: its pid, else 0.
pid_t HealthyReplacement(const std::string& dir, pid_t old_pid) {
  auto holder = rift::ReadLockHolder(dir + "/state/p2p.lock");
  if (!holder || holder->pid == old_pid || !rift::IsRunning(*holder)) return 0;
  std::ifstream in(dir + "/state/p2p.port");
  int port = 0;
  if (!(in >> port) || port <= 0) return 0;
  auto r = HttpRequest("GET", "http://127.0.0.1:" + std::to_string(port), "/health", "", "", {},
                       milliseconds(500));
  return r.status == 200 ? holder->pid : 0;
}

// "200ms", "1s", "10s" (what the bench passes on) in milliseconds.
double IntervalMs(const std::string& d) {
  double n = std::atof(d.c_str());
  return d.size() > 2 && d.compare(d.size() - 2, 2, "ms") == 0 ? n : n * 1000;
}

void KillHolder(const std::string& dir) {
  auto holder = rift::ReadLockHolder(dir + "/state/p2p.lock");
  if (!holder || !rift::IsRunning(*holder)) return;
  ::kill(holder->pid, SIGKILL);
  WaitFor([&] { return !rift::IsRunning(*holder); }, seconds(10));
}

}  // namespace

int main(int argc, char** argv) {
  int trials = 9;
  std::string interval = "1s", health_timeout = "1s";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--trials")) trials = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--interval")) interval = argv[i + 1];
    if (!std::strcmp(argv[i], "--health-timeout")) health_timeout = argv[i + 1];
  }
  std::vector<double> restart_ms, cold_ms;
  for (int t = 0; t < trials; ++t) {
    TempDir tmp("rift-wd-bench");
    const std::string dir = tmp.path() + "/n1";
    std::map<std::string, std::string> env = {{"NODE_ID", "n1"},
                                              {"RINGRIFT_DIR", dir},
                                              {"P2P_PORT", "0"},
                                              {"BIND_HOST", "127.0.0.1"},
                                              {"RINGRIFT_CLUSTER_AUTH_TOKEN", kToken},
                                              {"RINGRIFT_P2P_VOTERS", "n1"}};
    DaemonOptions o;
    o.node_id = "n1";
    o.env = {{"RINGRIFT_CLUSTER_AUTH_TOKEN", kToken}, {"RINGRIFT_P2P_VOTERS", "n1"}};
    auto daemon = std::make_unique<Daemon>(DaemonBinary(), o, dir);
    std::string err;
    const auto cold = Clock::now();
    if (!daemon->Start(&err)) {
      std::fprintf(stderr, "daemon start failed: %s\n", err.c_str());
      continue;
    }
    cold_ms.push_back(Ms(Clock::now() - cold));
    Process watchdog;
    watchdog.Start({ResilienceBinary(), "--service-manager", "none", "--daemon-binary",
                    DaemonBinary(), "--interval", interval, "--health-timeout", health_timeout,
                    "--startup-grace", "0s", "--no-fallback"},
                   env, tmp.path() + "/resilience.log");
    if (!WaitFor([&] { return watchdog.Log().find("watching node") != std::string::npos; },
                 seconds(20))) {
      std::fprintf(stderr, "watchdog did not start:\n%s\n", watchdog.Log().c_str());
      continue;
    }
    // Kill at a spread of phases of the watchdog's interval, as crashes would come.
    const double phase = (0.5 + t) / trials;  // (0, 1), evenly spread
    std::this_thread::sleep_for(
        milliseconds(static_cast<int64_t>(100 + phase * IntervalMs(interval))));
    const pid_t old_pid = daemon->pid();
    const auto killed = Clock::now();
    daemon->Kill(SIGKILL);
    bool ok = WaitFor([&] { return HealthyReplacement(dir, old_pid) != 0; }, seconds(120),
                      milliseconds(5));
    if (ok) {
      restart_ms.push_back(Ms(Clock::now() - killed));
    } else {
      std::fprintf(stderr, "no replacement:\n%s\n", watchdog.Log().c_str());
    }
    watchdog.Stop();
    KillHolder(dir);
  }
  PrintStats("daemon cold start (spawn -> /health 200)", cold_ms);
  PrintStats("watchdog restart (kill -9 -> healthy replacement), interval " + interval,
             restart_ms);
  return restart_ms.empty() ? 1 : 0;
}
