// Randomized safety test: 5 voters under message drops, delays, partitions and crashes.
#include <gtest/gtest.h>

#include "orchestrator/election/election.h"
#include "orchestrator/election/sim_net_for_test.h"

namespace rift::election {
namespace {

using testing::SimNet;

// One random fault per simulated second: cut a link, isolate a node, crash or restart one,
// or heal everything.
void InjectFault(SimNet& net) {
  Random& r = net.faults();
  const auto& ids = net.ids();
  const std::string& a = ids[r.Uniform(ids.size())];
  const std::string& b = ids[r.Uniform(ids.size())];
  switch (r.Uniform(6)) {
    case 0:
      if (a != b) net.Cut(a, b);
      break;
    case 1:
      net.Isolate(a);
      break;
    case 2:
      net.Crash(a);
      break;
    case 3:
      net.Restart(a);
      break;
    default:
      net.Heal();
      break;
  }
}

TEST(ElectionRandomTest, AtMostOneLeaderPerTermUnderDropsDelaysPartitionsAndCrashes) {
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    // Every fourth seed also exercises leadership transfer to a preferred leader.
    SimNet net(5, 1, seed, LeaderMode::kElected, seed % 4 == 0 ? "n5" : "");
    Random& r = net.faults();
    net.SetFaults(r.Uniform(30) / 100.0, milliseconds(1 + r.Uniform(300)));
    for (int second = 0; second < 90; ++second) {
      InjectFault(net);
      net.Run(seconds(1));
    }
    // Then a calm network must converge on one leader that everyone follows.
    net.Heal();
    for (const auto& id : net.ids()) {
      if (!net.up(id)) net.Restart(id);
    }
    net.SetFaults(0, milliseconds(1));
    auto leader = net.RunUntilLeader(seconds(20));
    ASSERT_TRUE(leader);
    net.Run(seconds(2));

    for (const auto& [term, leaders] : net.claims()) {
      ASSERT_EQ(leaders.size(), 1u) << "term " << term << " has " << leaders.size() << " leaders";
    }
    ASSERT_EQ(net.overlapping_leases(), 0);
    ASSERT_EQ(net.Leaders().size(), 1u);
    for (const auto& id : net.ids()) {
      ASSERT_EQ(net[id].leader_id(), net.Leaders().front()) << id;
    }
    if (seed % 4 == 0) {
      ASSERT_EQ(net.Leaders().front(), "n5");
    }
  }
}

}  // namespace
}  // namespace rift::election
