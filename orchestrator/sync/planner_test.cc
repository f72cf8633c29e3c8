#include "orchestrator/sync/planner.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace rift::sync {
namespace {

using inventory::FileClass;
using inventory::FileRecord;

constexpr uint64_t kGiB = 1ull << 30;

std::vector<FileClass> Classes() {
  return {
      FileClass{"tmp", {"tmp/"}, 1, false, false, 0},
      FileClass{"logs", {"logs/"}, 1, false, false, 10},
      FileClass{"selfplay", {"selfplay/"}, 2, true, false, 50},
      FileClass{"training", {"training/"}, 2, false, false, 60},
      FileClass{"models", {"models/"}, 3, false, true, 100},
  };
}

std::string ClassOfPath(const std::string& path) {
  for (const auto& c : Classes()) {
    if (path.rfind(c.prefixes[0], 0) == 0) return c.name;
  }
  return "other";
}

FileRecord File(const std::string& path, const std::string& sha, uint64_t size = 1000,
                int64_t mtime = 1) {
  FileRecord r;
  r.path = path;
  r.size = size;
  r.mtime_ns = mtime;
  r.sha256 = sha;
  r.klass = ClassOfPath(path);
  r.version = 1;
  r.sealed = true;
  return r;
}

NodeView Node(const std::string& id, uint64_t free_gib, uint64_t total_gib = 100) {
  NodeView n;
  n.node_id = id;
  n.url = "http://" + id + ":8770";
  n.disk_total = total_gib * kGiB;
  n.disk_free = free_gib * kGiB;
  return n;
}

void Give(NodeView* n, const FileRecord& f) { n->files[f.path] = f; }

std::vector<std::string> Targets(const Plan& p) {
  std::vector<std::string> out;
  for (const auto& pull : p.pulls) out.push_back(pull.target);
  for (const auto& push : p.pushes) out.push_back(push.target);
  return out;
}

std::string Dump(const Plan& p) {
  std::string out;
  for (const auto& x : p.pulls) {
    out += "pull " + x.target + " " + x.path + " from";
    for (const auto& s : x.sources) out += " " + s;
    out += "\n";
  }
  for (const auto& x : p.pushes) out += "push " + x.source + "->" + x.target + " " + x.path + "\n";
  for (const auto& [path, why] : p.shortfalls) out += "short " + path + ": " + why + "\n";
  return out;
}

// Replication cases over three nodes with one file; each row is a scenario.
struct ReplicationCase {
  const char* name;
  std::string path;
  std::vector<NodeView> nodes;  // n1 holds the file unless the case says otherwise
  std::vector<std::string> want_targets;
  size_t want_shortfalls = 0;
};

TEST(SyncPlannerTest, ReplicationTable) {
  auto three = [](uint64_t f1, uint64_t f2, uint64_t f3) {
    return std::vector<NodeView>{Node("n1", f1), Node("n2", f2), Node("n3", f3)};
  };
  std::vector<ReplicationCase> cases;
  {
    ReplicationCase c{
        "one copy goes to the node with most headroom", "selfplay/a.db", three(50, 40, 60), {"n3"}};
    Give(&c.nodes[0], File(c.path, "s1"));
    cases.push_back(c);
  }
  {
    ReplicationCase c{
        "ties on headroom go to the smaller id", "selfplay/a.db", three(50, 60, 60), {"n2"}};
    Give(&c.nodes[0], File(c.path, "s1"));
    cases.push_back(c);
  }
  {
    ReplicationCase c{"replication 1 class needs nothing", "logs/run.log", three(50, 40, 60), {}};
    Give(&c.nodes[0], File(c.path, "s1"));
    cases.push_back(c);
  }
  {
    ReplicationCase c{"already at target needs nothing", "selfplay/a.db", three(50, 40, 60), {}};
    Give(&c.nodes[0], File(c.path, "s1"));
    Give(&c.nodes[1], File(c.path, "s1"));
    cases.push_back(c);
  }
  {
    // n3 has the most free bytes, but its big disk is 85% used.
    ReplicationCase c{"a node above its high watermark is never chosen",
                      "selfplay/a.db",
                      {Node("n1", 50), Node("n2", 25), Node("n3", 150, 1000)},
                      {"n2"}};
    Give(&c.nodes[0], File(c.path, "s1"));
    cases.push_back(c);
  }
  {
    ReplicationCase c{"no eligible node is a shortfall", "selfplay/a.db", three(50, 10, 5), {}, 1};
    Give(&c.nodes[0], File(c.path, "s1"));
    cases.push_back(c);
  }
  {
    ReplicationCase c{
        "an older sha does not count as holding", "selfplay/a.db", three(50, 10, 60), {"n3"}};
    Give(&c.nodes[0], File(c.path, "new", 1000, 2));
    Give(&c.nodes[2], File(c.path, "old", 1000, 1));
    cases.push_back(c);
  }
  {
    ReplicationCase c{
        "dead nodes are neither targets nor holders", "models/m.pt", three(50, 40, 60), {"n2"}, 1};
    c.nodes[2].alive = false;
    Give(&c.nodes[0], File(c.path, "m"));
    Give(&c.nodes[2], File(c.path, "m"));
    cases.push_back(c);
  }
  {
    ReplicationCase c{"unsealed files are not offered", "selfplay/a.db", three(50, 40, 60), {}};
    FileRecord f = File(c.path, "");
    f.sealed = false;
    Give(&c.nodes[0], f);
    cases.push_back(c);
  }
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    Plan p = PlanReplication(c.nodes, Classes(), PlanOptions{});
    EXPECT_EQ(Targets(p), c.want_targets) << Dump(p);
    EXPECT_EQ(p.shortfalls.size(), c.want_shortfalls) << Dump(p);
    for (const auto& pull : p.pulls) {
      EXPECT_EQ(pull.sources, std::vector<std::string>{"n1"});
      EXPECT_EQ(pull.path, c.path);
    }
  }
}

