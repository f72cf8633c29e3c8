// The data plane end to end: three real daemons (three voters) on loopback, each with its own
// data tree. Replication to the target count with identical bytes, sealing of growing files,
// new versions, training sync, resumed and failed-over pulls, cleanup by policy, and refusals
// (tokens, traversal). The leader's periodic rounds are pushed out (RINGRIFT_SYNC_INTERVAL_S)
// so every round here is triggered explicitly. Every wait is bounded.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "tests/harness/cluster.h"

namespace rift::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kToken[] = "data-sync-token-0123456789";
constexpr int kNodes = 3;

void WriteFile(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc) << content;
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteBig(const fs::path& p, size_t bytes, char seed) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  std::string block(1 << 20, seed);
  for (size_t i = 0; i < block.size(); i += 4096) block[i] = static_cast<char>(i / 4096);
  for (size_t done = 0; done < bytes; done += block.size()) out.write(block.data(), block.size());
}

class DataSyncTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("rift-data-sync");
    // n3 is the training node; the cap slows big pulls enough to interrupt them.
    std::string hosts = dir_->path() + "/hosts.yaml";
    WriteFile(hosts,
              std::string("hosts:\n  n3:\n    ssh_host: 127.0.0.1\n    role: nn_training\n"
                          "    p2p_url: http://127.0.0.1:1\nsync:\n  bandwidth_limit_mbps: 800\n") +
                  kNoBackgroundSelfplayYaml);
    for (int i = 0; i < kNodes; ++i) {
      DaemonOptions o;
      o.node_id = "n" + std::to_string(i + 1);
      o.env = {{"RINGRIFT_CLUSTER_AUTH_TOKEN", kToken},
               {"RINGRIFT_P2P_VOTERS", "n1,n2,n3"},
               {"RINGRIFT_TIMER_PROFILE", "fast"},
               {"RINGRIFT_QUIET_PERIOD_S", "1"},
               {"RINGRIFT_SYNC_INTERVAL_S", "3600"},
               {"RINGRIFT_HOSTS_FILE", hosts},
               // whatever the machine's disk use, placement is not refused here
               {"RINGRIFT_CLEANUP_HIGH_WATERMARK", "0.99"},
               {"RINGRIFT_CLEANUP_LOW_WATERMARK", "0.98"}};
      if (i > 0) o.env["COORDINATOR_URL"] = nodes_[0]->url();
      nodes_[i] = new Daemon(DaemonBinary(), o, dir_->path() + "/" + o.node_id);
      std::string error;
      ASSERT_TRUE(nodes_[i]->Start(&error)) << error;
    }
    ASSERT_TRUE(WaitFor([] { return Leader() && AllSeeAll(); }, seconds(20)));
    // n1 started first, with no seed; a restarted n1 needs the others' (stable) addresses.
    nodes_[0]->options().env["EXTRA_PEERS"] = nodes_[1]->url() + "," + nodes_[2]->url();
  }
  static void TearDownTestSuite() {
    for (auto*& n : nodes_) delete n;
    delete dir_;
  }

  static bool AllSeeAll() {
    for (auto* n : nodes_) {
      auto s = n->Status(kToken);
      if (!s || s->CountState("alive") < kNodes - 1) return false;
    }
    return true;
  }
  static Daemon* Leader() {
    for (auto* n : nodes_) {
      auto s = n->Status(kToken);
      if (s && s->role == "leader" && s->quorum) return n;
    }
    return nullptr;
  }
  static fs::path Data(int i) { return fs::path(nodes_[i]->dir()) / "data"; }

  static json Post(Daemon* d, const std::string& path, const json& body) {
    auto r = d->Request("POST", path, kToken, body.dump());
    json j = json::parse(r.body, nullptr, false);
    if (j.is_discarded()) j = json::object();
    j["_status"] = r.status;
    return j;
  }
  // path -> record from d's whole manifest (latest record per path).
  static std::map<std::string, json> Manifest(Daemon* d) {
    std::map<std::string, json> out;
    auto r = d->Request("GET", "/sync/manifest?cursor=0&limit=20000", kToken);
    json j = json::parse(r.body, nullptr, false);
    if (j.is_discarded()) return out;
    for (auto& rec : j["records"]) out[rec["path"]] = rec;
    return out;
  }
  static std::string SealedSha(int i, const std::string& path) {
    auto m = Manifest(nodes_[i]);
    auto it = m.find(path);
    if (it == m.end() || !it->second["sealed"].get<bool>() || it->second["deleted"].get<bool>())
      return "";
    return it->second["sha256"];
  }
  static bool SealedEverywhereItExists(const std::string& path) {
    for (int i = 0; i < kNodes; ++i) {
      if (fs::exists(Data(i) / path) && SealedSha(i, path).empty()) return false;
    }
    return true;
  }
  // Nodes holding `path` with exactly `content`, sealed, all under the same sha256.
  static int Copies(const std::string& path, const std::string& content) {
    int n = 0;
    std::string sha;
    for (int i = 0; i < kNodes; ++i) {
      if (!fs::exists(Data(i) / path) || ReadFile(Data(i) / path) != content) continue;
      std::string s = SealedSha(i, path);
      if (s.empty() || (!sha.empty() && s != sha)) return -1;
      sha = s;
      n++;
    }
    return n;
  }
  // For failure messages: every node's /sync/status and log tail.
  static std::string Dump() {
    std::string out;
    for (auto* n : nodes_) {
      out += "== " + n->node_id() + " " +
             n->Request("GET", "/sync/status", kToken).body.substr(0, 1500) + "\n" +
             n->LogTail(1500) + "\n";
    }
    return out;
  }
  static bool SyncStart() {
    Daemon* l = Leader();
    return l && Post(l, "/sync/start", json::object())["_status"] == 200;
  }

  static TempDir* dir_;
  static Daemon* nodes_[kNodes];
};
TempDir* DataSyncTest::dir_ = nullptr;
Daemon* DataSyncTest::nodes_[kNodes] = {};

