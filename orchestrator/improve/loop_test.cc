#include "orchestrator/improve/loop.h"

#include <gtest/gtest.h>

#include "orchestrator/improve/codec.h"

namespace rift::improve {
namespace {

using Seen = JobStatus::Seen;

// A cluster as the loop sees it: jobs run when ensured and finish when told; the sync copies
// files to the trainer; pulls install the model. Counts what the loop asked for.
struct FakeCluster {
  std::vector<std::string> nodes{"n1", "n2", "n3"};
  std::string trainer = "n1";
  std::set<std::string> dead;
  std::set<std::string> outbound;
  std::map<std::string, StageJob> jobs;  // started, by key
  std::map<std::string, JobStatus> status;
  std::map<std::string, int> starts_per_role;
  std::set<std::string> files;  // selfplay output anywhere
  std::set<std::string> on_trainer;
  std::map<std::string, std::string> model_sha;  // node -> current.model sha
  std::optional<FileVersion> candidate;
  double win_rate_vs_current = 0.6;
  double win_rate_vs_random = 0.9;
  bool sync_works = true;
  int64_t now = 1'000'000;
  int stored = 0;  // states the driver stored
  int actions_on_changed = 0;

  Observation Observe(const LoopState& s) const {
    Observation o;
    o.now_ms = now;
    o.outbound = outbound;
    for (const auto& n : nodes) {
      if (dead.count(n)) continue;
      o.alive.insert(n);
      o.eligible.push_back(n);
    }
    for (const auto& j : s.jobs) {
      JobStatus st;
      if (!dead.count(j.node)) st.seen = Seen::kMissing;
      if (auto it = status.find(j.key); it != status.end() && !dead.count(j.node)) st = it->second;
      o.jobs[j.key] = st;
    }
    for (const auto& f : s.expected_files) {
      if (on_trainer.count(f)) o.held_by_trainer.insert(f);
    }
    o.candidate = candidate;
    if (model_sha.count(trainer)) o.trainer_model = FileVersion{model_sha.at(trainer), 10};
    for (const auto& [n, sha] : model_sha) {
      if (!dead.count(n)) o.model_sha[n] = sha;
    }
    return o;
  }

  void Apply(const std::vector<Action>& actions) {
    for (const auto& a : actions) {
      switch (a.type) {
        case Action::Type::kEnsureJob:
          if (!jobs.count(a.job.key)) {  // idempotent, like POST /start_job
            jobs[a.job.key] = a.job;
            status[a.job.key].seen = Seen::kActive;
            starts_per_role[a.job.role]++;
          }
          break;
        case Action::Type::kSyncTraining:
          if (sync_works) on_trainer.insert(files.begin(), files.end());
          break;
        case Action::Type::kPullModel:
          model_sha[a.node] = a.file.sha256;
          break;
      }
    }
  }

  // Every running job finishes with the result its role prints.
  void FinishJobs() {
    for (auto& [key, st] : status) {
      if (st.seen != Seen::kActive) continue;
      const StageJob& j = jobs.at(key);
      st.seen = Seen::kSucceeded;
      if (j.role == "selfplay") {
        double g = std::stod(j.params.at("games"));
        st.numbers = {{"games", g}, {"positions", g * 20}};
        st.file = "selfplay/" + j.node + "/" + key + "/games.jsonl";
        files.insert(st.file);
        if (j.node == trainer) on_trainer.insert(st.file);
      } else if (j.role == "train") {
        st.numbers = {{"games", 1000}, {"positions", 20000}, {"loss", 0.42}};
        st.model = "training/nnue/" + j.node + "/" + key + "/candidate.model";
        candidate = FileVersion{"sha-" + st.model, 10};
      } else if (j.role == "eval-current") {
        st.numbers = {{"win_rate", win_rate_vs_current}};
      } else if (j.role == "eval-random") {
        st.numbers = {{"win_rate", win_rate_vs_random}};
      } else if (j.role == "promote") {
        model_sha[trainer] = candidate->sha256;
      }
    }
  }

