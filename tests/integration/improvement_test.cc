// The leader's scheduler and improvement loop with real daemons on 127.0.0.1 and the bundled
// workload (rift-c4): target loads kept (an outbound-only worker gets its jobs through its own
// polls), a full loop through riftctl (the worker playing its share the same way), kill -9 of
// the leader mid-iteration, twice, without a stage lost or repeated (every stage job's
// idempotency key started exactly once across the nodes), and stale-term commands refused.
// Every wait is bounded.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "tests/harness/cluster.h"

namespace rift::testing {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kToken[] = "improvement-test-token-0123456789";

json Parse(const HttpResult& r) {
  json j = json::parse(r.body, nullptr, false);
  return j.is_discarded() ? json() : j;
}

class ImprovementTest : public ::testing::Test {
 protected:
  // Voters n1..n3 (n3 trains), plus `extra` more (outbound-only workers w4...).
  void StartCluster(const std::string& improvement_yaml, int workers = 0) {
    hosts_ = dir_.path() + "/hosts.yaml";
    std::ofstream(hosts_) << "hosts:\n"
                             "  n1: {role: selfplay, cpus: 2}\n"
                             "  n2: {role: selfplay, cpus: 2}\n"
                             "  n3: {role: nn_training, cpus: 2}\n"
                             "  w4: {role: selfplay, cpus: 2, nat_blocked: true}\n"
                             // The evaluation is slowed by 3 s so that the test can kill the
                             // leader while its jobs run (a release build plays them in 0.1 s).
                             "jobs:\n"
                             "  catalogue:\n"
                             "    eval:\n"
                             "      argv: [/bin/sh, -c, 'sleep 3; exec \"$0\" \"$@\"', "
                             "\"{bin_dir}/rift-c4\", eval, --candidate, \"{candidate}\", "
                             "[--current, \"{model}\"], [--baseline, \"{baseline}\"], --games, "
                             "\"{games}\", --seed, \"{seed}\", --optional-models]\n"
                             "      out_dir: tmp/eval/{node}/{job_id}\n"
                             "      params: {games: \"100\", model: \"{models_dir}/current.model\"}\n"
                             "improvement:\n"
                          << improvement_yaml;
    for (int i = 0; i < 3 + workers; ++i) {
      DaemonOptions o;
      o.node_id = i < 3 ? "n" + std::to_string(i + 1) : "w" + std::to_string(i + 1);
      o.env = {{"RINGRIFT_CLUSTER_AUTH_TOKEN", kToken}, {"RINGRIFT_P2P_VOTERS", "n1,n2,n3"},
               {"RINGRIFT_TIMER_PROFILE", "fast"},      {"RINGRIFT_QUIET_PERIOD_S", "1"},
               {"RINGRIFT_SYNC_INTERVAL_S", "30"},      {"RINGRIFT_HOSTS_FILE", hosts_}};
      if (i > 0) o.env["COORDINATOR_URL"] = nodes_[0]->url();
      nodes_.push_back(std::make_unique<Daemon>(DaemonBinary(), o, dir_.path() + "/" + o.node_id));
      std::string error;
      ASSERT_TRUE(nodes_.back()->Start(&error)) << error;
    }
    ASSERT_TRUE(WaitFor([&] { return Leader() >= 0; }, seconds(30))) << "no leader";
  }

  // Index of the node every running voter agrees leads, or -1.
  int Leader() {
    std::optional<std::string> agreed;
    for (int i = 0; i < 3; ++i) {
      if (!nodes_[i]->Running()) continue;
      auto s = nodes_[i]->Status(kToken);
      if (!s || !s->leader_id) return -1;
      if (agreed && *agreed != *s->leader_id) return -1;
      agreed = s->leader_id;
    }
    if (!agreed) return -1;
    for (int i = 0; i < 3; ++i) {
      if (nodes_[i]->node_id() == *agreed) return nodes_[i]->Running() ? i : -1;
    }
    return -1;
  }

