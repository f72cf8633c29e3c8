// Jobs end to end on two real daemons on loopback (n1 the only voter, n2 a worker seeded with
// n1). Jobs are started through riftctl (in process) on the chosen node; logs are read and
// followed; stops kill the whole process group; a daemon killed with -9 re-adopts its running
// job after a restart and records its later exit, and records an exit that happened while it
// was down; stale terms are refused; the bundled workload's output is sealed at once and synced.
// Every wait is bounded.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "cli/riftctl.h"
#include "tests/harness/cluster.h"

namespace rift::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kToken[] = "jobs-integration-token-0123";

// `loop` ticks until <out_dir>/stop exists, then writes a data file and a result line.
constexpr char kHosts[] = R"(jobs:
  stop_grace_s: 1
  catalogue:
    loop:
      argv:
        - /bin/sh
        - -c
        - >-
          echo "hello from {node}"; i=0;
          while [ ! -e "{out_dir}/stop" ]; do echo "tick $i"; i=$((i+1)); sleep 0.1; done;
          echo data > "{out_dir}/games.jsonl"; echo "{{\"ticks\":$i}}"; exit {code}
      out_dir: "selfplay/loop/{node}/{job_id}"
      params: {code: "0"}
    stubborn:
      argv: [/bin/sh, -c, "trap '' TERM; sleep 300 & echo $! > {out_dir}/gc.pid; wait"]
)";

struct Cli {
  int code = -1;
  std::string out, err;
};

json Parse(const std::string& s) {
  json j = json::parse(s, nullptr, false);
  return j.is_discarded() ? json::object() : j;
}

class JobsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("rift-jobs-it");
    std::string hosts = dir_->path() + "/hosts.yaml";
    std::ofstream(hosts) << kHosts << kNoBackgroundSelfplayYaml;
    for (int i = 0; i < 2; ++i) {
      DaemonOptions o;
      o.node_id = "n" + std::to_string(i + 1);
      o.env = {{"RINGRIFT_CLUSTER_AUTH_TOKEN", kToken},
               {"RINGRIFT_P2P_VOTERS", "n1"},
               {"RINGRIFT_TIMER_PROFILE", "fast"},
               {"RINGRIFT_HOSTS_FILE", hosts},
               {"RINGRIFT_QUIET_PERIOD_S", "3600"},  // only a finished job seals its files
               {"RINGRIFT_SYNC_INTERVAL_S", "3600"},
               {"RINGRIFT_CLEANUP_HIGH_WATERMARK", "0.99"},
               {"RINGRIFT_CLEANUP_LOW_WATERMARK", "0.98"}};
      if (i > 0) o.env["COORDINATOR_URL"] = nodes_[0]->url();
      nodes_[i] = new Daemon(DaemonBinary(), o, dir_->path() + "/" + o.node_id);
      std::string error;
      ASSERT_TRUE(nodes_[i]->Start(&error)) << error;
    }
    ASSERT_TRUE(WaitFor(
        [] {
          for (auto* n : nodes_) {
            auto s = n->Status(kToken);
            if (!s || !s->leader_id || s->CountState("alive") < 1) return false;
          }
          return true;
        },
        seconds(20)));
  }
  static void TearDownTestSuite() {
    for (auto*& n : nodes_) {
      KillJobsOf(n);
      delete n;
      n = nullptr;
    }
    delete dir_;
  }
  // Jobs outlive their daemon by design: end them so nothing is left behind.
  static void KillJobsOf(Daemon* d) {
    for (const auto& j : Parse(d->Request("GET", "/jobs", kToken).body).value("jobs", json())) {
      int pid = j.value("pid", 0);
      if (pid > 0 && j.value("state", "") == "running") ::kill(-pid, SIGKILL);
    }
  }

  static Cli Riftctl(std::vector<std::string> args) {
    std::vector<std::string> all = {"--addr", nodes_[0]->url(), "--token", kToken};
    all.insert(all.end(), args.begin(), args.end());
    std::ostringstream out, err;
    Cli r;
    r.code = cli::RunRiftctl(all, out, err, {});
    r.out = out.str();
    r.err = err.str();
    return r;
  }
  static json Job(Daemon* d, const std::string& id) {
    return Parse(d->Request("GET", "/jobs/" + id, kToken).body).value("job", json::object());
  }
  static json WaitState(Daemon* d, const std::string& id, const std::string& state) {
    json job;
    WaitFor(
        [&] {
          job = Job(d, id);
          return job.value("state", "") == state;
        },
        seconds(30));
    return job;
  }
  static json StartOn(Daemon* d, const json& body) {
    auto r = d->Request("POST", "/start_job", kToken, body.dump());
    json j = Parse(r.body);
    j["_status"] = r.status;
    return j;
  }
  static fs::path Data(Daemon* d) { return fs::path(d->dir()) / "data"; }
  static void Release(Daemon* d, const json& job) {
    std::ofstream(Data(d) / job["out_dir"].get<std::string>() / "stop") << "stop";
  }
  static bool ProcessRuns(int pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(in, line)) return false;
    auto close = line.rfind(')');
    return close != std::string::npos && line.size() > close + 2 && line[close + 2] != 'Z';
  }

  static TempDir* dir_;
  static Daemon* nodes_[2];
};

