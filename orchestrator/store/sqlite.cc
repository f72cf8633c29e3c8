#include "orchestrator/store/sqlite.h"

#include <sqlite3.h>

#include <utility>

namespace rift::store {
namespace {

Code CodeFor(int rc) {
  switch (rc & 0xff) {  // primary code; extended codes refine it
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Code::kUnavailable;
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
    case SQLITE_SCHEMA:
      return Code::kFailedPrecondition;
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH:
      return Code::kPermissionDenied;
    case SQLITE_CANTOPEN:
      return Code::kNotFound;
    case SQLITE_FULL:
      return Code::kResourceExhausted;
    default:
      return Code::kInternal;
  }
}

}  // namespace

Result<std::unique_ptr<Database>> Database::Open(const std::string& path,
                                                 const DatabaseOptions& options) {
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  // sqlite3_open_v2 may hand back a handle even on failure; the Database owns it either way.
  std::unique_ptr<Database> db(new Database(raw, path));
  if (rc != SQLITE_OK) {
    Status s = db->Error(rc, "cannot open");
    if ((rc & 0xff) == SQLITE_CANTOPEN) {
      return Status(s.code(), s.message() + " (does the directory exist and is it writable?)");
    }
    return s;
  }
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, options.busy_timeout_ms);
  // The first real read happens here, so a corrupt or foreign file fails now, not later.
  RIFT_ASSIGN_OR_RETURN(Statement wal, db->Prepare("PRAGMA journal_mode=WAL"));
  RIFT_ASSIGN_OR_RETURN(bool row, wal.Step());
  if (!row || wal.ColumnText(0) != "wal") {
    return FailedPrecondition("SQLite database '" + path + "': cannot enable WAL mode");
  }
  RIFT_RETURN_IF_ERROR(
      db->Exec(options.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"));
  return db;
}

Database::~Database() {
  if (db_) sqlite3_close_v2(db_);
}

Status Database::Error(int rc, const std::string& what) const {
  std::string detail = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  return Status(CodeFor(rc), "SQLite database '" + path_ + "': " + what + ": " + detail);
}

Status Database::Exec(const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return Status::Ok();
  std::string msg = err ? err : sqlite3_errstr(rc);
  sqlite3_free(err);
  return Status(CodeFor(rc), "SQLite database '" + path_ + "': " + msg);
}

Result<Statement> Database::Prepare(const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return Error(rc, "prepare");
  }
  return Statement(this, stmt);
}

Result<int> Database::UserVersion() {
  RIFT_ASSIGN_OR_RETURN(Statement st, Prepare("PRAGMA user_version"));
  RIFT_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Internal("SQLite database '" + path_ + "': no user_version");
  return static_cast<int>(st.ColumnInt64(0));
}

Status Database::Migrate(const std::vector<std::string>& migrations) {
  RIFT_ASSIGN_OR_RETURN(int version, UserVersion());
  const int target = static_cast<int>(migrations.size());
  if (version > target) {
    return FailedPrecondition("SQLite database '" + path_ + "' has schema version " +
                              std::to_string(version) + ", newer than this binary's " +
                              std::to_string(target) + " (downgrade?)");
  }
  for (int v = version; v < target; ++v) {
    // The version bump commits with the schema change, so a crash never half-applies one.
    RIFT_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    Status s = Exec(migrations[v]);
    if (s.ok()) s = Exec("PRAGMA user_version = " + std::to_string(v + 1));
    if (s.ok()) s = Exec("COMMIT");
    if (!s.ok()) {
      (void)Exec("ROLLBACK");
      return Status(s.code(), "migration " + std::to_string(v + 1) + ": " + s.message());
    }
  }
  return Status::Ok();
}

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    db_ = other.db_;
    stmt_ = std::exchange(other.stmt_, nullptr);
  }
  return *this;
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Status Statement::Bind(int index, int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  return rc == SQLITE_OK ? Status::Ok() : db_->Error(rc, "bind");
}

Status Statement::Bind(int index, const std::string& value) {
  int rc = sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()),
                             SQLITE_TRANSIENT);
  return rc == SQLITE_OK ? Status::Ok() : db_->Error(rc, "bind");
}

Result<bool> Statement::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return db_->Error(rc, "step");
}

Status Statement::Run() {
  RIFT_ASSIGN_OR_RETURN(bool row, Step());
  (void)row;  // statements with RETURNING are not run this way
  return Status::Ok();
}

Status Statement::Reset() {
  int rc = sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  return rc == SQLITE_OK ? Status::Ok() : db_->Error(rc, "reset");
}

int64_t Statement::ColumnInt64(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string Statement::ColumnText(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  int n = sqlite3_column_bytes(stmt_, column);
  return text ? std::string(reinterpret_cast<const char*>(text), n) : std::string();
}

}  // namespace rift::store
