// Job start latency; prints figures, asserts nothing.
//   job_bench [--trials N]
//     daemon: POST /start_job on a real daemon (new connection each time) until the answer,
//             which comes once the job's program runs (exec done); the process is checked.
//     runner: ProcessRunner::Launch in this process (fork + exec of ringrift-job-shim, which
//             forks and execs the job and reports back), without HTTP or SQLite.
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "orchestrator/jobs/process.h"
#include "tests/harness/cluster.h"

using namespace rift::testing;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

namespace {

constexpr char kToken[] = "bench-token";

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

void Print(const char* what, std::vector<double> v) {
  if (v.empty()) {
    std::printf("%s: no successful trial\n", what);
    return;
  }
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))]; };
  std::printf("%s, %zu trials: median %.1f ms, p90 %.1f ms, min %.1f ms, max %.1f ms\n", what,
              v.size(), at(0.5), at(0.9), v.front(), v.back());
}

bool Runs(int pid) { return pid > 0 && std::filesystem::exists("/proc/" + std::to_string(pid)); }

std::vector<double> DaemonTrials(int trials) {
  TempDir dir("rift-job-bench");
  std::string hosts = dir.path() + "/hosts.yaml";
  std::ofstream(hosts) << "jobs:\n  max_jobs: 4096\n  stop_grace_s: 1\n  catalogue:\n"
                          "    sleeper: {argv: [/bin/sleep, \"60\"]}\n";
  DaemonOptions o;
  o.node_id = "b1";
  o.env = {{"RINGRIFT_CLUSTER_AUTH_TOKEN", kToken},
           {"RINGRIFT_P2P_VOTERS", "b1"},
           {"RINGRIFT_HOSTS_FILE", hosts}};
  Daemon d(DaemonBinary(), o, dir.path() + "/b1");
  std::string err;
  if (!d.Start(&err)) {
    std::fprintf(stderr, "daemon did not start: %s\n", err.c_str());
    return {};
  }
  std::vector<double> out;
  std::vector<int> pids;
  for (int i = 0; i < trials; ++i) {
    auto t0 = Clock::now();
    auto r = d.Request("POST", "/start_job", kToken, R"({"kind":"sleeper"})");
    auto t1 = Clock::now();
    json j = json::parse(r.body, nullptr, false);
    int pid = j.is_object() ? j["job"].value("pid", 0) : 0;
    if (r.status != 201 || !Runs(pid)) {
      std::fprintf(stderr, "trial %d: HTTP %d %s\n", i, r.status, r.body.c_str());
      continue;
    }
    out.push_back(Ms(t1 - t0));
    pids.push_back(pid);
  }
  for (int pid : pids) ::kill(-pid, SIGKILL);
  return out;
}

std::vector<double> RunnerTrials(int trials) {
  TempDir dir("rift-job-bench-runner");
  // The standalone shim the daemon uses (it sits beside the daemon's binary).
  std::string shim =
      (std::filesystem::path(DaemonBinary()).parent_path() / "ringrift-job-shim").string();
  rift::jobs::ProcessRunner runner(
      rift::jobs::RunnerOptions{std::filesystem::exists(shim) ? shim : "", std::chrono::seconds(10)});
  std::vector<double> out;
  std::vector<rift::jobs::Launched> started;
  for (int i = 0; i < trials; ++i) {
    rift::jobs::LaunchSpec s;
    s.argv = {"/bin/sleep", "60"};
    s.env = {"PATH=/usr/bin:/bin"};
    s.cwd = "/";
    s.job_dir = dir.path() + "/j" + std::to_string(i);
    auto t0 = Clock::now();
    auto l = runner.Launch(s);
    auto t1 = Clock::now();
    if (!l.ok()) {
      std::fprintf(stderr, "trial %d: %s\n", i, l.status().ToString().c_str());
      continue;
    }
    out.push_back(Ms(t1 - t0));
    started.push_back(*l);
  }
  for (const auto& l : started) runner.Kill(l);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (auto rc = rift::jobs::RunShimIfRequested(argc, argv)) return *rc;  // the runner's shim
  int trials = 50;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--trials") == 0) trials = std::max(1, std::atoi(argv[i + 1]));
  }
  Print("job start latency, POST /start_job -> running process (daemon)", DaemonTrials(trials));
  Print("job start latency, ProcessRunner::Launch only (in process)", RunnerTrials(trials));
  return 0;
}