TempDir* JobsTest::dir_ = nullptr;
Daemon* JobsTest::nodes_[2] = {nullptr, nullptr};

TEST_F(JobsTest, RiftctlStartsAJobOnTheChosenNodeReadsItsLogAndStopsIt) {
  Cli start = Riftctl({"-o", "json", "jobs", "start", "loop", "--node", "n2"});
  ASSERT_EQ(start.code, 0) << start.err;
  json job = Parse(start.out)["job"];
  std::string id = job["id"];
  EXPECT_EQ(job["node"], "n2");
  EXPECT_EQ(job["state"], "running");
  EXPECT_TRUE(ProcessRuns(job["pid"]));
  EXPECT_EQ(Job(nodes_[1], id)["state"], "running");
  EXPECT_EQ(nodes_[0]->Request("GET", "/jobs/" + id, kToken).status, 404);  // not on n1
  ASSERT_TRUE(WaitFor(
      [&] {
        Cli logs = Riftctl({"jobs", "logs", id, "--node", "n2"});
        return logs.code == 0 && logs.out.find("hello from n2\n") != std::string::npos &&
               logs.out.find("tick 1\n") != std::string::npos;
      },
      seconds(20)));
  Cli list = Riftctl({"jobs", "list", "--node", "n2"});
  ASSERT_EQ(list.code, 0) << list.err;
  EXPECT_NE(list.out.find(id), std::string::npos);
  Cli stop = Riftctl({"jobs", "stop", id, "--node", "n2"});
  ASSERT_EQ(stop.code, 0) << stop.err;
  EXPECT_NE(stop.out.find(id + ": stopped"), std::string::npos) << stop.out;
  json done = Job(nodes_[1], id);
  EXPECT_EQ(done["state"], "stopped");
  EXPECT_FALSE(ProcessRuns(job["pid"]));
  Cli show = Riftctl({"jobs", "show", id, "--node", "n2"});
  EXPECT_EQ(show.code, 0);
  EXPECT_NE(show.out.find("stopped"), std::string::npos);
  EXPECT_EQ(Riftctl({"jobs", "show", "no-such-job", "--node", "n2"}).code, 1);
  EXPECT_EQ(Riftctl({"jobs", "start", "loop", "--node", "n9"}).code, 1);
  EXPECT_EQ(Riftctl({"jobs", "start", "loop", "--param", "novalue"}).code, 2);
}

TEST_F(JobsTest, FollowingALogPrintsUntilTheJobEndsAndTheExitIsRecorded) {
  json job = StartOn(nodes_[1], {{"kind", "loop"}, {"params", {{"code", "3"}}}})["job"];
  std::string id = job["id"];
  Cli follow;
  std::thread t([&] { follow = Riftctl({"jobs", "logs", id, "-f", "--node", "n2"}); });
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = nodes_[1]->Request("GET", "/jobs/" + id + "/log?tail=100", kToken);
        return r.body.find("tick 3") != std::string::npos;
      },
      seconds(20)));
  Release(nodes_[1], job);
  t.join();
  EXPECT_EQ(follow.code, 0) << follow.err;
  EXPECT_NE(follow.out.find("hello from n2"), std::string::npos);
  EXPECT_NE(follow.out.find("{\"ticks\":"), std::string::npos) << follow.out;
  json done = WaitState(nodes_[1], id, "failed");
  EXPECT_EQ(done["exit_code"], 3);
  EXPECT_TRUE(done["result"].contains("ticks"));
  // Its output was sealed at once (the quiet period is an hour).
  auto manifest = Parse(nodes_[1]->Request("GET", "/sync/manifest?cursor=0", kToken).body);
  bool sealed = false;
  for (const auto& r : manifest["records"]) {
    if (r["path"] == job["out_dir"].get<std::string>() + "/games.jsonl") sealed = r["sealed"];
  }
  EXPECT_TRUE(sealed) << manifest.dump();
}

