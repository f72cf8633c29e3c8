// The phases end to end with every "host" a LocalRemote in its own temp ringrift_path: real
// shell commands, real detached processes, real files; no SSH (tests/ssh covers that).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "orchestrator/pipeline/hashing.h"
#include "orchestrator/pipeline/local_remote.h"
#include "orchestrator/pipeline/pipeline.h"

namespace rift::pipeline {
namespace {

namespace fs = std::filesystem;

// Selfplay writes {games} JSON lines via a .part file (as the workload does), one line per game;
// it also appends to a launch log so tests can count launches.
constexpr char kSelfplay[] =
    "echo x >> {ringrift_path}/launches; mkdir -p {out_dir} && i=0; "
    "while [ $i -lt {games} ]; do i=$((i+1)); echo \"{\\\"host\\\":\\\"{host}\\\",\\\"seed\\\":"
    "{seed},\\\"i\\\":$i}\"; done > {out_dir}/g.jsonl.part && "
    "mv {out_dir}/g.jsonl.part {out_dir}/g-{seed}.jsonl";
// The "model" is the number of records it was trained on.
constexpr char kTrain[] =
    "echo x >> {ringrift_path}/trains; mkdir -p $(dirname {candidate}) && "
    "find {data_dir} -name '*.jsonl' -exec cat {{}} + | wc -l | tr -d ' ' > {candidate} && "
    "echo '{\"records\":'$(cat {candidate})'}'";
constexpr char kPromote[] =
    "mkdir -p {models_dir} && cp {candidate} {models_dir}/current.model.tmp && "
    "mv {models_dir}/current.model.tmp {models_dir}/current.model";

class Recorder : public Progress {
 public:
  void PhaseStart(const std::string& phase, const std::vector<std::string>&) override {
    lines.push_back("start " + phase);
  }
  void Host(const std::string& phase, const std::string& host, const std::string& text) override {
    lines.push_back(phase + " " + host + " " + text);
  }
  void PhaseEnd(const std::string& phase, const std::string& status,
                const std::string& detail) override {
    lines.push_back("end " + phase + " " + status + " " + detail);
  }
  void Note(const std::string& text) override { lines.push_back("note " + text); }
  std::string Dump() const {
    std::string s;
    for (const auto& l : lines) s += l + "\n";
    return s;
  }
  std::vector<std::string> lines;
};

class ShortWaiter : public Waiter {
 public:
  void Sleep(Duration d) override {
    std::this_thread::sleep_for(std::min<Duration>(d, milliseconds(50)));
  }
};

class PipelineLocalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "rift-pipeline-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    settings_.ringrift_dir = dir_ + "/coord";
    for (const std::string id : {"h1", "h2"}) {
      settings::Host h;
      h.id = id;
      h.ssh_host = "127.0.0.1";
      h.ringrift_path = dir_ + "/" + id;
      settings_.hosts.push_back(h);
    }
    auto& p = settings_.pipeline;
    p.games = 5;
    p.training_host = "local";
    p.poll_interval = milliseconds(20);
    p.retry_backoff = milliseconds(10);
    p.commands = {{"selfplay", kSelfplay},
                  {"train", kTrain},
                  {"eval", "echo '{\"win_rate\":0.8}'"},
                  {"eval_baseline", "echo '{\"win_rate\":0.7}'"},
                  {"promote", kPromote}};
  }
  void TearDown() override { fs::remove_all(dir_); }

  Result<RunReport> Run(RunOptions options = {}) {
    ConfigInputs in;
    in.local_bin_dir = "/nonexistent";
    in.home = dir_;
    auto config = MakeConfig(settings_, in);
    if (!config.ok()) return config.status();
    config_ = *config;
    RemoteFactory factory = [](const HostSpec&) { return std::make_unique<LocalRemote>(); };
    return RunPipeline(config_, options, factory, progress_, waiter_, RealTime());
  }

