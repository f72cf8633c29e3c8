// Pushes from an outbound-only node, end to end: three voters (n1..n3) and n4, started with
// RINGRIFT_OUTBOUND_ONLY=1 and advertising an address nobody can reach (http://127.0.0.1:1),
// so any attempt to call it (manifest fetch, pull from it, POST /sync/pull to it) would fail.
// n4 polls the leader for its assignments and pushes its files to their targets; the test
// itself reaches n4 on its real port. Rounds are triggered explicitly (the periodic interval
// is pushed out); a bandwidth cap (split over the transfer slots) makes big pushes slow enough
// to interrupt. The .part garbage collection runs with its minimum age (60 s, checked every
// 15 s). Every wait is bounded.
#include <gtest/gtest.h>
#include <signal.h>
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

constexpr char kToken[] = "data-push-token-0123456789";
constexpr int kNodes = 4;  // n4 is outbound-only
constexpr char kUnreachable[] = "http://127.0.0.1:1";
constexpr size_t kMiB = 1 << 20;

void WriteFile(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc) << content;
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// `bytes` of a pattern that differs per MiB (so a misplaced chunk changes the digest).
void WriteBig(const fs::path& p, size_t bytes, char seed) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  std::string block(kMiB, seed);
  for (size_t done = 0; done < bytes; done += block.size()) {
    block[0] = static_cast<char>(done / kMiB);
    out.write(block.data(), static_cast<std::streamsize>(block.size()));
  }
}

void Backdate(const fs::path& p, int days) {
  struct utimbuf t;
  t.actime = t.modtime = time(nullptr) - static_cast<time_t>(days) * 86400;
  utime(p.c_str(), &t);
}

class DataPushTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("rift-data-push");
    std::string hosts = dir_->path() + "/hosts.yaml";
    WriteFile(hosts, "sync:\n  bandwidth_limit_mbps: 160\n  part_max_age_s: 60\n" +
                         std::string(kNoBackgroundSelfplayYaml));
    for (int i = 0; i < kNodes; ++i) {
      DaemonOptions o;
      o.node_id = "n" + std::to_string(i + 1);
      o.env = {
          {"RINGRIFT_CLUSTER_AUTH_TOKEN", kToken},     {"RINGRIFT_P2P_VOTERS", "n1,n2,n3"},
          {"RINGRIFT_TIMER_PROFILE", "fast"},          {"RINGRIFT_QUIET_PERIOD_S", "1"},
          {"RINGRIFT_SYNC_INTERVAL_S", "3600"},        {"RINGRIFT_HOSTS_FILE", hosts},
          {"RINGRIFT_CLEANUP_HIGH_WATERMARK", "0.99"}, {"RINGRIFT_CLEANUP_LOW_WATERMARK", "0.98"}};
      if (i > 0) o.env["COORDINATOR_URL"] = nodes_[0]->url();
      if (i == 3) {
        o.env["RINGRIFT_OUTBOUND_ONLY"] = "1";
        o.env["ADVERTISE_URL"] = kUnreachable;
      }
      nodes_[i] = new Daemon(DaemonBinary(), o, dir_->path() + "/" + o.node_id);
      std::string error;
      ASSERT_TRUE(nodes_[i]->Start(&error)) << error;
    }
    ASSERT_TRUE(WaitFor([] { return Leader() && OutboundNodeKnown(); }, seconds(30))) << Dump();
  }
  static void TearDownTestSuite() {
    for (auto*& n : nodes_) delete n;
    delete dir_;
  }

  static Daemon* Leader() {
    for (int i = 0; i < 3; ++i) {
      auto s = nodes_[i]->Status(kToken);
      if (s && s->role == "leader" && s->quorum) return nodes_[i];
    }
    return nullptr;
  }
  // The leader sees n4 alive, and n4 has polled it (its agent knows the leader).
  static bool OutboundNodeKnown() {
    Daemon* l = Leader();
    if (!l) return false;
    auto s = l->Status(kToken);
    const MemberInfo* m = s ? s->Find("n4") : nullptr;
    json agent = Status(3)["push_agent"];
    return m && m->state == "alive" && agent.is_object() &&
           !agent.value("leader_url", std::string()).empty();
  }
  static fs::path Data(int i) { return fs::path(nodes_[i]->dir()) / "data"; }
  static json Status(int i) {
    auto r = nodes_[i]->Request("GET", "/sync/status", kToken);
    json j = json::parse(r.body, nullptr, false);
    return j.is_object() ? j : json::object();
  }
  static json Post(Daemon* d, const std::string& path, const json& body) {
    auto r = d->Request("POST", path, kToken, body.dump());
    json j = json::parse(r.body, nullptr, false);
    if (!j.is_object()) j = json::object();
    j["_status"] = r.status;
    return j;
  }
  static std::string SealedSha(int i, const std::string& path) {
    auto r = nodes_[i]->Request("GET", "/sync/manifest?cursor=0&limit=20000", kToken);
    json j = json::parse(r.body, nullptr, false);
    if (!j.is_object()) return "";
    std::string sha;
    for (auto& rec : j["records"]) {
      if (rec["path"] != path) continue;
      sha = rec["sealed"].get<bool>() && !rec["deleted"].get<bool>() ? rec["sha256"] : "";
    }
    return sha;
  }
  // Nodes holding `path` sealed with the sha256 n4 holds; -1 if a copy differs.
  static int Copies(const std::string& path) {
    std::string want = SealedSha(3, path);
    if (want.empty()) return 0;
    int n = 0;
    for (int i = 0; i < kNodes; ++i) {
      if (!fs::exists(Data(i) / path)) continue;
      if (SealedSha(i, path) != want || ReadFile(Data(i) / path) != ReadFile(Data(3) / path)) {
        return -1;
      }
      n++;
    }
    return n;
  }
  static json SyncStart() {
    Daemon* l = Leader();
    return l ? Post(l, "/sync/start", json::object()) : json::object();
  }
  // The leader's push assignment for `path` (or null).
  static json Assignment(const std::string& path) {
    Daemon* l = Leader();
    if (!l) return json();
    int i = 0;
    while (nodes_[i] != l) ++i;
    json found, st = Status(i);  // (a temporary in a range-for would dangle)
    for (auto& a : st["pushes"]["assignments"]) {
      if (a["path"] == path && found.is_null()) found = a;
    }
    return found;
  }
  // n4's push transfer of `path` in `state` (any state if null).
  static json PushOf(const std::string& path, const char* state) {
    json st = Status(3);
    for (auto& t : st["transfers"]) {
      if (t["direction"] == "push" && t["path"] == path && (!state || t["state"] == state))
        return t;
    }
    return json();
  }
  static int Index(const std::string& id) { return std::stoi(id.substr(1)) - 1; }
  static std::string Dump() {
    std::string out;
    for (auto* n : nodes_) {
      if (!n) continue;
      out += "== " + n->node_id() + " " +
             n->Request("GET", "/sync/status", kToken).body.substr(0, 2500) + "\n" +
             n->LogTail(2000) + "\n";
    }
    return out;
  }

  static TempDir* dir_;
  static Daemon* nodes_[kNodes];
};
TempDir* DataPushTest::dir_ = nullptr;
Daemon* DataPushTest::nodes_[kNodes] = {};

