#include "orchestrator/inventory/types.h"

#include <gtest/gtest.h>

namespace rift::inventory {
namespace {

TEST(FileClassTest, DefaultsFollowTheDataPlaneTable) {
  const auto classes = DefaultFileClasses();
  struct Case {
    const char* path;
    const char* klass;
  };
  const Case cases[] = {
      {"tmp/x.bin", "tmp"},
      {"logs/node.txt", "logs"},
      {"selfplay/run7/run.log", "logs"},  // the suffix rule wins over the selfplay prefix
      {"selfplay/run7/games.jsonl", "selfplay"},
      {"games/g.db", "selfplay"},
      {"training/set1.npz", "training"},
      {"models/current.pt", "models"},
      {"elsewhere/x", "other"},
      {"selfplayer/x", "other"},  // prefixes end in '/', so no accidental partial match
      {"log", "other"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ClassOf(classes, c.path).name, c.klass) << c.path;
  }
  EXPECT_TRUE(ClassOf(classes, "models/a.pt").protect);
  EXPECT_TRUE(ClassOf(classes, "games/a").training_needs_all);
  EXPECT_EQ(ClassOf(classes, "tmp/a").replication, 1);
  EXPECT_EQ(ClassOf(classes, "x").replication, 2);
  EXPECT_EQ(ClassOf(classes, "x").cleanup_rank, 70);
}

TEST(FileClassTest, ConfigClassNamedOtherReplacesTheFallback) {
  std::vector<FileClass> classes = {{"models", {"models/"}, 3, false, true, 100},
                                    {"other", {}, 1, false, false, 5}};
  EXPECT_EQ(ClassOf(classes, "models/a").replication, 3);
  EXPECT_EQ(ClassOf(classes, "x").name, "other");
  EXPECT_EQ(ClassOf(classes, "x").replication, 1);
}

}  // namespace
}  // namespace rift::inventory
