#pragma once
// DataService: the per-node data plane. Owns the inventory of $RINGRIFT_DIR/data, a scanner
// thread (Scan every `scan_interval`, never on the ticker or an HTTP thread; it also forgets
// idle incoming pushes and garbage-collects abandoned `.part` files), a transfer queue (bounded
// worker threads running sync::PullFile / sync::PullBatch for pulls, and sync::PushFile /
// sync::PushBatch for the pushes of an outbound-only node), with per-transfer progress kept in
// memory (bounded history) for /sync/status, and the receiver of pushes from outbound-only
// nodes. A path is written by one transfer at a time: a pull of a path being pushed here is
// skipped, a push of a path being pulled is refused (busy).
//
// Thread-safety: every method is safe from any thread. One mutex guards the queue, the
// transfer records and the figures; it is never held across I/O (scan, pulls, hashing).
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "orchestrator/base/priority.h"
#include "orchestrator/base/status.h"
#include "orchestrator/inventory/inventory.h"
#include "orchestrator/sync/push.h"

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
  // Pushes up to this size travel whole, several per request (POST /sync/push-batch).
  uint64_t push_batch_file_bytes = 256u << 10;
  std::string token;     // sent to sources and push targets
  size_t history = 256;  // finished transfers kept for /sync/status
  // `.part` files older than this, of no transfer in progress, are removed by the scanner
  // (checked every part_gc_interval; 0 = a quarter of the age, between 10 s and 10 min).
  std::chrono::seconds part_max_age{std::chrono::hours(24)};
  std::chrono::milliseconds part_gc_interval{0};
  // The scanner (hashing) and the pull/push workers run at this CPU priority for their whole
  // life, behind the control plane's threads (docs/decisions.md 10).
  CpuPriority cpu_priority = CpuPriority::kNormal;
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
  // Pushes this node sent (outbound-only) and received.
  uint64_t pushes_done = 0, pushes_failed = 0, bytes_sent = 0;
  sync::PushReceiverFigures received_pushes;
  // .part garbage collection.
  uint64_t part_gc_runs = 0, parts_removed = 0, part_bytes_removed = 0;
};

// One file to pull (POST /sync/pull).
struct PullSpec {
  std::string path;
  std::string sha256;
  uint64_t size = 0;
  std::vector<std::string> sources;  // base URLs, best first
  int64_t mtime_ns = 0;  // the source's mtime, given to the received file (0 = keep arrival time)
};

// One push this node (outbound-only) is asked to make by the leader.
struct PushSpec {
  std::string path;
  std::string sha256;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  std::string target_id, target_url;
  uint64_t term = 0;  // the planning leader's term, carried to the target
};

// A push that ended (reported to the leader by the assignment poller).
struct PushOutcome {
  std::string path, sha256, target_id;
  bool ok = false;
  std::string error;
};

// One transfer: a single file, or a batch of small files (path = first file, files = count).
struct TransferInfo {
  std::string id;                  // "<request>.<n>"
  std::string request_id;          // the id POST /sync/pull answered with ("s<n>" for pushes)
  std::string direction = "pull";  // pull | push
  std::string path;
  std::string target;  // pushes: the target node id
  uint64_t files = 1;
  uint64_t bytes_total = 0, bytes_done = 0, bytes_received = 0, bytes_resumed = 0;
  uint64_t bytes_sent = 0;  // pushes
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
  // The same without received_pushes, or nothing if a data thread holds the service's lock
  // right now. For the ticker:
  // data threads may run at SCHED_IDLE, and one preempted inside the lock must not stall
  // heartbeats (it may not run again for as long as the CPUs stay busy).
  std::optional<DataFigures> TryFigures() const;

  // Queues pulls and returns at once. Files already held in that version, or already queued
  // or running, are skipped. kInvalidArgument for a bad path, sha256 or empty source list.
  Result<SubmitResult> Submit(std::vector<PullSpec> files);
  // Queues pushes (outbound-only node). Pushes already queued or running (same target and
  // path) are skipped. kInvalidArgument for a bad path, sha256, target or term.
  Result<SubmitResult> SubmitPushes(std::vector<PushSpec> pushes);
  // Pushes that ended since the last call (oldest first); the caller reports them.
  std::vector<PushOutcome> TakePushOutcomes();
  // Pushes queued or running.
  std::vector<PushSpec> PendingPushes() const;
  // Called (without any lock held) whenever a push ends.
  void OnPushDone(std::function<void()> callback);

  // Active transfers first (queued, running), then the recent history, newest first.
  std::vector<TransferInfo> Transfers() const;
  // Wakes the scanner now.
  void ScanSoon();

  // Receives pushes from outbound-only nodes (routes: sync::RegisterPushRoutes).
  sync::PushReceiver* push_receiver() const;

  // One .part garbage collection pass now (the scanner runs it every part_gc_interval):
  // removes `.part` files older than part_max_age that no transfer is writing. Returns the
  // paths removed.
  std::vector<std::string> CollectAbandonedParts();

 private:
  struct Impl;
  explicit DataService(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace rift::datasvc
