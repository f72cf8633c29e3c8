#pragma once
// Shared between inventory.cc (open, queries, records) and scan.cc (Scan, SealNow).
// Internal to orchestrator/inventory; sqlite stays behind store::Database.
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "orchestrator/inventory/inventory.h"
#include "orchestrator/store/sqlite.h"

namespace rift::inventory {

// One `files` row. Invariants: sha256 is non-empty iff sealed; sealed_sha is the digest of the
// last sealed version (kept across unseal and tombstone) so re-sealing identical content keeps
// its version and its holders.
struct Row {
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  std::string sha256;
  std::string klass;
  uint64_t version = 0;
  bool sealed = false;
  bool deleted = false;
  uint64_t seq = 0;
  int64_t changed_at_ms = 0;  // when this node last saw (size, mtime) change
  std::string sealed_sha;
};

struct Inventory::Impl {
  InventoryOptions options;
  // Guards db, next_seq and the cached statement. Never held across filesystem I/O.
  mutable std::mutex mu;
  std::unique_ptr<store::Database> db;
  uint64_t next_seq = 1;
  // Prepared once: a scan that seals 10,000 files runs these 10,000 times each.
  mutable std::optional<store::Statement> upsert, select_row, drop_holders;

  // Prepares `sql` into `slot` the first time; returns it reset and unbound.
  Result<store::Statement*> Cached(std::optional<store::Statement>& slot,
                                   const std::string& sql) const {
    if (!slot) {
      RIFT_ASSIGN_OR_RETURN(store::Statement st, db->Prepare(sql));
      slot.emplace(std::move(st));
    }
    (void)slot->Reset();  // may echo an earlier step's error, already reported then
    return &*slot;
  }

  // The methods below expect `mu` held.
  Result<std::optional<Row>> LoadRow(const std::string& path) const;
  Result<std::unordered_map<std::string, Row>> LoadAll() const;
  // Writes `row` under a fresh seq (row.seq is updated).
  Status WriteRow(const std::string& path, Row& row);
  // Marks `row` sealed with `sha` (version+1 unless it is the last sealed content), writes it
  // and drops holders of other versions.
  Status SealRow(const std::string& path, Row& row, const std::string& sha);
  // Runs `fn` in one IMMEDIATE transaction that also persists next_seq; rolls back on error.
  template <typename F>
  Status InTransaction(F&& fn) {
    const uint64_t seq_before = next_seq;
    RIFT_RETURN_IF_ERROR(db->Exec("BEGIN IMMEDIATE"));
    Status s = fn();
    if (s.ok() && next_seq != seq_before) s = SaveNextSeq();
    if (s.ok()) s = db->Exec("COMMIT");
    if (!s.ok()) {
      (void)db->Exec("ROLLBACK");
      next_seq = seq_before;
    }
    return s;
  }
  Status SaveNextSeq();
  const std::string& ClassName(const std::string& path) const {
    return ClassOf(options.classes, path).name;
  }
};

FileRecord ToRecord(const std::string& path, const Row& row);

}  // namespace rift::inventory
