// The JobManager with real processes (/bin/sh kinds), a real SQLite store and real restarts of
// the manager: results, sealing, idempotency (also across restarts), caps, GPUs, stops,
// timeouts, re-adoption of running jobs and of jobs that ended while no manager ran.
#include "orchestrator/jobs/manager.h"
#include "orchestrator/jobs/test_util.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

namespace rift::jobs {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

bool Eventually(const std::function<bool()>& pred, milliseconds limit = seconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return pred();
}

settings::JobKind ShKind(const std::string& name, const std::string& script) {
  settings::JobKind k;
  k.name = name;
  k.argv = {{{"/bin/sh"}, false}, {{"-c"}, false}, {{script}, false}};
  k.out_dir = "test/{kind}/{job_id}";
  return k;
}

class ManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "rift-jobs-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto& c = settings_.catalogue;
    // Waits for a file named by its param, then prints a result line and writes outputs.
    c.push_back(ShKind("wait",
                       "while [ ! -e \"$RINGRIFT_OUT_DIR/../{name}.go\" ]; do sleep 0.02; done; "
                       "echo out > {out_dir}/games.jsonl; echo partial > {out_dir}/x.part; "
                       "echo '{{\"games\":{games}}}'; exit {code}"));
    c.back().params = {{"name", "w"}, {"games", "5"}, {"code", "0"}};
    c.push_back(ShKind("stubborn", "trap '' TERM; sleep 300"));
    c.push_back(ShKind("sleepy_selfplay", "sleep 300"));
    c.back().max_per_node = 1;
    c.push_back(ShKind("gpu_job", "echo \"cuda=$CUDA_VISIBLE_DEVICES gpu={gpu}\"; sleep 300"));
    c.back().gpus = 1;
    c.push_back(ShKind("slow", "sleep 300"));
    c.back().timeout = seconds(1);
    c.push_back(ShKind("env", "echo \"token=${{RINGRIFT_CLUSTER_AUTH_TOKEN:-none}} id=$RINGRIFT_JOB_ID\""));
    settings_.stop_grace = seconds(1);
    Open();
  }
  void TearDown() override {
    if (m_) {
      for (const auto& j : m_->List()) {
        if (!j.Finished()) (void)m_->StopJob(j.id);
      }
      for (const auto& j : m_->List()) {
        if (j.launched.job.valid()) ::kill(-j.launched.job.pid, SIGKILL);
        if (j.launched.shim.valid()) ::kill(j.launched.shim.pid, SIGKILL);
      }
      m_.reset();
    }
    testutil::RemoveTree(dir_);
  }

  ManagerOptions Options() {
    ManagerOptions o;
    o.node_id = "n1";
    o.ringrift_dir = dir_.string();
    o.data_root = (dir_ / "data").string();
    o.bin_dir = "/nonexistent-bin";
    o.db_path = (dir_ / "state" / "jobs.db").string();
    o.jobs_dir = (dir_ / "state" / "jobs").string();
    o.settings = settings_;
    o.max_jobs = max_jobs_;
    o.base_env = std::vector<std::string>{"PATH=/usr/bin:/bin", "HOME=/tmp",
                                          "RINGRIFT_CLUSTER_AUTH_TOKEN=secret",
                                          "NOTIFY_SOCKET=/run/x"};
    o.detect_gpus = [this] { return gpus_; };
    o.seal = [this](const std::string& rel) {
      std::lock_guard lock(sealed_mu_);
      sealed_.insert(rel);
      return Status::Ok();
    };
    o.poll_interval = milliseconds(20);
    return o;
  }
  void Open() {
    fs::create_directories(dir_ / "state");
    auto m = JobManager::Open(Options());
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    m_ = std::move(m).value();
    m_->Start();
  }
  void Restart() {
    m_.reset();  // jobs keep running
    Open();
  }
  JobRecord Start(const std::string& kind, std::map<std::string, std::string> params = {},
                  const std::string& key = "") {
    auto r = m_->StartJob({kind, std::move(params), key, std::nullopt});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->job : JobRecord{};
  }
  JobRecord WaitFinished(const std::string& id) {
    JobRecord rec;
    EXPECT_TRUE(Eventually([&] {
      auto r = m_->Get(id);
      rec = r.ok() ? *r : JobRecord{};
      return rec.Finished();
    })) << "job " << id << " is " << rec.state;
    return rec;
  }
  void Release(const JobRecord& j, const std::string& name = "w") {
    std::ofstream(dir_ / "data" / fs::path(j.out_dir).parent_path() / (name + ".go")) << "go";
  }

  fs::path dir_;
  settings::JobsSettings settings_;
  int max_jobs_ = 8;
  std::vector<GpuInfo> gpus_;
  std::mutex sealed_mu_;
  std::set<std::string> sealed_;
  std::unique_ptr<JobManager> m_;
};