// A suspect node (suspected by membership, or its manifest unreadable this round) keeps
// counting as a holder, so a flapping node does not cause extra copies; it is neither a source
// nor a target until it is plainly alive again.
TEST(SyncPlannerTest, SuspectHoldersCountButAreNeitherSourcesNorTargets) {
  {
    // training/ wants 2 copies: n1 and the suspect n2 hold it. Nothing to do.
    std::vector<NodeView> nodes = {Node("n1", 50), Node("n2", 60), Node("n3", 70)};
    nodes[1].suspect = true;
    Give(&nodes[0], File("training/t.bin", "t"));
    Give(&nodes[1], File("training/t.bin", "t"));
    Plan p = PlanReplication(nodes, Classes(), PlanOptions{});
    EXPECT_TRUE(p.pulls.empty() && p.pushes.empty() && p.shortfalls.empty()) << Dump(p);
  }
  {
    // models/ wants 3: held by the suspect n1 and by n2; n3 pulls from n2 only. The suspect n4
    // has the most headroom but gets nothing, and no shortfall is reported for it.
    std::vector<NodeView> nodes = {Node("n1", 50), Node("n2", 40), Node("n3", 30), Node("n4", 90)};
    nodes[0].suspect = nodes[3].suspect = true;
    Give(&nodes[0], File("models/m.pt", "m"));
    Give(&nodes[1], File("models/m.pt", "m"));
    Plan p = PlanReplication(nodes, Classes(), PlanOptions{});
    ASSERT_EQ(p.pulls.size(), 1u) << Dump(p);
    EXPECT_EQ(p.pulls[0].target, "n3");
    EXPECT_EQ(p.pulls[0].sources, std::vector<std::string>{"n2"});
    EXPECT_TRUE(p.shortfalls.empty()) << Dump(p);
  }
  {
    // Only a suspect holder: nobody can serve it this round (a shortfall that says why).
    std::vector<NodeView> nodes = {Node("n1", 50), Node("n2", 40)};
    nodes[0].suspect = true;
    Give(&nodes[0], File("training/t.bin", "t"));
    Plan p = PlanReplication(nodes, Classes(), PlanOptions{});
    EXPECT_TRUE(p.pulls.empty() && p.pushes.empty()) << Dump(p);
    ASSERT_EQ(p.shortfalls.size(), 1u) << Dump(p);
    EXPECT_NE(p.shortfalls[0].second.find("suspect"), std::string::npos) << Dump(p);
  }
  {
    // An outbound-only holder that is suspect does not push (a shortfall says why).
    std::vector<NodeView> nodes = {Node("o1", 50), Node("n2", 40)};
    nodes[0].outbound_only = nodes[0].suspect = true;
    Give(&nodes[0], File("selfplay/g.db", "g"));
    Plan p = PlanReplication(nodes, Classes(), PlanOptions{});
    EXPECT_TRUE(p.pushes.empty() && p.pulls.empty()) << Dump(p);
    ASSERT_EQ(p.shortfalls.size(), 1u) << Dump(p);
    EXPECT_NE(p.shortfalls[0].second.find("suspect"), std::string::npos) << Dump(p);
  }
  {
    // A suspect training node is not a training target; the plain one is.
    std::vector<NodeView> nodes = {Node("n1", 50), Node("t1", 60), Node("t2", 60)};
    nodes[1].training = nodes[2].training = true;
    nodes[1].suspect = true;
    Give(&nodes[0], File("selfplay/g.db", "g"));
    Plan p = PlanTraining(nodes, Classes(), PlanOptions{});
    EXPECT_EQ(Targets(p), std::vector<std::string>{"t2"}) << Dump(p);
  }
  {
    // A suspect candidate does not hide a shortfall: the only other node is full.
    std::vector<NodeView> nodes = {Node("n1", 50), Node("n2", 90), Node("n3", 5)};
    nodes[1].suspect = true;
    Give(&nodes[0], File("training/t.bin", "t"));
    Plan p = PlanReplication(nodes, Classes(), PlanOptions{});
    EXPECT_TRUE(p.pulls.empty()) << Dump(p);
    ASSERT_EQ(p.shortfalls.size(), 1u) << Dump(p);
    EXPECT_NE(p.shortfalls[0].second.find("1 at their high watermark; 1 suspect"),
              std::string::npos)
        << Dump(p);
  }
}