  // One driver round: observe, step; store a changed state (and act on nothing), else act.
  LoopState Round(const LoopState& s, bool finish = true, bool stop = false) {
    Observation o = Observe(s);
    o.stop_requested = stop;
    StepResult r = Step(s, o);
    if (r.changed) {
      stored++;
      actions_on_changed += static_cast<int>(r.actions.size());
    } else {
      Apply(r.actions);
      if (finish) FinishJobs();
    }
    now += 1000;
    return r.state;
  }

  LoopState RunToEnd(LoopState s, int max_rounds = 200) {
    for (int i = 0; i < max_rounds && s.status == LoopStatus::kRunning; ++i) s = Round(s);
    return s;
  }
};

LoopConfig Config(int iterations = 2) {
  LoopConfig c;
  c.iterations = iterations;
  c.games_per_iteration = 100;
  c.eval_games = 20;
  return c;
}

TEST(LoopTest, TwoIterationsFromNoModelPromoteTwiceAndRecordTheFigures) {
  FakeCluster f;
  LoopState s = f.RunToEnd(NewLoop("L1", Config(), "n1", {}, f.now));
  ASSERT_EQ(s.status, LoopStatus::kDone) << s.note << s.error;
  ASSERT_EQ(s.history.size(), 2u);
  const auto& first = s.history[0];
  EXPECT_EQ(first.games, 100);
  EXPECT_EQ(first.positions, 2000);
  EXPECT_EQ(first.model_generation, 0);
  EXPECT_DOUBLE_EQ(*first.loss, 0.42);
  EXPECT_FALSE(first.win_rate_vs_current.has_value());  // no model yet: vs random only
  EXPECT_DOUBLE_EQ(*first.win_rate_vs_random, 0.9);
  EXPECT_TRUE(first.promoted);
  EXPECT_EQ(first.candidate, "training/nnue/n1/imp-L1-i1-train-n1-a0/candidate.model");
  for (const char* st : {"selfplay", "sync", "train", "eval", "promote", "distribute"}) {
    EXPECT_TRUE(first.stage_ms.count(st)) << st;
  }
  const auto& second = s.history[1];
  EXPECT_EQ(second.model_generation, 1);
  EXPECT_DOUBLE_EQ(*second.win_rate_vs_current, 0.6);
  EXPECT_TRUE(second.promoted);
  EXPECT_EQ(s.model.generation, 2);
  EXPECT_EQ(s.model.path, kCurrentModel);
  EXPECT_EQ(s.model.sha256, "sha-training/nnue/n1/imp-L1-i2-train-n1-a0/candidate.model");
  for (const auto& n : f.nodes) EXPECT_EQ(f.model_sha[n], s.model.sha256) << n;
  // One job per (iteration, stage, node): 3 selfplay + train + 1 or 2 evals + promote, twice.
  EXPECT_EQ(f.starts_per_role["selfplay"], 6);
  EXPECT_EQ(f.starts_per_role["train"], 2);
  EXPECT_EQ(f.starts_per_role["eval-random"], 2);
  EXPECT_EQ(f.starts_per_role["eval-current"], 1);
  EXPECT_EQ(f.starts_per_role["promote"], 2);
  EXPECT_EQ(f.actions_on_changed, 0);  // a changed state is stored before anything is done
}

TEST(LoopTest, SelfplaySplitsTheGamesOverEligibleNodesAndUsesTheCurrentModel) {
  FakeCluster f;
  LoopConfig c = Config();
  c.games_per_iteration = 10;
  LoopState s = NewLoop("L", c, "n1", {kCurrentModel, "abc", 5, 3}, f.now);
  s = f.Round(s);
  ASSERT_EQ(s.jobs.size(), 3u);
  EXPECT_EQ(s.jobs[0].params.at("games"), "4");
  EXPECT_EQ(s.jobs[1].params.at("games"), "3");
  EXPECT_EQ(s.jobs[2].params.at("games"), "3");
  EXPECT_EQ(s.jobs[0].params.count("model"), 0u);  // the catalogue's default: current.model
  EXPECT_EQ(s.jobs[0].key, "imp-L-i1-selfplay-n1-a0");
  EXPECT_NE(s.jobs[0].params.at("seed"), s.jobs[1].params.at("seed"));
}

TEST(LoopTest, StageJobsNameTheirFilesOnTheTrainer) {
  FakeCluster f;
  LoopState s = NewLoop("L", Config(1), "n1", {kCurrentModel, "abc", 5, 1}, f.now);
  while (s.stage != Stage::kTrain) s = f.Round(s);
  EXPECT_EQ(s.jobs[0].kind, "training.nnue");
  EXPECT_EQ(s.jobs[0].params.at("model"), "data:models/current.model");  // --init
  while (s.stage != Stage::kEval) s = f.Round(s);
  ASSERT_EQ(s.jobs.size(), 2u);
  std::string cand = "data:training/nnue/n1/imp-L-i1-train-n1-a0/candidate.model";
  EXPECT_EQ(s.jobs[0].role, "eval-random");
  EXPECT_EQ(s.jobs[0].params.at("candidate"), cand);
  EXPECT_EQ(s.jobs[0].params.at("baseline"), "random");
  EXPECT_EQ(s.jobs[0].params.at("model"), "");  // no opponent model
  EXPECT_EQ(s.jobs[0].params.at("games"), "20");
  EXPECT_EQ(s.jobs[1].role, "eval-current");
  EXPECT_EQ(s.jobs[1].params.at("model"), "data:models/current.model");
  while (s.stage != Stage::kPromote) s = f.Round(s);
  EXPECT_EQ(s.jobs[0].params.at("candidate"), cand);
}

TEST(LoopTest, ATrainingJobWithoutAModelPathFailsTheLoop) {
  FakeCluster f;
  LoopState s = NewLoop("L", Config(1), "n1", {}, f.now);
  while (s.stage != Stage::kTrain) s = f.Round(s);
  s = f.Round(s, false);
  f.status[s.jobs[0].key] = JobStatus{Seen::kSucceeded, {{"loss", 0.5}}, "", "", ""};
  s = f.Round(s, false);
  EXPECT_EQ(s.status, LoopStatus::kFailed);
  EXPECT_NE(s.error.find("printed no model path"), std::string::npos) << s.error;
}

TEST(LoopTest, AWeakCandidateIsNotPromotedAndTheModelStays) {
  FakeCluster f;
  f.win_rate_vs_current = 0.5;
  LoopState s = f.RunToEnd(NewLoop("L", Config(1), "n1", {kCurrentModel, "old", 5, 4}, f.now));
  ASSERT_EQ(s.status, LoopStatus::kDone);
  EXPECT_FALSE(s.history[0].promoted);
  EXPECT_NE(s.history[0].decision.find("keep the current model: 0.500 vs current < 0.55"),
            std::string::npos)
      << s.history[0].decision;
  EXPECT_EQ(s.model.sha256, "old");
  EXPECT_EQ(f.starts_per_role["promote"], 0);
  EXPECT_FALSE(s.history[0].stage_ms.count("distribute"));
}

TEST(LoopTest, AResumedStateReattachesToItsJobsInsteadOfStartingOthers) {
  FakeCluster f;
  LoopState s = NewLoop("L", Config(1), "n1", {}, f.now);
  while (s.stage != Stage::kTrain || f.jobs.size() < 4)
    s = f.Round(s, /*finish=*/s.stage != Stage::kTrain);
  // The stored state is read back by a new leader (the codec is the replication format).
  auto resumed = DecodeState(EncodeState(s));
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  EXPECT_EQ(resumed->stage, Stage::kTrain);
  EXPECT_EQ(resumed->jobs[0].key, s.jobs[0].key);
  LoopState done = f.RunToEnd(*resumed);
  EXPECT_EQ(done.status, LoopStatus::kDone);
  EXPECT_EQ(f.starts_per_role["train"], 1);
  EXPECT_EQ(f.starts_per_role["selfplay"], 3);
}

TEST(LoopTest, AFailedJobIsRetriedUnderANewKeyThenTheLoopFails) {
  FakeCluster f;
  LoopState s = NewLoop("L", Config(1), "n1", {}, f.now);
  while (s.stage != Stage::kTrain) s = f.Round(s);
  s = f.Round(s, false);  // the train job starts
  ASSERT_EQ(f.starts_per_role["train"], 1);
  for (int attempt = 0; attempt < 3; ++attempt) {
    const std::string key = s.jobs[0].key;
    EXPECT_EQ(key, "imp-L-i1-train-n1-a" + std::to_string(attempt));
    f.status[key].seen = Seen::kFailed;
    f.status[key].error = "exit 1";
    s = f.Round(s, false);  // new attempt stored, or the loop failed
    if (s.status != LoopStatus::kRunning) break;
    s = f.Round(s, false);  // the new attempt starts
  }
  EXPECT_EQ(s.status, LoopStatus::kFailed);
  EXPECT_NE(s.error.find("failed 3 time(s): exit 1"), std::string::npos) << s.error;
  EXPECT_EQ(f.starts_per_role["train"], 3);
}

TEST(LoopTest, SelfplayOfADeadNodeMovesToALiveOne) {
  FakeCluster f;
  LoopState s = NewLoop("L", Config(1), "n1", {}, f.now);
  s = f.Round(s, false);  // planned
  s = f.Round(s, false);  // started
  f.dead.insert("n3");
  s = f.Round(s, false);
  ASSERT_EQ(s.jobs.size(), 3u);
  EXPECT_EQ(s.jobs[2].node, "n1");
  EXPECT_EQ(s.jobs[2].key, "imp-L-i1-selfplay-n1-a1");
  s = f.RunToEnd(s);
  EXPECT_EQ(s.status, LoopStatus::kDone);
  EXPECT_EQ(s.history[0].games, 100);
}

TEST(LoopTest, ADeadTrainerIsWaitedForNotReplaced) {
  FakeCluster f;
  LoopState s = NewLoop("L", Config(1), "n1", {}, f.now);
  while (s.stage != Stage::kTrain) s = f.Round(s);
  s = f.Round(s, false);  // the train job starts
  f.dead.insert("n1");
  for (int i = 0; i < 5; ++i) s = f.Round(s, false);
  EXPECT_EQ(s.stage, Stage::kTrain);
  EXPECT_EQ(s.jobs[0].key, "imp-L-i1-train-n1-a0");
  f.dead.clear();  // back, with its job finished meanwhile
  s = f.RunToEnd(s);
  EXPECT_EQ(s.status, LoopStatus::kDone);
  EXPECT_EQ(f.starts_per_role["train"], 1);
}

TEST(LoopTest, NothingIsPlannedWithoutAnEligibleNode) {
  FakeCluster f;
  f.dead = {"n1", "n2", "n3"};
  LoopState s = NewLoop("L", Config(1), "n1", {}, f.now);
  StepResult r = Step(s, f.Observe(s));
  EXPECT_FALSE(r.changed);
  EXPECT_TRUE(r.actions.empty());
}

TEST(LoopTest, SyncAsksForTrainingRoundsUntilTheTrainerHoldsTheFilesThenTimesOut) {
  FakeCluster f;
  f.sync_works = false;
  LoopState s = NewLoop("L", Config(1), "n1", {}, f.now);
  while (s.stage != Stage::kSync) s = f.Round(s);
  StepResult r = Step(s, f.Observe(s));
  ASSERT_EQ(r.actions.size(), 1u);
  EXPECT_EQ(r.actions[0].type, Action::Type::kSyncTraining);
  EXPECT_EQ(s.expected_files.size(), 3u);
  f.now += s.config.sync_timeout_ms;
  s = f.Round(s, false);
  EXPECT_EQ(s.stage, Stage::kTrain);
  EXPECT_NE(s.note.find("sync timed out: 2 file(s)"), std::string::npos) << s.note;
}

TEST(LoopTest, DistributionWaitsForEveryAliveNode) {
  FakeCluster f;
  LoopState s = NewLoop("L", Config(1), "n1", {}, f.now);
  while (s.stage != Stage::kDistribute) s = f.Round(s);
  s = f.Round(s);  // learns the promoted version
  ASSERT_TRUE(s.promoted_sha.has_value());
  StepResult r = Step(s, f.Observe(s));
  ASSERT_EQ(r.actions.size(), 2u);
  EXPECT_EQ(r.actions[0].node, "n2");
  EXPECT_EQ(r.actions[0].source, "n1");
  EXPECT_EQ(r.actions[1].node, "n3");
  f.dead.insert("n3");  // a dead node is not waited for
  f.outbound = {"n2"};  // nor an outbound-only one (it gets the model through its polls)
  EXPECT_EQ(Step(s, f.Observe(s)).actions.size(), 0u);
  s = f.Round(s);
  EXPECT_EQ(s.status, LoopStatus::kDone);
  EXPECT_EQ(s.model.generation, 1);
}

TEST(LoopTest, APromotedModelTheTrainerNeverServesEndsTheIterationAtTheTimeout) {
  FakeCluster f;
  LoopState s = NewLoop("L", Config(2), "n1", {}, f.now);
  while (s.stage != Stage::kDistribute) s = f.Round(s);
  f.candidate.reset();  // the trainer does not serve it (not sealed, unreachable...)
  s = f.Round(s);
  EXPECT_EQ(s.stage, Stage::kDistribute);
  f.now += s.config.distribute_timeout_ms;
  s = f.Round(s);
  EXPECT_EQ(s.iteration, 2);
  EXPECT_EQ(s.stage, Stage::kSelfplay);
  EXPECT_TRUE(s.history[0].promoted);
  EXPECT_EQ(s.model.generation, 1);
  EXPECT_NE(s.note.find("not distributed"), std::string::npos) << s.note;
}

TEST(LoopTest, StopEndsTheLoopAndTheStoppedLoopDoesNothing) {
  FakeCluster f;
  LoopState s = f.Round(NewLoop("L", Config(), "n1", {}, f.now));
  s = f.Round(s, false, /*stop=*/true);
  EXPECT_EQ(s.status, LoopStatus::kStopped);
  StepResult r = Step(s, f.Observe(s));
  EXPECT_FALSE(r.changed);
  EXPECT_TRUE(r.actions.empty());
}

TEST(LoopTest, TheCodecRoundTripsAWholeState) {
  FakeCluster f;
  LoopState s = NewLoop("L", Config(3), "n1", {kCurrentModel, "abc", 5, 1}, f.now);
  while (s.history.empty() || s.stage != Stage::kEval) s = f.Round(s);
  std::string once = EncodeState(s);
  auto back = DecodeState(once);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(EncodeState(*back), once);
  EXPECT_FALSE(DecodeState("{}").ok());
  EXPECT_FALSE(DecodeState("not json").ok());
  const std::string stage = "\"stage\":\"eval\"";
  ASSERT_NE(once.find(stage), std::string::npos);
  auto bad =
      DecodeState(std::string(once).replace(once.find(stage), stage.size(), "\"stage\":\"nope\""));
  EXPECT_FALSE(bad.ok());
}

}  // namespace
}  // namespace rift::improve