TEST_F(ManagerTest, AJobRunsItsResultIsParsedAndItsOutputsSealed) {
  JobRecord j = Start("wait", {{"games", "12"}});
  EXPECT_EQ(j.state, "running");
  EXPECT_GT(j.pid, 0);
  EXPECT_EQ(j.node, "n1");
  EXPECT_EQ(j.out_dir, "test/wait/" + j.id);
  EXPECT_TRUE(fs::is_directory(dir_ / "data" / j.out_dir));
  EXPECT_EQ(m_->Counts().running, 1);
  Release(j);
  JobRecord done = WaitFinished(j.id);
  EXPECT_EQ(done.state, "exited");
  EXPECT_EQ(done.exit_code, 0);
  EXPECT_EQ(done.result, "{\"games\":12}");
  std::lock_guard lock(sealed_mu_);
  EXPECT_EQ(sealed_, std::set<std::string>{j.out_dir + "/games.jsonl"});  // never the .part
  EXPECT_EQ(m_->Counts().running, 0);
}

TEST_F(ManagerTest, ANonZeroExitIsAFailure) {
  JobRecord j = Start("wait", {{"code", "3"}});
  Release(j);
  JobRecord done = WaitFinished(j.id);
  EXPECT_EQ(done.state, "failed");
  EXPECT_EQ(done.exit_code, 3);
  EXPECT_EQ(done.error, "exit code 3");
}

TEST_F(ManagerTest, TheSameIdempotencyKeyReturnsTheSameJobAlsoAfterARestart) {
  auto first = m_->StartJob({"sleepy_selfplay", {}, "key-1", 7});
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(first->created);
  EXPECT_EQ(first->job.term, 7u);
  auto again = m_->StartJob({"sleepy_selfplay", {}, "key-1", 7});
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->job.id, first->job.id);
  EXPECT_EQ(m_->List("sleepy_selfplay").size(), 1u);
  auto other = m_->StartJob({"slow", {}, "key-1", std::nullopt});
  EXPECT_EQ(other.status().code(), Code::kAlreadyExists);
  auto other_params = m_->StartJob({"sleepy_selfplay", {{"x", "1"}}, "key-1", std::nullopt});
  EXPECT_EQ(other_params.status().code(), Code::kAlreadyExists);

  Restart();
  auto after = m_->StartJob({"sleepy_selfplay", {}, "key-1", 7});
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_FALSE(after->created);
  EXPECT_EQ(after->job.id, first->job.id);
  EXPECT_EQ(after->job.pid, first->job.pid);
  auto stopped = m_->StopJob("", "key-1");
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(stopped->id, first->job.id);
  EXPECT_EQ(WaitFinished(first->job.id).state, "stopped");
}

TEST_F(ManagerTest, NodeAndKindCapsRefuseWithResourceExhausted) {
  max_jobs_ = 2;
  Restart();
  Start("sleepy_selfplay");
  EXPECT_EQ(m_->StartJob({"sleepy_selfplay", {}, "", std::nullopt}).status().code(),
            Code::kResourceExhausted);
  Start("slow");
  auto third = m_->StartJob({"stubborn", {}, "", std::nullopt});
  EXPECT_EQ(third.status().code(), Code::kResourceExhausted);
  EXPECT_NE(third.status().message().find("2 of at most 2"), std::string::npos);
  EXPECT_EQ(m_->Counts().selfplay, 1);
}

TEST_F(ManagerTest, GpusAreAssignedThroughCudaVisibleDevices) {
  gpus_ = {{"0", "Fake A", 1024}, {"1", "Fake B", 1024}};
  Restart();
  JobRecord a = Start("gpu_job");
  JobRecord b = Start("gpu_job");
  ASSERT_EQ(a.gpus.size(), 1u);
  ASSERT_EQ(b.gpus.size(), 1u);
  EXPECT_NE(a.gpus[0], b.gpus[0]);
  EXPECT_EQ(m_->StartJob({"gpu_job", {}, "", std::nullopt}).status().code(),
            Code::kResourceExhausted);
  for (const auto& j : {a, b}) {
    std::string want = "cuda=" + j.gpus[0] + " gpu=" + j.gpus[0];
    EXPECT_TRUE(Eventually([&] { return ReadFile(j.log_path).find(want) != std::string::npos; }))
        << ReadFile(j.log_path);
  }
  ASSERT_TRUE(m_->StopJob(a.id).ok());
  WaitFinished(a.id);
  JobRecord c = Start("gpu_job");
  EXPECT_EQ(c.gpus, a.gpus);  // freed and reused
}

TEST_F(ManagerTest, AGpuKindOnANodeWithoutGpusIsAPreconditionFailure) {
  auto r = m_->StartJob({"gpu_job", {}, "", std::nullopt});
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition) << r.status().ToString();
}

