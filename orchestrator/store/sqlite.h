#pragma once
// A small RAII wrapper over one SQLite connection. sqlite3.h stays in sqlite.cc.
//
// Thread-safety: a Database and its Statements belong to one owner at a time (the store that
// wraps them serialises access). Errors come back as Status: kUnavailable for busy/locked,
// kFailedPrecondition for a file that is not a usable database (corrupt, schema too new),
// kPermissionDenied / kNotFound when the file cannot be opened, kInternal otherwise.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "orchestrator/base/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace rift::store {

struct DatabaseOptions {
  // How long a writer waits for another connection's lock before kUnavailable.
  int busy_timeout_ms = 5000;
  // FULL: every commit is fsynced before it returns (needed for the vote record). NORMAL: WAL
  // commits may be lost on power failure but never corrupt the file (fine for caches/indexes).
  bool synchronous_full = true;
};

class Statement;

class Database {
 public:
  // Opens (creating if needed) `path` in WAL mode and checks that it is a database.
  static Result<std::unique_ptr<Database>> Open(const std::string& path,
                                                const DatabaseOptions& options = {});
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Runs one or more statements without results.
  Status Exec(const std::string& sql);
  Result<Statement> Prepare(const std::string& sql);

  // Brings the schema to migrations.size(): migration i (0-based) moves user_version from i to
  // i + 1, each in its own transaction. A database newer than `migrations` is refused.
  Status Migrate(const std::vector<std::string>& migrations);
  Result<int> UserVersion();

  const std::string& path() const { return path_; }

 private:
  Database(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  friend class Statement;
  Status Error(int rc, const std::string& what) const;

  sqlite3* db_;
  std::string path_;
};

// A prepared statement. Bind indexes are 1-based, column indexes 0-based (as in SQLite).
class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  ~Statement();

  Status Bind(int index, int64_t value);
  Status Bind(int index, const std::string& value);
  // Advances: true if a row is available, false when done.
  Result<bool> Step();
  // Step() expecting no rows (INSERT/UPDATE/DELETE).
  Status Run();
  Status Reset();  // to re-run with new bindings
  int64_t ColumnInt64(int column) const;
  std::string ColumnText(int column) const;

 private:
  friend class Database;
  Statement(const Database* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  const Database* db_;
  sqlite3_stmt* stmt_;
};

}  // namespace rift::store