// Thread name -> scheduling policies (field 41 of /proc/PID/task/TID/stat; SCHED_IDLE is 5).
std::map<std::string, std::vector<int>> ThreadPolicies(pid_t pid) {
  std::map<std::string, std::vector<int>> out;
  for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
    std::string comm, stat, field;
    std::getline(std::ifstream(e.path() / "comm"), comm);
    std::getline(std::ifstream(e.path() / "stat"), stat);
    std::istringstream rest(stat.substr(stat.rfind(')') + 2));  // from field 3
    for (int i = 3; i <= 41 && rest >> field; ++i) {
    }
    out[comm].push_back(std::stoi(field));
  }
  return out;
}

TEST_F(DataSyncTest, DataWorkRunsAtIdlePriorityAndTheHttpWorkersDoNot) {
  auto threads = ThreadPolicies(nodes_[0]->pid());
  std::string seen;
  for (const auto& [name, policies] : threads) {
    seen += name + ":" + std::to_string(policies.size()) + " ";
  }
  ASSERT_EQ(threads["rift-scan"], std::vector<int>{5}) << seen;
  ASSERT_GE(threads["rift-transfer"].size(), 4u) << seen;  // sync.max_concurrent_transfers
  for (int p : threads["rift-transfer"]) EXPECT_EQ(p, 5) << seen;
  // Everything else (HTTP workers, the ticker, the leader's sync) keeps the normal policy.
  ASSERT_FALSE(threads["ringrift-p2p"].empty()) << seen;
  for (const auto& [name, policies] : threads) {
    if (name == "rift-scan" || name == "rift-transfer") continue;
    for (int p : policies) EXPECT_EQ(p, 0) << name;
  }
  // /sync/status says so.
  json status = json::parse(nodes_[0]->Request("GET", "/sync/status", kToken).body, nullptr, false);
  EXPECT_EQ(status.value("cpu_priority", ""), "idle") << status.dump();
}