TEST_F(ManagerTest, BadRequestsAreInvalidArguments) {
  auto r = m_->StartJob({"nope", {}, "", std::nullopt});
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("known: selfplay"), std::string::npos) << r.status().message();
  EXPECT_EQ(m_->StartJob({"wait", {{"job_id", "x"}}, "", std::nullopt}).status().code(),
            Code::kInvalidArgument);
  // The built-in selfplay needs nothing more; eval needs a candidate.
  auto eval = m_->StartJob({"eval", {}, "", std::nullopt});
  EXPECT_EQ(eval.status().code(), Code::kInvalidArgument);
  EXPECT_NE(eval.status().message().find("missing param 'candidate'"), std::string::npos);
  EXPECT_TRUE(m_->List().empty());
}

TEST_F(ManagerTest, AProgramThatCannotStartLeavesAFailedRecord) {
  auto r = m_->StartJob({"selfplay", {}, "k", std::nullopt});  // {bin_dir}/rift-c4 is missing
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition) << r.status().ToString();
  auto jobs = m_->List();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].state, "failed");
  EXPECT_NE(jobs[0].error.find("rift-c4"), std::string::npos);
  EXPECT_EQ(m_->Counts().running, 0);
}

TEST_F(ManagerTest, StopSendsSigtermThenSigkillAfterTheGrace) {
  JobRecord j = Start("stubborn");
  auto s = m_->StopJob(j.id);
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->stop_requested);
  JobRecord done = WaitFinished(j.id);
  EXPECT_EQ(done.state, "stopped");
  EXPECT_EQ(done.signal, 9);
  EXPECT_EQ(m_->StopJob("missing").status().code(), Code::kNotFound);
  auto again = m_->StopJob(j.id);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->state, "stopped");
}

TEST_F(ManagerTest, TheTimeoutFailsTheJob) {
  JobRecord j = Start("slow");
  JobRecord done = WaitFinished(j.id);
  EXPECT_EQ(done.state, "failed");
  EXPECT_TRUE(done.timed_out);
  EXPECT_NE(done.error.find("timed out"), std::string::npos);
}

TEST_F(ManagerTest, SecretsNeverReachAJob) {
  JobRecord j = Start("env");
  WaitFinished(j.id);
  std::string log = ReadFile(j.log_path);
  EXPECT_NE(log.find("token=none id=" + j.id), std::string::npos) << log;
}

TEST_F(ManagerTest, ARunningJobIsReadoptedByTheNextManagerAndItsExitRecorded) {
  JobRecord j = Start("wait", {{"code", "4"}});
  Restart();
  auto seen = m_->Get(j.id);
  ASSERT_TRUE(seen.ok());
  EXPECT_EQ(seen->pid, j.pid);
  // The monitor checks it and leaves it running.
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(m_->Get(j.id)->state, "running");
  EXPECT_EQ(m_->Counts().running, 1);
  Release(j);
  JobRecord done = WaitFinished(j.id);
  EXPECT_EQ(done.state, "failed");
  EXPECT_EQ(done.exit_code, 4);
  EXPECT_EQ(done.result, "{\"games\":5}");
}

TEST_F(ManagerTest, AJobThatEndedWhileNoManagerRanIsRecordedAtTheNextStart) {
  JobRecord j = Start("wait");
  m_.reset();
  Release(j);
  ASSERT_TRUE(Eventually([&] { return fs::exists(fs::path(j.log_path).parent_path() / "status.json"); }));
  Open();
  JobRecord done = WaitFinished(j.id);
  EXPECT_EQ(done.state, "exited");
  EXPECT_EQ(done.exit_code, 0);
  std::lock_guard lock(sealed_mu_);
  EXPECT_EQ(sealed_.count(j.out_dir + "/games.jsonl"), 1u);
}

TEST_F(ManagerTest, AJobWhoseProcessesVanishedWithoutARecordIsLost) {
  JobRecord j = Start("sleepy_selfplay");
  m_.reset();
  ::kill(j.launched.shim.pid, SIGKILL);
  ::kill(-j.launched.job.pid, SIGKILL);
  ASSERT_TRUE(Eventually([&] { return !IsAlive(j.launched.job) && !IsAlive(j.launched.shim); }));
  Open();
  JobRecord done = WaitFinished(j.id);
  EXPECT_EQ(done.state, "lost");
  EXPECT_FALSE(done.error.empty());
}

TEST_F(ManagerTest, FinishedRecordsBeyondTheRetentionAreDropped) {
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    JobRecord j = Start("env");
    WaitFinished(j.id);
    ids.push_back(j.id);
  }
  m_.reset();
  auto o = Options();
  o.keep_finished = 1;
  auto m = JobManager::Open(o);
  ASSERT_TRUE(m.ok());
  m_ = std::move(m).value();
  m_->Start();
  ASSERT_TRUE(Eventually([&] { return m_->List().size() == 1; }));
  EXPECT_EQ(m_->List()[0].id, ids.back());
  EXPECT_TRUE(Eventually([&] { return !fs::exists(dir_ / "state" / "jobs" / ids[0]); }));
}

}  // namespace
}  // namespace rift::jobs
