#pragma once
// The inventory: an index of the files under the data root, kept in SQLite
// (`$RINGRIFT_DIR/state/inventory.db`), updated incrementally.
//
//  - Scan(now) walks the tree and stats every file; only files whose (size, mtime) changed are
//    touched in the database. A changed file becomes unsealed; a file unchanged for
//    `quiet_period` is hashed (sha256) and sealed. A sealed file whose content changes again is
//    re-sealed later with version+1. Files named `*.part` and dot-files are ignored. Vanished
//    files become tombstones. Unchanged sealed files cost one stat: no rehash, no write.
//  - SealNow(path) seals a file at once (its writer exited), hashing it now.
//  - Every change gets a new `seq`; Manifest(cursor) returns records with seq > cursor, so peers
//    follow the inventory incrementally.
//  - Holders: verified copies of a file version on other nodes (recorded by the leader's sync
//    and by pullers), used to justify deletions.
//
// Thread-safety: all methods are safe from several threads (one connection, one mutex; the
// hashing in Scan happens outside the lock). Scan is meant for a background thread, never the
// /health path.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "orchestrator/base/status.h"
#include "orchestrator/inventory/types.h"

namespace rift::inventory {

struct InventoryOptions {
  std::string data_root;  // absolute path of $RINGRIFT_DIR/data
  std::string db_path;    // $RINGRIFT_DIR/state/inventory.db
  std::vector<FileClass> classes = DefaultFileClasses();
  std::chrono::milliseconds quiet_period{30000};
};

struct ScanStats {
  uint64_t files = 0, changed = 0, hashed = 0, sealed = 0, removed = 0;
  uint64_t bytes_hashed = 0;
  std::chrono::milliseconds took{0};
};

struct Manifest {
  std::vector<FileRecord> records;  // ordered by seq
  uint64_t next_cursor = 0;         // pass back to continue
  bool more = false;                // more records after next_cursor
};

class Inventory {
 public:
  static Result<std::unique_ptr<Inventory>> Open(InventoryOptions options);
  ~Inventory();

  // `now_ms`: wall-clock ms (stored for sealing decisions; tests pass fake values).
  Result<ScanStats> Scan(int64_t now_ms);
  Status SealNow(const std::string& path, int64_t now_ms);

  // The record of `path` as stored (tombstones included: check `deleted`); nullopt if unknown.
  std::optional<FileRecord> Get(const std::string& path) const;
  // Sealed, present files (optionally of one class).
  std::vector<FileRecord> Sealed(const std::string& klass = "") const;
  Manifest ManifestSince(uint64_t cursor, size_t limit = 5000) const;

  // A file that arrived by transfer, already verified and renamed into place by the caller:
  // recorded as sealed with this sha256 (no rehash). `size` and `mtime_ns` must be the renamed
  // file's own stat, or the next scan sees a change and rehashes it. Version+1 unless `sha256`
  // is the last sealed content; holders of other digests are dropped.
  Status RecordReceived(const std::string& path, uint64_t size, int64_t mtime_ns,
                        const std::string& sha256, int64_t now_ms);
  // The same for many files in one transaction (a batch of small files would otherwise cost one
  // durable transaction each). Returns one Status per file, in order.
  struct Received {
    std::string path;
    uint64_t size = 0;
    int64_t mtime_ns = 0;
    std::string sha256;
  };
  std::vector<Status> RecordReceivedBatch(const std::vector<Received>& files, int64_t now_ms);
  // A file this node deleted (cleanup): tombstone now, not at the next scan. kNotFound if the
  // inventory never knew it; already a tombstone is OK.
  Status RecordDeleted(const std::string& path, int64_t now_ms);

  Status AddHolder(const std::string& path, const Holder& holder);
  std::vector<Holder> Holders(const std::string& path) const;

  const InventoryOptions& options() const;

 private:
  struct Impl;
  explicit Inventory(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace rift::inventory
