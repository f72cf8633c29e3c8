// Unit tests of the node-local pieces: confined unlinks, the transfer queue's admission, the
// .part garbage collection, and the leader's handling of an outbound-only node's polls.
#include <gtest/gtest.h>
#include <utime.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "orchestrator/datasvc/data_service.h"
#include "orchestrator/datasvc/leader_sync.h"
#include "orchestrator/datasvc/local_cleanup.h"

namespace rift::datasvc {
namespace {

namespace fs = std::filesystem;

class TempTree : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("rift-datasvc-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_ / "data" / "logs");
    fs::create_directories(root_ / "state");
    fs::create_directories(root_ / "outside");
  }
  void TearDown() override { fs::remove_all(root_); }
  void Write(const fs::path& p, const std::string& s) { std::ofstream(p) << s; }
  std::string Data() const { return (root_ / "data").string(); }
  fs::path root_;
};

using UnlinkBeneathTest = TempTree;

TEST_F(UnlinkBeneathTest, DeletesARegularFileInsideTheRoot) {
  Write(root_ / "data" / "logs" / "a.log", "x");
  EXPECT_TRUE(UnlinkBeneath(Data(), "logs/a.log").ok());
  EXPECT_FALSE(fs::exists(root_ / "data" / "logs" / "a.log"));
}

TEST_F(UnlinkBeneathTest, RefusesASymlinkedDirectoryOnTheWay) {
  Write(root_ / "outside" / "keep.txt", "x");
  fs::create_directory_symlink(root_ / "outside", root_ / "data" / "out");
  Status st = UnlinkBeneath(Data(), "out/keep.txt");
  EXPECT_EQ(st.code(), Code::kPermissionDenied) << st.ToString();
  EXPECT_TRUE(fs::exists(root_ / "outside" / "keep.txt"));
}

TEST_F(UnlinkBeneathTest, RefusesASymlinkAndADirectoryAsTheLastComponent) {
  Write(root_ / "outside" / "keep.txt", "x");
  fs::create_symlink(root_ / "outside" / "keep.txt", root_ / "data" / "logs" / "l");
  EXPECT_EQ(UnlinkBeneath(Data(), "logs/l").code(), Code::kPermissionDenied);
  EXPECT_EQ(UnlinkBeneath(Data(), "logs").code(), Code::kPermissionDenied);
  EXPECT_TRUE(fs::exists(root_ / "outside" / "keep.txt"));
  EXPECT_TRUE(fs::is_symlink(root_ / "data" / "logs" / "l"));
}

using DataServiceTest = TempTree;

#if defined(__linux__)
// Scheduling policy (field 41 of /proc/self/task/TID/stat) of this process's threads named
// `name`: SCHED_IDLE is 5, SCHED_OTHER 0.
std::vector<int> PoliciesOf(const std::string& name) {
  std::vector<int> out;
  for (const auto& e : fs::directory_iterator("/proc/self/task")) {
    std::string comm;
    std::getline(std::ifstream(e.path() / "comm"), comm);
    if (comm != name) continue;
    std::string stat;
    std::getline(std::ifstream(e.path() / "stat"), stat);
    std::istringstream rest(stat.substr(stat.rfind(')') + 2));  // field 3 onwards
    std::string field;
    for (int i = 3; i <= 41 && rest >> field; ++i) {
    }
    out.push_back(std::stoi(field));
  }
  return out;
}

TEST_F(DataServiceTest, ScannerAndTransferWorkersRunAtTheConfiguredCpuPriority) {
  const CpuPriority before = ThreadCpuPriority();
  for (CpuPriority p : {CpuPriority::kIdle, CpuPriority::kNormal}) {
    DataOptions o;
    o.node_id = "n1";
    o.data_root = Data();
    o.db_path = (root_ / "state" / "inventory.db").string();
    o.max_concurrent_transfers = 3;
    o.cpu_priority = p;
    auto svc = DataService::Open(o);
    ASSERT_TRUE(svc.ok()) << svc.status().ToString();
    (*svc)->Start();
    const int want = p == CpuPriority::kIdle ? 5 : 0;
    std::vector<int> transfer, scan;
    for (int i = 0; i < 500; ++i) {  // threads name themselves when they start
      transfer = PoliciesOf("rift-transfer");
      scan = PoliciesOf("rift-scan");
      if (transfer.size() == 3 && scan.size() == 1 &&
          std::count(transfer.begin(), transfer.end(), want) == 3 && scan[0] == want) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(transfer, std::vector<int>(3, want)) << CpuPriorityName(p);
    EXPECT_EQ(scan, std::vector<int>(1, want)) << CpuPriorityName(p);
    EXPECT_EQ(ThreadCpuPriority(), before);  // the caller's thread is left alone
    (*svc)->Stop();
  }
}
#endif  // __linux__

TEST_F(DataServiceTest, SubmitRefusesBadRequestsAndSkipsWhatIsHeld) {
  DataOptions o;
  o.node_id = "n1";
  o.data_root = Data();
  o.db_path = (root_ / "state" / "inventory.db").string();
  o.quiet_period = std::chrono::milliseconds(0);
  auto svc = DataService::Open(o);
  ASSERT_TRUE(svc.ok()) << svc.status().ToString();
  Write(root_ / "data" / "logs" / "held.log", "abc");
  ASSERT_TRUE((*svc)->inventory()->SealNow("logs/held.log", 1).ok());
  std::string sha = (*svc)->inventory()->Get("logs/held.log")->sha256;

  std::string good(64, 'a');
  EXPECT_EQ((*svc)->Submit({{"../x", good, 1, {"http://h:1"}}}).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ((*svc)->Submit({{"logs/x", "nothex", 1, {"http://h:1"}}}).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ((*svc)->Submit({{"logs/x", good, 1, {}}}).status().code(), Code::kInvalidArgument);

  auto r = (*svc)->Submit({{"logs/held.log", sha, 3, {"http://h:1"}},
                           {"logs/new.log", good, 3, {"http://h:1"}},
                           {"logs/new.log", good, 3, {"http://h:1"}}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->queued, 1u);
  EXPECT_EQ(r->skipped, 2u);  // held in that version; the duplicate
  auto t = (*svc)->Transfers();
  ASSERT_EQ(t.size(), 1u);  // not started: stays queued
  EXPECT_EQ(t[0].state, "queued");
  EXPECT_EQ(t[0].request_id, r->request_id);
}

std::unique_ptr<DataService> OpenService(const fs::path& root) {
  DataOptions o;
  o.node_id = "n1";
  o.data_root = (root / "data").string();
  o.db_path = (root / "state" / "inventory.db").string();
  o.quiet_period = std::chrono::milliseconds(0);
  o.part_max_age = std::chrono::hours(24);
  auto svc = DataService::Open(o);
  EXPECT_TRUE(svc.ok()) << svc.status().ToString();
  return svc.ok() ? std::move(svc).value() : nullptr;
}

void Backdate(const fs::path& p, int days) {
  struct utimbuf t;
  t.actime = t.modtime = time(nullptr) - static_cast<time_t>(days) * 86400;
  ASSERT_EQ(utime(p.c_str(), &t), 0) << p;
}

TEST_F(DataServiceTest, PartGcRemovesOnlyOldPartsNoTransferIsWriting) {
  auto svc = OpenService(root_);
  ASSERT_NE(svc, nullptr);
  fs::path d = root_ / "data" / "selfplay";
  fs::create_directories(d / "deep" / "er");
  Write(d / "old.bin.part", "old");
  Backdate(d / "old.bin.part", 2);
  Write(d / "deep" / "er" / "old2.bin.part", "old too");
  Backdate(d / "deep" / "er" / "old2.bin.part", 3);
  Write(d / "fresh.bin.part", "fresh");
  Write(d / "old-but-not-part.bin", "data");
  Backdate(d / "old-but-not-part.bin", 5);
  // Being pushed here: claimed by the receiver, so kept however old.
  const std::string content = "0123456789";
  Write(d / "pushed.bin.part", content.substr(0, 4));
  sync::PushFileInfo f{"selfplay/pushed.bin", std::string(64, 'a'), content.size(), 0};
  auto begin = svc->push_receiver()->Begin(f);
  ASSERT_TRUE(begin.ok()) << begin.status().ToString();
  EXPECT_EQ(begin->offset, 4u);
  Backdate(d / "pushed.bin.part", 2);
  // Outside the tree, through a symlinked directory: never touched.
  Write(root_ / "outside" / "x.part", "outside");
  Backdate(root_ / "outside" / "x.part", 9);
  fs::create_directory_symlink(root_ / "outside", d / "link");

  auto removed = svc->CollectAbandonedParts();
  std::sort(removed.begin(), removed.end());
  EXPECT_EQ(removed,
            (std::vector<std::string>{"selfplay/deep/er/old2.bin.part", "selfplay/old.bin.part"}));
  EXPECT_FALSE(fs::exists(d / "old.bin.part"));
  EXPECT_TRUE(fs::exists(d / "fresh.bin.part"));
  EXPECT_TRUE(fs::exists(d / "old-but-not-part.bin"));
  EXPECT_TRUE(fs::exists(d / "pushed.bin.part"));
  EXPECT_TRUE(fs::exists(root_ / "outside" / "x.part"));
  auto fig = svc->Figures();
  EXPECT_EQ(fig.part_gc_runs, 1u);
  EXPECT_EQ(fig.parts_removed, 2u);
  EXPECT_EQ(fig.part_bytes_removed, 3u + 7u);
  // A pull of the path being pushed is skipped (one writer per path).
  auto r = svc->Submit({{"selfplay/pushed.bin", std::string(64, 'a'), 10, {"http://h:1"}}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->queued, 0u);
  EXPECT_EQ(r->skipped, 1u);
}

TEST_F(DataServiceTest, SubmitPushesValidatesAndSkipsDuplicates) {
  auto svc = OpenService(root_);
  ASSERT_NE(svc, nullptr);
  std::string sha(64, 'b');
  PushSpec ok{"selfplay/a", sha, 10, 0, "n2", "http://h:1", 3};
  PushSpec bad_path = ok, bad_sha = ok, no_target = ok, no_term = ok;
  bad_path.path = "../a";
  bad_sha.sha256 = "xyz";
  no_target.target_url = "";
  no_term.term = 0;
  for (const PushSpec& p : {bad_path, bad_sha, no_target, no_term}) {
    EXPECT_EQ(svc->SubmitPushes({p}).status().code(), Code::kInvalidArgument) << p.path;
  }
  PushSpec big = ok;
  big.path = "training/big";
  big.size = 10 << 20;
  PushSpec other_target = ok;
  other_target.target_id = "n3";
  other_target.target_url = "http://h:2";
  auto r = svc->SubmitPushes({ok, ok, big, other_target});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->queued, 3u);
  EXPECT_EQ(r->skipped, 1u);
  auto again = svc->SubmitPushes({ok, big});  // still queued (the service is not started)
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->skipped, 2u);
  EXPECT_EQ(svc->PendingPushes().size(), 3u);
  auto t = svc->Transfers();
  ASSERT_EQ(t.size(), 3u);  // one batch per target for the small ones, one for the big one
  for (const auto& x : t) {
    EXPECT_EQ(x.direction, "push");
    EXPECT_EQ(x.state, "queued");
  }
}

TEST(LeaderAssignTest, ParsesReportsAndRefusesBadOnes) {
  EXPECT_EQ(ParseNodeReport("nope").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ParseNodeReport("{}").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ParseNodeReport(R"({"node_id":"n4","manifest":[]})").status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(ParseNodeReport(R"({"node_id":"n4","manifest":{"records":[7]}})").status().code(),
            Code::kInvalidArgument);
  auto r = ParseNodeReport(
      R"({"node_id":"n4","manifest":{"from":3,"next_cursor":5,"more":true,
          "records":[{"path":"a","size":1,"sha256":"x","sealed":true,"seq":5}],
          "disk":{"total":100,"free":40},"watermarks":{"high":0.9}},
          "pushes":[{"path":"a","sha256":"x","target":"n2","state":"done"}]})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->has_manifest);
  EXPECT_EQ(r->manifest_from, 3u);
  EXPECT_EQ(r->next_cursor, 5u);
  ASSERT_EQ(r->records.size(), 1u);
  EXPECT_EQ(r->records[0].path, "a");
  EXPECT_EQ(r->disk_free, 40u);
  EXPECT_DOUBLE_EQ(r->high_watermark, 0.9);
  ASSERT_EQ(r->pushes.size(), 1u);
  EXPECT_EQ(r->pushes[0].state, "done");
}

TEST(LeaderAssignTest, AppliesManifestPagesAtItsCursorAndNeedsTheLease) {
  bool lease = true;
  LeaderContext lc;
  lc.node_id = "n1";
  lc.has_lease = [&] { return lease; };
  lc.term = [] { return uint64_t{4}; };
  lc.alive_members = [] {
    return std::vector<MemberRef>{{"n1", "http://127.0.0.1:9", false, 1},
                                  {"n4", "http://127.0.0.1:1", true, 1}};
  };
  LeaderSync leader(lc);
  NodeReport page;
  page.node_id = "n4";
  page.has_manifest = true;
  page.manifest_from = 0;
  page.next_cursor = 2;
  page.records.resize(2);
  page.records[0].path = "a";
  page.records[1].path = "b";
  auto a = leader.Assign(page);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->term, 4u);
  EXPECT_EQ(a->cursor, 2u);
  EXPECT_TRUE(a->pushes.empty());
  // A page from another cursor is not applied: the answer says where to continue.
  page.manifest_from = 7;
  page.next_cursor = 9;
  a = leader.Assign(page);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->cursor, 2u);
  EXPECT_EQ(leader.Listed("n4").cursor, 2u);
  lease = false;
  EXPECT_EQ(leader.Assign(page).status().code(), Code::kNotLeader);
  EXPECT_EQ(leader.Pushes().planned + leader.Pushes().active, 0u);
}

}  // namespace
}  // namespace rift::datasvc
