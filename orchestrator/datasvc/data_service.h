#pragma once
// DataService: the per-node data plane. Owns the inventory of $RINGRIFT_DIR/data, a scanner
// thread (Scan every `scan_interval`, never on the ticker or an HTTP thread) and a pull queue
// (bounded worker threads running sync::PullFile for large files and sync::PullBatch for
// small ones), with per-transfer progress kept in memory (bounded history) for /sync/status.
//
// Thread-safety: every method is safe from any thread. One mutex guards the queue, the
// transfer records and the figures; it is never held across I/O (scan, pulls, hashing).
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "orchestrator/base/status.h"
#include "orchestrator/inventory/inventory.h"

namespace rift::datasvc {

struct DataOptions {
  std::string node_id;
  std::string data_root;                      // absolute $RINGRIFT_DIR/data
  std::string db_path;                        // $RINGRIFT_DIR/state/inventory.db
  std::vector<inventory::FileClass> classes;  // empty = inventory::DefaultFileClasses()
  std::chrono::milliseconds quiet_period{30000};
  std::chrono::milliseconds scan_interval{2000};
  int max_concurrent_transfers = 4;
  uint64_t bandwidth_bytes_per_sec = 0;  // per transfer; 0 = unlimited
  uint64_t small_file_bytes = 1u << 20;  // up to this size: batched (POST /sync/files)
  std::string token;                     // sent to sources
  size_t history = 256;                  // finished transfers kept for /sync/status
};

// Published into the node's snapshot (for /status and /metrics).
struct DataFigures {
  uint64_t files = 0, sealed = 0, bytes = 0;
  uint64_t scans = 0;
  int64_t last_scan_ms = 0;
  std::string last_scan_error;
  uint64_t transfers_active = 0, transfers_queued = 0;
  uint64_t transfers_done = 0, transfers_failed = 0;
  uint64_t bytes_received = 0, bytes_resumed = 0;
};

// One file to pull (POST /sync/pull).
struct PullSpec {
  std::string path;
  std::string sha256;
  uint64_t size = 0;
  std::vector<std::string> sources;  // base URLs, best first
  int64_t mtime_ns = 0;  // the source's mtime, given to the received file (0 = keep arrival time)
};

// One transfer: a single file, or a batch of small files (path = first file, files = count).
struct TransferInfo {
  std::string id;          // "<request>.<n>"
  std::string request_id;  // the id POST /sync/pull answered with
  std::string path;
  uint64_t files = 1;
  uint64_t bytes_total = 0, bytes_done = 0, bytes_received = 0, bytes_resumed = 0;
  double rate_bytes_per_sec = 0;
  std::string state;  // queued | running | done | failed
  std::string error;
  std::string source;
  int64_t queued_ms = 0, started_ms = 0, finished_ms = 0;
};

struct SubmitResult {
  std::string request_id;
  size_t queued = 0;   // files queued
  size_t skipped = 0;  // already held (same sha256) or already queued
};

class DataService {
 public:
  static Result<std::unique_ptr<DataService>> Open(DataOptions options);
  ~DataService();  // Stop()s
  DataService(const DataService&) = delete;
  DataService& operator=(const DataService&) = delete;

  // Starts the scanner and the pull workers (a first scan runs at once).
  void Start();
  // Stops the threads: running pulls are cut off (their .part files stay for resume).
  void Stop();

  inventory::Inventory* inventory() const;
  const DataOptions& options() const;
  const std::vector<inventory::FileClass>& classes() const;
  DataFigures Figures() const;

  // Queues pulls and returns at once. Files already held in that version, or already queued
  // or running, are skipped. kInvalidArgument for a bad path, sha256 or empty source list.
  Result<SubmitResult> Submit(std::vector<PullSpec> files);
  // Active transfers first (queued, running), then the recent history, newest first.
  std::vector<TransferInfo> Transfers() const;
  // Wakes the scanner now.
  void ScanSoon();

 private:
  struct Impl;
  explicit DataService(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace rift::datasvc
