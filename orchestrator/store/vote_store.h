#pragma once
// Durable term and vote for leader election (election::VoteStore) in a SQLite file, normally
// <RINGRIFT_DIR>/state/election.db.
//
// Save commits term and voted_for in one transaction with synchronous=FULL: when it returns OK
// the record survives a crash or power loss. It refuses to move the term backwards or to change
// a vote already cast in the same term (kFailedPrecondition): either would let this node vote
// twice in one term, which is how split brain starts.
//
// Not thread-safe: the election's owner serialises calls (as it does for Election itself).
#include <memory>
#include <string>

#include "orchestrator/base/status.h"
#include "orchestrator/election/election.h"

namespace rift::store {

class Database;

class SqliteVoteStore : public election::VoteStore {
 public:
  // Opens or creates the database at `path`, migrating its schema. The directory must exist.
  static Result<std::unique_ptr<SqliteVoteStore>> Open(const std::string& path);
  ~SqliteVoteStore() override;

  // A fresh database loads term 0 with no vote.
  Result<election::PersistentState> Load() override;
  Status Save(const election::PersistentState& state) override;

 private:
  explicit SqliteVoteStore(std::unique_ptr<Database> db);
  std::unique_ptr<Database> db_;
};

}  // namespace rift::store
