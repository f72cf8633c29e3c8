// WatchdogPolicy with a fake clock: restart rules (confirmation, startup grace, backoff, budget),
// connectivity and fallback, disk pressure, registration, memory across watchdog restarts.
#include "resilience/policy.h"

#include <gtest/gtest.h>

namespace rift::resilience {
namespace {

using std::chrono::hours;
using std::chrono::minutes;

PolicyConfig TestConfig() {
  PolicyConfig c;
  c.interval = seconds(10);
  c.retry_interval = seconds(1);
  c.down_probes = 2;
  c.hang_probes = 3;
  c.startup_grace = seconds(60);
  c.backoff_initial = seconds(5);
  c.backoff_max = seconds(40);
  c.stable_period = minutes(10);
  c.restart_budget = 3;
  c.budget_window = hours(1);
  c.fallback = true;
  c.fallback_slots = 2;
  c.disconnect_grace = seconds(120);
  c.fallback_relaunch_gap = seconds(30);
  c.high_watermark = 0.80;
  c.cleanup_interval = minutes(5);
  c.register_interval = minutes(5);
  c.coordinator_url = "http://coord:8770";
  return c;
}

ClusterView Connected() {
  ClusterView v;
  v.self_url = "http://w1:8770";
  v.leader_alive = true;
  v.leader_url = "http://leader:8770";
  v.alive_peers = 3;
  return v;
}
ClusterView Alone() {  // no leader, nobody alive
  ClusterView v;
  v.self_url = "http://w1:8770";
  return v;
}

Observation Healthy(ClusterView v = Connected()) {
  Observation o;
  o.health = Health::kOk;
  o.cluster = v;
  return o;
}
Observation Failing(Health h) {
  Observation o;
  o.health = h;
  return o;
}

class PolicyTest : public ::testing::Test {
 protected:
  explicit PolicyTest(PolicyConfig c = TestConfig()) : policy_(c, clock_.Now()) {}
  Actions At(Duration after, const Observation& o) {
    clock_.Advance(after);
    return policy_.Step(clock_.Now(), o);
  }
  // Steps `o` at each next_pass the policy asks for, until a restart or `limit` elapses.
  std::optional<TimePoint> RestartWithin(Duration limit, const Observation& o) {
    const TimePoint end = clock_.Now() + limit;
    Duration wait = Duration::zero();
    while (clock_.Now() + wait <= end) {
      Actions a = At(wait, o);
      if (a.restart) return clock_.Now();
      wait = a.next_pass;
    }
    return std::nullopt;
  }
  static bool Has(const Actions& a, LogLine::Level level, const std::string& text) {
    for (const auto& l : a.log) {
      if (l.level == level && l.message.find(text) != std::string::npos) return true;
    }
    return false;
  }

