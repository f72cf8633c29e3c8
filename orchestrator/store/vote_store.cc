#include "orchestrator/store/vote_store.h"

#include "orchestrator/store/sqlite.h"

namespace rift::store {
namespace {

// Append-only: each entry is one schema version (see Database::Migrate).
const std::vector<std::string> kMigrations = {
    // One row, id 1. voted_for '' means no vote in this term.
    "CREATE TABLE vote ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  term INTEGER NOT NULL CHECK (term >= 0),"
    "  voted_for TEXT NOT NULL DEFAULT ''"
    ");",
};

// Reads the row; a missing row is the initial state.
Result<election::PersistentState> ReadVote(Database& db) {
  RIFT_ASSIGN_OR_RETURN(Statement st, db.Prepare("SELECT term, voted_for FROM vote WHERE id = 1"));
  RIFT_ASSIGN_OR_RETURN(bool row, st.Step());
  election::PersistentState state;
  if (row) {
    state.term = static_cast<uint64_t>(st.ColumnInt64(0));
    state.voted_for = st.ColumnText(1);
  }
  return state;
}

}  // namespace

Result<std::unique_ptr<SqliteVoteStore>> SqliteVoteStore::Open(const std::string& path) {
  DatabaseOptions options;
  options.synchronous_full = true;  // a granted vote must survive power loss
  RIFT_ASSIGN_OR_RETURN(std::unique_ptr<Database> db, Database::Open(path, options));
  RIFT_RETURN_IF_ERROR(db->Migrate(kMigrations));
  // Read once now so a damaged table is reported at startup, not at the first election.
  RIFT_ASSIGN_OR_RETURN(election::PersistentState ignored, ReadVote(*db));
  (void)ignored;
  return std::unique_ptr<SqliteVoteStore>(new SqliteVoteStore(std::move(db)));
}

SqliteVoteStore::SqliteVoteStore(std::unique_ptr<Database> db) : db_(std::move(db)) {}
SqliteVoteStore::~SqliteVoteStore() = default;

Result<election::PersistentState> SqliteVoteStore::Load() { return ReadVote(*db_); }

Status SqliteVoteStore::Save(const election::PersistentState& state) {
  if (state.term > static_cast<uint64_t>(INT64_MAX)) {
    return InvalidArgument("term " + std::to_string(state.term) + " does not fit in SQLite");
  }
  // IMMEDIATE takes the write lock up front, so the check and the write see the same row.
  RIFT_RETURN_IF_ERROR(db_->Exec("BEGIN IMMEDIATE"));
  Status s = [&]() -> Status {
    RIFT_ASSIGN_OR_RETURN(election::PersistentState old, ReadVote(*db_));
    if (state.term < old.term) {
      return FailedPrecondition("refusing to move the persisted term back from " +
                                std::to_string(old.term) + " to " + std::to_string(state.term));
    }
    if (state.term == old.term && !old.voted_for.empty() && state.voted_for != old.voted_for) {
      return FailedPrecondition("refusing to change the vote of term " +
                                std::to_string(state.term) + " from '" + old.voted_for + "' to '" +
                                state.voted_for + "'");
    }
    RIFT_ASSIGN_OR_RETURN(Statement st,
                          db_->Prepare("INSERT INTO vote (id, term, voted_for) VALUES (1, ?, ?) "
                                       "ON CONFLICT(id) DO UPDATE SET term = excluded.term, "
                                       "voted_for = excluded.voted_for"));
    RIFT_RETURN_IF_ERROR(st.Bind(1, static_cast<int64_t>(state.term)));
    RIFT_RETURN_IF_ERROR(st.Bind(2, state.voted_for));
    RIFT_RETURN_IF_ERROR(st.Run());
    return db_->Exec("COMMIT");
  }();
  if (!s.ok()) (void)db_->Exec("ROLLBACK");
  return s;
}

}  // namespace rift::store