TEST(SyncPlannerTest, PlannedBytesCountTowardTheWatermark) {
  // n2: 100 GiB disk, 30 GiB free, watermark 0.8: 10 GiB may land. n3: 15 GiB may land.
  std::vector<NodeView> nodes = {Node("n1", 10), Node("n2", 30), Node("n3", 35)};
  nodes[0].high_watermark = 0.99;
  for (int i = 0; i < 30; ++i) {
    Give(&nodes[0],
         File("selfplay/g" + std::to_string(100 + i) + ".db", "s" + std::to_string(i), kGiB));
  }
  Plan p = PlanReplication(nodes, Classes(), PlanOptions{});
  auto count = [&](const std::string& id) {
    auto t = Targets(p);
    return std::count(t.begin(), t.end(), id);
  };
  EXPECT_EQ(count("n2"), 9) << Dump(p);   // 70 + 9 < 80, 70 + 10 is not below
  EXPECT_EQ(count("n3"), 14) << Dump(p);  // 65 + 14 < 80
  EXPECT_EQ(p.pulls.size() + p.shortfalls.size(), 30u);
  // Headroom is spent evenly: the first copies go to n3 until it is level with n2.
  EXPECT_EQ(p.pulls[0].target, "n3");
  EXPECT_EQ(p.pulls[5].target, "n2");
}

TEST(SyncPlannerTest, ModelsReachThreeCopiesOnDistinctNodes) {
  std::vector<NodeView> nodes = {Node("n1", 50), Node("n2", 40), Node("n3", 60), Node("n4", 70)};
  Give(&nodes[1], File("models/best.pt", "m"));
  Plan p = PlanReplication(nodes, Classes(), PlanOptions{});
  EXPECT_EQ(Targets(p), (std::vector<std::string>{"n4", "n3"})) << Dump(p);
}

