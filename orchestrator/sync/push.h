#pragma once
// Pushes: a node that cannot accept connections (outbound-only, behind NAT) cannot be pulled
// from, so it sends its sealed files to their target in its own requests. The HTTP server's
// request bodies are capped at 1 MiB, so a file travels in chunks of at most kPushChunkBytes,
// each written at its offset into `<final>.part` on the target; small files travel whole,
// several per request.
//
// Target side (PushReceiver + RegisterPushRoutes), the same rules as a pull:
//  - the path is confined to the data tree (ConfinePath: `..`, absolute, `%`, symlink escapes);
//  - bytes go to `<final>.part`, are hashed as they arrive (the hash state of a file being
//    pushed is kept between chunks; after a restart the kept .part prefix is re-hashed), and
//    the file is renamed into place only once its size and sha256 equal the declared ones,
//    after fsync; then it is recorded in the inventory as received;
//  - a digest mismatch discards the .part (kInvalidArgument: the bytes sent do not match what
//    was declared); disk full discards it too (kResourceExhausted);
//  - a local file that changed since it was sealed (or was never indexed) is never replaced
//    (internal::SafeToReplace, kFailedPrecondition);
//  - a path being pulled, or another chunk of the same file being written, is busy
//    (kUnavailable: retry); pulls of a path being pushed are refused the same way, through the
//    `claim`/`release` hooks the data service provides.
//  - resumable: Begin() answers the offset the target holds (its .part length), and a chunk at
//    another offset is not written (accepted = false, with the offset to continue from).
//
// HTTP (token required; every request must carry X-RingRift-Term, the term of the leader that
// planned the push, checked like /sync/pull's: stale 409, ahead of this node 412):
//   GET  /sync/push?path=&sha256=&size=          -> 200 {offset, held, complete}
//   POST /sync/push?path=&sha256=&size=&mtime_ns=&offset=   body: the bytes at `offset`
//        -> 200 {offset, complete}; 409 {error, offset} when `offset` is not the target's
//   POST /sync/push-batch   body: per file a JSON line {path, sha256, size, mtime_ns}\n and
//        exactly `size` bytes (whole files; the body at most 1 MiB)
//        -> 200 {files:[{path, ok, code?, error?}]}
//   Errors: 400 bad input or digest mismatch, 403 symlink escape, 412 locally changed file,
//   503 + Retry-After busy, 507 disk full (the .part is removed).
//
// Source side: PushFile (one file, chunked, resumed from the target's offset) and PushBatch
// (small files). The source sends only the sealed version it was asked to push: its inventory
// record must still match the file on disk, else kFailedPrecondition.
//
// Thread-safety: PushReceiver is safe from many threads; PushFile/PushBatch are blocking and
// thread-compatible (one call per thread).
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "orchestrator/api/router.h"
#include "orchestrator/base/status.h"
#include "orchestrator/inventory/inventory.h"

namespace rift::sync {

// Bytes per chunk and per batch body: under the HTTP server's 1 MiB body cap.
constexpr size_t kPushChunkBytes = (1u << 20) - (16u << 10);

struct PushFileInfo {
  std::string path;  // relative to the data root
  std::string sha256;
  uint64_t size = 0;
  int64_t mtime_ns = 0;  // the source's mtime, given to the received file (0 = arrival time)
};

// ---- Target side ----

struct PushReceiverOptions {
  std::string data_root;
  inventory::Inventory* inventory = nullptr;  // required: held/changed checks and the record
  bool fsync = true;
  std::function<int64_t()> now_ms;  // wall clock for RecordReceived; default system clock
  // Reserve `rel` for this push (false: a pull of it is queued or running) and give it back.
  // Called with the receiver's lock held: they must not call back into the receiver.
  std::function<bool(const std::string& rel)> claim;
  std::function<void(const std::string& rel)> release;
  // A push with no chunk for this long is forgotten (its .part stays for a resume or for the
  // .part garbage collection) and its claim released.
  std::chrono::milliseconds idle_timeout{std::chrono::minutes(10)};
};

struct PushProgress {
  uint64_t offset = 0;    // bytes the target holds: where the next chunk starts
  bool complete = false;  // verified, renamed and recorded (or already held)
  bool held = false;      // the target already held this version
  bool accepted = true;   // false: the chunk was at another offset and was not written
};

struct PushReceiverFigures {
  uint64_t files_received = 0, bytes_received = 0, failed = 0;
  size_t active = 0;  // files with a push in progress
};

struct PushedFile {
  std::string path;
  bool active = false;  // a chunk is being written now
  uint64_t offset = 0, size = 0;
  int64_t idle_ms = 0;
};

class PushReceiver {
 public:
  explicit PushReceiver(PushReceiverOptions options);
  ~PushReceiver();  // releases the claims (the .part files stay)
  PushReceiver(const PushReceiver&) = delete;
  PushReceiver& operator=(const PushReceiver&) = delete;

