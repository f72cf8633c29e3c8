#pragma once
// Pulling files from holders (the target side of a transfer).
//
// PullFile writes `<data_root>/<path>.part` (parents created), resumes from the .part's length
// with `Range` (re-hashing the kept prefix; a source answering 200 instead of 206 restarts at
// 0), hashes while receiving, verifies size and sha256, fsyncs, renames to the final name,
// fsyncs the directory, then records the file in the inventory. A source failing mid-transfer
// is replaced by the next one, continuing from the current offset. A partial file never
// appears under the final name.
//
// Errors: kInvalidArgument (bad path), kResourceExhausted (disk full: names the path and bytes
// written; the .part is removed), kInternal (sha256 or size mismatch: names both hashes; .part
// removed; local I/O errors), kUnavailable (every source failed; the .part is kept for resume).
//
// Blocking; thread-compatible (one call per thread; different paths in parallel are fine).
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "orchestrator/base/status.h"
#include "orchestrator/inventory/inventory.h"

namespace rift::sync {

struct PullRequest {
  std::string path;                  // relative to the data root
  std::string sha256;                // the exact version wanted
  uint64_t size = 0;
  std::vector<std::string> sources;  // base URLs ("http://host:port"), best first
  std::string token;
  // The source's mtime, given to the file before its rename (0 = keep the arrival time). The
  // planner ranks versions by mtime, so a late copy of an old version must not look newer.
  int64_t mtime_ns = 0;
};

struct PullOptions {
  std::string data_root;
  inventory::Inventory* inventory = nullptr;  // RecordReceived after the rename; null = skip
  uint64_t bandwidth_bytes_per_sec = 0;       // 0 = unlimited (token bucket per call)
  bool fsync = true;
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds read_timeout{30000};
  std::function<int64_t()> now_ms;  // wall clock for RecordReceived; default system clock
  // Called as bytes arrive (source, bytes of the file now on disk, total). Returning false cuts
  // the current source off (it is treated as failed: progress, cancellation, fault tests).
  std::function<bool(const std::string& source, uint64_t done, uint64_t total)> progress;
};

struct PullResult {
  uint64_t bytes_received = 0;  // over the network, this call
  uint64_t bytes_resumed = 0;   // prefix kept from an earlier .part
  std::string source;           // the source that delivered the last byte
  int sources_tried = 0;
};

Result<PullResult> PullFile(const PullRequest& request, const PullOptions& options);

// Many small files, up to 1000 per POST /sync/files round trip. Every file is verified like
// PullFile's; .part files are written, then one syncfs, then renames and directory fsyncs.
// Files a source could not deliver are asked of the next source.
struct BatchFile {
  std::string path;
  std::string sha256;
  uint64_t size = 0;
  int64_t mtime_ns = 0;  // as PullRequest::mtime_ns
};
struct BatchRequest {
  std::vector<BatchFile> files;
  std::vector<std::string> sources;
  std::string token;
};
struct BatchResult {
  uint64_t files_ok = 0;
  uint64_t bytes_received = 0;
  std::vector<std::pair<std::string, Status>> failed;  // path -> last error
};

// Fails as a whole only for local problems (disk full: kResourceExhausted); per-file source
// problems are listed in `failed`.
Result<BatchResult> PullBatch(const BatchRequest& request, const PullOptions& options);

}  // namespace rift::sync
