#include "orchestrator/inventory/inventory.h"

#include <algorithm>
#include <filesystem>
#include <utility>

#include "orchestrator/base/log.h"
#include "orchestrator/inventory/hash.h"
#include "orchestrator/inventory/inventory_internal.h"
#include "orchestrator/inventory/paths_internal.h"
#include "orchestrator/inventory/walk.h"

namespace rift::inventory {
namespace {

// Append-only: each entry is one schema version (see store::Database::Migrate).
const std::vector<std::string> kMigrations = {
    "CREATE TABLE files ("
    "  path TEXT PRIMARY KEY,"
    "  size INTEGER NOT NULL,"
    "  mtime_ns INTEGER NOT NULL,"
    "  sha256 TEXT NOT NULL DEFAULT '',"
    "  class TEXT NOT NULL,"
    "  version INTEGER NOT NULL DEFAULT 0,"
    "  sealed INTEGER NOT NULL DEFAULT 0,"
    "  deleted INTEGER NOT NULL DEFAULT 0,"
    "  seq INTEGER NOT NULL,"
    "  changed_at_ms INTEGER NOT NULL,"
    "  sealed_sha TEXT NOT NULL DEFAULT ''"
    ");"
    "CREATE UNIQUE INDEX files_by_seq ON files(seq);"
    "CREATE INDEX files_sealed_by_class ON files(class, path) WHERE sealed = 1 AND deleted = 0;"
    "CREATE TABLE holders ("
    "  path TEXT NOT NULL,"
    "  node_id TEXT NOT NULL,"
    "  sha256 TEXT NOT NULL,"
    "  verified_at_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (path, node_id)"
    ") WITHOUT ROWID;"
    "CREATE TABLE meta ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  next_seq INTEGER NOT NULL"
    ");"
    "INSERT INTO meta (id, next_seq) VALUES (1, 1);",
};

constexpr const char* kRowColumns =
    "size, mtime_ns, sha256, class, version, sealed, deleted, seq, changed_at_ms, sealed_sha";

Row ReadRow(const store::Statement& st, int first) {
  Row r;
  r.size = static_cast<uint64_t>(st.ColumnInt64(first));
  r.mtime_ns = st.ColumnInt64(first + 1);
  r.sha256 = st.ColumnText(first + 2);
  r.klass = st.ColumnText(first + 3);
  r.version = static_cast<uint64_t>(st.ColumnInt64(first + 4));
  r.sealed = st.ColumnInt64(first + 5) != 0;
  r.deleted = st.ColumnInt64(first + 6) != 0;
  r.seq = static_cast<uint64_t>(st.ColumnInt64(first + 7));
  r.changed_at_ms = st.ColumnInt64(first + 8);
  r.sealed_sha = st.ColumnText(first + 9);
  return r;
}

// Paths from callers (transfers, cleanup, the leader) must be the same normalised, indexable
// form the scan produces, or the index would hold rows the scan tombstones.
Result<std::string> CheckedPath(const std::string& path) {
  RIFT_ASSIGN_OR_RETURN(std::string norm, internal::NormaliseRelative(path));
  if (!internal::IndexableName(norm)) {
    return InvalidArgument("'" + norm + "' is not indexed (dot-file or .part)");
  }
  return norm;
}

Result<std::string> CheckedSha(std::string sha) {
  std::transform(sha.begin(), sha.end(), sha.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (!internal::IsSha256Hex(sha)) return InvalidArgument("sha256 must be 64 hex characters");
  return sha;
}

}  // namespace

FileRecord ToRecord(const std::string& path, const Row& row) {
  FileRecord f;
  f.path = path;
  f.size = row.size;
  f.mtime_ns = row.mtime_ns;
  f.sha256 = row.sha256;
  f.klass = row.klass;
  f.version = row.version;
  f.sealed = row.sealed;
  f.deleted = row.deleted;
  f.seq = row.seq;
  return f;
}

Result<std::optional<Row>> Inventory::Impl::LoadRow(const std::string& path) const {
  RIFT_ASSIGN_OR_RETURN(
      store::Statement * st,
      Cached(select_row, std::string("SELECT ") + kRowColumns + " FROM files WHERE path = ?"));
  RIFT_RETURN_IF_ERROR(st->Bind(1, path));
  RIFT_ASSIGN_OR_RETURN(bool row, st->Step());
  std::optional<Row> out;
  if (row) out = ReadRow(*st, 0);
  // Reset now: a statement left mid-read pins a WAL snapshot and stops checkpoints.
  RIFT_RETURN_IF_ERROR(st->Reset());
  return out;
}

Result<std::unordered_map<std::string, Row>> Inventory::Impl::LoadAll() const {
  RIFT_ASSIGN_OR_RETURN(store::Statement st,
                        db->Prepare(std::string("SELECT path, ") + kRowColumns + " FROM files"));
  std::unordered_map<std::string, Row> rows;
  for (;;) {
    RIFT_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    rows.emplace(st.ColumnText(0), ReadRow(st, 1));
  }
  return rows;
}

Status Inventory::Impl::WriteRow(const std::string& path, Row& row) {
  RIFT_ASSIGN_OR_RETURN(
      store::Statement * stp,
      Cached(upsert,
             std::string("INSERT INTO files (path, ") + kRowColumns +
                 ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET "
                 "size = excluded.size, mtime_ns = excluded.mtime_ns, "
                 "sha256 = excluded.sha256, class = excluded.class, "
                 "version = excluded.version, sealed = excluded.sealed, "
                 "deleted = excluded.deleted, seq = excluded.seq, "
                 "changed_at_ms = excluded.changed_at_ms, sealed_sha = excluded.sealed_sha"));
  store::Statement& st = *stp;
  row.seq = next_seq++;
  RIFT_RETURN_IF_ERROR(st.Bind(1, path));
  RIFT_RETURN_IF_ERROR(st.Bind(2, static_cast<int64_t>(row.size)));
  RIFT_RETURN_IF_ERROR(st.Bind(3, row.mtime_ns));
  RIFT_RETURN_IF_ERROR(st.Bind(4, row.sha256));
  RIFT_RETURN_IF_ERROR(st.Bind(5, row.klass));
  RIFT_RETURN_IF_ERROR(st.Bind(6, static_cast<int64_t>(row.version)));
  RIFT_RETURN_IF_ERROR(st.Bind(7, int64_t{row.sealed}));
  RIFT_RETURN_IF_ERROR(st.Bind(8, int64_t{row.deleted}));
  RIFT_RETURN_IF_ERROR(st.Bind(9, static_cast<int64_t>(row.seq)));
  RIFT_RETURN_IF_ERROR(st.Bind(10, row.changed_at_ms));
  RIFT_RETURN_IF_ERROR(st.Bind(11, row.sealed_sha));
  return st.Run();
}

Status Inventory::Impl::SealRow(const std::string& path, Row& row, const std::string& sha) {
  if (row.version == 0 || row.sealed_sha != sha) ++row.version;
  row.sha256 = sha;
  row.sealed_sha = sha;
  row.sealed = true;
  row.deleted = false;
  RIFT_RETURN_IF_ERROR(WriteRow(path, row));
  // Holders vouch for one exact version; copies of another version justify nothing now.
  RIFT_ASSIGN_OR_RETURN(store::Statement * st,
                        Cached(drop_holders, "DELETE FROM holders WHERE path = ? AND sha256 != ?"));
  RIFT_RETURN_IF_ERROR(st->Bind(1, path));
  RIFT_RETURN_IF_ERROR(st->Bind(2, sha));
  return st->Run();
}

Status Inventory::Impl::SaveNextSeq() {
  RIFT_ASSIGN_OR_RETURN(store::Statement st,
                        db->Prepare("UPDATE meta SET next_seq = ? WHERE id = 1"));
  RIFT_RETURN_IF_ERROR(st.Bind(1, static_cast<int64_t>(next_seq)));
  return st.Run();
}

Result<std::unique_ptr<Inventory>> Inventory::Open(InventoryOptions options) {
  if (options.data_root.empty() || options.db_path.empty()) {
    return InvalidArgument("inventory: data_root and db_path are required");
  }
  std::error_code ec;
  const auto parent = std::filesystem::path(options.db_path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  store::DatabaseOptions db_options;
  // The index is derived data: a commit lost to power failure is rebuilt by the next scan (at
  // worst a rehash), so NORMAL's cheaper commits are the right trade.
  db_options.synchronous_full = false;
  RIFT_ASSIGN_OR_RETURN(std::unique_ptr<store::Database> db,
                        store::Database::Open(options.db_path, db_options));
  RIFT_RETURN_IF_ERROR(db->Migrate(kMigrations));
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  // max(seq)+1 as well as meta: a seq must never be reused, or peers' cursors would skip rows.
  RIFT_ASSIGN_OR_RETURN(store::Statement st,
                        db->Prepare("SELECT (SELECT next_seq FROM meta WHERE id = 1), "
                                    "(SELECT COALESCE(MAX(seq), 0) + 1 FROM files)"));
  RIFT_ASSIGN_OR_RETURN(bool row, st.Step());
  if (row) {
    impl->next_seq = static_cast<uint64_t>(std::max<int64_t>(
        {int64_t{1}, st.ColumnInt64(0), st.ColumnInt64(1)}));
  }
  impl->db = std::move(db);
  return std::unique_ptr<Inventory>(new Inventory(std::move(impl)));
}

Inventory::Inventory(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Inventory::~Inventory() = default;

const InventoryOptions& Inventory::options() const { return impl_->options; }

std::optional<FileRecord> Inventory::Get(const std::string& path) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto row = impl_->LoadRow(path);
  if (!row.ok()) {
    log::Warn("inventory: " + row.status().ToString());
    return std::nullopt;
  }
  if (!row->has_value()) return std::nullopt;
  return ToRecord(path, **row);
}

std::vector<FileRecord> Inventory::Sealed(const std::string& klass) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  std::vector<FileRecord> out;
  Status s = [&]() -> Status {
    std::string sql = std::string("SELECT path, ") + kRowColumns +
                      " FROM files WHERE sealed = 1 AND deleted = 0";
    sql += klass.empty() ? " ORDER BY path" : " AND class = ? ORDER BY path";
    RIFT_ASSIGN_OR_RETURN(store::Statement st, impl_->db->Prepare(sql));
    if (!klass.empty()) RIFT_RETURN_IF_ERROR(st.Bind(1, klass));
    for (;;) {
      RIFT_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) return Status::Ok();
      out.push_back(ToRecord(st.ColumnText(0), ReadRow(st, 1)));
    }
  }();
  if (!s.ok()) log::Warn("inventory: " + s.ToString());
  return out;
}

Manifest Inventory::ManifestSince(uint64_t cursor, size_t limit) const {
  limit = std::max<size_t>(limit, 1);
  std::lock_guard<std::mutex> lock(impl_->mu);
  Manifest m;
  m.next_cursor = cursor;
  Status s = [&]() -> Status {
    RIFT_ASSIGN_OR_RETURN(store::Statement st,
                          impl_->db->Prepare(std::string("SELECT path, ") + kRowColumns +
                                             " FROM files WHERE seq > ? ORDER BY seq LIMIT ?"));
    RIFT_RETURN_IF_ERROR(st.Bind(1, static_cast<int64_t>(cursor)));
    RIFT_RETURN_IF_ERROR(st.Bind(2, static_cast<int64_t>(limit) + 1));  // +1 to learn `more`
    for (;;) {
      RIFT_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) return Status::Ok();
      if (m.records.size() == limit) {
        m.more = true;
        return Status::Ok();
      }
      m.records.push_back(ToRecord(st.ColumnText(0), ReadRow(st, 1)));
      m.next_cursor = m.records.back().seq;
    }
  }();
  if (!s.ok()) log::Warn("inventory: " + s.ToString());
  return m;
}