TEST(SyncPlannerTest, TrainingNodesGetAllSelfplayFilesFromAnyHolder) {
  std::vector<NodeView> nodes = {Node("n1", 50), Node("n2", 40), Node("t1", 60), Node("t2", 60)};
  nodes[2].training = nodes[3].training = true;
  Give(&nodes[0], File("selfplay/a.db", "a"));
  Give(&nodes[1], File("selfplay/b.db", "b"));
  Give(&nodes[1], File("selfplay/a.db", "a"));
  Give(&nodes[3], File("selfplay/b.db", "b"));
  Give(&nodes[0], File("training/set.npz", "t"));  // not training_needs_all
  Give(&nodes[0], File("logs/x.log", "l"));
  Plan p = PlanTraining(nodes, Classes(), PlanOptions{});
  ASSERT_EQ(p.pulls.size(), 3u) << Dump(p);
  EXPECT_EQ(p.pulls[0].target, "t1");
  EXPECT_EQ(p.pulls[0].path, "selfplay/a.db");
  EXPECT_EQ(p.pulls[0].sources, (std::vector<std::string>{"n1", "n2"}));
  EXPECT_EQ(p.pulls[1].target, "t2");
  EXPECT_EQ(p.pulls[1].path, "selfplay/a.db");
  EXPECT_EQ(p.pulls[2].target, "t1");
  EXPECT_EQ(p.pulls[2].path, "selfplay/b.db");
  EXPECT_EQ(p.pulls[2].sources, (std::vector<std::string>{"n2", "t2"}));
  EXPECT_TRUE(p.shortfalls.empty()) << Dump(p);
}

TEST(SyncPlannerTest, ANodeWritingThePathLocallyIsNeverATarget) {
  // n3 rewrote training/x (unsealed: newer data being written); n1 holds the old sealed version.
  // Replication must not place the old version on n3, and training must not either.
  std::vector<NodeView> nodes = {Node("n1", 30), Node("n2", 60), Node("n3", 90)};
  nodes[2].training = true;
  Give(&nodes[0], File("training/x", "old"));
  Give(&nodes[0], File("selfplay/g.db", "g"));
  FileRecord writing = File("training/x", "");
  writing.sealed = false;
  Give(&nodes[2], writing);
  FileRecord writing_games = File("selfplay/g.db", "");
  writing_games.sealed = false;
  Give(&nodes[2], writing_games);
  Plan p = PlanReplication(nodes, Classes(), PlanOptions{});
  for (const auto& pull : p.pulls) EXPECT_NE(pull.target, "n3") << Dump(p);
  ASSERT_EQ(p.pulls.size(), 2u) << Dump(p);  // both go to n2 instead
  EXPECT_TRUE(PlanTraining(nodes, Classes(), PlanOptions{}).pulls.empty());
}

TEST(SyncPlannerTest, DeadNodesAreNeitherTrainingTargetsNorSources) {
  std::vector<NodeView> nodes = {Node("n1", 50), Node("n2", 40), Node("t1", 60), Node("t2", 60)};
  nodes[2].training = nodes[3].training = true;
  nodes[3].alive = false;
  nodes[1].alive = false;
  Give(&nodes[0], File("selfplay/a.db", "a"));
  Give(&nodes[1], File("selfplay/a.db", "a"));
  Give(&nodes[1], File("selfplay/only-dead.db", "d"));
  Plan p = PlanTraining(nodes, Classes(), PlanOptions{});
  ASSERT_EQ(p.pulls.size(), 1u) << Dump(p);
  EXPECT_EQ(p.pulls[0].target, "t1");
  EXPECT_EQ(p.pulls[0].sources, std::vector<std::string>{"n1"});
}

TEST(SyncPlannerTest, TrainingNodeAboveItsWatermarkIsAShortfall) {
  std::vector<NodeView> nodes = {Node("n1", 50), Node("t1", 5)};
  nodes[1].training = true;
  Give(&nodes[0], File("selfplay/a.db", "a"));
  Plan p = PlanTraining(nodes, Classes(), PlanOptions{});
  EXPECT_TRUE(p.pulls.empty());
  ASSERT_EQ(p.shortfalls.size(), 1u);
  EXPECT_NE(p.shortfalls[0].second.find("watermark"), std::string::npos);
}

TEST(SyncPlannerTest, OutboundOnlyHolderPushesWhenNoOtherSourceExists) {
  std::vector<NodeView> nodes = {Node("laptop", 80), Node("n2", 40), Node("n3", 60)};
  nodes[0].outbound_only = true;
  Give(&nodes[0], File("selfplay/a.db", "a"));
  Plan p = PlanReplication(nodes, Classes(), PlanOptions{});
  EXPECT_TRUE(p.pulls.empty()) << Dump(p);
  ASSERT_EQ(p.pushes.size(), 1u) << Dump(p);
  EXPECT_EQ(p.pushes[0].source, "laptop");
  EXPECT_EQ(p.pushes[0].target, "n3");
  EXPECT_EQ(p.pushes[0].sha256, "a");

  // With another holder it is pulled from that one; the outbound-only node is never a source.
  Give(&nodes[1], File("selfplay/b.db", "b"));
  Give(&nodes[0], File("selfplay/b.db", "b"));
  nodes[2].training = true;
  p = PlanTraining(nodes, Classes(), PlanOptions{});
  ASSERT_EQ(p.pulls.size(), 1u) << Dump(p);
  EXPECT_EQ(p.pulls[0].path, "selfplay/b.db");
  EXPECT_EQ(p.pulls[0].sources, std::vector<std::string>{"n2"});
  ASSERT_EQ(p.pushes.size(), 1u);
  EXPECT_EQ(p.pushes[0].path, "selfplay/a.db");
}