TEST_F(DataPushTest, AnOutboundOnlyNodesFilesReachTheirTargetByPushNeverByPull) {
  std::vector<std::string> files;
  for (int i = 0; i < 8; ++i) {
    files.push_back("selfplay/push/g" + std::to_string(i) + ".jsonl");
    WriteFile(Data(3) / files.back(), "game " + std::to_string(i * 7919) + "\n");
  }
  files.push_back("training/push/big.bin");  // above the batch size: chunked
  WriteBig(Data(3) / files.back(), 3 * kMiB + 4321, 'b');
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const auto& f : files) {
          if (SealedSha(3, f).empty()) return false;
        }
        return true;
      },
      seconds(20)));
  json plan;
  ASSERT_TRUE(WaitFor(
      [&] {
        json p = SyncStart();
        if (p.value("pushes_planned", 0) > 0) plan = p;
        for (const auto& f : files) {
          if (Copies(f) < 2) return false;
        }
        return true;
      },
      seconds(60), milliseconds(500)))
      << Dump();
  for (const auto& f : files) EXPECT_EQ(Copies(f), 2) << f << Dump();  // the target count
  ASSERT_FALSE(plan.is_null());
  // The leader never called n4: no manifest error for it in its rounds (its manifest came with
  // its polls), and no node ever pulled from it.
  EXPECT_FALSE(plan["errors"].contains("n4")) << plan.dump();
  for (int i = 0; i < 3; ++i) {
    json transfers = Status(i)["transfers"];
    for (auto& t : transfers) {
      EXPECT_NE(t["source"], kUnreachable) << t.dump();
    }
  }
  // n4 pushed them (batched and chunked), and the leader counted them done.
  json st = Status(3);
  EXPECT_GE(st["pushes_done"].get<int>(), static_cast<int>(files.size())) << st.dump();
  EXPECT_EQ(st["pushes_failed"], 0) << st.dump();
  EXPECT_FALSE(PushOf("training/push/big.bin", "done").is_null()) << st.dump();
  Daemon* l = Leader();
  ASSERT_NE(l, nullptr);
  json ls = Status(Index(l->node_id()));
  EXPECT_GE(ls["pushes"]["done"].get<int>(), static_cast<int>(files.size())) << ls.dump();
  uint64_t received = 0;
  for (int i = 0; i < 3; ++i) received += Status(i)["received_pushes"]["files"].get<uint64_t>();
  EXPECT_GE(received, files.size());
  // The assignments endpoint: leader only, and nothing left for n4.
  auto listed = l->Request("GET", "/sync/assignments?node=n4", kToken);
  ASSERT_EQ(listed.status, 200) << listed.body;
  EXPECT_TRUE(json::parse(listed.body)["pushes"].empty()) << listed.body;
  Daemon* follower = nodes_[0] == l ? nodes_[1] : nodes_[0];
  EXPECT_EQ(follower->Request("GET", "/sync/assignments?node=n4", kToken).status, 421);
  EXPECT_EQ(follower->Request("POST", "/sync/assignments", kToken, R"({"node_id":"n4"})").status,
            421);
  EXPECT_EQ(l->Request("POST", "/sync/assignments", "", R"({"node_id":"n4"})").status, 401);
}

TEST_F(DataPushTest, AKilledPusherResumesAfterRestartAndCompletes) {
  const std::string rel = "training/push/resume.bin";
  const size_t size = 48 * kMiB;  // ~10 s at the per-transfer cap (160 Mbit/s / 4 slots)
  WriteBig(Data(3) / rel, size, 'r');
  ASSERT_TRUE(WaitFor([&] { return !SealedSha(3, rel).empty(); }, seconds(30)));
  json a;
  ASSERT_TRUE(WaitFor(
      [&] {
        SyncStart();
        return !(a = Assignment(rel)).is_null();
      },
      seconds(20), milliseconds(500)))
      << Dump();
  int target = Index(a["target"]);
  ASSERT_TRUE(WaitFor(
      [&] {
        json t = PushOf(rel, "running");
        return !t.is_null() && t["bytes_done"].get<uint64_t>() > size / 4;
      },
      seconds(30)))
      << Dump();
  nodes_[3]->Kill(9);
  EXPECT_FALSE(fs::exists(Data(target) / rel));
  ASSERT_TRUE(fs::exists(Data(target) / (rel + ".part")));
  uint64_t kept = fs::file_size(Data(target) / (rel + ".part"));
  EXPECT_GT(kept, 0u);
  std::string error;
  ASSERT_TRUE(nodes_[3]->Start(&error)) << error;
  json done;
  ASSERT_TRUE(WaitFor(
      [&] {
        done = PushOf(rel, "done");
        return !done.is_null() || !PushOf(rel, "failed").is_null();
      },
      seconds(60), milliseconds(250)))
      << Dump();
  ASSERT_FALSE(done.is_null()) << PushOf(rel, "failed").dump() << Dump();
  std::printf(
      "resumed push of %zu bytes: %llu kept by the target at the kill, %llu resumed, "
      "%llu re-sent\n",
      size, static_cast<unsigned long long>(kept),
      static_cast<unsigned long long>(done["bytes_resumed"].get<uint64_t>()),
      static_cast<unsigned long long>(done["bytes_sent"].get<uint64_t>()));
  EXPECT_GE(done["bytes_resumed"].get<uint64_t>(), kept) << done.dump();
  EXPECT_LT(done["bytes_sent"].get<uint64_t>(), size) << done.dump();
  EXPECT_EQ(done["bytes_sent"].get<uint64_t>() + done["bytes_resumed"].get<uint64_t>(), size);
  EXPECT_EQ(done["target"], a["target"]);
  EXPECT_EQ(ReadFile(Data(target) / rel), ReadFile(Data(3) / rel));
  EXPECT_EQ(SealedSha(target, rel), SealedSha(3, rel));
  EXPECT_FALSE(fs::exists(Data(target) / (rel + ".part")));
}

