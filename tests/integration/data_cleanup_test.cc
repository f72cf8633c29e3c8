// Cleanup and refusals on real daemons: three voters on loopback; n1's data tree is a 64 MiB
// tmpfs when the test may mount one (root), so the watermarks are real; otherwise (mount
// refused, reported loudly) n1 runs with tiny watermarks against the machine's disk and the
// "stops at the low watermark" part is not checked. Every wait is bounded.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <utime.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/harness/cluster.h"

namespace rift::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kToken[] = "data-cleanup-token-0123456789";
constexpr int kNodes = 3;
constexpr int kReplicated = 10;  // 5 MiB each, rep-1 newest ... rep-10 oldest
constexpr size_t kMiB = 1 << 20;

void WriteFile(const fs::path& p, size_t bytes, char fill, int age_days) {
  WriteFilledFile(p.string(), bytes, fill, age_days);
}

std::string Rep(int k) { return "selfplay/cl/rep-" + std::to_string(k) + ".jsonl"; }

class DataCleanupTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("rift-data-cleanup");
    fs::path data1 = fs::path(dir_->path()) / "n1" / "data";
    fs::create_directories(data1);
    tmpfs_ = mount("tmpfs", data1.c_str(), "tmpfs", 0, "size=64m") == 0;
    if (!tmpfs_) {
      std::fprintf(stderr,
                   "*** DataCleanupTest: cannot mount a tmpfs on %s (not root?): the watermark "
                   "stop is NOT checked; n1 uses tiny watermarks on the real disk instead ***\n",
                   data1.c_str());
    }
    for (int i = 0; i < kNodes; ++i) {
      DaemonOptions o;
      o.node_id = "n" + std::to_string(i + 1);
      bool small = i == 0;
      o.env = {{"RINGRIFT_CLUSTER_AUTH_TOKEN", kToken},
               {"RINGRIFT_P2P_VOTERS", "n1,n2,n3"},
               {"RINGRIFT_TIMER_PROFILE", "fast"},
               {"RINGRIFT_QUIET_PERIOD_S", "1"},
               {"RINGRIFT_SYNC_INTERVAL_S", "3600"},
               {"RINGRIFT_CLEANUP_HIGH_WATERMARK", !small   ? "0.99"
                                                   : tmpfs_ ? "0.80"
                                                            : "0.02"},
               {"RINGRIFT_CLEANUP_LOW_WATERMARK", !small   ? "0.98"
                                                  : tmpfs_ ? "0.70"
                                                           : "0.01"}};
      if (i > 0) o.env["COORDINATOR_URL"] = nodes_[0]->url();
      nodes_[i] = new Daemon(DaemonBinary(), o, dir_->path() + "/" + o.node_id);
      std::string error;
      ASSERT_TRUE(nodes_[i]->Start(&error)) << error;
    }
    ASSERT_TRUE(WaitFor([] { return Leader() != nullptr; }, seconds(20)));
  }
  static void TearDownTestSuite() {
    for (auto*& n : nodes_) delete n;
    if (tmpfs_) umount2((fs::path(dir_->path()) / "n1" / "data").c_str(), MNT_DETACH);
    delete dir_;
  }
  static Daemon* Leader() {
    for (auto* n : nodes_) {
      auto s = n->Status(kToken);
      if (s && s->role == "leader" && s->quorum && s->CountState("alive") == kNodes - 1) return n;
    }
    return nullptr;
  }
  static fs::path Data(int i) { return fs::path(nodes_[i]->dir()) / "data"; }
  static json Post(Daemon* d, const std::string& path, const json& body) {
    auto r = HttpRequest("POST", d->url(), path, kToken, body.dump(), {}, seconds(20));
    json j = json::parse(r.body, nullptr, false);
    if (j.is_discarded()) j = json::object();
    j["_status"] = r.status;
    return j;
  }
  static size_t SealedCount(int i) {
    auto r = nodes_[i]->Request("GET", "/sync/manifest?cursor=0&limit=20000", kToken);
    json j = json::parse(r.body, nullptr, false);
    size_t n = 0;
    if (j.is_discarded()) return 0;
    for (auto& rec : j["records"]) n += rec["sealed"].get<bool>() && !rec["deleted"].get<bool>();
    return n;
  }

  static TempDir* dir_;
  static Daemon* nodes_[kNodes];
  static bool tmpfs_;
};
TempDir* DataCleanupTest::dir_ = nullptr;
Daemon* DataCleanupTest::nodes_[kNodes] = {};
bool DataCleanupTest::tmpfs_ = false;

