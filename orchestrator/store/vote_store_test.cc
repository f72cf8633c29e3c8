#include "orchestrator/store/vote_store.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "orchestrator/store/sqlite.h"

namespace rift::store {
namespace {

namespace fs = std::filesystem;
using election::PersistentState;

class VoteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "rift-store-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/election.db";
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<SqliteVoteStore> OpenOrDie() {
    auto store = SqliteVoteStore::Open(path_);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  std::string dir_;
  std::string path_;
};

TEST_F(VoteStoreTest, FreshDatabaseLoadsTermZeroWithNoVote) {
  auto store = OpenOrDie();
  ASSERT_TRUE(store);
  auto state = store->Load();
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  EXPECT_EQ(state->term, 0u);
  EXPECT_EQ(state->voted_for, "");
}

TEST_F(VoteStoreTest, SavedTermAndVoteSurviveReopening) {
  {
    auto store = OpenOrDie();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->Save(PersistentState{3, ""}).ok());
    ASSERT_TRUE(store->Save(PersistentState{7, "node-b"}).ok());
  }
  auto store = OpenOrDie();
  ASSERT_TRUE(store);
  auto state = store->Load();
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->term, 7u);
  EXPECT_EQ(state->voted_for, "node-b");
}

TEST_F(VoteStoreTest, VotingInANewTermAndRepeatingAVoteAreAllowed) {
  auto store = OpenOrDie();
  ASSERT_TRUE(store);
  EXPECT_TRUE(store->Save(PersistentState{1, ""}).ok());
  EXPECT_TRUE(store->Save(PersistentState{1, "a"}).ok());  // first vote of term 1
  EXPECT_TRUE(store->Save(PersistentState{1, "a"}).ok());  // same vote again: idempotent
  EXPECT_TRUE(store->Save(PersistentState{2, "b"}).ok());
  EXPECT_EQ(store->Load()->voted_for, "b");
}

TEST_F(VoteStoreTest, RefusesToMoveTheTermBackwards) {
  auto store = OpenOrDie();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->Save(PersistentState{5, "a"}).ok());
  Status s = store->Save(PersistentState{4, "b"});
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_EQ(store->Load()->term, 5u);
}

TEST_F(VoteStoreTest, RefusesASecondVoteInTheSameTerm) {
  auto store = OpenOrDie();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->Save(PersistentState{5, "a"}).ok());
  EXPECT_EQ(store->Save(PersistentState{5, "b"}).code(), Code::kFailedPrecondition);
  EXPECT_EQ(store->Save(PersistentState{5, ""}).code(), Code::kFailedPrecondition);
  EXPECT_EQ(store->Load()->voted_for, "a");
}

TEST_F(VoteStoreTest, CorruptFileGivesAClearErrorNamingThePath) {
  std::ofstream(path_) << std::string(4096, 'x');
  auto store = SqliteVoteStore::Open(path_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(store.status().message().find(path_), std::string::npos);
  EXPECT_NE(store.status().message().find("not a database"), std::string::npos)
      << store.status().ToString();
}

TEST_F(VoteStoreTest, MissingDirectoryGivesAClearError) {
  path_ = dir_ + "/no/such/dir/election.db";
  auto store = SqliteVoteStore::Open(path_);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find(path_), std::string::npos);
  EXPECT_NE(store.status().message().find("directory"), std::string::npos)
      << store.status().ToString();
}

TEST_F(VoteStoreTest, PathThatIsADirectoryGivesAnError) {
  path_ = dir_;
  auto store = SqliteVoteStore::Open(path_);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find(path_), std::string::npos);
}

TEST_F(VoteStoreTest, DatabaseFromANewerBinaryIsRefused) {
  {
    auto db = Database::Open(path_);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Exec("PRAGMA user_version = 99").ok());
  }
  auto store = SqliteVoteStore::Open(path_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("newer"), std::string::npos);
}

TEST(DatabaseTest, MigrationsRunOnceEachAndRecordTheVersion) {
  std::string tmpl = (fs::temp_directory_path() / "rift-db-XXXXXX").string();
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
  const std::string path = tmpl + "/t.db";
  std::vector<std::string> migrations = {"CREATE TABLE a (x INTEGER);"};
  {
    auto db = Database::Open(path);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Migrate(migrations).ok());
    ASSERT_TRUE((*db)->Migrate(migrations).ok());  // already applied: no "table exists" error
    migrations.push_back("INSERT INTO a VALUES (42);");
    ASSERT_TRUE((*db)->Migrate(migrations).ok());
    EXPECT_EQ(*(*db)->UserVersion(), 2);
  }
  auto db =
      Database::Open(path, DatabaseOptions{.busy_timeout_ms = 100, .synchronous_full = false});
  ASSERT_TRUE(db.ok());
  auto st = (*db)->Prepare("SELECT count(*), max(x) FROM a");
  ASSERT_TRUE(st.ok());
  ASSERT_TRUE(*st->Step());
  EXPECT_EQ(st->ColumnInt64(0), 1);
  EXPECT_EQ(st->ColumnInt64(1), 42);
  // A failing migration leaves the version where it was.
  migrations.push_back("CREATE TABLE a (y INTEGER);");
  EXPECT_FALSE((*db)->Migrate(migrations).ok());
  EXPECT_EQ(*(*db)->UserVersion(), 2);
  fs::remove_all(tmpl);
}

}  // namespace
}  // namespace rift::store