TEST_F(JobsTest, StopKillsTheWholeProcessGroupIncludingGrandchildren) {
  json job = StartOn(nodes_[1], {{"kind", "stubborn"}})["job"];
  fs::path gc_file = Data(nodes_[1]) / job["out_dir"].get<std::string>() / "gc.pid";
  int gc = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        std::ifstream(gc_file) >> gc;
        return gc > 0;
      },
      seconds(20)));
  EXPECT_TRUE(ProcessRuns(gc));
  Cli stop = Riftctl({"jobs", "stop", job["id"], "--node", "n2"});
  ASSERT_EQ(stop.code, 0) << stop.err;
  json done = Job(nodes_[1], job["id"]);
  EXPECT_EQ(done["state"], "stopped");
  EXPECT_EQ(done["signal"], 9);  // it ignored SIGTERM: SIGKILL after the grace
  EXPECT_TRUE(WaitFor([&] { return !ProcessRuns(gc); }, seconds(10)));
}

TEST_F(JobsTest, AKilledDaemonReadoptsItsJobAfterARestartAndRecordsItsExit) {
  Daemon* n2 = nodes_[1];
  json running = StartOn(n2, {{"kind", "loop"}, {"params", {{"code", "5"}}}})["job"];
  json ends_while_down = StartOn(n2, {{"kind", "loop"}})["job"];
  ASSERT_FALSE(running.is_null());
  n2->Kill(9);
  EXPECT_TRUE(ProcessRuns(running["pid"])) << "a job must survive its daemon";
  Release(n2, ends_while_down);
  std::string status = n2->dir() + "/state/jobs/" + ends_while_down["id"].get<std::string>() +
                       "/status.json";
  ASSERT_TRUE(WaitFor([&] { return fs::exists(status); }, seconds(20)));
  std::string error;
  ASSERT_TRUE(n2->Start(&error)) << error;

  json readopted = Job(n2, running["id"]);
  EXPECT_EQ(readopted["state"], "running");
  EXPECT_EQ(readopted["pid"], running["pid"]);
  json recorded = WaitState(n2, ends_while_down["id"], "exited");
  EXPECT_EQ(recorded["exit_code"], 0);
  EXPECT_TRUE(recorded["result"].contains("ticks"));
  // /status lists it among the running jobs (sampled about once a second).
  EXPECT_TRUE(WaitFor(
      [&] {
        for (const auto& j : Parse(n2->Request("GET", "/status", kToken).body).value("jobs", json())) {
          if (j.value("id", "") == running["id"]) return true;
        }
        return false;
      },
      seconds(10)));
  Release(n2, running);
  json done = WaitState(n2, running["id"], "failed");
  EXPECT_EQ(done["exit_code"], 5);
  EXPECT_FALSE(ProcessRuns(running["pid"]));
}

TEST_F(JobsTest, AStaleTermIsRefusedAndAKeyedRetryReturnsTheSameJob) {
  auto s = nodes_[1]->Status(kToken);
  ASSERT_TRUE(s.has_value());
  ASSERT_GE(s->term, 1u);
  json stale = StartOn(nodes_[1], {{"kind", "loop"}, {"term", s->term - 1}});
  EXPECT_EQ(stale["_status"], 409);
  EXPECT_EQ(stale["error"]["code"], "STALE_TERM");
  json first = StartOn(nodes_[1], {{"kind", "loop"}, {"term", s->term}, {"idempotency_key", "k"}});
  ASSERT_EQ(first["_status"], 201) << first.dump();
  json again = StartOn(nodes_[1], {{"kind", "loop"}, {"term", s->term}, {"idempotency_key", "k"}});
  EXPECT_EQ(again["_status"], 200);
  EXPECT_EQ(again["job"]["id"], first["job"]["id"]);
  EXPECT_EQ(first["job"]["term"], s->term);
  Release(nodes_[1], first["job"]);
  WaitState(nodes_[1], first["job"]["id"], "exited");
}

TEST_F(JobsTest, TheBundledSelfplayRunsThroughRiftctlAndItsGamesAreSynced) {
  if (!fs::exists(fs::path(DaemonBinary()).parent_path() / "rift-c4")) {
    GTEST_SKIP() << "rift-c4 is not built beside ringrift-p2p";
  }
  Cli start = Riftctl({"-o", "json", "selfplay", "start", "--games", "40", "--node", "n2"});
  ASSERT_EQ(start.code, 0) << start.err;
  json job = Parse(start.out)["job"];
  json done = WaitState(nodes_[1], job["id"], "exited");
  ASSERT_EQ(done["state"], "exited") << done.dump();
  EXPECT_EQ(done["result"]["games"], 40);
  std::string file = done["result"]["file"];
  std::string rel = fs::path(file).lexically_relative(Data(nodes_[1])).string();
  EXPECT_EQ(rel.rfind("selfplay/n2/", 0), 0u) << rel;
  // Sealed at once, so the leader's replication round copies it to n1.
  Cli sync = Riftctl({"sync", "start"});
  ASSERT_EQ(sync.code, 0) << sync.err;
  EXPECT_TRUE(WaitFor([&] { return fs::exists(Data(nodes_[0]) / rel); }, seconds(30)));
}

}  // namespace
}  // namespace rift::testing
