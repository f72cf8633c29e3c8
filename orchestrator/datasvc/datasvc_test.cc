// Unit tests of the node-local pieces: confined unlinks and the pull queue's admission.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "orchestrator/datasvc/data_service.h"
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

}  // namespace
}  // namespace rift::datasvc
