#pragma once
// The leader's scheduler and improvement loop, driven: one service thread per daemon that, while
// this node leads and holds its lease,
//   - adopts the newest loop state from a quorum of voters once per term (and re-stores it under
//     its own term before acting),
//   - steps the loop (loop.h): observes the stage's jobs and files over HTTP, stores every
//     transition locally and on a quorum of voters (POST /improvement/state) before acting,
//     then takes the actions (POST /start_job with term + idempotency key, training sync rounds,
//     POST /sync/pull of the promoted model),
//   - every scheduler interval, reads each node's capacity and jobs and starts the selfplay the
//     Scheduler decides (scheduler.h).
// Outbound-only nodes cannot be called: they POST /leader/commands with their capacity and jobs
// every poll interval and get their commands in the reply (OnPoll); on such a node the same
// thread runs that poll and executes the commands against its own API.
//
// Thread-safety: public methods are safe from any thread. One mutex guards the shared records
// (requests, published status, reports, mailboxes); it is never held across I/O.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "orchestrator/base/status.h"
#include "orchestrator/improve/loop.h"
#include "orchestrator/improve/scheduler.h"
#include "orchestrator/improve/state_store.h"

namespace rift::improve {

struct Peer {
  std::string node_id;
  std::string url;
  std::string state;  // alive | suspect | dead
  bool voter = false;
  bool outbound_only = false;
};

// What a node reports about itself (GET /scheduler/capacity, and in its polls).
struct Capacity {
  std::string node_id;
  int cpus = 0;
  int gpus = 0;
  double memory_percent = 0;
  double disk_percent = 0;
  double disk_high_percent = 80;
  bool healthy = true;
  bool outbound_only = false;
  std::string data_dir;  // absolute data root (job params name files there)
};

// GPUs named by a host entry's `gpu` field: "" or "none" -> 0; "4x A100" / "4 x A100" -> 4; any
// other name -> 1.
int GpuCount(const std::string& gpu);

// Per-host figures from distributed_hosts.yaml that override what nodes report (0 = unset).
struct HostLimits {
  int cpus = 0;
  int gpus = -1;  // -1 = unset
  int max_parallel_jobs = 0;
};

struct ServiceContext {
  std::string node_id;
  std::string token;
  std::string self_url;             // where this daemon answers itself (loopback when possible)
  std::vector<std::string> voters;  // configured voter ids (empty: this node alone)
  bool outbound_only = false;
  std::function<bool()> has_lease;
  std::function<uint64_t()> term;
  std::function<std::vector<Peer>()> members;  // every known member, this node included
  // Where an outbound-only node sends its polls: the leader it knows first, then the alive
  // members that accept connections (they answer 421 naming the leader).
  std::function<std::vector<std::string>()> leader_urls;
  std::function<Capacity()> local_capacity;
  // One training round of the leader's sync (LeaderSync::Run(kTraining)); "" or an error text.
  std::function<std::string()> sync_training;
  StateStore* store = nullptr;

  SchedulerConfig scheduler;
  bool background_selfplay = true;
  std::chrono::milliseconds scheduler_interval{5000};
  std::chrono::milliseconds poll_interval{3000};
  std::chrono::milliseconds tick{500};
  std::map<std::string, HostLimits> hosts;
  LoopConfig loop_defaults;
  std::string training_node;                // improvement.training_node ("" = first of below)
  std::vector<std::string> training_nodes;  // settings::TrainingNodeIds (hosts order)
};

// POST /improvement/start options; unset = the configured default.
struct StartOptions {
  std::optional<int> iterations, games_per_iteration, eval_games;
  std::optional<double> promote_win_rate;
  std::optional<std::string> board;
};

// One command for an outbound-only node, as the JSON body of the request it makes to itself.
struct Command {
  std::string op;    // "start_job" -> POST /start_job | "sync_pull" -> POST /sync/pull
  std::string body;  // JSON
  std::string key;   // dedup key in the mailbox
};

class ImprovementService {
 public:
  explicit ImprovementService(ServiceContext context);
  ~ImprovementService();  // Stop()s

  void Start();
  void Stop();

  // Leader side of the HTTP routes (the caller checked the lease). Start: the new loop's id
  // (kAlreadyExists while one runs, kFailedPrecondition without a training node, kNotLeader if
  // leadership is lost meanwhile, kUnavailable when no voter quorum stored it).
  Result<std::string> StartLoop(const StartOptions& options);
  // The stopped loop's id, "" when none was running.
  Result<std::string> StopLoop();
  // GET /improvement/status body (JSON).
  std::string StatusJson() const;
  // POST /leader/commands from an outbound-only node: records its report (capacity + jobs JSON
  // array) and returns the commands waiting for it.
  std::vector<Command> OnPoll(const Capacity& capacity, const std::string& jobs_json);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rift::improve