  json LeaderStatus() {
    int l = Leader();
    if (l < 0) return json();
    auto r = nodes_[l]->Request("GET", "/improvement/status", kToken);
    return r.status == 200 ? Parse(r) : json();
  }

  json Jobs(Daemon& d) {
    auto r = d.Request("GET", "/jobs", kToken);
    return r.status == 200 ? Parse(r).value("jobs", json::array()) : json::array();
  }

  std::string Riftctl(std::vector<std::string> args, int* code) {
    std::vector<std::string> argv = {RiftctlBinary(), "--token", kToken};
    for (const auto& n : nodes_) {
      if (n->Running()) argv.insert(argv.end(), {"--addr", n->url()});
    }
    argv.insert(argv.end(), args.begin(), args.end());
    std::string out;
    *code = RunCommand(argv, &out, seconds(60));
    return out;
  }

  std::string Logs() {
    std::string out;
    for (const auto& n : nodes_) out += "--- " + n->node_id() + "\n" + n->LogTail(3000);
    return out;
  }

  TempDir dir_{"rift-improvement"};
  std::string hosts_;
  std::vector<std::unique_ptr<Daemon>> nodes_;
};

TEST_F(ImprovementTest, TheLeaderKeepsEveryNodeAtItsTargetLoad) {
  StartCluster(
      "  scheduler_interval_s: 1\n"
      "  poll_interval_s: 1\n"
      "  selfplay_games: 3000\n",
      /*workers=*/1);
  // Every node (the outbound-only w4 through its polls) runs 1 selfplay slot (2 cpus / 2); as
  // each job finishes the slot gets its next generation, and never two at once.
  std::map<std::string, std::set<std::string>> keys;
  std::map<std::string, int> most_active;
  std::regex sched("sched-t[0-9]+-([a-z0-9]+)-s([0-9]+)-g([0-9]+)");
  bool ok = WaitFor(
      [&] {
        for (auto& n : nodes_) {
          int active = 0;
          for (const auto& j : Jobs(*n)) {
            std::string key = j.value("idempotency_key", json("")).is_string()
                                  ? j.value("idempotency_key", "")
                                  : "";
            std::smatch m;
            if (!std::regex_match(key, m, sched)) continue;
            EXPECT_EQ(m[1].str(), n->node_id()) << key;
            EXPECT_EQ(m[2].str(), "0") << key;  // one slot per node
            keys[n->node_id()].insert(key);
            std::string st = j.value("state", "");
            active += st == "starting" || st == "running";
          }
          most_active[n->node_id()] = std::max(most_active[n->node_id()], active);
        }
        for (auto& n : nodes_) {
          if (keys[n->node_id()].size() < 3) return false;
        }
        return true;
      },
      seconds(90), milliseconds(100));
  ASSERT_TRUE(ok) << Logs();
  for (auto& n : nodes_) EXPECT_LE(most_active[n->node_id()], 1) << n->node_id();
  json st = LeaderStatus();
  ASSERT_TRUE(st.is_object());
  int targets = 0;
  for (const auto& t : st["scheduler"]["targets"]) {
    EXPECT_EQ(t.value("target", -1), 1) << t.dump();
    targets++;
  }
  EXPECT_EQ(targets, 4);
}

TEST_F(ImprovementTest, TheLoopSurvivesKillingTheLeaderMidIterationWithoutLosingOrRepeatingAStage) {
  StartCluster(
      "  background_selfplay: false\n"
      "  games_per_iteration: 900\n"
      "  eval_games: 3000\n"
      "  poll_interval_s: 1\n"
      "  iterations: 2\n",
      /*workers=*/1);
  // The worker plays its share once the leader has heard from it.
  ASSERT_TRUE(WaitFor(
      [&] {
        json s = LeaderStatus();
        if (!s.is_object()) return false;
        for (const auto& t : s["scheduler"]["targets"]) {
          if (t.value("node_id", "") == "w4") return t.value("why", "") != "unreachable";
        }
        return false;
      },
      seconds(30), milliseconds(100)))
      << Logs();
  int code = -1;
  std::string out = Riftctl({"improvement", "start"}, &code);
  ASSERT_EQ(code, 0) << out << Logs();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex("loop +(t[0-9]+-[0-9]+) started"))) << out;
  const std::string loop_id = m[1].str();

  // kill -9 the leader in iteration 1's sync, and again in iteration 2's evaluation once its
  // jobs run (they must be re-attached, not started again; killing the daemon in the middle of
  // a job's launch would lose that launch, which the loop retries as a new attempt); each time
  // the old leader comes back (its jobs ran on; it may be the trainer the loop waits for).
  uint64_t old_term = 0;
  std::string kills;
  for (auto [iteration, stage] : {std::pair{1, "sync"}, std::pair{2, "eval"}}) {
    int killed = -1;
    ASSERT_TRUE(WaitFor(
        [&] {
          json s = LeaderStatus();
          if (!s.is_object() || !s["loop"].is_object()) return false;
          const json& l = s["loop"];
          if (l["iteration"] != iteration || l["stage"] != stage) return false;
          bool running = l["jobs"].empty();  // a stage without jobs (sync)
          for (const auto& j : l["jobs"]) {
            running = running || s["jobs"].value(j.value("key", ""), "") == "running";
          }
          if (!running) return false;
          killed = Leader();
          old_term = s.value("term", uint64_t{0});
          return killed >= 0;
        },
        seconds(120), milliseconds(10)))
        << "never saw iteration " << iteration << " " << stage << "\n"
        << Logs();
    kills += nodes_[killed]->node_id() + " (term " + std::to_string(old_term) + ") in iteration " +
             std::to_string(iteration) + " " + stage + "; ";
    nodes_[killed]->Kill(9);
    ASSERT_TRUE(WaitFor([&] { return Leader() >= 0; }, seconds(30))) << Logs();
    std::string error;
    ASSERT_TRUE(nodes_[killed]->Start(&error)) << error;
    if (iteration == 1) {  // a full iteration completes across the leader change
      ASSERT_TRUE(WaitFor(
          [&] {
            json s = LeaderStatus();
            return s.is_object() && s["loop"].is_object() && s["loop"]["history"].size() >= 1;
          },
          seconds(120), milliseconds(100)))
          << Logs();
    }
  }
  std::cout << "kill -9 of the leader: " << kills << std::endl;

  json done;
  ASSERT_TRUE(WaitFor(
      [&] {
        done = LeaderStatus();
        return done.is_object() && done["loop"].is_object() && done["loop"]["status"] != "running";
      },
      seconds(180), milliseconds(200)))
      << kills << "\n"
      << Logs();
  const json& loop = done["loop"];
  ASSERT_EQ(loop["status"], "done") << loop.dump(2);
  EXPECT_EQ(loop["loop_id"], loop_id);  // resumed, not restarted
  EXPECT_GT(done.value("term", uint64_t{0}), old_term);
  ASSERT_EQ(loop["history"].size(), 2u);
  for (const auto& it : loop["history"]) {
    EXPECT_EQ(it.value("games", 0), 900) << it.dump();
    EXPECT_GT(it.value("positions", 0), 900 * 7) << it.dump();
    EXPECT_TRUE(it["loss"].is_number()) << it.dump();
    EXPECT_TRUE(it["win_rate_vs_random"].is_number()) << it.dump();
  }
  EXPECT_TRUE(loop["history"][0]["win_rate_vs_current"].is_null());
  EXPECT_TRUE(loop["history"][1]["win_rate_vs_current"].is_number());
  // Trained on 900 random games the candidate beats the random player.
  EXPECT_GT(loop["history"][0].value("win_rate_vs_random", 0.0), 0.6);

  // Every stage job key was started exactly once across all nodes, and no stage ran twice.
  std::map<std::string, int> per_key;
  std::map<std::string, int> per_stage;  // "i<N>-<role>"
  std::regex key_re("imp-" + loop_id + "-i([0-9]+)-([a-z-]+)-([nw][0-9])-a([0-9]+)");
  for (auto& n : nodes_) {
    for (const auto& j : Jobs(*n)) {
      std::string key =
          j.value("idempotency_key", json("")).is_string() ? j.value("idempotency_key", "") : "";
      std::smatch k;
      if (!std::regex_match(key, k, key_re)) continue;
      per_key[key]++;
      EXPECT_EQ(k[3].str(), n->node_id()) << key;
      EXPECT_EQ(k[4].str(), "0") << key << " (a retry: a job failed)";
      EXPECT_EQ(j.value("state", ""), "exited") << j.dump();
      per_stage["i" + k[1].str() + "-" + k[2].str()]++;
    }
  }
  for (const auto& [key, n] : per_key) EXPECT_EQ(n, 1) << key;
  for (int i = 1; i <= 2; ++i) {
    std::string it = "i" + std::to_string(i) + "-";
    EXPECT_EQ(per_stage[it + "selfplay"], 4) << it;  // w4 too, through its polls
    EXPECT_EQ(per_stage[it + "train"], 1) << it;
    EXPECT_EQ(per_stage[it + "eval-random"], 1) << it;
    EXPECT_EQ(per_stage[it + "eval-current"], i == 1 ? 0 : 1) << it;
    bool promoted = loop["history"][i - 1].value("promoted", false);
    EXPECT_EQ(per_stage[it + "promote"], promoted ? 1 : 0) << it;
  }
  // The final state is stored on a quorum of voters.
  int stored = 0;
  for (int i = 0; i < 3; ++i) {
    json s = Parse(nodes_[i]->Request("GET", "/improvement/state", kToken));
    if (s.is_object() && s["state"].is_object() && s["state"]["status"] == "done") stored++;
  }
  EXPECT_GE(stored, 2);
  // riftctl shows the figures of both iterations.
  out = Riftctl({"improvement", "status"}, &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("WIN VS RANDOM"), std::string::npos) << out;
}