Status Inventory::RecordReceived(const std::string& path, uint64_t size, int64_t mtime_ns,
                                 const std::string& sha256, int64_t now_ms) {
  RIFT_ASSIGN_OR_RETURN(std::string rel, CheckedPath(path));
  RIFT_ASSIGN_OR_RETURN(std::string sha, CheckedSha(sha256));
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->InTransaction([&]() -> Status {
    RIFT_ASSIGN_OR_RETURN(std::optional<Row> existing, impl_->LoadRow(rel));
    Row row = existing.value_or(Row{});
    row.size = size;
    row.mtime_ns = mtime_ns;
    row.klass = impl_->ClassName(rel);
    row.changed_at_ms = now_ms;
    return impl_->SealRow(rel, row, sha);
  });
}

std::vector<Status> Inventory::RecordReceivedBatch(const std::vector<Received>& files,
                                                   int64_t now_ms) {
  std::vector<Status> out(files.size());
  std::vector<std::pair<size_t, std::pair<std::string, std::string>>> valid;  // index, rel, sha
  for (size_t i = 0; i < files.size(); ++i) {
    Result<std::string> rel = CheckedPath(files[i].path);
    Result<std::string> sha = CheckedSha(files[i].sha256);
    if (!rel.ok()) out[i] = rel.status();
    else if (!sha.ok()) out[i] = sha.status();
    else valid.push_back({i, {*rel, *sha}});
  }
  if (valid.empty()) return out;
  std::lock_guard<std::mutex> lock(impl_->mu);
  Status tx = impl_->InTransaction([&]() -> Status {
    for (const auto& [i, names] : valid) {
      RIFT_ASSIGN_OR_RETURN(std::optional<Row> existing, impl_->LoadRow(names.first));
      Row row = existing.value_or(Row{});
      row.size = files[i].size;
      row.mtime_ns = files[i].mtime_ns;
      row.klass = impl_->ClassName(names.first);
      row.changed_at_ms = now_ms;
      RIFT_RETURN_IF_ERROR(impl_->SealRow(names.first, row, names.second));
    }
    return Status::Ok();
  });
  for (const auto& v : valid) out[v.first] = tx;
  return out;
}

