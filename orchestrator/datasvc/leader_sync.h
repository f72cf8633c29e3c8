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
// Outbound-only nodes (membership's flag, or `nat_blocked` in the hosts file) are never called:
// they poll the leader (`POST /sync/assignments`, Assign()) with their manifest changes and
// the outcome of their pushes, and get in the answer the pushes the rounds planned for them
// (outbound-only holders push their files to a target that accepts connections) and the pulls
// planned for them as targets. A push assignment lives until the target's manifest shows the
// file, the source reports it done or failed, the source is silent for 2 minutes, or the term
// changes (a new term drops every assignment: targets fence the old one anyway).
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
#include "orchestrator/datasvc/data_service.h"
#include "orchestrator/inventory/types.h"

namespace rift::datasvc {

struct MemberRef {
  std::string node_id;
  std::string url;
  bool outbound_only = false;
  uint64_t incarnation = 0;  // changes when the node restarts
  // Suspected by membership, or its manifest could not be read this round: its last known
  // files still count as copies, but it is given nothing to pull or serve (sync/planner.h).
  bool suspect = false;
};

struct LeaderContext {
  std::string node_id;
  std::string token;
  std::function<bool()> has_lease;
  std::function<uint64_t()> term;
  std::function<std::vector<MemberRef>()> alive_members;  // including this node
  // Alive members and, flagged `suspect`, those suspected but not yet declared dead, from one
  // membership snapshot. Unset: alive_members().
  std::function<std::vector<MemberRef>()> sync_members;
  std::set<std::string> training_nodes;                   // from hosts' roles
  std::set<std::string> outbound_only_nodes;              // hosts with nat_blocked
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
  size_t pushes_planned = 0;  // new push assignments for outbound-only holders
  size_t pushes_kept = 0;     // planned earlier, still in progress
  std::vector<std::pair<std::string, std::string>> shortfalls;
  std::map<std::string, std::string> errors;  // node id -> manifest or pull request failure
};

struct FanoutReply {
  std::string node_id;
  int status = 0;  // 0 = transport error
  std::string body;
  std::string error;
};

// What an outbound-only node reports when it polls (POST /sync/assignments).
struct PushReport {
  std::string path, sha256, target;
  std::string state;  // active | done | failed
  std::string error;
};
struct NodeReport {
  std::string node_id;
  bool has_manifest = false;
  uint64_t manifest_from = 0;  // the cursor the page starts after
  std::vector<inventory::FileRecord> records;
  uint64_t next_cursor = 0;
  bool more = false;
  uint64_t disk_total = 0, disk_free = 0;
  double high_watermark = 0;
  std::vector<PushReport> pushes;
};
// kInvalidArgument naming the problem.
Result<NodeReport> ParseNodeReport(const std::string& json_body);

// The answer: this node's work under the leader's term.
struct NodeAssignments {
  uint64_t term = 0;
  uint64_t cursor = 0;  // the leader's manifest cursor for this node: the next page starts here
  std::vector<PushSpec> pushes;
  std::vector<PullSpec> pulls;
};

// One push assignment as /sync/status shows it.
struct PushAssignmentInfo {
  std::string source, target, path, sha256;
  uint64_t size = 0, term = 0;
  std::string state;  // planned | active | done | failed
  std::string error;
  int64_t issued_ms = 0, updated_ms = 0;
};
struct PushFigures {
  size_t planned = 0, active = 0;               // live assignments
  uint64_t done = 0, failed = 0;                // since this process started
  std::vector<PushAssignmentInfo> assignments;  // live ones, then recent ended ones
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

  // An outbound-only node's poll: applies its manifest page (when it starts at the cursor the
  // leader holds) and its push outcomes, answers its assignments. kNotLeader without the lease.
  Result<NodeAssignments> Assign(const NodeReport& report);
  // The assignments of `node_id` as they stand (nothing applied, nothing handed out).
  NodeAssignments Listed(const std::string& node_id) const;
  PushFigures Pushes() const;

  void Start();
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rift::datasvc
