// The jobs' routes through the router (no sockets), against a real JobManager running /bin/sh
// kinds: status codes, fencing, idempotent retries, logs (tail and follow).
#include "orchestrator/jobs/routes.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "orchestrator/api/fake_node_api_for_test.h"
#include "orchestrator/jobs/test_util.h"

namespace rift::jobs {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kToken[] = "jobs-route-token";

settings::JobKind Sh(const std::string& name, const std::string& script) {
  settings::JobKind k;
  k.name = name;
  k.argv = {{{"/bin/sh"}, false}, {{"-c"}, false}, {{script}, false}};
  return k;
}

class RoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "rift-jobroutes-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    ManagerOptions o;
    o.node_id = "n1";
    o.ringrift_dir = dir_.string();
    o.data_root = (dir_ / "data").string();
    o.bin_dir = "/nonexistent";
    o.db_path = (dir_ / "jobs.db").string();
    o.jobs_dir = (dir_ / "jobs").string();
    o.max_jobs = 3;
    o.settings.stop_grace = seconds(1);
    o.settings.catalogue = {
        Sh("sleeper", "echo started; sleep 300"),
        Sh("talker", "i=0; while [ $i -lt 5 ]; do echo line-$i; i=$((i+1)); sleep 0.1; done; "
                     "echo '{{\"loss\":0.25}}'"),
        Sh("training.nnue", "echo '{{\"loss\":0.5,\"model\":\"m\"}}'")};
    o.detect_gpus = [] { return std::vector<GpuInfo>{}; };
    o.base_env = std::vector<std::string>{"PATH=/usr/bin:/bin"};
    o.poll_interval = milliseconds(20);
    auto m = JobManager::Open(o);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    jobs_ = std::move(m).value();
    jobs_->Start();
    RouteContext c;
    c.node = &node_;
    c.jobs = jobs_.get();
    c.follow_idle = std::chrono::hours(1);  // only the job ending or a shutdown ends a follow
    RegisterJobRoutes(&router_, c);
  }
  void TearDown() override {
    for (const auto& j : jobs_->List()) {
      if (j.launched.job.valid()) ::kill(-j.launched.job.pid, SIGKILL);
      if (j.launched.shim.valid()) ::kill(j.launched.shim.pid, SIGKILL);
    }
    jobs_.reset();
    testutil::RemoveTree(dir_);
  }

  api::HttpResponse Call(const std::string& method, const std::string& path,
                         const json& body = nullptr) {
    api::HttpRequest r;
    r.method = method;
    auto q = path.find('?');
    r.path = path.substr(0, q);
    if (q != std::string::npos) {
      std::string query = path.substr(q + 1);
      size_t start = 0;
      while (start < query.size()) {
        size_t amp = query.find('&', start);
        std::string kv = query.substr(start, amp == std::string::npos ? amp : amp - start);
        auto eq = kv.find('=');
        r.query[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
        start = amp == std::string::npos ? query.size() : amp + 1;
      }
    }
    if (!body.is_null()) r.body = body.dump();
    r.headers["Authorization"] = std::string("Bearer ") + kToken;
    return router_.Handle(r);
  }
  static json Body(const api::HttpResponse& r) { return json::parse(r.body, nullptr, false); }
  static std::string Code(const api::HttpResponse& r) {
    return Body(r)["error"]["code"].get<std::string>();
  }
  json WaitFinished(const std::string& id) {
    json job;
    auto deadline = std::chrono::steady_clock::now() + seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      job = Body(Call("GET", "/jobs/" + id))["job"];
      std::string s = job.value("state", "");
      if (s != "starting" && s != "running") break;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return job;
  }
  // Drains a streamed body.
  static std::string Drain(api::BodySource& src) {
    std::string out;
    char buf[4096];
    for (uint64_t off = 0;;) {
      size_t got = 0;
      if (!src.Read(off, buf, sizeof buf, &got) || got == 0) return out;
      out.append(buf, got);
      off += got;
    }
  }

  fs::path dir_;
  api::FakeNodeApi node_;
  api::Router router_{kToken};
  std::unique_ptr<JobManager> jobs_;
};

TEST_F(RoutesTest, StartIs201ARetryWithTheKeyIs200AndTheSameJob) {
  auto first = Call("POST", "/start_job",
                    {{"kind", "sleeper"}, {"params", {{"n", 3}}}, {"idempotency_key", "k1"}});
  ASSERT_EQ(first.status, 201) << first.body;
  json job = Body(first)["job"];
  EXPECT_EQ(job["state"], "running");
  EXPECT_EQ(job["node"], "n1");
  EXPECT_EQ(job["params"]["n"], "3");
  EXPECT_EQ(job["idempotency_key"], "k1");
  EXPECT_GT(job["pid"].get<int>(), 0);
  EXPECT_FALSE(job.contains("job_dir"));  // bookkeeping stays internal
  auto again = Call("POST", "/start_job",
                    {{"kind", "sleeper"}, {"params", {{"n", 3}}}, {"idempotency_key", "k1"}});
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(Body(again)["job"]["id"], job["id"]);
  EXPECT_EQ(Body(Call("GET", "/jobs"))["jobs"].size(), 1u);
  auto clash = Call("POST", "/start_job", {{"kind", "talker"}, {"idempotency_key", "k1"}});
  EXPECT_EQ(clash.status, 409);
}

TEST_F(RoutesTest, AStaleTermIsRefusedWith409AndACurrentOneRecorded) {
  auto stale = Call("POST", "/start_job", {{"kind", "sleeper"}, {"term", 2}});
  EXPECT_EQ(stale.status, 409);
  EXPECT_EQ(Code(stale), "STALE_TERM");
  EXPECT_TRUE(Body(Call("GET", "/jobs"))["jobs"].empty());
  auto current = Call("POST", "/start_job", {{"kind", "sleeper"}, {"term", 3}});
  ASSERT_EQ(current.status, 201) << current.body;
  EXPECT_EQ(Body(current)["job"]["term"], 3);
  std::string id = Body(current)["job"]["id"];
  EXPECT_EQ(Call("POST", "/stop_job", {{"job_id", id}, {"term", 1}}).status, 409);
}

