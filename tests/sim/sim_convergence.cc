// Convergence versus cluster size, measured in simulated time (used by bench/run.sh).
// For each size: boot every node at once with one seed, measure the simulated time until every
// node knows every other as alive and all agree on one leader with a lease (and, separately,
// until the leader alone is agreed); then crash one
// worker and measure the time until every live node lists it as dead (or not at all).
// Default timers, 1 % loss, 1-40 ms delays. Usage: sim_convergence [seed] [sizes...]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <vector>

#include "tests/sim/sim_checks.h"
#include "tests/sim/sim_network.h"

namespace {

using rift::Duration;
using rift::seconds;

double Secs(Duration d) { return std::chrono::duration<double>(d).count(); }

void Measure(uint64_t seed, int nodes) {
  rift::sim::Options o;
  o.seed = seed;
  o.nodes = nodes;
  o.voters = 5;
  o.seed_nodes = 1;
  o.faults.loss = 0.01;
  rift::sim::SimNetwork net(o);
  auto wall_start = std::chrono::steady_clock::now();
  for (int i = 0; i < nodes; ++i) net.Start(i);

  const rift::TimePoint start = net.now();
  std::optional<Duration> leader;
  auto converged = net.RunUntil(
      seconds(1800),
      [&] {
        bool agreed = rift::sim::AgreedLeader(net).has_value();
        if (agreed && !leader) leader = net.now() - start;
        return agreed && rift::sim::AllAlive(net);
      },
      std::chrono::milliseconds(250));

  std::optional<Duration> detect;
  if (converged) {
    int victim = nodes - 1;  // a worker when nodes > 5
    net.Crash(victim);
    detect = net.RunUntil(
        seconds(1800), [&] { return rift::sim::Forgotten(net, {victim}, /*as_dead_ok=*/true); },
        std::chrono::milliseconds(250));
  }
  double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  auto fmt = [](const std::optional<Duration>& d) { return d ? Secs(*d) : -1.0; };
  std::printf("%6d %9.2f %12.2f %14.2f %9llu %8.1f\n", nodes, fmt(leader), fmt(converged),
              fmt(detect), static_cast<unsigned long long>(net.max_term()), wall);
  std::fflush(stdout);
  if (!net.violations().empty()) {
    std::printf("  SAFETY VIOLATION (seed %llu): %s\n", static_cast<unsigned long long>(seed),
                net.violations().front().c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t seed = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1;
  std::vector<int> sizes;
  for (int i = 2; i < argc; ++i) sizes.push_back(std::atoi(argv[i]));
  if (sizes.empty()) sizes = {10, 50, 200, 1000};
  std::printf("simulated seconds (seed %llu; -1 = not within 1800 s)\n",
              static_cast<unsigned long long>(seed));
  std::printf("%6s %9s %12s %14s %9s %8s\n", "nodes", "leader_s", "converged_s", "crash_known_s",
              "max_term", "wall_s");
  for (int n : sizes) Measure(seed, n);
  return 0;
}