TEST_F(DataSyncTest, FilesReachTheirReplicationTargetWithIdenticalBytes) {
  std::map<std::string, std::string> files;
  for (int i = 0; i < 5; ++i) {
    files["training/rep/f" + std::to_string(i) + ".bin"] = "content-" + std::to_string(i * 7919);
  }
  files["training/rep/big.bin"] = std::string(3 << 20, 'x');  // not batched
  for (auto& [p, c] : files) WriteFile(Data(0) / p, c);
  ASSERT_TRUE(WaitFor([&] { return !SealedSha(0, "training/rep/big.bin").empty(); }, seconds(15)));
  ASSERT_TRUE(WaitFor(
      [&] {
        SyncStart();
        for (auto& [p, c] : files) {
          if (Copies(p, c) < 2) return false;
        }
        return true;
      },
      seconds(30), milliseconds(500)))
      << Dump();
  for (auto& [p, c] : files) EXPECT_EQ(Copies(p, c), 2) << p;  // target 2, not everywhere
}

TEST_F(DataSyncTest, AGrowingFileIsSyncedOnlyOnceSealedAndInItsFinalVersion) {
  const std::string rel = "training/grow/game.bin";
  std::string content;
  for (int i = 0; i < 12; ++i) {  // appended every 200 ms for ~2.4 s
    content += "line " + std::to_string(i) + "\n";
    WriteFile(Data(1) / rel, content);
    SyncStart();
    EXPECT_FALSE(fs::exists(Data(0) / rel) || fs::exists(Data(2) / rel)) << "synced while growing";
    std::this_thread::sleep_for(milliseconds(200));
  }
  ASSERT_TRUE(WaitFor(
      [&] {
        SyncStart();
        return Copies(rel, content) == 2;
      },
      seconds(30), milliseconds(500)))
      << Dump();
}

TEST_F(DataSyncTest, AChangedFilePropagatesAsANewVersion) {
  const std::string rel = "training/change/model-input.bin";
  WriteFile(Data(2) / rel, "version one");
  ASSERT_TRUE(WaitFor(
      [&] {
        SyncStart();
        return Copies(rel, "version one") == 2;
      },
      seconds(30), milliseconds(500)));
  std::string old_sha = SealedSha(2, rel);
  WriteFile(Data(2) / rel, "version two, longer");
  ASSERT_TRUE(WaitFor(
      [&] {
        SyncStart();
        return Copies(rel, "version two, longer") == 2;
      },
      seconds(30), milliseconds(500)))
      << Dump();
  EXPECT_NE(SealedSha(2, rel), old_sha);
  EXPECT_GE(Manifest(nodes_[2])[rel]["version"].get<int>(), 2);
}

TEST_F(DataSyncTest, TrainingSyncBringsEverySelfplayFileToTheTrainingNode) {
  for (int i = 0; i < 20; ++i) {
    WriteFile(Data(i % 2) / ("selfplay/t/g" + std::to_string(i) + ".jsonl"),
              "g" + std::to_string(i));
  }
  ASSERT_TRUE(WaitFor(
      [&] {
        Daemon* l = Leader();
        if (!l) return false;
        json r = Post(l, "/sync/training", json::object());
        if (r["_status"] != 200) return false;
        for (int i = 0; i < 20; ++i) {
          std::string p = "selfplay/t/g" + std::to_string(i) + ".jsonl";
          if (ReadFile(Data(2) / p) != "g" + std::to_string(i) || SealedSha(2, p).empty())
            return false;
        }
        return true;
      },
      seconds(30), milliseconds(500)))
      << Dump();
}

// Starts a pull of a big file on `target` directly (target-side API, as the leader does).
json PullOn(Daemon* target, const std::string& rel, const std::string& sha, uint64_t size,
            const std::vector<std::string>& sources) {
  json body = {{"files", {{{"path", rel}, {"sha256", sha}, {"size", size}, {"sources", sources}}}}};
  auto r = target->Request("POST", "/sync/pull", kToken, body.dump());
  json j = json::parse(r.body, nullptr, false);
  if (j.is_discarded()) j = json::object();
  j["_status"] = r.status;
  return j;
}