TEST_F(ImprovementTest, StaleTermsAndFollowersAreRefused) {
  StartCluster("  background_selfplay: false\n");
  int l = Leader();
  ASSERT_GE(l, 0);
  Daemon& follower = *nodes_[(l + 1) % 3];
  json st = Parse(nodes_[l]->Request("GET", "/status", kToken));
  uint64_t term = st.value("term", uint64_t{0});
  ASSERT_GE(term, 1u);
  // A command fenced by an older term than the node knows is refused, and nothing starts.
  json body = {{"kind", "selfplay"},
               {"params", {{"games", "10"}}},
               {"idempotency_key", "stale-1"},
               {"term", term - 1}};
  HttpResult r = follower.Request("POST", "/start_job", kToken, body.dump());
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_NE(r.body.find("STALE_TERM"), std::string::npos) << r.body;
  for (const auto& j : Jobs(follower)) EXPECT_NE(j.value("idempotency_key", json("")), "stale-1");
  json state = {{"term", term - 1}, {"seq", 99}, {"state", {{"loop_id", "x"}}}};
  r = follower.Request("POST", "/improvement/state", kToken, state.dump());
  EXPECT_EQ(r.status, 409) << r.body;
  // Leader-only routes on a follower name the leader.
  r = follower.Request("POST", "/improvement/start", kToken, "{}");
  EXPECT_EQ(r.status, 421) << r.body;
  EXPECT_EQ(Parse(r).value("leader_id", ""), nodes_[l]->node_id()) << r.body;
  // Bad input is a 400 naming the field; nothing is started.
  r = nodes_[l]->Request("POST", "/improvement/start", kToken, "{\"promote_win_rate\": 2}");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("promote_win_rate"), std::string::npos) << r.body;
  EXPECT_TRUE(Parse(nodes_[l]->Request("GET", "/improvement/status", kToken))["loop"].is_null());
}

}  // namespace
}  // namespace rift::testing