TEST(SyncPlannerTest, OutboundOnlyHolderCannotPushToAnOutboundOnlyNode) {
  std::vector<NodeView> nodes = {Node("a", 80), Node("b", 80)};
  nodes[0].outbound_only = nodes[1].outbound_only = true;
  Give(&nodes[0], File("selfplay/a.db", "a"));
  Plan p = PlanReplication(nodes, Classes(), PlanOptions{});
  EXPECT_TRUE(p.pulls.empty());
  EXPECT_TRUE(p.pushes.empty());
  ASSERT_EQ(p.shortfalls.size(), 1u) << Dump(p);
  EXPECT_NE(p.shortfalls[0].second.find("outbound-only"), std::string::npos);
}

TEST(SyncPlannerTest, OriginComesFirstAmongSources) {
  std::vector<NodeView> nodes = {Node("a", 50), Node("b", 50), Node("t", 50)};
  nodes[2].training = true;
  Give(&nodes[0], File("selfplay/x.db", "x", 10, /*mtime=*/20));  // a received copy
  Give(&nodes[1], File("selfplay/x.db", "x", 10, /*mtime=*/10));  // written here
  Plan p = PlanTraining(nodes, Classes(), PlanOptions{});
  ASSERT_EQ(p.pulls.size(), 1u);
  EXPECT_EQ(p.pulls[0].sources, (std::vector<std::string>{"b", "a"}));
}

TEST(SyncPlannerTest, SameInputGivesTheSamePlan) {
  std::vector<NodeView> nodes;
  for (int i = 0; i < 6; ++i) nodes.push_back(Node("n" + std::to_string(i), 40 + (i % 3)));
  nodes[1].training = nodes[4].training = true;
  nodes[5].outbound_only = true;
  for (int i = 0; i < 60; ++i) {
    std::string path = (i % 2 ? "selfplay/g" : "models/m") + std::to_string(i);
    Give(&nodes[i % 6], File(path, "h" + std::to_string(i), kGiB / 4));
  }
  std::vector<NodeView> reversed(nodes.rbegin(), nodes.rend());
  for (auto fn : {&PlanReplication, &PlanTraining}) {
    std::string first = Dump(fn(nodes, Classes(), PlanOptions{}));
    EXPECT_FALSE(first.empty());
    EXPECT_EQ(Dump(fn(nodes, Classes(), PlanOptions{})), first);
    EXPECT_EQ(Dump(fn(reversed, Classes(), PlanOptions{})), first);
  }
}

TEST(SyncPlannerTest, PerTargetCapIsRespected) {
  std::vector<NodeView> nodes = {Node("n1", 50), Node("n2", 50), Node("t", 50)};
  nodes[2].training = true;
  for (int i = 0; i < 10; ++i) {
    Give(&nodes[0], File("selfplay/g" + std::to_string(i), "h" + std::to_string(i)));
  }
  PlanOptions opt;
  opt.max_pulls_per_node = 3;
  Plan p = PlanTraining(nodes, Classes(), opt);
  EXPECT_EQ(p.pulls.size(), 3u) << Dump(p);
  EXPECT_TRUE(p.shortfalls.empty()) << Dump(p);  // deferred to the next round, not impossible

  // Replication spreads over the remaining nodes and never exceeds the cap on any of them.
  p = PlanReplication(nodes, Classes(), opt);
  auto t = Targets(p);
  EXPECT_EQ(std::count(t.begin(), t.end(), "n2"), 3) << Dump(p);
  EXPECT_EQ(std::count(t.begin(), t.end(), "t"), 3) << Dump(p);
  EXPECT_EQ(t.size(), 6u);
}

}  // namespace
}  // namespace rift::sync
