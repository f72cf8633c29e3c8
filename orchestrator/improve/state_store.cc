#include "orchestrator/improve/state_store.h"

#include "orchestrator/store/sqlite.h"

namespace rift::improve {
namespace {

const std::vector<std::string> kMigrations = {
    "CREATE TABLE loop_state (id INTEGER PRIMARY KEY CHECK (id = 1), term INTEGER NOT NULL, "
    "seq INTEGER NOT NULL, state TEXT NOT NULL);",
};

}  // namespace

bool Newer(const StoredState& a, const StoredState& b) {
  return a.term != b.term ? a.term > b.term : a.seq > b.seq;
}

StateStore::StateStore(std::unique_ptr<store::Database> db, StoredState cached)
    : db_(std::move(db)), cached_(std::move(cached)) {}
StateStore::~StateStore() = default;

Result<std::unique_ptr<StateStore>> StateStore::Open(const std::string& path) {
  RIFT_ASSIGN_OR_RETURN(auto db, store::Database::Open(path));
  RIFT_RETURN_IF_ERROR(db->Migrate(kMigrations));
  RIFT_ASSIGN_OR_RETURN(auto stmt, db->Prepare("SELECT term, seq, state FROM loop_state"));
  StoredState s;
  RIFT_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (row) {
    s.term = static_cast<uint64_t>(stmt.ColumnInt64(0));
    s.seq = static_cast<uint64_t>(stmt.ColumnInt64(1));
    s.state = stmt.ColumnText(2);
  }
  return std::unique_ptr<StateStore>(new StateStore(std::move(db), std::move(s)));
}

StoredState StateStore::Load() const {
  std::lock_guard lock(mu_);
  return cached_;
}

Status StateStore::Store(const StoredState& s) {
  if (s.state.empty()) return InvalidArgument("state: empty");
  std::lock_guard lock(mu_);
  if (Newer(cached_, s)) {
    return StaleTerm("stored loop state (term " + std::to_string(cached_.term) + ", seq " +
                     std::to_string(cached_.seq) + ") is newer than (term " +
                     std::to_string(s.term) + ", seq " + std::to_string(s.seq) + ")");
  }
  RIFT_ASSIGN_OR_RETURN(
      auto stmt, db_->Prepare("INSERT INTO loop_state (id, term, seq, state) VALUES (1, ?, ?, ?) "
                              "ON CONFLICT(id) DO UPDATE SET term = excluded.term, "
                              "seq = excluded.seq, state = excluded.state"));
  RIFT_RETURN_IF_ERROR(stmt.Bind(1, static_cast<int64_t>(s.term)));
  RIFT_RETURN_IF_ERROR(stmt.Bind(2, static_cast<int64_t>(s.seq)));
  RIFT_RETURN_IF_ERROR(stmt.Bind(3, s.state));
  RIFT_RETURN_IF_ERROR(stmt.Run());
  cached_ = s;
  return Status::Ok();
}

}  // namespace rift::improve
