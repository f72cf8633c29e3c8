#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "orchestrator/improve/cluster_io.h"
#include "orchestrator/improve/state_store.h"

namespace rift::improve {
namespace {

namespace fs = std::filesystem;

struct TempDb {
  fs::path dir;
  TempDb() {
    char tmpl[] = "/tmp/rift-improve-store-XXXXXX";
    dir = mkdtemp(tmpl);
  }
  ~TempDb() { fs::remove_all(dir); }
  std::string path() const { return (dir / "improvement.db").string(); }
};

TEST(StateStoreTest, KeepsTheNewestTermAndSeqAcrossReopens) {
  TempDb t;
  {
    auto s = StateStore::Open(t.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_TRUE((*s)->Load().empty());
    ASSERT_TRUE((*s)->Store({3, 7, "{\"a\":1}"}).ok());
    ASSERT_TRUE((*s)->Store({3, 8, "{\"a\":2}"}).ok());
    ASSERT_TRUE((*s)->Store({3, 8, "{\"a\":2}"}).ok());  // a retry of the same pair
    Status older = (*s)->Store({3, 7, "{\"a\":9}"});
    EXPECT_EQ(older.code(), Code::kStaleTerm);
    EXPECT_EQ((*s)->Store({2, 100, "{\"a\":9}"}).code(), Code::kStaleTerm);
    ASSERT_TRUE((*s)->Store({4, 1, "{\"a\":3}"}).ok());  // a new term starts its own seq
  }
  auto s = StateStore::Open(t.path());
  ASSERT_TRUE(s.ok());
  StoredState got = (*s)->Load();
  EXPECT_EQ(got.term, 4u);
  EXPECT_EQ(got.seq, 1u);
  EXPECT_EQ(got.state, "{\"a\":3}");
}

TEST(StateStoreTest, NewerOrdersByTermThenSeq) {
  EXPECT_TRUE(Newer({2, 0, "x"}, {1, 99, "x"}));
  EXPECT_TRUE(Newer({2, 5, "x"}, {2, 4, "x"}));
  EXPECT_FALSE(Newer({2, 4, "x"}, {2, 4, "x"}));
  EXPECT_FALSE(Newer({1, 9, "x"}, {2, 0, "x"}));
}

TEST(ClusterIoTest, JobsListingsGiveTheLoopItsResults) {
  auto l = internal::ParseJobs(R"({"jobs":[
    {"id":"j1","kind":"selfplay","state":"exited","exit_code":0,"idempotency_key":"k1",
     "out_dir":"selfplay/n2/j1/","result":{"games":50,"positions":900,
     "file":"/abs/data/selfplay/n2/j1/sp-1-2.jsonl"}},
    {"id":"j2","kind":"eval","state":"exited","exit_code":3,"idempotency_key":"k2"},
    {"id":"j3","kind":"training.nnue","state":"running","idempotency_key":"k3"},
    {"id":"j4","kind":"selfplay","state":"lost"},
    {"id":"j5","kind":"eval","state":"failed","signal":9,"idempotency_key":"k5"},
    {"id":"j6","kind":"training.nnue","state":"exited","exit_code":0,"idempotency_key":"k6",
     "out_dir":"training/nnue/n1/j6","result":{"model":"/abs/data/elsewhere/candidate.model"}},
    {"id":"j7","kind":"training.nnue","state":"exited","exit_code":0,"idempotency_key":"k7",
     "out_dir":"training/nnue/n1/j7","result":{"model":"/other/root/candidate.model"}}]})",
                               "/abs/data");
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  EXPECT_EQ(l->views.size(), 7u);
  EXPECT_EQ(l->by_key.at("k6").model, "elsewhere/candidate.model");  // below the data root
  EXPECT_EQ(l->by_key.at("k7").model, "training/nnue/n1/j7/candidate.model");  // out_dir + name
  const auto& k1 = l->by_key.at("k1");
  EXPECT_EQ(k1.seen, JobStatus::Seen::kSucceeded);
  EXPECT_EQ(k1.numbers.at("games"), 50);
  EXPECT_EQ(k1.file, "selfplay/n2/j1/sp-1-2.jsonl");
  EXPECT_EQ(l->by_key.at("k2").seen, JobStatus::Seen::kFailed);
  EXPECT_NE(l->by_key.at("k2").error.find("exit 3"), std::string::npos);
  EXPECT_EQ(l->by_key.at("k3").seen, JobStatus::Seen::kActive);
  EXPECT_NE(l->by_key.at("k5").error.find("signal 9"), std::string::npos);
  EXPECT_FALSE(internal::ParseJobs("{\"nope\":1}").ok());
}

TEST(ClusterIoTest, GpuCountsFromHostEntries) {
  EXPECT_EQ(GpuCount(""), 0);
  EXPECT_EQ(GpuCount("none"), 0);
  EXPECT_EQ(GpuCount("RTX 4090"), 1);
  EXPECT_EQ(GpuCount("4x A100"), 4);
  EXPECT_EQ(GpuCount("8 x H100"), 8);
  EXPECT_EQ(GpuCount("3090"), 1);
}

}  // namespace
}  // namespace rift::improve