TEST_F(DataPushTest, PartGcRemovesAbandonedPartsAndKeepsActiveOnes) {
  // An abandoned .part on every voter, untouched for two days.
  const std::string old_part = "selfplay/gc/abandoned.bin.part";
  for (int i = 0; i < 3; ++i) {
    WriteFile(Data(i) / old_part, std::string(1000, 'a'));
    Backdate(Data(i) / old_part, 2);
  }
  // An active one: a push in progress, its pusher stopped, its .part back-dated too.
  const std::string rel = "training/push/active.bin";
  const size_t size = 32 * kMiB;
  WriteBig(Data(3) / rel, size, 'g');
  ASSERT_TRUE(WaitFor([&] { return !SealedSha(3, rel).empty(); }, seconds(30)));
  json a;
  ASSERT_TRUE(WaitFor(
      [&] {
        SyncStart();
        return !(a = Assignment(rel)).is_null();
      },
      seconds(20), milliseconds(500)))
      << Dump();
  int target = Index(a["target"]);
  fs::path part = Data(target) / (rel + ".part");
  ASSERT_TRUE(WaitFor(
      [&] {
        json t = PushOf(rel, "running");
        return !t.is_null() && t["bytes_done"].get<uint64_t>() > 0 && fs::exists(part);
      },
      seconds(30)))
      << Dump();
  nodes_[3]->Signal(SIGSTOP);
  std::this_thread::sleep_for(milliseconds(500));  // a chunk in flight lands
  Backdate(part, 2);
  // Two collections on the target after the back-dating: the abandoned one goes, the active
  // one stays (its path is claimed by the receiver).
  uint64_t runs = Status(target)["part_gc"]["runs"];
  bool collected =
      WaitFor([&] { return Status(target)["part_gc"]["runs"].get<uint64_t>() >= runs + 2; },
              seconds(45), milliseconds(500));
  bool active_kept = fs::exists(part);
  nodes_[3]->Signal(SIGCONT);
  ASSERT_TRUE(collected) << Dump();
  EXPECT_TRUE(active_kept);
  EXPECT_FALSE(fs::exists(Data(target) / old_part));
  EXPECT_NE(nodes_[target]->LogTail(20000).find("part gc: removed " + old_part), std::string::npos);
  for (int i = 0; i < 3; ++i) {  // every voter collects its own
    EXPECT_TRUE(WaitFor([&] { return !fs::exists(Data(i) / old_part); }, seconds(40)))
        << nodes_[i]->node_id();
  }
  // The push then completes (re-planned by a round if the leader gave up on the silent pusher).
  ASSERT_TRUE(WaitFor(
      [&] {
        if (Assignment(rel).is_null() || Assignment(rel)["state"] == "failed") SyncStart();
        return !PushOf(rel, "done").is_null();
      },
      seconds(60), milliseconds(500)))
      << Dump();
  EXPECT_EQ(ReadFile(Data(target) / rel), ReadFile(Data(3) / rel));
}

}  // namespace
}  // namespace rift::testing