json Transfers(Daemon* d) {
  auto r = d->Request("GET", "/sync/status", kToken);
  json j = json::parse(r.body, nullptr, false);
  return j.is_discarded() ? json::object() : j;
}

TEST_F(DataSyncTest, AKilledPullerResumesAfterRestartAndNeverShowsAPartialFile) {
  // The file starts on the leader, so the puller the plan picks is never the leader.
  Daemon* leader = Leader();
  ASSERT_NE(leader, nullptr);
  int origin = 0;
  while (nodes_[origin] != leader) ++origin;
  const std::string rel = "training/big/resume.bin";
  const size_t size = 64 << 20;  // ~2.7 s at 200 Mbit/s (a quarter of the cap)
  WriteBig(Data(origin) / rel, size, 'r');
  ASSERT_TRUE(WaitFor([&] { return !SealedSha(origin, rel).empty(); }, seconds(30)));
  json plan = Post(leader, "/sync/start", json::object());
  ASSERT_EQ(plan["pulls_per_node"].size(), 1u) << plan.dump();
  std::string target_id = plan["pulls_per_node"].begin().key();
  int target = 0;
  while (nodes_[target]->node_id() != target_id) ++target;
  auto progress = [&](const char* state) {
    json st = Transfers(nodes_[target]);
    for (auto& t : st["transfers"]) {
      if (t["path"] == rel && (state ? t["state"] == state : t["bytes_done"] > size / 4)) return t;
    }
    return json();
  };
  ASSERT_TRUE(WaitFor([&] { return !progress(nullptr).is_null(); }, seconds(20))) << Dump();
  nodes_[target]->Kill(9);
  EXPECT_FALSE(fs::exists(Data(target) / rel));
  EXPECT_TRUE(fs::exists(Data(target) / (rel + ".part")));
  uint64_t old_incarnation = leader->Status(kToken)->Find(target_id)->incarnation;
  std::string error;
  ASSERT_TRUE(nodes_[target]->Start(&error)) << error;
  ASSERT_TRUE(WaitFor(  // the leader sees the restarted node before the next round
      [&] {
        auto s = leader->Status(kToken);
        const MemberInfo* m = s ? s->Find(target_id) : nullptr;
        return m && m->state == "alive" && m->incarnation != old_incarnation;
      },
      seconds(20)));
  json done;
  ASSERT_TRUE(WaitFor(
      [&] {
        if (Transfers(nodes_[target])["transfers"].empty()) SyncStart();
        done = progress("done");
        return !done.is_null() || !progress("failed").is_null();
      },
      seconds(40), milliseconds(200)))
      << Dump();
  ASSERT_FALSE(done.is_null()) << progress("failed").dump();
  EXPECT_GT(done["bytes_resumed"].get<uint64_t>(), 0u) << done.dump();
  EXPECT_LT(done["bytes_received"].get<uint64_t>(), size) << done.dump();
  EXPECT_EQ(ReadFile(Data(target) / rel), ReadFile(Data(origin) / rel));
  EXPECT_FALSE(fs::exists(Data(target) / (rel + ".part")));
  EXPECT_EQ(Copies(rel, ReadFile(Data(origin) / rel)), 2);  // not also placed elsewhere
}

