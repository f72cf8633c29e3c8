// riftctl improvement start|status|stop in-process against a stand-in daemon.
#include <gtest/gtest.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/riftctl.h"
#include "cli/test_server.h"

namespace rift::cli {
namespace {

using json = nlohmann::json;
using testing::FakeDaemon;

struct Outcome {
  int code = -1;
  std::string out, err;
};

Outcome Riftctl(std::vector<std::string> args) {
  std::ostringstream out, err;
  Outcome o;
  o.code = RunRiftctl(std::move(args), out, err, Environment{});
  o.out = out.str();
  o.err = err.str();
  return o;
}

json Iteration(int i, bool promoted, json vs_current) {
  return {{"iteration", i},
          {"model_generation", i - 1},
          {"games", 600},
          {"positions", 12345},
          {"loss", 0.61234},
          {"win_rate_vs_current", vs_current},
          {"win_rate_vs_random", 0.875},
          {"promoted", promoted},
          {"stage_ms", {{"selfplay", 1500}, {"train", 2500}}}};
}

json Status(const std::string& status, json history) {
  json loop = {
      {"loop_id", "t3-99"},
      {"status", status},
      {"config",
       {{"iterations", 2},
        {"games_per_iteration", 600},
        {"eval_games", 50},
        {"promote_win_rate", 0.55},
        {"board", "6x7"}}},
      {"training_node", "n1"},
      {"iteration", 2},
      {"stage", "eval"},
      {"stage_started_ms", 0},
      {"model",
       {{"path", "models/current.model"}, {"sha256", "abcdef0123456789"}, {"generation", 1}}},
      {"jobs",
       json::array(
           {{{"role", "eval-random"}, {"node", "n1"}, {"key", "imp-t3-99-i2-eval-random-n1-a0"}}})},
      {"history", history},
      {"note", "evaluating"},
      {"error", status == "failed" ? "train job failed 3 time(s)" : ""}};
  return {{"node_id", "n1"},
          {"term", 3},
          {"loop", loop},
          {"jobs", {{"imp-t3-99-i2-eval-random-n1-a0", "running"}}},
          {"scheduler",
           {{"background_selfplay", true},
            {"targets", json::array({{{"node_id", "n2"},
                                      {"kind", "selfplay"},
                                      {"target", 1},
                                      {"running", 1},
                                      {"why", ""}}})}}}};
}

TEST(ImprovementCliTest, StatusShowsTheStageTheJobsAndEveryIterationsFigures) {
  FakeDaemon d;
  d.ServeJson("/improvement/status", 200,
              Status("running", json::array({Iteration(1, true, nullptr)})));
  d.Start();
  Outcome r = Riftctl({"--addr", d.url(), "improvement", "status"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  for (const char* want : {"t3-99 (running)", "2 of 2", "generation 1 (abcdef012345)",
                           "imp-t3-99-i2-eval-random-n1-a0", "running", "gen 0", "12345", "0.6123",
                           "87.5%", "yes", "4.0s", "n2"}) {
    EXPECT_NE(r.out.find(want), std::string::npos) << want << "\n" << r.out;
  }
}

TEST(ImprovementCliTest, StatusFollowsAFollowersRedirectToTheLeader) {
  FakeDaemon leader, follower;
  leader.ServeJson("/improvement/status", 200, Status("done", json::array()));
  leader.Start();
  follower.ServeJson("/improvement/status", 421,
                     {{"error", {{"code", "NOT_LEADER"}, {"message", "not the leader"}}},
                      {"leader_id", "n1"},
                      {"leader_url", leader.url()}});
  follower.Start();
  Outcome r = Riftctl({"--addr", follower.url(), "-o", "json", "improvement", "status"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(json::parse(r.out)["loop"]["status"], "done");
}

TEST(ImprovementCliTest, WatchWithoutATerminalPrintsIterationLinesAndEndsWithTheTable) {
  FakeDaemon d;
  d.ServeJson("/improvement/status", 200,
              Status("done", json::array({Iteration(1, true, nullptr), Iteration(2, false, 0.5)})));
  d.Start();
  Outcome r =
      Riftctl({"--addr", d.url(), "improvement", "status", "--watch", "--interval", "0.05"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_NE(r.out.find("iteration 1 done: 600 games, 12345 positions, loss 0.6123, win rate vs "
                       "current -, vs random 87.5%, promoted"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("iteration 2 done: 600 games, 12345 positions, loss 0.6123, win rate vs "
                       "current 50.0%, vs random 87.5%, not promoted"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("WIN VS RANDOM"), std::string::npos) << r.out;
}

TEST(ImprovementCliTest, AFailedLoopExitsOne) {
  FakeDaemon d;
  d.ServeJson("/improvement/status", 200, Status("failed", json::array()));
  d.Start();
  Outcome r = Riftctl({"--addr", d.url(), "improvement", "status", "--watch"});
  EXPECT_EQ(r.code, kExitRemote);
  EXPECT_NE(r.out.find("train job failed"), std::string::npos) << r.out;
}

TEST(ImprovementCliTest, StartSendsOnlyTheOptionsGiven) {
  FakeDaemon d;
  std::mutex mu;
  std::string body;
  d.server().Post("/improvement/start", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu);
    body = req.body;
    res.status = 201;
    res.set_content(json{{"loop_id", "t1-5"}, {"status", Status("running", json::array())}}.dump(),
                    "application/json");
  });
  d.Start();
  Outcome r = Riftctl({"--addr", d.url(), "improvement", "start", "--iterations", "3", "--games",
                       "900", "--promote-win-rate", "0.6"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_NE(r.out.find("t1-5 started"), std::string::npos) << r.out;
  std::lock_guard lock(mu);
  EXPECT_EQ(json::parse(body),
            (json{{"iterations", 3}, {"games_per_iteration", 900}, {"promote_win_rate", 0.6}}));
  EXPECT_EQ(Riftctl({"--addr", d.url(), "improvement", "start", "--iterations", "0"}).code,
            kExitUsage);
}

}  // namespace
}  // namespace rift::cli