  // Records in the coordinator's store, and the number of files holding them.
  std::pair<int64_t, int> StoreRecords() const {
    int64_t records = 0;
    int files = 0;
    std::error_code ec;
    for (fs::recursive_directory_iterator it(LocalStoreDir(config_), ec), end; !ec && it != end;
         it.increment(ec)) {
      if (!it->is_regular_file()) continue;
      EXPECT_EQ(it->path().extension(), ".jsonl") << it->path();
      auto h = HashFile(it->path().string());
      EXPECT_TRUE(h.ok());
      EXPECT_EQ(h->sha256 + ".jsonl", it->path().filename().string()) << "named by content";
      records += static_cast<int64_t>(h->lines);
      ++files;
    }
    return {records, files};
  }

  int Lines(const std::string& path) const {
    std::ifstream in(path);
    int n = 0;
    for (std::string l; std::getline(in, l);) ++n;
    return n;
  }
  std::string Read(const std::string& path) const {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), {});
  }

  std::string dir_;
  settings::Settings settings_;
  Config config_;
  Recorder progress_;
  ShortWaiter waiter_;
};

TEST_F(PipelineLocalTest, AFullIterationPullsEveryGameOnceAndPushesTheModel) {
  auto r = Run();
  ASSERT_TRUE(r.ok()) << r.status().ToString() << "\n" << progress_.Dump();
  EXPECT_TRUE(r->state.completed);
  EXPECT_EQ(r->ran, PhaseNames());
  for (const auto& name : PhaseNames()) {
    EXPECT_EQ(r->state.phases.at(name).status, kDone) << name;
  }
  EXPECT_EQ(StoreRecords(), std::make_pair(int64_t{10}, 2));
  EXPECT_EQ(r->state.eval_mode, "baseline");
  EXPECT_DOUBLE_EQ(r->state.win_rate.value_or(0), 0.7);
  EXPECT_TRUE(r->state.promoted);
  // The model trained on 10 records is current on the coordinator and on both hosts.
  for (const std::string d : {"coord", "h1", "h2"}) {
    EXPECT_EQ(Read(dir_ + "/" + d + "/data/models/current.model"), "10\n") << d;
  }
  EXPECT_EQ(Lines(dir_ + "/h1/launches"), 1);
  auto saved = LoadState(config_.state_file);
  ASSERT_TRUE(saved.ok() && saved->has_value());
  EXPECT_TRUE((*saved)->completed);
  // No temporaries left behind.
  for (const auto& e : fs::recursive_directory_iterator(dir_)) {
    EXPECT_EQ(e.path().string().find(".part"), std::string::npos) << e.path();
  }
}

TEST_F(PipelineLocalTest, PullingAgainOrInANewRunNeverDuplicatesRecords) {
  ASSERT_TRUE(Run().ok()) << progress_.Dump();
  RunOptions pull_only;
  pull_only.phase = "pull";
  auto again = Run(pull_only);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->ran, std::vector<std::string>{"pull"});
  EXPECT_NE(again->state.phases.at("pull").detail.find("0 new files"), std::string::npos)
      << again->state.phases.at("pull").detail;
  EXPECT_EQ(StoreRecords(), std::make_pair(int64_t{10}, 2));

  // A second iteration adds its own games only; the model now starts from the current one
  // (eval against current).
  auto second = Run();
  ASSERT_TRUE(second.ok()) << second.status().ToString() << "\n" << progress_.Dump();
  EXPECT_EQ(StoreRecords(), std::make_pair(int64_t{20}, 4));
  EXPECT_EQ(second->state.eval_mode, "current");
  EXPECT_EQ(Read(dir_ + "/h2/data/models/current.model"), "20\n");
}