TEST_F(DataSyncTest, AKilledSourceIsReplacedByAnotherHolder) {
  const std::string rel = "tmp/big/failover.bin";
  const size_t size = 48 << 20;
  WriteBig(Data(0) / rel, size, 'f');
  fs::create_directories((Data(1) / rel).parent_path());
  fs::copy_file(Data(0) / rel, Data(1) / rel, fs::copy_options::overwrite_existing);
  std::string sha;
  ASSERT_TRUE(WaitFor(
      [&] { return !(sha = SealedSha(0, rel)).empty() && SealedSha(1, rel) == sha; }, seconds(30)));
  ASSERT_EQ(PullOn(nodes_[2], rel, sha, size, {nodes_[0]->url(), nodes_[1]->url()})["_status"],
            202);
  ASSERT_TRUE(WaitFor(
      [&] {
        json st = Transfers(nodes_[2]);
        for (auto& t : st["transfers"]) {
          if (t["path"] == rel && t["bytes_done"].get<uint64_t>() > size / 5) return true;
        }
        return false;
      },
      seconds(20)))
      << Dump();
  nodes_[0]->Kill(9);
  json done;
  ASSERT_TRUE(WaitFor(
      [&] {
        json st = Transfers(nodes_[2]);
        for (auto& t : st["transfers"]) {
          if (t["path"] == rel && (t["state"] == "done" || t["state"] == "failed")) {
            done = t;
            return true;
          }
        }
        return false;
      },
      seconds(40)))
      << Dump();
  EXPECT_EQ(done["state"], "done") << done.dump();
  EXPECT_EQ(done["source"], nodes_[1]->url());
  EXPECT_EQ(ReadFile(Data(2) / rel), ReadFile(Data(1) / rel));
  std::string error;
  ASSERT_TRUE(nodes_[0]->Start(&error)) << error;
  ASSERT_TRUE(WaitFor([] { return Leader() && AllSeeAll(); }, seconds(30))) << Dump();
}

TEST_F(DataSyncTest, RiftctlRunsRoundsShowsTransfersAndPlansCleanupThroughTheLeader) {
  Daemon* follower = nullptr;
  for (auto* n : nodes_) {
    if (n != Leader()) follower = n;
  }
  ASSERT_NE(follower, nullptr);
  auto ctl = [&](std::vector<std::string> args, std::string* out) {
    std::vector<std::string> argv = {RiftctlBinary(), "--addr", follower->url(), "--token", kToken};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, out, seconds(30));
  };
  std::string out;
  EXPECT_EQ(ctl({"sync", "start"}, &out), 0) << out;  // follows the 421 to the leader
  EXPECT_NE(out.find("plan-"), std::string::npos) << out;
  EXPECT_EQ(ctl({"sync", "training"}, &out), 0) << out;
  EXPECT_EQ(ctl({"sync", "status", "--watch", "--interval", "0.2"}, &out), 0) << out;
  EXPECT_NE(out.find("STATE"), std::string::npos) << out;
  EXPECT_EQ(ctl({"-o", "json", "cleanup", "--all", "--dry-run"}, &out), 0) << out;
  json j = json::parse(out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << out;
  EXPECT_EQ(j["nodes"].size(), static_cast<size_t>(kNodes)) << out;
  EXPECT_EQ(ctl({"cleanup", "--node", "n3", "--dry-run"}, &out), 0) << out;
  EXPECT_NE(out.find("n3: would delete"), std::string::npos) << out;
  EXPECT_EQ(ctl({"cleanup", "--files", "x"}, &out), 2) << out;  // --reason missing
}

