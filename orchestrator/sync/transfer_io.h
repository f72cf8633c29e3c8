#pragma once
// Internal to the transfer code: incremental SHA-256 (libcrypto stays in the .cc) and the
// file steps of a pull (.part, write, fsync, rename).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "orchestrator/base/status.h"
#include "orchestrator/inventory/inventory.h"

namespace rift::sync::internal {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Reset();
  void Update(const char* data, size_t len);
  std::string HexDigest();  // lower-case hex; Reset()s

 private:
  void* ctx_;  // EVP_MD_CTX
};

// mkdir -p of the parent directories of `root`/`rel` (rel already confined).
Status MakeParents(const std::string& root, const std::string& rel);
// pwrite all of `len`; ENOSPC/EDQUOT -> kResourceExhausted, other errors kInternal (their errno
// in `*err` when given).
Status WriteAll(int fd, const char* data, size_t len, uint64_t offset, const std::string& what,
                int* err = nullptr);
// Starts writeback of [offset, offset+len) without waiting (sync_file_range WRITE): with the
// default dirty thresholds (10% of RAM) nothing of a 1 GiB file would reach the disk before the
// final fsync, which would then write it all while the network sits idle.
void StartWriteback(int fd, uint64_t offset, uint64_t len);
// Hashes the first `len` bytes of fd into `hash`.
Status HashPrefix(int fd, uint64_t len, Sha256* hash);
// fsync(fd), then rename(part, final), then fsync of the directory of `final`.
Status FsyncRename(int fd, const std::string& part, const std::string& final, bool fsync);
Status FsyncDir(const std::string& dir);
std::string DirName(const std::string& path);
int64_t MtimeNs(const std::string& path);
// Whether a pull may rename over `final_path`: yes if nothing is there, or if the inventory's
// sealed record of `rel` still matches the file on disk (a new version replacing an old one).
// A file that changed locally since it was sealed, or was never indexed, is never replaced:
// it may be newer data being written (kFailedPrecondition naming the path).
Status SafeToReplace(const std::string& final_path, const std::string& rel,
                     const inventory::Inventory* inventory);
// The same for `leaf` in the directory `dirfd` (AT_FDCWD: a path).
Status SafeToReplaceAt(int dirfd, const std::string& leaf, const std::string& rel,
                       const inventory::Inventory* inventory);
// Sets the file's mtime (and atime) without following a symlink; no-op when mtime_ns <= 0.
void SetMtime(const std::string& path, int64_t mtime_ns);
// Paces a stream to `rate` bytes/s (0 = unlimited) with a one-second burst.
class Throttle {
 public:
  explicit Throttle(uint64_t rate);
  void Consumed(uint64_t n);

 private:
  uint64_t rate_, bytes_ = 0;
  std::chrono::steady_clock::time_point start_;
};

// Directories beneath the data root, opened once for a batch of files: every component with
// O_NOFOLLOW (a symlinked or missing directory is refused; with `create`, missing ones are
// made). Files are then opened, renamed and stat'ed relative to their directory's fd: no path
// walk and no realpath per file, and a directory swapped for a symlink during the batch is never
// followed. Not thread-safe (one per batch).
class DirCache {
 public:
  DirCache(std::string data_root, bool create) : root_(std::move(data_root)), create_(create) {}
  ~DirCache();
  DirCache(const DirCache&) = delete;
  DirCache& operator=(const DirCache&) = delete;

  struct Entry {
    int dirfd = -1;    // owned by the cache
    std::string leaf;  // last component
    std::string rel;   // normalised relative path
  };
  // Confines `requested`: the first file of each directory goes through
  // inventory::ConfinePath (normalisation, traversal and symlink checks); later files of an
  // already-open directory need only a plain leaf name. kInvalidArgument / kPermissionDenied /
  // kNotFound (no such directory, without `create`) / kResourceExhausted (disk full, mkdir).
  Result<Entry> Resolve(const std::string& requested);
  // fsync of every directory opened so far.
  Status SyncAll();

 private:
  Result<int> Open(const std::string& parent);
  std::string root_;
  bool create_;
  std::map<std::string, int> fds_;  // normalised parent ("" = the root) -> fd
};
// A single path component as a file name: non-empty, at most 255 bytes, not "." or "..", no
// '/', '\\', '%' or control characters (as inventory::ConfinePath requires of a component).
bool PlainName(const std::string& name);

// True for 64 lower-case hex digits.
bool IsSha256(const std::string& s);
// Percent-encodes a query value (everything but unreserved characters and '/').
std::string QueryEscape(const std::string& s);

}  // namespace rift::sync::internal