TEST_F(PipelineLocalTest, AFailedPhaseResumesWithoutRepeatingFinishedOnes) {
  const std::string flag = dir_ + "/train-may-succeed";
  settings_.pipeline.commands["train"] =
      std::string("test -f ") + flag + " || { echo 'no flag' >&2; exit 4; }; " + kTrain;
  auto first = Run();
  ASSERT_FALSE(first.ok());
  EXPECT_NE(first.status().message().find("train failed (exit 4: no flag)"), std::string::npos)
      << first.status().message();
  auto saved = LoadState(config_.state_file);
  ASSERT_TRUE(saved.ok() && saved->has_value());
  EXPECT_EQ((*saved)->NextPhase(), "train");
  EXPECT_EQ((*saved)->phases.at("train").status, kFailed);

  // Without --resume or --fresh, an unfinished run is not silently replaced.
  auto refused = Run();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("--resume"), std::string::npos);

  std::ofstream(flag) << "ok";
  RunOptions resume;
  resume.resume = true;
  auto second = Run(resume);
  ASSERT_TRUE(second.ok()) << second.status().ToString() << "\n" << progress_.Dump();
  EXPECT_EQ(second->skipped, (std::vector<std::string>{"selfplay", "wait", "pull"}));
  EXPECT_EQ(second->ran, (std::vector<std::string>{"train", "eval", "promote", "push"}));
  EXPECT_EQ(second->state.phases.at("train").attempt, 2);
  EXPECT_EQ(Lines(dir_ + "/h1/launches"), 1);
  EXPECT_EQ(Lines(dir_ + "/h2/launches"), 1);
  EXPECT_EQ(StoreRecords(), std::make_pair(int64_t{10}, 2));

  // Resuming a finished run does nothing.
  auto third = Run(resume);
  ASSERT_TRUE(third.ok());
  EXPECT_TRUE(third->ran.empty());
}

TEST_F(PipelineLocalTest, ALowWinRateKeepsTheCurrentModel) {
  settings_.pipeline.commands["eval_baseline"] = "echo '{\"win_rate\":0.3}'";
  auto r = Run();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->state.completed);
  EXPECT_EQ(r->state.phases.at("promote").status, kSkipped);
  EXPECT_EQ(r->state.phases.at("push").status, kSkipped);
  EXPECT_FALSE(r->state.promoted);
  EXPECT_FALSE(fs::exists(dir_ + "/h1/data/models/current.model"));
}

TEST_F(PipelineLocalTest, TooFewGamesFailsTheWaitAndResumeRestartsOnlyTheFailedHost) {
  // h2's selfplay fails until the flag exists.
  const std::string flag = dir_ + "/h2-may-play";
  settings_.pipeline.commands["selfplay"] = std::string("if [ {host} = h2 ] && [ ! -f ") + flag +
                                            " ]; then echo broken >&2; exit 2; fi; " + kSelfplay;
  auto first = Run();
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.status().code(), Code::kFailedPrecondition) << first.status().ToString();
  EXPECT_NE(first.status().message().find("5 of 10 games"), std::string::npos)
      << first.status().message();
  EXPECT_NE(first.status().message().find("exit 2: broken"), std::string::npos)
      << first.status().message();

  std::ofstream(flag) << "ok";
  RunOptions resume;
  resume.resume = true;
  auto second = Run(resume);
  ASSERT_TRUE(second.ok()) << second.status().ToString() << "\n" << progress_.Dump();
  EXPECT_EQ(Lines(dir_ + "/h1/launches"), 1);
  EXPECT_EQ(second->state.phases.at("selfplay").hosts.at("h2").attempt, 2);
  EXPECT_EQ(StoreRecords(), std::make_pair(int64_t{10}, 2));
}

TEST_F(PipelineLocalTest, PullOnItsOwnCollectsWhatTheHostsHold) {
  for (const std::string id : {"h1", "h2"}) {
    const std::string dir = dir_ + "/" + id + "/data/selfplay/pipeline/" + id + "/old";
    fs::create_directories(dir);
    std::ofstream(dir + "/a.jsonl") << "{\"a\":1}\n{\"a\":2}\n";
    std::ofstream(dir + "/b.jsonl.part") << "{\"unfinished\":1}\n";
  }
  RunOptions pull;
  pull.phase = "pull";
  auto r = Run(pull);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->ran, std::vector<std::string>{"pull"});
  EXPECT_FALSE(r->state.completed);
  // Same content on both hosts: stored once.
  EXPECT_EQ(StoreRecords(), std::make_pair(int64_t{2}, 1));
  EXPECT_EQ(r->state.pulled.size(), 2u);
}

TEST_F(PipelineLocalTest, BadOptionsAreRefusedBeforeAnythingRuns) {
  RunOptions bad;
  bad.phase = "trian";
  auto r = Run(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("unknown phase 'trian'"), std::string::npos);
  EXPECT_FALSE(fs::exists(config_.state_file));
}

}  // namespace
}  // namespace rift::pipeline