// A holder that membership suspects (here: SIGSTOPped, and kept suspect for at least 8 s by
// the suspicion timers) still counts toward the replication target: the round places no extra
// copy on the third node, and once the holder answers again there are still exactly two.
TEST(SuspectHolderTest, ASuspectHoldersCopyStillCountsAndNoExtraCopyIsPlaced) {
  TempDir dir("rift-suspect-holder");
  std::string hosts = dir.path() + "/hosts.yaml";
  WriteFile(hosts, kNoBackgroundSelfplayYaml);
  std::vector<std::unique_ptr<Daemon>> nodes;
  for (int i = 0; i < 3; ++i) {
    DaemonOptions o;
    o.node_id = "s" + std::to_string(i + 1);
    o.env = {
        {"RINGRIFT_CLUSTER_AUTH_TOKEN", kToken},     {"RINGRIFT_P2P_VOTERS", "s1,s2,s3"},
        {"RINGRIFT_TIMER_PROFILE", "fast"},          {"RINGRIFT_SUSPICION_MIN_MS", "8000"},
        {"RINGRIFT_SUSPICION_MAX_MS", "10000"},      {"RINGRIFT_QUIET_PERIOD_S", "1"},
        {"RINGRIFT_SYNC_INTERVAL_S", "3600"},        {"RINGRIFT_HOSTS_FILE", hosts},
        {"RINGRIFT_CLEANUP_HIGH_WATERMARK", "0.99"}, {"RINGRIFT_CLEANUP_LOW_WATERMARK", "0.98"}};
    if (i > 0) o.env["COORDINATOR_URL"] = nodes[0]->url();
    nodes.push_back(std::make_unique<Daemon>(DaemonBinary(), o, dir.path() + "/" + o.node_id));
    std::string error;
    ASSERT_TRUE(nodes.back()->Start(&error)) << error;
  }
  auto leader = [&]() -> Daemon* {
    for (auto& n : nodes) {
      auto s = n->Status(kToken);
      if (s && s->role == "leader" && s->quorum && s->CountState("alive") == 2) return n.get();
    }
    return nullptr;
  };
  ASSERT_TRUE(WaitFor([&] { return leader() != nullptr; }, seconds(20)));
  Daemon* l = leader();
  const std::string path = "training/suspect/a.bin";
  const std::string content(64 << 10, 's');
  WriteFile(fs::path(l->dir()) / "data" / path, content);
  auto holds = [&](Daemon* d) {
    auto r = d->Request("GET", "/sync/manifest?cursor=0&limit=20000", kToken);
    json j = json::parse(r.body, nullptr, false);
    if (!j.is_object()) return false;
    bool held = false;
    for (auto& rec : j["records"]) {
      if (rec["path"] == path) held = rec["sealed"].get<bool>() && !rec["deleted"].get<bool>();
    }
    return held && ReadFile(fs::path(d->dir()) / "data" / path) == content;
  };
  auto start = [&] {
    auto r = l->Request("POST", "/sync/start", kToken, "{}");
    json j = json::parse(r.body, nullptr, false);
    return r.status == 200 && j.is_object() ? j : json();
  };
  Daemon* holder = nullptr;
  ASSERT_TRUE(WaitFor(
      [&] {
        start();
        for (auto& n : nodes) {
          if (n.get() != l && holds(n.get())) holder = n.get();
        }
        return holder != nullptr;
      },
      seconds(30), milliseconds(500)));
  Daemon* third = nullptr;
  for (auto& n : nodes) {
    if (n.get() != l && n.get() != holder) third = n.get();
  }
  ASSERT_FALSE(holds(third));

  holder->Signal(SIGSTOP);
  struct Resume {
    Daemon* d;
    ~Resume() { d->Signal(SIGCONT); }
  } resume{holder};
  ASSERT_TRUE(WaitFor(
      [&] {
        auto s = l->Status(kToken);
        const MemberInfo* m = s ? s->Find(holder->node_id()) : nullptr;
        return m && m->state == "suspect";
      },
      seconds(10)));
  json plan = start();
  ASSERT_TRUE(plan.is_object());
  EXPECT_TRUE(plan["pulls_per_node"].empty()) << plan.dump();
  EXPECT_TRUE(plan["shortfalls"].empty()) << plan.dump();
  EXPECT_TRUE(plan["errors"].contains(holder->node_id())) << plan.dump();  // said, not hidden
  auto s = l->Status(kToken);
  ASSERT_TRUE(s && s->Find(holder->node_id()));
  EXPECT_EQ(s->Find(holder->node_id())->state, "suspect") << "the round outlived the suspicion";

  holder->Signal(SIGCONT);
  ASSERT_TRUE(WaitFor(
      [&] {
        auto st = l->Status(kToken);
        return st && st->CountState("alive") == 2;
      },
      seconds(20)));
  start();
  std::this_thread::sleep_for(seconds(1));
  EXPECT_TRUE(holds(l));
  EXPECT_TRUE(holds(holder));
  EXPECT_FALSE(holds(third));
}

}  // namespace
}  // namespace rift::testing
