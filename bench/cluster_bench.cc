// Cluster benchmarks on loopback with real daemons; prints figures, asserts nothing.
//   cluster_bench failover [--trials N] [--profile default|etcd|fast]
//       3 voters; kill -9 the leader; time until every survivor reports the same new leader.
//   cluster_bench detection [--trials N] [--profile ...]
//       5 nodes (3 voters); kill -9 a worker; time until every live member marks it dead.
//   cluster_bench rss [--seconds S]
//       3 idle daemons; VmRSS/VmHWM of each after S seconds.
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/harness/cluster.h"

using namespace rift::testing;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

namespace {

constexpr char kToken[] = "bench-token";

struct Cluster {
  TempDir dir{"rift-bench"};
  std::vector<std::unique_ptr<Daemon>> nodes;

  bool Start(int n, int voters, const std::string& profile) {
    std::string voter_list, peers;
    for (int i = 1; i <= voters; ++i) voter_list += (i > 1 ? "," : "") + ("n" + std::to_string(i));
    for (int i = 1; i <= n; ++i) {
      DaemonOptions o;
      o.node_id = "n" + std::to_string(i);
      o.env["RINGRIFT_P2P_VOTERS"] = voter_list;
      o.env["RINGRIFT_TIMER_PROFILE"] = profile;
      o.env["RINGRIFT_CLUSTER_AUTH_TOKEN"] = kToken;
      if (!peers.empty()) o.env["EXTRA_PEERS"] = peers;
      nodes.push_back(std::make_unique<Daemon>(DaemonBinary(), o, dir.path() + "/" + o.node_id));
      std::string err;
      if (!nodes.back()->Start(&err)) {
        std::fprintf(stderr, "start failed: %s\n", err.c_str());
        return false;
      }
      peers += (peers.empty() ? "" : ",") + nodes.back()->url();
    }
    return true;
  }

  std::string Agreed(bool full_view) {
    std::set<std::string> leaders;
    std::vector<Daemon*> live;
    for (auto& d : nodes)
      if (d->Running()) live.push_back(d.get());
    for (Daemon* d : live) {
      auto s = d->Status(kToken);
      if (!s || !s->leader_id) return "";
      leaders.insert(*s->leader_id);
      if (full_view && s->CountState("alive") + 1 != live.size()) return "";
    }
    return leaders.size() == 1 ? *leaders.begin() : "";
  }
};

void PrintStats(const char* what, std::vector<double> ms) {
  if (ms.empty()) {
    std::printf("%s: no successful trials\n", what);
    return;
  }
  std::sort(ms.begin(), ms.end());
  double median = ms[ms.size() / 2];
  if (ms.size() % 2 == 0) median = (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]) / 2;
  std::printf("%s: trials=%zu median=%.0f ms min=%.0f ms max=%.0f ms\n", what, ms.size(), median,
              ms.front(), ms.back());
}

int Failover(int trials, const std::string& profile) {
  std::vector<double> results;
  for (int t = 0; t < trials; ++t) {
    Cluster c;
    if (!c.Start(3, 3, profile)) return 1;
    std::string leader;
    if (!WaitFor([&] { return !(leader = c.Agreed(true)).empty(); }, seconds(60))) {
      std::fprintf(stderr, "trial %d: no initial leader\n", t);
      continue;
    }
    // Let the cluster settle into steady heartbeats before the kill.
    std::this_thread::sleep_for(milliseconds(500));
    Daemon* victim = nullptr;
    for (auto& d : c.nodes)
      if (d->node_id() == leader) victim = d.get();
    auto t0 = Clock::now();
    victim->Kill(SIGKILL);
    std::string next;
    bool ok = WaitFor([&] { return !(next = c.Agreed(false)).empty() && next != leader; },
                      seconds(60), milliseconds(5));
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (ok) {
      results.push_back(ms);
      std::printf("  trial %d: %s -> %s in %.0f ms\n", t + 1, leader.c_str(), next.c_str(), ms);
    } else {
      std::printf("  trial %d: no new leader within 60 s\n", t + 1);
    }
    std::fflush(stdout);
  }
  PrintStats(("failover (3 voters, profile " + profile + ")").c_str(), results);
  return 0;
}

int Detection(int trials, const std::string& profile) {
  std::vector<double> results;
  for (int t = 0; t < trials; ++t) {
    Cluster c;
    if (!c.Start(5, 3, profile)) return 1;
    if (!WaitFor([&] { return !c.Agreed(true).empty(); }, seconds(60))) continue;
    std::this_thread::sleep_for(milliseconds(500));
    Daemon* victim = c.nodes[4].get();  // a worker
    auto t0 = Clock::now();
    victim->Kill(SIGKILL);
    bool ok = WaitFor(
        [&] {
          for (int i = 0; i < 4; ++i) {
            auto s = c.nodes[i]->Status(kToken);
            if (!s) return false;
            const MemberInfo* m = s->Find("n5");
            if (m && m->state != "dead") return false;
          }
          return true;
        },
        seconds(60), milliseconds(10));
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (ok) {
      results.push_back(ms);
      std::printf("  trial %d: n5 dead everywhere in %.0f ms\n", t + 1, ms);
    } else {
      std::printf("  trial %d: not detected within 60 s\n", t + 1);
    }
    std::fflush(stdout);
  }
  PrintStats(("detection (5 nodes, profile " + profile + ")").c_str(), results);
  return 0;
}

long StatusField(pid_t pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::atol(line.c_str() + std::strlen(field) + 1);
  }
  return -1;
}

int Rss(int secs) {
  Cluster c;
  if (!c.Start(3, 3, "default")) return 1;
  WaitFor([&] { return !c.Agreed(true).empty(); }, seconds(60));
  std::this_thread::sleep_for(seconds(secs));
  for (auto& d : c.nodes) {
    std::printf("idle RSS %s: VmRSS=%ld kB VmHWM=%ld kB threads=%ld\n", d->node_id().c_str(),
                StatusField(d->pid(), "VmRSS:"), StatusField(d->pid(), "VmHWM:"),
                StatusField(d->pid(), "Threads:"));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: cluster_bench failover|detection|rss [--trials N] [--profile P]\n");
    return 2;
  }
  std::string mode = argv[1], profile = "default";
  int trials = 9, secs = 10;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--trials") trials = std::atoi(argv[i + 1]);
    else if (k == "--profile") profile = argv[i + 1];
    else if (k == "--seconds") secs = std::atoi(argv[i + 1]);
  }
  if (mode == "failover") return Failover(trials, profile);
  if (mode == "detection") return Detection(trials, profile);
  if (mode == "rss") return Rss(secs);
  std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
  return 2;
}
