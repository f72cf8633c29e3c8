// Inventory::Scan and Inventory::SealNow: the parts that touch file contents. The filesystem
// work (walking, hashing) runs without the mutex; the lock covers only database access.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include "orchestrator/inventory/hash.h"
#include "orchestrator/inventory/inventory.h"
#include "orchestrator/inventory/inventory_internal.h"
#include "orchestrator/inventory/paths.h"
#include "orchestrator/inventory/paths_internal.h"
#include "orchestrator/inventory/walk.h"

namespace rift::inventory {
namespace {

struct Candidate {
  std::string path;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  std::string sha256;  // filled by hashing
};

int64_t MtimeNs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

// Hashes `rel` and checks (size, mtime) before and after: a file still being written is never
// sealed with a digest of a half-written state. kUnavailable if it changed.
Status HashStable(const std::string& root, Candidate* c, bool expect_known, uint64_t* bytes) {
  RIFT_ASSIGN_OR_RETURN(int fd, OpenBeneath(root, c->path));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat before {}, after {};
  if (::fstat(fd, &before) != 0) return Internal("fstat failed on '" + c->path + "'");
  if (expect_known && (static_cast<uint64_t>(before.st_size) != c->size ||
                       MtimeNs(before) != c->mtime_ns)) {
    return Unavailable("'" + c->path + "' changed since the scan");
  }
  RIFT_ASSIGN_OR_RETURN(c->sha256, internal::Sha256OfFd(fd, bytes));
  if (::fstat(fd, &after) != 0) return Internal("fstat failed on '" + c->path + "'");
  if (after.st_size != before.st_size || MtimeNs(after) != MtimeNs(before)) {
    return Unavailable("'" + c->path + "' changed while it was hashed");
  }
  c->size = static_cast<uint64_t>(after.st_size);
  c->mtime_ns = MtimeNs(after);
  return Status::Ok();
}

bool UnderAny(const std::vector<std::string>& prefixes, const std::string& path) {
  for (const std::string& p : prefixes) {
    if (path.compare(0, p.size(), p) == 0) return true;
  }
  return false;
}

}  // namespace

Result<ScanStats> Inventory::Scan(int64_t now_ms) {
  const auto started = std::chrono::steady_clock::now();
  const int64_t quiet_ms = impl_->options.quiet_period.count();
  ScanStats stats;
  uint64_t walk_seq;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    walk_seq = impl_->next_seq;
  }
  RIFT_ASSIGN_OR_RETURN(internal::WalkResult walk, internal::WalkTree(impl_->options.data_root));
  stats.files = walk.files.size();

  // Phase 1 (locked): reconcile the walk with the index in one pass and one transaction.
  std::vector<Candidate> to_hash;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    RIFT_ASSIGN_OR_RETURN(auto rows, impl_->LoadAll());
    RIFT_RETURN_IF_ERROR(impl_->InTransaction([&]() -> Status {
      for (const internal::Observed& obs : walk.files) {
        auto it = rows.find(obs.path);
        Row fresh;
        Row* row = &fresh;
        if (it != rows.end()) {
          row = &it->second;
          // Recorded (received, sealed, deleted) by another thread while we walked: our stat
          // may predate it, so leave the row to the next scan.
          if (row->seq >= walk_seq) {
            rows.erase(it);
            continue;
          }
        }
        const std::string& klass = impl_->ClassName(obs.path);
        const bool changed = it == rows.end() || row->deleted || row->size != obs.size ||
                             row->mtime_ns != obs.mtime_ns;
        if (changed) {
          // Unsealed until quiet again; version and sealed_sha stay so identical content
          // re-seals as the same version.
          row->size = obs.size;
          row->mtime_ns = obs.mtime_ns;
          row->sealed = false;
          row->deleted = false;
          row->sha256.clear();
          row->changed_at_ms = now_ms;
          row->klass = klass;
          RIFT_RETURN_IF_ERROR(impl_->WriteRow(obs.path, *row));
          ++stats.changed;
        } else if (row->klass != klass) {  // the class config changed
          row->klass = klass;
          RIFT_RETURN_IF_ERROR(impl_->WriteRow(obs.path, *row));
        }
        if (!row->sealed && now_ms - row->changed_at_ms >= quiet_ms) {
          to_hash.push_back({obs.path, obs.size, obs.mtime_ns, {}});
        }
        if (it != rows.end()) rows.erase(it);
      }
      // What is left was not seen: tombstones (unless it sat in a directory we could not read).
      for (auto& [path, row] : rows) {
        if (row.deleted || row.seq >= walk_seq || UnderAny(walk.unreadable, path)) continue;
        row.deleted = true;
        row.sealed = false;
        row.sha256.clear();
        row.changed_at_ms = now_ms;
        RIFT_RETURN_IF_ERROR(impl_->WriteRow(path, row));
        ++stats.removed;
      }
      return Status::Ok();
    }));
  }

  // Phase 2 (unlocked): hash the files that have been quiet long enough.
  std::vector<Candidate> hashed;
  for (Candidate& c : to_hash) {
    ++stats.hashed;
    if (HashStable(impl_->options.data_root, &c, /*expect_known=*/true, &stats.bytes_hashed)
            .ok()) {
      hashed.push_back(std::move(c));
    }
  }

  // Phase 3 (locked): seal what is still exactly what we hashed.
  if (!hashed.empty()) {
    std::lock_guard<std::mutex> lock(impl_->mu);
    RIFT_RETURN_IF_ERROR(impl_->InTransaction([&]() -> Status {
      for (const Candidate& c : hashed) {
        RIFT_ASSIGN_OR_RETURN(std::optional<Row> row, impl_->LoadRow(c.path));
        if (!row || row->deleted || row->sealed || row->size != c.size ||
            row->mtime_ns != c.mtime_ns) {
          continue;
        }
        RIFT_RETURN_IF_ERROR(impl_->SealRow(c.path, *row, c.sha256));
        ++stats.sealed;
      }
      return Status::Ok();
    }));
  }
  stats.took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  return stats;
}

Status Inventory::SealNow(const std::string& path, int64_t now_ms) {
  RIFT_ASSIGN_OR_RETURN(std::string rel, internal::NormaliseRelative(path));
  if (!internal::IndexableName(rel)) {
    return InvalidArgument("'" + rel + "' is not indexed (dot-file or .part)");
  }
  Candidate c{rel, 0, 0, {}};
  uint64_t bytes = 0;
  RIFT_RETURN_IF_ERROR(HashStable(impl_->options.data_root, &c, /*expect_known=*/false, &bytes));
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->InTransaction([&]() -> Status {
    RIFT_ASSIGN_OR_RETURN(std::optional<Row> existing, impl_->LoadRow(rel));
    if (existing && existing->sealed && !existing->deleted && existing->size == c.size &&
        existing->mtime_ns == c.mtime_ns && existing->sha256 == c.sha256) {
      return Status::Ok();  // already sealed as exactly this
    }
    Row row = existing.value_or(Row{});
    if (!existing || row.deleted || row.size != c.size || row.mtime_ns != c.mtime_ns) {
      row.changed_at_ms = now_ms;
    }
    row.size = c.size;
    row.mtime_ns = c.mtime_ns;
    row.klass = impl_->ClassName(rel);
    return impl_->SealRow(rel, row, c.sha256);
  });
}

}  // namespace rift::inventory