std::vector<std::string> Paths(const json& list) {
  std::vector<std::string> out;
  for (const auto& x : list)
    out.push_back(x.is_string() ? x.get<std::string>() : x["path"].get<std::string>());
  return out;
}
bool Has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST_F(DataCleanupTest, ReplicatedFilesGoOldestFirstUnreplicatedAndProtectedStay) {
  for (int i = 0; i < kNodes; ++i) {
    for (int k = 1; k <= kReplicated; ++k) WriteFile(Data(i) / Rep(k), 5 * kMiB, 'a' + k, k);
    WriteFile(Data(i) / "models/current.pt", 3 * kMiB, 'm', 40);
  }
  WriteFile(Data(0) / "selfplay/cl/only-here.jsonl", 3 * kMiB, 'u', 30);
  ASSERT_TRUE(WaitFor(
      [] {
        return SealedCount(0) == kReplicated + 2 && SealedCount(1) == kReplicated + 1 &&
               SealedCount(2) == kReplicated + 1;
      },
      seconds(30), milliseconds(200)))
      << "sealed: " << SealedCount(0) << " " << SealedCount(1) << " " << SealedCount(2);
  // A round tells n1 which other nodes hold the same versions; the dry run shows the plan.
  json plan;
  ASSERT_TRUE(WaitFor(
      [&] {
        Daemon* l = Leader();
        if (!l || Post(l, "/sync/start", json::object())["_status"] != 200) return false;
        plan = Post(nodes_[0], "/cleanup", {{"dry_run", true}});
        return plan["_status"] == 200 && !plan["deletions"].empty();
      },
      seconds(30), milliseconds(500)))
      << plan.dump();
  auto planned = Paths(plan["deletions"]);
  EXPECT_FALSE(Has(planned, "selfplay/cl/only-here.jsonl")) << plan.dump();
  EXPECT_FALSE(Has(planned, "models/current.pt")) << plan.dump();
  for (size_t i = 0; i < planned.size(); ++i) {  // oldest first
    EXPECT_EQ(planned[i], Rep(kReplicated - static_cast<int>(i))) << plan.dump();
  }
  for (const auto& d : plan["deletions"]) EXPECT_EQ(d["justified_by"].size(), 2u) << d.dump();
  EXPECT_TRUE(fs::exists(Data(0) / Rep(kReplicated)));  // dry run

  json done = Post(nodes_[0], "/cleanup", json::object());
  ASSERT_EQ(done["_status"], 200) << done.dump();
  auto deleted = Paths(done["deleted"]);
  if (tmpfs_) {  // 56 MiB of 64: three 5 MiB files bring it to 41 MiB (64 %, under 70 %)
    EXPECT_EQ(deleted, (std::vector<std::string>{Rep(10), Rep(9), Rep(8)})) << done.dump();
    EXPECT_TRUE(done["reaches_low_watermark"].get<bool>()) << done.dump();
  } else {
    EXPECT_EQ(deleted.size(), static_cast<size_t>(kReplicated)) << done.dump();
  }
  for (int k = 1; k <= kReplicated; ++k) {
    EXPECT_EQ(fs::exists(Data(0) / Rep(k)), !Has(deleted, Rep(k))) << Rep(k);
    EXPECT_TRUE(fs::exists(Data(1) / Rep(k)) && fs::exists(Data(2) / Rep(k)));
  }
  EXPECT_TRUE(fs::exists(Data(0) / "selfplay/cl/only-here.jsonl"));
  EXPECT_TRUE(fs::exists(Data(0) / "models/current.pt"));

  json forced = Post(nodes_[0], "/cleanup/files",
                     {{"files", {"models/current.pt", "selfplay/cl/only-here.jsonl"}},
                      {"reason", "test"},
                      {"force", true}});
  EXPECT_TRUE(Has(Paths(forced["refused"]), "models/current.pt")) << forced.dump();
  EXPECT_TRUE(fs::exists(Data(0) / "models/current.pt"));
  json unforced = Post(nodes_[1], "/cleanup/files",
                       {{"files", {"selfplay/cl/only-here.jsonl"}}, {"reason", "test"}});
  EXPECT_TRUE(Paths(unforced["deleted"]).empty()) << unforced.dump();
}

