#pragma once
// The leader's side of sync: fetches every alive member's manifest (incrementally, by cursor,
// cached per node, through a small bounded pool of threads, never under a lock), builds the
// sync::NodeView list, runs sync::PlanTraining / PlanReplication and sends each target
// `POST /sync/pull` with X-RingRift-Term = the leader's term. After each round it also tells
// every node which other nodes hold the same version of its files (`POST /sync/holders`, sent
// only when the list changed); nodes re-verify those claims before deleting anything.
//
// A periodic thread runs both plans every `sync_interval` and the leader-triggered cleanup every
// `cleanup_interval` (POST /cleanup to nodes whose manifest reports disk use above the high
// watermark), only while has_lease() is true; no request is issued once it turns false.
//
// Thread-safety: all methods are safe from any thread; one mutex guards the cache and the
// recent plans and is never held across I/O.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "orchestrator/base/status.h"
#include "orchestrator/inventory/types.h"

namespace rift::datasvc {

struct MemberRef {
  std::string node_id;
  std::string url;
  bool outbound_only = false;
  uint64_t incarnation = 0;  // changes when the node restarts
};

struct LeaderContext {
  std::string node_id;
  std::string token;
  std::function<bool()> has_lease;
  std::function<uint64_t()> term;
  std::function<std::vector<MemberRef>()> alive_members;  // including this node
  std::set<std::string> training_nodes;                   // from hosts' roles
  std::vector<inventory::FileClass> classes;
  double high_watermark = 0.80;
  std::chrono::seconds sync_interval{60};
  std::chrono::seconds cleanup_interval{300};
  size_t fetch_threads = 4;
};

enum class PlanKind { kTraining, kReplication };

struct PlanSummary {
  std::string plan_id;
  std::string kind;  // "training" | "replication"
  uint64_t term = 0;
  int64_t at_ms = 0;
  std::map<std::string, size_t> pulls_per_node;
  uint64_t bytes = 0;
  size_t pushes_not_done = 0;  // outbound-only holders' pushes (not implemented)
  std::vector<std::pair<std::string, std::string>> shortfalls;
  std::map<std::string, std::string> errors;  // node id -> manifest or pull request failure
};

struct FanoutReply {
  std::string node_id;
  int status = 0;  // 0 = transport error
  std::string body;
  std::string error;
};

class LeaderSync {
 public:
  explicit LeaderSync(LeaderContext context);
  ~LeaderSync();  // Stop()s

  // One round. kFailedPrecondition for training when no training node is configured;
  // kNotLeader when the lease is lost before any pull was issued.
  Result<PlanSummary> Run(PlanKind kind);
  // POSTs `body` to `path` on every alive member (this node included), in parallel, with the
  // leader's term in X-RingRift-Term.
  std::vector<FanoutReply> PostToAll(const std::string& path, const std::string& body);
  // Newest first, bounded.
  std::vector<PlanSummary> RecentPlans() const;

  void Start();
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rift::datasvc