Status Inventory::RecordDeleted(const std::string& path, int64_t now_ms) {
  RIFT_ASSIGN_OR_RETURN(std::string rel, CheckedPath(path));
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->InTransaction([&]() -> Status {
    RIFT_ASSIGN_OR_RETURN(std::optional<Row> row, impl_->LoadRow(rel));
    if (!row) return NotFound("inventory has no record of '" + rel + "'");
    if (row->deleted) return Status::Ok();
    row->deleted = true;
    row->sealed = false;
    row->sha256.clear();
    row->changed_at_ms = now_ms;
    return impl_->WriteRow(rel, *row);
  });
}

Status Inventory::AddHolder(const std::string& path, const Holder& holder) {
  RIFT_ASSIGN_OR_RETURN(std::string rel, CheckedPath(path));
  RIFT_ASSIGN_OR_RETURN(std::string sha, CheckedSha(holder.sha256));
  if (holder.node_id.empty()) return InvalidArgument("holder needs a node id");
  std::lock_guard<std::mutex> lock(impl_->mu);
  RIFT_ASSIGN_OR_RETURN(
      store::Statement st,
      impl_->db->Prepare("INSERT INTO holders (path, node_id, sha256, verified_at_ms) "
                         "VALUES (?, ?, ?, ?) ON CONFLICT(path, node_id) DO UPDATE SET "
                         "sha256 = excluded.sha256, verified_at_ms = excluded.verified_at_ms"));
  RIFT_RETURN_IF_ERROR(st.Bind(1, rel));
  RIFT_RETURN_IF_ERROR(st.Bind(2, holder.node_id));
  RIFT_RETURN_IF_ERROR(st.Bind(3, sha));
  RIFT_RETURN_IF_ERROR(st.Bind(4, holder.verified_at_ms));
  return st.Run();
}

std::vector<Holder> Inventory::Holders(const std::string& path) const {
  std::vector<Holder> out;
  auto rel = internal::NormaliseRelative(path);
  if (!rel.ok()) return out;
  std::lock_guard<std::mutex> lock(impl_->mu);
  Status s = [&]() -> Status {
    RIFT_ASSIGN_OR_RETURN(store::Statement st,
                          impl_->db->Prepare("SELECT node_id, sha256, verified_at_ms FROM holders "
                                             "WHERE path = ? ORDER BY node_id"));
    RIFT_RETURN_IF_ERROR(st.Bind(1, *rel));
    for (;;) {
      RIFT_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) return Status::Ok();
      out.push_back({st.ColumnText(0), st.ColumnText(1), st.ColumnInt64(2)});
    }
  }();
  if (!s.ok()) log::Warn("inventory: " + s.ToString());
  return out;
}

}  // namespace rift::inventory
