#include "orchestrator/improve/scheduler.h"

#include <gtest/gtest.h>

#include <set>

namespace rift::improve {
namespace {

NodeLoad Cpu(const std::string& id, int cpus) {
  NodeLoad n;
  n.node_id = id;
  n.reachable = true;
  n.healthy = true;
  n.cpus = cpus;
  return n;
}

JobView Job(const std::string& kind, const std::string& state, const std::string& key = "") {
  static int next = 0;
  return {"j" + std::to_string(++next), kind, state, key};
}

std::vector<std::string> Keys(const std::vector<StartRequest>& v) {
  std::vector<std::string> out;
  for (const auto& r : v) out.push_back(r.idempotency_key);
  return out;
}

TEST(SchedulerTest, CpuNodesGetHalfTheirCpusCappedAndPlacedInIdOrder) {
  SchedulerConfig c;
  c.cpu_selfplay_max = 3;
  Scheduler s(c);
  auto starts = s.Plan(7, {Cpu("b", 4), Cpu("a", 16), Cpu("c", 1)});
  EXPECT_EQ(Keys(starts),
            (std::vector<std::string>{"sched-t7-a-s0-g0", "sched-t7-a-s1-g0", "sched-t7-a-s2-g0",
                                      "sched-t7-b-s0-g0", "sched-t7-b-s1-g0", "sched-t7-c-s0-g0"}));
  for (const auto& r : starts) {
    EXPECT_EQ(r.kind, "selfplay");
    EXPECT_EQ(r.term, 7u);
    EXPECT_EQ(r.params.at("games"), "200");
    EXPECT_EQ(r.params.count("model"), 0u);
  }
}

TEST(SchedulerTest, GpuNodesRunGpuSelfplayPerGpu) {
  SchedulerConfig c;
  c.selfplay_per_gpu = 2;
  Scheduler s(c);
  NodeLoad g = Cpu("g", 64);
  g.gpus = 3;
  auto starts = s.Plan(1, {g});
  ASSERT_EQ(starts.size(), 6u);
  EXPECT_EQ(starts[0].kind, "gpu_selfplay");
}

TEST(SchedulerTest, PressureUnhealthyAndUnreachableNodesGetNothingNew) {
  Scheduler s({});
  NodeLoad mem = Cpu("mem", 8), disk = Cpu("disk", 8), sick = Cpu("sick", 8), gone = Cpu("gone", 8);
  mem.memory_percent = 86;
  disk.disk_percent = 81;
  disk.disk_high_percent = 80;
  sick.healthy = false;
  gone.reachable = false;
  EXPECT_TRUE(s.Plan(1, {mem, disk, sick, gone}).empty());
  std::map<std::string, std::string> why;
  for (const auto& t : s.last_targets()) why[t.node_id] = t.why;
  EXPECT_NE(why["mem"].find("memory 86%"), std::string::npos) << why["mem"];
  EXPECT_NE(why["disk"].find("disk 81%"), std::string::npos) << why["disk"];
  EXPECT_EQ(why["sick"], "unhealthy");
  EXPECT_EQ(why["gone"], "unreachable");
  mem.memory_percent = 85;  // at the threshold is not above it
  EXPECT_EQ(s.Plan(1, {mem}).size(), 4u);
}

TEST(SchedulerTest, ARetryBeforeTheJobsAppearReusesTheSameKeys) {
  Scheduler s({});
  auto first = s.Plan(3, {Cpu("a", 4)});
  auto again = s.Plan(3, {Cpu("a", 4)});  // the listing does not show them yet
  EXPECT_EQ(Keys(first), Keys(again));
}

TEST(SchedulerTest, RunningJobsHoldTheirSlotsAndAFinishedOneIsReplacedWithANewKey) {
  Scheduler s({});
  auto first = s.Plan(3, {Cpu("a", 4)});
  ASSERT_EQ(first.size(), 2u);
  NodeLoad a = Cpu("a", 4);
  a.jobs = {Job("selfplay", "running", first[0].idempotency_key),
            Job("selfplay", "running", first[1].idempotency_key)};
  EXPECT_TRUE(s.Plan(3, {a}).empty());
  a.jobs[1].state = "exited";
  auto next = s.Plan(3, {a});
  EXPECT_EQ(Keys(next), std::vector<std::string>{"sched-t3-a-s1-g1"});
  // The old key stays finished in the listing: the slot does not move on again.
  a.jobs.push_back(Job("selfplay", "running", "sched-t3-a-s1-g1"));
  EXPECT_TRUE(s.Plan(3, {a}).empty());
}

TEST(SchedulerTest, JobsOfOtherOriginsCountAsLoad) {
  Scheduler s({});
  NodeLoad a = Cpu("a", 8);                                  // target 4
  a.jobs = {Job("selfplay", "running", "sched-t2-a-s0-g0"),  // the previous leader's
            Job("fallback_selfplay", "running"), Job("gpu_selfplay", "exited")};
  auto starts = s.Plan(3, {a});
  EXPECT_EQ(Keys(starts), (std::vector<std::string>{"sched-t3-a-s0-g0", "sched-t3-a-s1-g0"}));
}

TEST(SchedulerTest, TrainingAndEvalTakeASlotAndTheNodeCapBoundsEverything) {
  Scheduler s({});
  NodeLoad a = Cpu("a", 8);
  a.jobs = {Job("training.nnue", "running"), Job("eval", "starting")};
  EXPECT_EQ(s.Plan(1, {a}).size(), 2u);
  NodeLoad b = Cpu("b", 8);
  b.max_parallel_jobs = 3;
  b.jobs = {Job("promote", "running"), Job("selfplay", "running")};
  EXPECT_EQ(s.Plan(1, {b}).size(), 1u);  // 3 - promote = 2 selfplay, one running
}

TEST(SchedulerTest, ANewTermNumbersItsSlotsAfresh) {
  Scheduler s({});
  EXPECT_EQ(s.Plan(4, {Cpu("a", 2)})[0].idempotency_key, "sched-t4-a-s0-g0");
  EXPECT_EQ(s.Plan(5, {Cpu("a", 2)})[0].idempotency_key, "sched-t5-a-s0-g0");
}

TEST(SchedulerTest, CpuSelfplayCanBeTurnedOff) {
  SchedulerConfig c;
  c.cpu_selfplay_max = 0;
  Scheduler s(c);
  NodeLoad g = Cpu("g", 8);
  g.gpus = 1;
  auto starts = s.Plan(1, {Cpu("a", 8), g});
  ASSERT_EQ(starts.size(), 1u);
  EXPECT_EQ(starts[0].node_id, "g");
}

TEST(SchedulerTest, SeedsDifferPerKeyAndAreStable) {
  std::set<uint32_t> seeds;
  for (int i = 0; i < 100; ++i) seeds.insert(SeedFromKey("k" + std::to_string(i)));
  EXPECT_EQ(seeds.size(), 100u);
  EXPECT_EQ(SeedFromKey("abc"), SeedFromKey("abc"));
}

}  // namespace
}  // namespace rift::improve