  // Where a push of `file` resumes (the .part length), or held/complete when this version is
  // already here.
  Result<PushProgress> Begin(const PushFileInfo& file);
  // Writes `data` at `offset`; the last chunk completes the file (verify, fsync, rename,
  // record). An empty chunk at offset 0 completes an empty file.
  Result<PushProgress> Write(const PushFileInfo& file, uint64_t offset, std::string_view data);
  // Whole small files: written, verified, one syncfs, renamed, recorded in one transaction.
  // One Status per file, in order (OK also when the version was already held).
  std::vector<Status> WriteWhole(
      const std::vector<std::pair<PushFileInfo, std::string_view>>& files);

  // Forgets pushes idle for longer than idle_timeout (called by the data service's scanner).
  void ExpireIdle();
  PushReceiverFigures Figures() const;
  std::vector<PushedFile> Active() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct PushRouteContext {
  PushReceiver* receiver = nullptr;  // must outlive serving
  // The fencing check of the carried term (NodeApi::CheckTerm on a daemon).
  std::function<Status(uint64_t term)> check_term;
};

// Adds GET/POST /sync/push and POST /sync/push-batch (token access) to `router`.
void RegisterPushRoutes(api::Router* router, const PushRouteContext& context);

// ---- Source side ----

struct PushRequest {
  PushFileInfo file;
  std::string target;  // base URL of the target
  std::string token;
  uint64_t term = 0;  // the planning leader's term (X-RingRift-Term)
};

struct PushOptions {
  std::string data_root;
  const inventory::Inventory* inventory = nullptr;  // the sealed-version check; null = skip
  uint64_t bandwidth_bytes_per_sec = 0;             // 0 = unlimited
  size_t chunk_bytes = kPushChunkBytes;
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds read_timeout{30000};
  // Called after each chunk (bytes the target holds, total). Returning false stops the push
  // (kUnavailable; the target keeps its .part for a resume).
  std::function<bool(uint64_t done, uint64_t total)> progress;
};

struct PushResult {
  uint64_t bytes_sent = 0;     // this call
  uint64_t bytes_resumed = 0;  // the target already held these (its .part)
  bool already_held = false;
};

// Errors: kFailedPrecondition (local file no longer the sealed version; the target refused to
// replace its local file), kInvalidArgument (bad path; digest mismatch at the target),
// kResourceExhausted (target disk full), kStaleTerm (fenced), kUnavailable (transport, busy
// target after retries, stopped by `progress`).
Result<PushResult> PushFile(const PushRequest& request, const PushOptions& options);

struct PushBatchResult {
  uint64_t files_ok = 0, bytes_sent = 0;
  std::vector<std::pair<std::string, Status>> failed;  // path -> error
};

// Whole files (each at most kPushChunkBytes minus its header line), as many per POST as fit.
// `files` share target, token and term (taken from the first). Fails as a whole only for a
// term refused by the target (kStaleTerm / kFailedPrecondition); per-file errors in `failed`.
Result<PushBatchResult> PushBatch(const std::vector<PushRequest>& files,
                                  const PushOptions& options);

}  // namespace rift::sync