  FakeClock clock_;
  WatchdogPolicy policy_;
};

TEST_F(PolicyTest, CrashIsRestartedOnceTheRefusalIsConfirmed) {
  EXPECT_FALSE(At(seconds(0), Healthy()).restart);
  Actions first = At(seconds(10), Failing(Health::kRefused));
  EXPECT_FALSE(first.restart);
  EXPECT_EQ(first.next_pass, seconds(1));  // confirm quickly
  EXPECT_TRUE(policy_.Confirming());
  Actions second = At(seconds(1), Failing(Health::kRefused));
  ASSERT_TRUE(second.restart);
  EXPECT_FALSE(second.restart->hung);
  EXPECT_FALSE(policy_.Confirming());
  EXPECT_TRUE(Has(second, LogLine::Level::kWarn, "down"));
}

TEST_F(PolicyTest, HangNeedsThreeUnansweredProbesAndIsMarkedHung) {
  At(seconds(0), Healthy());
  EXPECT_FALSE(At(seconds(10), Failing(Health::kTimeout)).restart);
  EXPECT_FALSE(At(seconds(1), Failing(Health::kTimeout)).restart);
  Actions third = At(seconds(1), Failing(Health::kTimeout));
  ASSERT_TRUE(third.restart);
  EXPECT_TRUE(third.restart->hung);
}

TEST_F(PolicyTest, OneSlowAnswerBetweenHealthyOnesNeverRestarts) {
  for (int i = 0; i < 20; ++i) {
    EXPECT_FALSE(At(seconds(10), Failing(Health::kTimeout)).restart);
    EXPECT_FALSE(At(seconds(1), Failing(Health::kTimeout)).restart);
    EXPECT_FALSE(At(seconds(1), Healthy()).restart);
  }
}

TEST_F(PolicyTest, RestartedDaemonIsNotKilledWithinItsStartupGrace) {
  ASSERT_TRUE(RestartWithin(seconds(5), Failing(Health::kRefused)));
  const TimePoint restarted = clock_.Now();
  // Still refusing while it starts (loading a big inventory, say): left alone for the grace.
  auto next = RestartWithin(seconds(59), Failing(Health::kTimeout));
  EXPECT_FALSE(next);
  next = RestartWithin(seconds(30), Failing(Health::kTimeout));
  ASSERT_TRUE(next);
  EXPECT_GE(*next - restarted, seconds(60));
}

TEST_F(PolicyTest, ADaemonProcessYoungerThanTheGraceIsLeftToStart) {
  Observation starting = Failing(Health::kRefused);
  starting.daemon_process = true;
  starting.daemon_age = seconds(5);  // systemd or an operator just started it
  for (int i = 0; i < 30; ++i) {
    EXPECT_FALSE(At(seconds(1), starting).restart);
    starting.daemon_age += seconds(1);
  }
  starting.daemon_age = seconds(61);
  EXPECT_TRUE(RestartWithin(seconds(5), starting));
}

TEST_F(PolicyTest, AnAnswerEndsTheGraceSoALaterCrashIsHandledPromptly) {
  ASSERT_TRUE(RestartWithin(seconds(5), Failing(Health::kRefused)));
  At(seconds(2), Healthy());
  auto again = RestartWithin(seconds(20), Failing(Health::kRefused));
  ASSERT_TRUE(again);  // well inside what would have been the 60 s grace
}

TEST_F(PolicyTest, BackoffDoublesBetweenRestartsAndResetsAfterAStablePeriod) {
  PolicyConfig c = TestConfig();
  c.startup_grace = seconds(0);
  c.restart_budget = 100;
  WatchdogPolicy p(c, clock_.Now());
  std::vector<TimePoint> restarts;
  Duration wait = Duration::zero();
  while (restarts.size() < 6) {
    clock_.Advance(wait);
    Actions a = p.Step(clock_.Now(), Failing(Health::kRefused));
    if (a.restart) restarts.push_back(clock_.Now());
    wait = a.next_pass;
  }
  std::vector<Duration> gaps;
  for (size_t i = 1; i < restarts.size(); ++i) gaps.push_back(restarts[i] - restarts[i - 1]);
  // Each gap is the backoff (5, 10, 20, 40, 40 capped) or the confirmation, whichever is longer.
  EXPECT_GE(gaps[0], seconds(5));
  EXPECT_GE(gaps[1], seconds(10));
  EXPECT_GE(gaps[2], seconds(20));
  EXPECT_GE(gaps[3], seconds(40));
  EXPECT_LT(gaps[4], seconds(42));  // capped at backoff_max
  // Healthy for the stable period: the next failure is restarted without backoff.
  clock_.Advance(seconds(1));
  p.Step(clock_.Now(), Healthy());
  clock_.Advance(c.stable_period);
  p.Step(clock_.Now(), Healthy());
  clock_.Advance(seconds(10));
  EXPECT_FALSE(p.Step(clock_.Now(), Failing(Health::kRefused)).restart);
  clock_.Advance(seconds(1));
  EXPECT_TRUE(p.Step(clock_.Now(), Failing(Health::kRefused)).restart);
}

TEST_F(PolicyTest, AnExhaustedBudgetStopsRestartsAndSaysSoOnceLoudly) {
  PolicyConfig c = TestConfig();
  c.startup_grace = seconds(0);
  c.backoff_initial = c.backoff_max = seconds(1);
  WatchdogPolicy p(c, clock_.Now());
  int restarts = 0, errors = 0;
  for (Duration t = Duration::zero(); t < minutes(30); t += seconds(1)) {
    clock_.Advance(seconds(1));
    Actions a = p.Step(clock_.Now(), Failing(Health::kRefused));
    restarts += a.restart.has_value();
    for (const auto& l : a.log) errors += l.level == LogLine::Level::kError;
  }
  EXPECT_EQ(restarts, 3);
  EXPECT_EQ(errors, 1);
  EXPECT_TRUE(p.budget_exhausted());
  EXPECT_FALSE(p.Confirming());  // --once must not spin on an exhausted budget
  // The window slides: an hour after the first restart, one more is allowed.
  bool again = false;
  for (Duration t = Duration::zero(); t < minutes(31) && !again; t += seconds(1)) {
    clock_.Advance(seconds(1));
    again = p.Step(clock_.Now(), Failing(Health::kRefused)).restart.has_value();
  }
  EXPECT_TRUE(again);
}

TEST_F(PolicyTest, DisconnectedOnlyAfterTheGraceThenOneJobPerSlot) {
  Actions a = At(seconds(0), Healthy(Alone()));
  EXPECT_EQ(a.start_fallback, 0);
  EXPECT_TRUE(Has(a, LogLine::Level::kWarn, "cut off"));
  EXPECT_LE(a.next_pass, seconds(10));
  EXPECT_EQ(At(seconds(119), Healthy(Alone())).start_fallback, 0);
  Actions due = At(seconds(1), Healthy(Alone()));
  EXPECT_EQ(due.start_fallback, 2);
  EXPECT_TRUE(policy_.fallback_active());
  Observation running = Healthy(Alone());
  running.fallback_running = 2;
  EXPECT_EQ(At(seconds(10), running).start_fallback, 0);
}

TEST_F(PolicyTest, NoLeaderButAnAlivePeerIsNotDisconnected) {
  // A partition that leaves this side without a leader must not send it into fallback: only a
  // node that reaches nobody is cut off.
  ClusterView leaderless = Alone();
  leaderless.alive_peers = 1;
  for (int i = 0; i < 100; ++i) {
    Actions a = At(seconds(10), Healthy(leaderless));
    EXPECT_EQ(a.start_fallback, 0);
  }
  EXPECT_FALSE(policy_.fallback_active());
}

TEST_F(PolicyTest, ALeaderOfItselfIsAOneNodeClusterNotACutOffNode) {
  ClusterView solo = Alone();
  solo.self_leader = true;
  solo.leader_alive = true;
  for (int i = 0; i < 100; ++i) EXPECT_EQ(At(seconds(10), Healthy(solo)).start_fallback, 0);
}

TEST_F(PolicyTest, AStaleLeaderIdWithNobodyAliveCountsAsCutOff) {
  ClusterView stale = Alone();
  stale.leader_url = "http://leader:8770";  // remembered, but not an alive member
  At(seconds(0), Healthy(stale));
  EXPECT_EQ(At(seconds(120), Healthy(stale)).start_fallback, 2);
}

TEST_F(PolicyTest, ReconnectStopsFallbackAtOnce) {
  At(seconds(0), Healthy(Alone()));
  ASSERT_EQ(At(seconds(120), Healthy(Alone())).start_fallback, 2);
  Observation back = Healthy();
  back.fallback_running = 2;
  Actions a = At(seconds(10), back);
  EXPECT_TRUE(a.stop_fallback);
  EXPECT_EQ(a.start_fallback, 0);
  EXPECT_FALSE(policy_.fallback_active());
  EXPECT_TRUE(Has(a, LogLine::Level::kInfo, "reconnected"));
}

TEST_F(PolicyTest, APeerSeenWithinTheGraceStartsTheGraceOver) {
  At(seconds(0), Healthy(Alone()));
  At(seconds(100), Healthy());  // back before the grace ended
  At(seconds(10), Healthy(Alone()));
  EXPECT_EQ(At(seconds(100), Healthy(Alone())).start_fallback, 0);
  EXPECT_EQ(At(seconds(20), Healthy(Alone())).start_fallback, 2);
}

TEST_F(PolicyTest, WithTheDaemonDownTheSeedsDecide) {
  PolicyConfig c = TestConfig();
  c.restart_budget = 1;
  WatchdogPolicy p(c, clock_.Now());
  Observation down = Failing(Health::kRefused);
  down.seeds_probed = 3;
  down.seeds_reachable = 1;  // the network is fine: just restart the daemon
  p.Step(clock_.Now(), down);
  clock_.Advance(minutes(5));
  EXPECT_EQ(p.Step(clock_.Now(), down).start_fallback, 0);
  down.seeds_probed = 0;  // nothing to probe: unknown, never a reason for fallback
  clock_.Advance(minutes(5));
  EXPECT_EQ(p.Step(clock_.Now(), down).start_fallback, 0);
  down.seeds_probed = 3;
  down.seeds_reachable = 0;
  p.Step(clock_.Now(), down);
  clock_.Advance(seconds(121));
  EXPECT_EQ(p.Step(clock_.Now(), down).start_fallback, 2);
}

TEST_F(PolicyTest, ExitedFallbackJobsAreRelaunchedNoFasterThanTheGap) {
  At(seconds(0), Healthy(Alone()));
  ASSERT_EQ(At(seconds(120), Healthy(Alone())).start_fallback, 2);
  Observation one_left = Healthy(Alone());
  one_left.fallback_running = 1;
  EXPECT_EQ(At(seconds(10), one_left).start_fallback, 0);
  EXPECT_EQ(At(seconds(20), one_left).start_fallback, 1);
}

TEST_F(PolicyTest, FallbackJobsOutsideFallbackAreStopped) {
  Observation stray = Healthy();
  stray.fallback_running = 1;  // e.g. left by a --once run whose memory says connected
  EXPECT_TRUE(At(seconds(0), stray).stop_fallback);
}

TEST_F(PolicyTest, DiskAboveTheWatermarkAsksForCleanupOncePerInterval) {
  Observation full = Healthy();
  full.disk_used = 0.85;
  EXPECT_TRUE(At(seconds(0), full).cleanup);
  EXPECT_FALSE(At(seconds(10), full).cleanup);
  EXPECT_TRUE(At(minutes(5), full).cleanup);
  full.disk_used = 0.79;
  EXPECT_FALSE(At(minutes(5), full).cleanup);
  Observation down = Failing(Health::kRefused);
  down.disk_used = 0.95;
  Actions a = At(minutes(5), down);
  EXPECT_FALSE(a.cleanup);  // only the daemon knows what may be deleted
  EXPECT_TRUE(Has(a, LogLine::Level::kWarn, "cleanup needs the daemon"));
}

TEST_F(PolicyTest, RegistersWithTheLeaderElseTheCoordinatorEveryInterval) {
  EXPECT_EQ(At(seconds(0), Healthy()).register_with, "http://leader:8770");
  EXPECT_EQ(At(seconds(10), Healthy()).register_with, "");
  ClusterView leaderless = Alone();
  leaderless.alive_peers = 2;
  EXPECT_EQ(At(minutes(5), Healthy(leaderless)).register_with, "http://coord:8770");
  ClusterView leader = Connected();
  leader.self_leader = true;
  EXPECT_EQ(At(minutes(5), Healthy(leader)).register_with, "");
  EXPECT_EQ(At(minutes(5), Failing(Health::kRefused)).register_with, "");
}

TEST_F(PolicyTest, MemoryCarriesTheBudgetAndFallbackAcrossWatchdogRestarts) {
  PolicyConfig c = TestConfig();
  c.startup_grace = seconds(0);
  c.backoff_initial = c.backoff_max = seconds(1);
  WatchdogPolicy p(c, clock_.Now());
  int restarts = 0;
  for (int i = 0; i < 60 && restarts < 3; ++i) {
    clock_.Advance(seconds(1));
    restarts += p.Step(clock_.Now(), Failing(Health::kRefused)).restart.has_value();
  }
  ASSERT_EQ(restarts, 3);
  PolicyMemory m = p.Save(clock_.Now(), 1'000'000'000);
  EXPECT_EQ(m.restarts_ms.size(), 3u);
  // A new watchdog (cron's next --once run, 5 minutes later) must not restart again.
  FakeClock later(TimePoint(hours(50)));
  WatchdogPolicy q(c, later.Now());
  q.Restore(m, later.Now(), 1'000'000'000 + 300'000);
  for (int i = 0; i < 10; ++i) {
    later.Advance(seconds(1));
    EXPECT_FALSE(q.Step(later.Now(), Failing(Health::kRefused)).restart);
  }
  EXPECT_TRUE(q.budget_exhausted());
}

}  // namespace
}  // namespace rift::resilience