TEST_F(DataCleanupTest, AFullTargetDiskFailsThePullCleanlyAndTheSourceKeepsItsCopy) {
  if (!tmpfs_) GTEST_SKIP() << "needs the tmpfs data volume (root)";
  const std::string rel = "tmp/full/big.bin";
  WriteFile(Data(1) / rel, 80 * kMiB, 'z', 0);  // more than n1's whole 64 MiB volume
  std::string sha;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = nodes_[1]->Request("GET", "/sync/manifest?cursor=0&limit=20000", kToken);
        json j = json::parse(r.body, nullptr, false);
        if (j.is_discarded()) return false;
        for (auto& rec : j["records"]) {
          if (rec["path"] == rel && rec["sealed"].get<bool>()) sha = rec["sha256"];
        }
        return !sha.empty();
      },
      seconds(30)));
  json body = {
      {"files",
       {{{"path", rel}, {"sha256", sha}, {"size", 80 * kMiB}, {"sources", {nodes_[1]->url()}}}}}};
  ASSERT_EQ(Post(nodes_[0], "/sync/pull", body)["_status"], 202);
  json t;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = nodes_[0]->Request("GET", "/sync/status", kToken);
        json j = json::parse(r.body, nullptr, false);
        if (j.is_discarded()) return false;
        for (auto& x : j["transfers"]) {
          if (x["path"] == rel && (x["state"] == "failed" || x["state"] == "done")) t = x;
        }
        return !t.is_null();
      },
      seconds(30)));
  EXPECT_EQ(t["state"], "failed") << t.dump();
  EXPECT_NE(t["error"].get<std::string>().find("RESOURCE_EXHAUSTED"), std::string::npos)
      << t.dump();
  EXPECT_FALSE(fs::exists(Data(0) / rel));
  EXPECT_FALSE(fs::exists(Data(0) / (rel + ".part")));
  EXPECT_EQ(fs::file_size(Data(1) / rel), 80 * kMiB);
}

TEST_F(DataCleanupTest, TraversalFormsAreRefusedAndNothingOutsideTheTreeIsTouched) {
  fs::path secret = fs::path(dir_->path()) / "secret.txt";
  std::ofstream(secret) << "TOPSECRET";
  fs::create_directory_symlink(dir_->path(), Data(1) / "escape");
  const std::vector<std::string> forms = {"../secret.txt",
                                          "/etc/passwd",
                                          "..%2Fsecret.txt",
                                          "%2e%2e/secret.txt",
                                          "%252e%252e%252fsecret.txt",
                                          "escape/secret.txt",
                                          "selfplay/../../secret.txt",
                                          "./../secret.txt",
                                          "..\\secret.txt",
                                          "../n2/state/p2p.db",
                                          ""};
  for (const auto& f : forms) {
    auto r = nodes_[1]->Request("GET", "/sync/file?path=" + f, kToken);
    EXPECT_TRUE(r.status == 400 || r.status == 403 || r.status == 404) << f << " " << r.status;
    EXPECT_EQ(r.body.find("TOPSECRET"), std::string::npos) << f;
  }
  json files = json::array();
  for (const auto& f : forms) files.push_back(f);
  json r = Post(nodes_[1], "/cleanup/files", {{"files", files}, {"reason", "t"}, {"force", true}});
  EXPECT_EQ(r["_status"], 200) << r.dump();
  EXPECT_TRUE(r["deleted"].empty()) << r.dump();
  EXPECT_TRUE(fs::exists(secret));
  EXPECT_TRUE(fs::exists(fs::path(nodes_[1]->dir()) / "state" / "p2p.db"));
}

TEST_F(DataCleanupTest, EveryDataRouteNeedsTheToken) {
  const std::vector<std::pair<std::string, std::string>> routes = {
      {"GET", "/sync/manifest"},  {"GET", "/sync/file?path=x"}, {"POST", "/sync/files"},
      {"POST", "/sync/pull"},     {"GET", "/sync/status"},      {"POST", "/sync/holders"},
      {"POST", "/sync/training"}, {"POST", "/sync/start"},      {"POST", "/cleanup"},
      {"POST", "/cleanup/files"}};
  for (const auto& [method, path] : routes) {
    for (const std::string token : {"", "wrong-token"}) {
      auto r = nodes_[0]->Request(method, path, token, method == "POST" ? "{}" : "");
      EXPECT_EQ(r.status, 401) << method << " " << path << " token='" << token << "'";
    }
  }
}

}  // namespace
}  // namespace rift::testing
