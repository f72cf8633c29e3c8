#include "orchestrator/cleanup/planner.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace rift::cleanup {
namespace {

using inventory::FileClass;
using inventory::Holder;

constexpr uint64_t kGiB = 1ull << 30;

std::vector<FileClass> Classes() {
  return {
      FileClass{"tmp", {"tmp/"}, 1, false, false, 0},
      FileClass{"logs", {"logs/"}, 1, false, false, 10},
      FileClass{"selfplay", {"selfplay/"}, 2, true, false, 50},
      FileClass{"training", {"training/"}, 2, false, false, 60},
      FileClass{"models", {"models/"}, 2, false, true, 100},
  };
}

// A sealed file of `klass`, `gib` GiB, modified at `mtime`, with copies on `holders`.
Candidate File(const std::string& path, const std::string& klass, uint64_t gib, int64_t mtime,
               std::vector<std::string> holders = {}, const std::string& sha = "good") {
  Candidate c;
  c.record.path = path;
  c.record.klass = klass;
  c.record.size = gib * kGiB;
  c.record.mtime_ns = mtime;
  c.record.sha256 = "good";
  c.record.sealed = true;
  for (const auto& id : holders) c.holders.push_back(Holder{id, sha, 1});
  return c;
}

std::vector<std::string> Paths(const CleanupPlan& p) {
  std::vector<std::string> out;
  for (const auto& d : p.deletions) out.push_back(d.path);
  return out;
}

const Refusal* RefusalOf(const CleanupPlan& p, const std::string& path) {
  for (const auto& r : p.refusals) {
    if (r.path == path) return &r;
  }
  return nullptr;
}

const Volume kFullVolume{100 * kGiB, 10 * kGiB};  // 90% used; 20 GiB to free to reach 70%

TEST(CleanupPlannerTest, ReplicatedFilesGoOldestFirstUntilTheLowWatermark) {
  std::vector<Candidate> files = {
      File("selfplay/new.db", "selfplay", 8, 300, {"n2", "n3"}),
      File("selfplay/old.db", "selfplay", 8, 100, {"n2", "n3"}),
      File("selfplay/mid.db", "selfplay", 8, 200, {"n3", "n2"}),
      File("selfplay/newest.db", "selfplay", 8, 400, {"n2", "n3"}),
      File("selfplay/unsynced.db", "selfplay", 8, 1),      // no copies at all
      File("selfplay/half.db", "selfplay", 8, 2, {"n2"}),  // one of two copies
  };
  CleanupPlan p = PlanCleanup(kFullVolume, Watermarks{}, files, Classes());
  EXPECT_TRUE(p.needed);
  EXPECT_EQ(p.bytes_to_free, 20 * kGiB);
  EXPECT_EQ(Paths(p),
            (std::vector<std::string>{"selfplay/old.db", "selfplay/mid.db", "selfplay/new.db"}));
  EXPECT_EQ(p.bytes_freed, 24 * kGiB);
  EXPECT_TRUE(p.reaches_low_watermark);
  EXPECT_EQ(p.deletions[0].justified_by, (std::vector<std::string>{"n2", "n3"}));
  EXPECT_NE(p.deletions[0].reason.find("above high watermark"), std::string::npos);
  ASSERT_NE(RefusalOf(p, "selfplay/unsynced.db"), nullptr);
  EXPECT_EQ(RefusalOf(p, "selfplay/unsynced.db")->reason,
            "only 0 of 2 copies verified on other nodes");
  ASSERT_NE(RefusalOf(p, "selfplay/half.db"), nullptr);
  EXPECT_EQ(RefusalOf(p, "selfplay/half.db")->reason, "only 1 of 2 copies verified on other nodes");
}

TEST(CleanupPlannerTest, TmpThenLogsGoBeforeReplicatedData) {
  std::vector<Candidate> files = {
      File("selfplay/old.db", "selfplay", 5, 1, {"n2", "n3"}),
      File("logs/b.log", "logs", 5, 50),
      File("tmp/scratch", "tmp", 5, 900),
      File("logs/a.log", "logs", 5, 40),
      File("training/set.npz", "training", 5, 2, {"n2", "n3"}),
  };
  CleanupPlan p = PlanCleanup(kFullVolume, Watermarks{}, files, Classes());
  EXPECT_EQ(Paths(p), (std::vector<std::string>{"tmp/scratch", "logs/a.log", "logs/b.log",
                                                "selfplay/old.db"}));
  EXPECT_TRUE(p.deletions[0].justified_by.empty());
  EXPECT_TRUE(p.reaches_low_watermark);
}

TEST(CleanupPlannerTest, SameMtimeAndRankAreOrderedByPath) {
  std::vector<Candidate> files = {File("tmp/b", "tmp", 15, 1), File("tmp/a", "tmp", 15, 1)};
  CleanupPlan p = PlanCleanup(kFullVolume, Watermarks{}, files, Classes());
  EXPECT_EQ(Paths(p), (std::vector<std::string>{"tmp/a", "tmp/b"}));
}

TEST(CleanupPlannerTest, ProtectedModelsSurviveEvenWithForce) {
  std::vector<Candidate> files = {File("models/best.pt", "models", 30, 1, {"n2", "n3", "n4"})};
  CleanupPlan p = PlanCleanup(kFullVolume, Watermarks{}, files, Classes());
  EXPECT_TRUE(p.deletions.empty());
  ASSERT_NE(RefusalOf(p, "models/best.pt"), nullptr);
  EXPECT_EQ(RefusalOf(p, "models/best.pt")->reason, "protected class models");
  for (bool force : {false, true}) {
    CleanupPlan f = PlanFiles(files, Classes(), force);
    EXPECT_TRUE(f.deletions.empty());
    ASSERT_EQ(f.refusals.size(), 1u);
    EXPECT_EQ(f.refusals[0].reason, "protected class models");
  }
}

TEST(CleanupPlannerTest, UnsealedFilesAreNeverDeleted) {
  Candidate growing = File("tmp/growing", "tmp", 30, 1);
  growing.record.sealed = false;
  growing.record.sha256.clear();
  CleanupPlan p = PlanCleanup(kFullVolume, Watermarks{}, {growing}, Classes());
  EXPECT_TRUE(p.deletions.empty());
  EXPECT_FALSE(p.reaches_low_watermark);
  CleanupPlan f = PlanFiles({growing}, Classes(), /*force=*/true);
  EXPECT_TRUE(f.deletions.empty());
  ASSERT_EQ(f.refusals.size(), 1u);
  EXPECT_EQ(f.refusals[0].reason, "not sealed");
}

TEST(CleanupPlannerTest, HoldersWithADifferentShaDoNotCount) {
  std::vector<Candidate> files = {
      File("selfplay/a.db", "selfplay", 30, 1, {"n2", "n3"}, /*sha=*/"older"),
  };
  files[0].holders.push_back(Holder{"n4", "good", 1});
  files[0].holders.push_back(Holder{"n4", "good", 2});  // the same node twice counts once
  CleanupPlan p = PlanCleanup(kFullVolume, Watermarks{}, files, Classes());
  EXPECT_TRUE(p.deletions.empty());
  ASSERT_NE(RefusalOf(p, "selfplay/a.db"), nullptr);
  EXPECT_EQ(RefusalOf(p, "selfplay/a.db")->reason, "only 1 of 2 copies verified on other nodes");
}

TEST(CleanupPlannerTest, NothingHappensAtOrBelowTheHighWatermark) {
  std::vector<Candidate> files = {File("tmp/x", "tmp", 1, 1)};
  for (uint64_t free_gib : {20, 25, 50}) {  // 80%, 75%, 50% used
    CleanupPlan p =
        PlanCleanup(Volume{100 * kGiB, free_gib * kGiB}, Watermarks{}, files, Classes());
    EXPECT_FALSE(p.needed) << free_gib;
    EXPECT_TRUE(p.deletions.empty());
    EXPECT_EQ(p.bytes_to_free, 0u);
  }
  CleanupPlan unknown = PlanCleanup(Volume{0, 0}, Watermarks{}, files, Classes());
  EXPECT_FALSE(unknown.needed);
}

TEST(CleanupPlannerTest, NotEnoughDeletableBytesSaysSoAndListsRefusals) {
  std::vector<Candidate> files = {
      File("tmp/x", "tmp", 5, 1),
      File("selfplay/unsynced.db", "selfplay", 30, 1, {"n2"}),
      File("models/best.pt", "models", 30, 1),
  };
  CleanupPlan p = PlanCleanup(kFullVolume, Watermarks{}, files, Classes());
  EXPECT_TRUE(p.needed);
  EXPECT_EQ(Paths(p), std::vector<std::string>{"tmp/x"});
  EXPECT_EQ(p.bytes_freed, 5 * kGiB);
  EXPECT_FALSE(p.reaches_low_watermark);
  EXPECT_EQ(p.refusals.size(), 2u);
  EXPECT_NE(RefusalOf(p, "selfplay/unsynced.db"), nullptr);
  EXPECT_NE(RefusalOf(p, "models/best.pt"), nullptr);
}

TEST(CleanupPlannerTest, UnknownClassesNeedCopiesLikeTheDefault) {
  std::vector<Candidate> files = {File("misc/x", "mystery", 30, 1)};
  CleanupPlan p = PlanCleanup(kFullVolume, Watermarks{}, files, Classes());
  EXPECT_TRUE(p.deletions.empty());
  EXPECT_EQ(p.refusals.size(), 1u);
}

TEST(CleanupPlannerTest, ExplicitFilesAreDeletedOrRefusedAndForceWaivesOnlyReplication) {
  std::vector<Candidate> files = {
      File("selfplay/ok.db", "selfplay", 1, 1, {"n2", "n3"}),
      File("selfplay/lonely.db", "selfplay", 1, 1, {"n2"}),
      File("logs/a.log", "logs", 1, 1),
      File("models/best.pt", "models", 1, 1, {"n2", "n3"}),
      File("selfplay/ok.db", "selfplay", 1, 1, {"n2", "n3"}),  // listed twice
  };
  CleanupPlan p = PlanFiles(files, Classes(), /*force=*/false);
  EXPECT_EQ(Paths(p), (std::vector<std::string>{"selfplay/ok.db", "logs/a.log"}));
  EXPECT_EQ(p.bytes_freed, 2 * kGiB);
  ASSERT_EQ(p.refusals.size(), 2u);
  EXPECT_EQ(p.refusals[0].path, "selfplay/lonely.db");
  EXPECT_EQ(p.refusals[0].reason, "only 1 of 2 copies verified on other nodes");
  EXPECT_EQ(p.refusals[1].path, "models/best.pt");
  EXPECT_EQ(p.deletions[0].justified_by, (std::vector<std::string>{"n2", "n3"}));

  CleanupPlan forced = PlanFiles(files, Classes(), /*force=*/true);
  EXPECT_EQ(Paths(forced),
            (std::vector<std::string>{"selfplay/ok.db", "selfplay/lonely.db", "logs/a.log"}));
  ASSERT_EQ(forced.refusals.size(), 1u);
  EXPECT_EQ(forced.refusals[0].path, "models/best.pt");
  EXPECT_NE(forced.deletions[1].reason.find("waived"), std::string::npos);
  EXPECT_EQ(forced.deletions[1].justified_by, std::vector<std::string>{"n2"});
}

}  // namespace
}  // namespace rift::cleanup
