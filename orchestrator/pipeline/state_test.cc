#include "orchestrator/pipeline/state.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

namespace rift::pipeline {
namespace {

namespace fs = std::filesystem;

class StateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "rift-state-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string dir_;
};

RunState Sample() {
  RunState s;
  s.run_id = "20240101-000000-abcd";
  s.created_ms = 1;
  s.games = 10;
  s.target_games = 20;
  s.hosts = {"h1", "h2"};
  s.training_host = "local";
  PhaseState& p = s.Phase("selfplay");
  p.status = kDone;
  p.attempt = 1;
  p.hosts["h1"] = HostStep{kRunning, 2, 4242, 7, "started pid 4242", "", ""};
  s.Phase("wait").status = kFailed;
  s.Phase("wait").error_code = "UNAVAILABLE";
  s.pulled["h1:/d/a.jsonl"] = PulledFile{std::string(64, 'a'), 100, 5, 99, "r"};
  s.win_rate = 0.625;
  s.promote = true;
  return s;
}

TEST_F(StateTest, RoundTripsThroughTheFile) {
  const std::string path = dir_ + "/sub/state.json";
  ASSERT_TRUE(SaveState(path, Sample()).ok());
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  auto loaded = LoadState(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_TRUE(loaded->has_value());
  const RunState& s = **loaded;
  EXPECT_EQ(EncodeState(s), EncodeState(Sample()));
  EXPECT_EQ(s.phases.at("selfplay").hosts.at("h1").pid, 4242);
  EXPECT_EQ(s.pulled.at("h1:/d/a.jsonl").records, 5u);
  EXPECT_DOUBLE_EQ(*s.win_rate, 0.625);
  EXPECT_EQ(s.NextPhase(), "wait");
}

TEST_F(StateTest, MissingFileIsNoStateAndBadFilesAreNamed) {
  auto none = LoadState(dir_ + "/nope.json");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  std::ofstream(dir_ + "/bad.json") << "{not json";
  auto bad = LoadState(dir_ + "/bad.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("bad.json"), std::string::npos);
  std::ofstream(dir_ + "/v9.json") << R"({"version": 9, "run_id": "x"})";
  auto v9 = LoadState(dir_ + "/v9.json");
  ASSERT_FALSE(v9.ok());
  EXPECT_NE(v9.status().message().find("version 9"), std::string::npos);
}

TEST_F(StateTest, OnlyOneLockHolderPerStateFile) {
  const std::string path = dir_ + "/state.json";
  auto first = StateLock::Acquire(path);
  ASSERT_TRUE(first.ok());
  auto second = StateLock::Acquire(path);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Code::kFailedPrecondition);
  { StateLock moved = std::move(*first); }
  EXPECT_TRUE(StateLock::Acquire(path).ok());
}

TEST(RunStateTest, NextPhaseSkipsDoneAndSkipped) {
  RunState s;
  EXPECT_EQ(s.NextPhase(), "selfplay");
  for (const auto& n : PhaseNames()) s.Phase(n).status = kDone;
  s.Phase("push").status = kSkipped;
  EXPECT_EQ(s.NextPhase(), "");
  s.Phase("pull").status = kRunning;
  EXPECT_EQ(s.NextPhase(), "pull");
}

}  // namespace
}  // namespace rift::pipeline
