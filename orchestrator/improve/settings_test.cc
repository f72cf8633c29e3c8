// The `improvement:` section of distributed_hosts.yaml (parsed by settings/hosts_yaml.cc).
#include "orchestrator/settings/settings.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "orchestrator/settings/settings_fixture_for_test.h"

namespace rift::settings {
namespace {

namespace fs = std::filesystem;

class ImprovementSettingsTest : public SettingsFixture {
 protected:
  void SetUp() override {
    SettingsFixture::SetUp();
    src_.flags["RINGRIFT_DIR"] = dir_;
  }
};

TEST_F(ImprovementSettingsTest, DefaultsApplyWithoutTheSection) {
  auto s = LoadIt();
  ASSERT_TRUE(s.ok()) << Dump();
  const ImprovementSettings& im = s->improvement;
  EXPECT_TRUE(im.background_selfplay);
  EXPECT_EQ(im.scheduler_interval, std::chrono::seconds(5));
  EXPECT_EQ(im.selfplay_per_gpu, 1);
  EXPECT_EQ(im.cpu_selfplay_max, 4);
  EXPECT_DOUBLE_EQ(im.memory_pressure_percent, 85);
  EXPECT_EQ(im.iterations, 2);
  EXPECT_DOUBLE_EQ(im.promote_win_rate, 0.55);
  EXPECT_EQ(im.board, "6x7");
  EXPECT_TRUE(im.training_node.empty());
}

TEST_F(ImprovementSettingsTest, EveryKeyIsParsed) {
  Yaml(
      "hosts:\n"
      "  t1: {ssh_host: t1.example, role: nn_training}\n"
      "improvement:\n"
      "  background_selfplay: false\n"
      "  scheduler_interval_s: 2\n"
      "  selfplay_per_gpu: 3\n"
      "  cpu_selfplay_max: 1\n"
      "  memory_pressure_percent: 70\n"
      "  selfplay_games: 50\n"
      "  poll_interval_s: 1\n"
      "  training_node: t1\n"
      "  iterations: 5\n"
      "  games_per_iteration: 400\n"
      "  eval_games: 40\n"
      "  promote_win_rate: 0.6\n"
      "  board: 5x6\n"
      "  sync_timeout_s: 30\n"
      "  distribute_timeout_s: 20\n"
      "  max_attempts: 2\n");
  auto s = LoadIt();
  ASSERT_TRUE(s.ok()) << Dump();
  EXPECT_TRUE(problems_.empty()) << Dump();
  const ImprovementSettings& im = s->improvement;
  EXPECT_FALSE(im.background_selfplay);
  EXPECT_EQ(im.scheduler_interval, std::chrono::seconds(2));
  EXPECT_EQ(im.selfplay_per_gpu, 3);
  EXPECT_EQ(im.cpu_selfplay_max, 1);
  EXPECT_DOUBLE_EQ(im.memory_pressure_percent, 70);
  EXPECT_EQ(im.selfplay_games, 50);
  EXPECT_EQ(im.poll_interval, std::chrono::seconds(1));
  EXPECT_EQ(im.training_node, "t1");
  EXPECT_EQ(im.iterations, 5);
  EXPECT_EQ(im.games_per_iteration, 400);
  EXPECT_EQ(im.eval_games, 40);
  EXPECT_DOUBLE_EQ(im.promote_win_rate, 0.6);
  EXPECT_EQ(im.board, "5x6");
  EXPECT_EQ(im.sync_timeout, std::chrono::seconds(30));
  EXPECT_EQ(im.distribute_timeout, std::chrono::seconds(20));
  EXPECT_EQ(im.max_attempts, 2);
}

TEST_F(ImprovementSettingsTest, MistakesAreErrorsWithFileLineAndKey) {
  std::string path = Yaml(
      "hosts:\n"                                        // 1
      "  w1: {ssh_host: w1.example, role: selfplay}\n"  // 2
      "improvement:\n"                                  // 3
      "  promote_win_rate: 1.5\n"                       // 4: not a fraction
      "  board: seven\n"                                // 5: not RxC
      "  iterations: 0\n"                               // 6: below 1
      "  background_selfplay: sometimes\n"              // 7: not a bool
      "  training_node: w1\n"                           // 8: no training role
      "  eval_game: 10\n");                             // 9: unknown (typo)
  EXPECT_FALSE(LoadIt().ok());
  std::vector<std::pair<int, std::string>> want = {
      {4, "improvement.promote_win_rate"}, {5, "improvement.board"},
      {6, "improvement.iterations"},       {7, "improvement.background_selfplay"},
      {9, "improvement.eval_game"},        {8, "improvement.training_node"}};
  ASSERT_EQ(problems_.size(), want.size()) << Dump();
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(problems_[i].file, path) << problems_[i].ToString();
    EXPECT_EQ(problems_[i].line, want[i].first) << problems_[i].ToString();
    EXPECT_EQ(problems_[i].key, want[i].second) << problems_[i].ToString();
  }
  EXPECT_NE(problems_[4].message.find("did you mean 'eval_games'"), std::string::npos) << Dump();
  EXPECT_NE(problems_[5].message.find("is not a training node"), std::string::npos) << Dump();
}

#ifdef RIFT_SOURCE_DIR
TEST_F(ImprovementSettingsTest, TheDemoConfigLoadsCleanly) {
  src_.hosts_yaml_path = std::string(RIFT_SOURCE_DIR) + "/examples/demo/distributed_hosts.yaml";
  auto s = LoadIt();
  ASSERT_TRUE(s.ok()) << Dump();
  EXPECT_TRUE(problems_.empty()) << Dump();
  EXPECT_EQ(s->hosts.size(), 3u);
  EXPECT_FALSE(s->improvement.background_selfplay);
  EXPECT_EQ(TrainingNodeIds(*s), std::vector<std::string>{"n1"});
}
#endif

TEST_F(ImprovementSettingsTest, AnUnknownTrainingNodeIsAnError) {
  Yaml("improvement:\n  training_node: ghost\n");
  EXPECT_FALSE(LoadIt().ok());
  ASSERT_EQ(problems_.size(), 1u) << Dump();
  EXPECT_EQ(problems_[0].line, 2);
  EXPECT_NE(problems_[0].message.find("'ghost' is not a host"), std::string::npos) << Dump();
}

}  // namespace
}  // namespace rift::settings
