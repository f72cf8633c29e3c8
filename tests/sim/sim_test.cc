// Simulation tests: many nodes on a fake network, seeded faults, invariants checked as the run
// goes. A failure prints its seed; replay one with RIFT_SIM_SEED=<seed>, run more seeds with
// RIFT_SIM_SEEDS=<n>; RIFT_SIM_TRACE=1 prints how each permanently crashed node fades from view.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "tests/sim/sim_checks.h"
#include "tests/sim/sim_network.h"

namespace rift::sim {
namespace {

std::vector<uint64_t> SeedsToRun(uint64_t base, int default_count) {
  if (const char* s = std::getenv("RIFT_SIM_SEED"); s != nullptr && *s != '\0') {
    return {std::strtoull(s, nullptr, 10)};
  }
  int n = default_count;
  if (const char* s = std::getenv("RIFT_SIM_SEEDS"); s != nullptr && *s != '\0') {
    n = std::max(1, std::atoi(s));
  }
  std::vector<uint64_t> seeds;
  for (int k = 0; k < n; ++k) seeds.push_back(base + k);
  return seeds;
}

std::string Replay(uint64_t seed) {
  return "seed " + std::to_string(seed) + " (replay: RIFT_SIM_SEED=" + std::to_string(seed) + ")";
}

double Secs(Duration d) { return std::chrono::duration<double>(d).count(); }

// Realistic ratios (the default profile), with the reap TTL cut from 10 min to 1 min so that a
// run sees many reaps.
Options SimOptions(uint64_t seed, int nodes, int voters) {
  Options o;
  o.seed = seed;
  o.nodes = nodes;
  o.voters = voters;
  o.membership.dead_reap_ttl = seconds(60);
  o.faults.loss = 0.01;
  return o;
}

std::string Violations(const SimNetwork& net) {
  std::string out;
  for (const auto& v : net.violations()) out += "  " + v + "\n";
  return out;
}

// Bounds after a heal, generous against the timers so that they flag bugs, not slowness.
struct Bounds {
  Duration leader = seconds(60);
  Duration members = seconds(150);
  Duration forget_slack = seconds(30);  // on top of the reap TTL: detection plus spreading
};

struct ChaosPlan {
  int nodes = 25;
  int voters = 3;
  Duration total = seconds(2000);
  Duration chaos = seconds(300);     // per cycle, then a heal
  Duration action_min = seconds(5);  // between chaos actions
  Duration action_max = seconds(25);
  int max_crash = 3;  // per action
  int permanent_voter_deaths = 1;
  Bounds bounds;
  // Timers, delays and every duration above except `total` are stretched by this factor.
  int scale = 1;
};

// One chaos action: partitions, heals, crashes, restarts, loss changes.
void ChaosAction(SimNetwork& net, const std::set<int>& permanent, const ChaosPlan& plan) {
  Random& r = net.random();
  auto up = net.UpNodes();
  switch (r.Uniform(6)) {
    case 0: {  // random split into 2 or 3 groups
      int groups = 2 + static_cast<int>(r.Uniform(2));
      double minority = 0.1 + 0.4 * r.Chance(0.5);
      for (int i = 0; i < net.size(); ++i) {
        net.SetGroup(i, r.Chance(minority) ? 1 + static_cast<int>(r.Uniform(groups - 1)) : 0);
      }
      break;
    }
    case 1: {  // isolate the current leader (or a random voter) with a few others
      int victim = -1;
      for (int v = 0; v < net.options().voters; ++v) {
        if (net.IsUp(v) && net.core(v)->election().role() == election::Role::kLeader) victim = v;
      }
      if (victim < 0) victim = static_cast<int>(r.Uniform(net.options().voters));
      net.SetGroup(victim, 7);
      for (int k = 0; k < 3; ++k) net.SetGroup(static_cast<int>(r.Uniform(net.size())), 7);
      break;
    }
    case 2:
      net.HealPartitions();
      break;
    case 3: {  // crash a few (voters included)
      int n = 1 + static_cast<int>(r.Uniform(plan.max_crash));
      for (int k = 0; k < n && !up.empty(); ++k) net.Crash(up[r.Uniform(up.size())]);
      break;
    }
    case 4: {  // restart a few
      for (int i = 0; i < net.size(); ++i) {
        if (!net.IsUp(i) && !permanent.count(i) && r.Chance(0.5)) net.Start(i);
      }
      break;
    }
    default:  // weather: loss 1-5 %, sometimes slow links
      net.faults().loss = 0.01 + 0.04 * static_cast<double>(r.Uniform(1000)) / 1000.0;
      net.faults().slow_fraction = r.Chance(0.3) ? 0.02 : 0.0;
      break;
  }
}

// Heals everything, kills `kill` permanently, and checks liveness bounds. Returns false (after
// recording failures) when a bound is missed.
void HealAndVerify(SimNetwork& net, std::set<int>& permanent, const ChaosPlan& plan,
                   int* voter_deaths, int cycle, Duration* worst_forget) {
  Random& r = net.random();
  net.HealPartitions();
  net.faults().slow_fraction = 0;
  for (int i = 0; i < net.size(); ++i) {
    if (!net.IsUp(i) && !permanent.count(i)) net.Start(i);
  }
  // One permanent death per cycle: a worker, and now and then a non-seed voter.
  int victim = -1;
  if (*voter_deaths < plan.permanent_voter_deaths && cycle % 3 == 2) {
    victim = net.options().voters - 1 - *voter_deaths;
    if (victim < net.options().seed_nodes) victim = -1;
    if (victim >= 0) ++*voter_deaths;
  }
  while (victim < 0) {
    int c = net.options().voters + static_cast<int>(r.Uniform(net.size() - net.options().voters));
    if (!permanent.count(c)) victim = c;
  }
  net.Crash(victim);
  permanent.insert(victim);
  const TimePoint heal_at = net.now();

  const int k = plan.scale;
  // RIFT_SIM_TRACE: how the victim fades from view, every 5 s (x scale) from the heal on.
  const bool trace = std::getenv("RIFT_SIM_TRACE") != nullptr;
  TimePoint next_trace = heal_at;
  auto traced = [&](const std::function<bool()>& done) {
    return [&, done] {
      if (trace && net.now() >= next_trace) {
        next_trace = net.now() + seconds(5) * k;
        int counts[4] = {0, 0, 0, 0};
        for (int i : net.UpNodes()) {
          int state = 3;
          for (const auto& m : net.core(i)->membership().Members()) {
            if (m.node_id == net.id(victim)) state = static_cast<int>(m.state);
          }
          ++counts[state];
        }
        std::string who;
        for (int i : net.UpNodes()) {
          for (const auto& m : net.core(i)->membership().Members()) {
            if (m.node_id == net.id(victim) && m.state != protocol::MemberState::kDead &&
                counts[0] + counts[1] <= 4) {
              who += " " + net.id(i) + "(" + std::to_string(static_cast<int>(m.state)) + "@" +
                     std::to_string(m.incarnation) + " seen " +
                     std::to_string(static_cast<long long>(Secs(net.now() - m.last_seen))) +
                     "s ago, since " +
                     std::to_string(static_cast<long long>(Secs(net.now() - m.state_since))) +
                     "s)";
            }
          }
        }
        std::printf("t+%.0fs %s: alive %d suspect %d dead %d absent %d%s\n",
                    Secs(net.now() - heal_at), net.id(victim).c_str(), counts[0], counts[1],
                    counts[2], counts[3], who.c_str());
      }
      return done();
    };
  };
  auto leader = net.RunUntil(
      plan.bounds.leader * k, traced([&] { return AgreedLeader(net).has_value(); }),
      milliseconds(500) * k);
  EXPECT_TRUE(leader.has_value()) << "cycle " << cycle << ": no agreed leader "
                                  << Secs(plan.bounds.leader * k) << " s after a heal\n"
                                  << DescribeElection(net);
  auto members = net.RunUntil(
      plan.bounds.members * k - (net.now() - heal_at), traced([&] { return MembershipConverged(net); }),
      seconds(1) * k);
  EXPECT_TRUE(members.has_value())
      << "cycle " << cycle << ": live members do not all know "
      << "each other " << Secs(plan.bounds.members * k) << " s after a heal\n"
      << DescribeMembership(net);
  const Duration forget = net.options().membership.dead_reap_ttl + plan.bounds.forget_slack * k;
  const Duration waited = net.now() - heal_at;
  auto forgotten = net.RunUntil(
      forget - (net.now() - heal_at), traced([&] { return Forgotten(net, permanent); }), seconds(1) * k);
  if (forgotten) *worst_forget = std::max(*worst_forget, waited + *forgotten);
  EXPECT_TRUE(forgotten.has_value()) << "cycle " << cycle << ": dead members still listed "
                                     << Secs(forget) << " s after their crash\n"
                                     << DescribeRemembered(net, permanent);
}

void RunChaos(uint64_t seed, const ChaosPlan& plan) {
  SCOPED_TRACE(Replay(seed));
  const int k = plan.scale;
  SimNetwork net(Scaled(SimOptions(seed, plan.nodes, plan.voters), k));
  const TimePoint start = net.now();
  for (int i = 0; i < net.size(); ++i) {  // staggered boot
    net.Start(i);
    net.RunFor(milliseconds(50) * k);
  }
  auto joined = net.RunUntil(
      seconds(120) * k, [&] { return AgreedLeader(net).has_value() && MembershipConverged(net); },
      milliseconds(500) * k);
  ASSERT_TRUE(joined.has_value()) << "initial join did not converge\n" << DescribeMembership(net);

  std::set<int> permanent;
  int voter_deaths = 0;
  Duration worst_forget{};
  Random& r = net.random();
  const TimePoint end = net.now() + plan.total;
  for (int cycle = 0; net.now() < end; ++cycle) {
    const TimePoint chaos_end = net.now() + plan.chaos * k;
    while (net.now() < chaos_end) {
      ChaosAction(net, permanent, plan);
      net.RunFor(r.Between(plan.action_min * k, plan.action_max * k));
    }
    HealAndVerify(net, permanent, plan, &voter_deaths, cycle, &worst_forget);
    ASSERT_TRUE(net.violations().empty()) << "cycle " << cycle << ":\n" << Violations(net);
    if (::testing::Test::HasFailure()) return;
  }
  ASSERT_TRUE(net.violations().empty()) << Violations(net);
  EXPECT_GE(net.terms_with_leader(), 1u);
  const NetStats& s = net.stats();
  std::printf(
      "[sim] seed %llu: %d nodes, %.0f s simulated (timers x%d), %llu requests (%llu "
      "lost, %llu cut), max term %llu, %zu terms with a leader, %zu dead for good, forgotten "
      "everywhere at most %.0f s after the crash (reap TTL %.0f s)\n",
      static_cast<unsigned long long>(seed), plan.nodes, Secs(net.now() - start), k,
      static_cast<unsigned long long>(s.requests), static_cast<unsigned long long>(s.lost),
      static_cast<unsigned long long>(s.cut), static_cast<unsigned long long>(net.max_term()),
      net.terms_with_leader(), permanent.size(), Secs(worst_forget),
      Secs(net.options().membership.dead_reap_ttl));
}

TEST(SimTest, SmallClustersSurviveChaos) {
  ChaosPlan plan;
  plan.nodes = 25;
  plan.voters = 3;
  plan.total = seconds(2500);
  for (uint64_t seed : SeedsToRun(1000, 3)) {
    RunChaos(seed, plan);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

TEST(SimTest, TwoHundredNodesSurviveTenThousandSecondsOfChaos) {
  ChaosPlan plan;
  plan.nodes = 220;  // one dies for good per cycle; 200+ remain to the end
  plan.voters = 5;
  plan.total = seconds(10'000);
  plan.chaos = seconds(400);
  plan.action_min = seconds(10);
  plan.action_max = seconds(40);
  plan.max_crash = 5;
  plan.bounds.members = seconds(200);
  // Deaths reach late nodes within about a minute of the crash (it was ~200 s before news of
  // deaths was prioritised in the gossip queue; see orchestrator/membership/member_table.cc).
  plan.bounds.forget_slack = seconds(75);
  plan.scale = 3;  // keeps the test under a minute in Debug on a busy 2-core box
  if (const char* k = std::getenv("RIFT_SIM_SCALE"); k != nullptr && *k != '\0') {
    plan.scale = std::max(1, std::atoi(k));
  }
  if (const char* f = std::getenv("RIFT_SIM_FORGET_SLACK"); f != nullptr && *f != '\0') {
    plan.bounds.forget_slack = seconds(std::atoi(f));
  }
  for (uint64_t seed : SeedsToRun(7, 1)) {
    RunChaos(seed, plan);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

// The isolated leader steps down, the majority elects another, and on heal the old leader
// rejoins as a follower without bumping the term (pre-vote).
TEST(SimTest, IsolatedLeaderIsReplacedAndRejoinsWithoutDisruption) {
  for (uint64_t seed : SeedsToRun(500, 3)) {
    SCOPED_TRACE(Replay(seed));
    SimNetwork net(SimOptions(seed, 9, 5));
    for (int i = 0; i < net.size(); ++i) net.Start(i);
    auto first = net.RunUntil(seconds(60), [&] { return AgreedLeader(net).has_value(); });
    ASSERT_TRUE(first.has_value()) << DescribeElection(net);
    int old_leader = *AgreedLeader(net);
    net.SetGroup(old_leader, 1);
    const Duration et = net.options().election.election_timeout;
    net.RunFor(et * 2);
    EXPECT_NE(net.core(old_leader)->election().role(), election::Role::kLeader);
    auto second = net.RunUntil(seconds(60), [&] {
      auto l = AgreedLeaderAmong(net, [&](int i) { return i != old_leader; });
      return l.has_value() && *l != old_leader;
    });
    ASSERT_TRUE(second.has_value()) << DescribeElection(net);
    const uint64_t term = net.core(*AgreedLeaderAmong(net, [&](int i) { return i != old_leader; }))
                              ->election()
                              .term();
    net.HealPartitions();
    auto rejoined = net.RunUntil(seconds(30), [&] { return AgreedLeader(net).has_value(); });
    ASSERT_TRUE(rejoined.has_value()) << DescribeElection(net);
    net.RunFor(seconds(60));
    EXPECT_EQ(net.core(*AgreedLeader(net))->election().term(), term)
        << "the rejoining node disrupted a healthy leader";
    EXPECT_TRUE(net.violations().empty()) << Violations(net);
  }
}

// A restarted voter keeps its term and vote (the store is its disk) and never votes twice.
TEST(SimTest, CrashedVotersKeepTheirVotesAcrossRestarts) {
  for (uint64_t seed : SeedsToRun(900, 3)) {
    SCOPED_TRACE(Replay(seed));
    Options o = SimOptions(seed, 7, 5);
    o.faults.loss = 0.05;
    SimNetwork net(o);
    for (int i = 0; i < net.size(); ++i) net.Start(i);
    Random& r = net.random();
    for (int round = 0; round < 60; ++round) {  // crash-restart voters mid-election, often
      int v = static_cast<int>(r.Uniform(5));
      net.Crash(v);
      net.RunFor(r.Between(milliseconds(100), seconds(4)));
      net.Start(v);
      net.RunFor(r.Between(milliseconds(100), seconds(6)));
    }
    auto settled = net.RunUntil(seconds(60), [&] { return AgreedLeader(net).has_value(); });
    EXPECT_TRUE(settled.has_value()) << DescribeElection(net);
    EXPECT_TRUE(net.violations().empty()) << Violations(net);
  }
}

}  // namespace
}  // namespace rift::sim