TEST_F(RoutesTest, BadRequestsAre400AndCapsAre429) {
  EXPECT_EQ(Call("POST", "/start_job", {{"kind", "nope"}}).status, 400);
  EXPECT_EQ(Call("POST", "/start_job", json::object()).status, 400);
  EXPECT_EQ(Call("POST", "/start_job", {{"kind", "sleeper"}, {"params", {{"x", {1, 2}}}}}).status,
            400);
  EXPECT_EQ(Call("POST", "/start_job", {{"kind", "sleeper"}, {"term", "x"}}).status, 400);
  api::HttpRequest raw;
  raw.method = "POST";
  raw.path = "/start_job";
  raw.body = "{not json";
  raw.headers["Authorization"] = std::string("Bearer ") + kToken;
  EXPECT_EQ(router_.Handle(raw).status, 400);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(Call("POST", "/start_job", {{"kind", "sleeper"}}).status, 201);
  }
  auto capped = Call("POST", "/start_job", {{"kind", "sleeper"}});
  EXPECT_EQ(capped.status, 429);
  EXPECT_EQ(Code(capped), "RESOURCE_EXHAUSTED");
  EXPECT_EQ(Call("POST", "/stop_job", json::object()).status, 400);
  EXPECT_EQ(Call("POST", "/stop_job", {{"job_id", "missing"}}).status, 404);
  EXPECT_EQ(Call("GET", "/jobs/missing").status, 404);
  EXPECT_EQ(Call("GET", "/jobs/missing/log").status, 404);
}

TEST_F(RoutesTest, StopListAndFilters) {
  std::string id = Body(Call("POST", "/start_job", {{"kind", "sleeper"}}))["job"]["id"];
  auto stop = Call("POST", "/stop_job", {{"job_id", id}});
  ASSERT_EQ(stop.status, 200) << stop.body;
  EXPECT_TRUE(Body(stop)["job"]["stop_requested"].get<bool>());
  EXPECT_EQ(WaitFinished(id)["state"], "stopped");
  EXPECT_EQ(Body(Call("GET", "/jobs?state=stopped"))["jobs"].size(), 1u);
  EXPECT_EQ(Body(Call("GET", "/jobs?kind=talker"))["jobs"].size(), 0u);
}

TEST_F(RoutesTest, LogsTailAndFollowUntilTheJobEnds) {
  std::string id = Body(Call("POST", "/start_job", {{"kind", "talker"}}))["job"]["id"];
  auto follow = Call("GET", "/jobs/" + id + "/log?follow=1&tail=0");
  ASSERT_EQ(follow.status, 200);
  ASSERT_NE(follow.body_source, nullptr);
  EXPECT_EQ(follow.body_source->size(), api::BodySource::kUnknownSize);
  std::string streamed = Drain(*follow.body_source);
  json job = WaitFinished(id);
  EXPECT_EQ(job["state"], "exited");
  EXPECT_EQ(job["result"]["loss"], 0.25);
  // Everything the job wrote arrived (tail=0 started at the end of what was there at once).
  EXPECT_NE(streamed.find("line-4\n{\"loss\":0.25}\n"), std::string::npos) << streamed;
  auto tail = Call("GET", "/jobs/" + id + "/log?tail=14");
  EXPECT_EQ(tail.status, 200);
  EXPECT_EQ(tail.content_type, "text/plain; charset=utf-8");
  EXPECT_EQ(tail.body, "{\"loss\":0.25}\n");
  EXPECT_EQ(Call("GET", "/jobs/" + id + "/log?tail=-1").status, 400);
  // A follow of a finished job sends the tail and ends.
  auto late = Call("GET", "/jobs/" + id + "/log?follow=1&tail=7");
  ASSERT_NE(late.body_source, nullptr);
  EXPECT_EQ(Drain(*late.body_source), ":0.25}\n");
}

TEST_F(RoutesTest, ShutdownEndsAFollowAtOnce) {
  std::string id = Body(Call("POST", "/start_job", {{"kind", "sleeper"}}))["job"]["id"];
  auto follow = Call("GET", "/jobs/" + id + "/log?follow=1");
  ASSERT_NE(follow.body_source, nullptr);
  std::thread stopper([&] {
    std::this_thread::sleep_for(milliseconds(300));
    jobs_->BeginShutdown();
  });
  Drain(*follow.body_source);  // returns once shutdown began, long before the idle limit
  stopper.join();
  EXPECT_TRUE(jobs_->ShuttingDown());
}

TEST_F(RoutesTest, TrainingRoutesStartTheirKindAndReportTheLatest) {
  auto r = Call("POST", "/training/nnue/start", {{"params", {{"epochs", 2}}}});
  ASSERT_EQ(r.status, 201) << r.body;
  std::string id = Body(r)["job"]["id"];
  EXPECT_EQ(Body(r)["job"]["kind"], "training.nnue");
  WaitFinished(id);
  json status = Body(Call("GET", "/training/status"));
  ASSERT_EQ(status["jobs"].size(), 1u);
  EXPECT_EQ(status["latest"]["id"], id);
  EXPECT_EQ(status["latest"]["result"]["model"], "m");
  // No cmaes kind is configured here beyond the built-in, whose binary is missing: 412.
  EXPECT_EQ(Call("POST", "/training/cmaes/start", json::object()).status, 412);
}

}  // namespace
}  // namespace rift::jobs
