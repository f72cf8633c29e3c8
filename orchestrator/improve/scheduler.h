#pragma once
// The leader's selfplay scheduler, as pure logic: given what every node reports (capacity,
// pressure, its jobs from GET /jobs), decide which selfplay jobs to start so that each healthy
// node runs its target load. No I/O, no clock: the driver (ImprovementService) fetches the
// observations, sends the starts and feeds the replies back.
//
// Target per node: gpus * selfplay_per_gpu `gpu_selfplay` jobs on a node with GPUs, else
// clamp(cpus / 2, 1, cpu_selfplay_max) `selfplay` jobs (cpu_selfplay_max 0 = no CPU selfplay).
// Training, eval and promote jobs running there take one slot each. Under pressure (memory
// above memory_pressure_percent, or the data volume above its high watermark) the target is
// 0: nothing new starts (running jobs are left to finish). Unhealthy or unreachable nodes get
// nothing. A per-node cap (max_parallel_jobs) bounds all active jobs.
//
// Placement is deterministic: nodes in id order, free slots lowest first. Every start carries an
// idempotency key derived from (term, node, slot, generation): a retry of a start whose reply
// was lost returns the same job, never a second one; a slot's generation moves on only when
// its job is seen finished. A new term restarts the numbering (the keys carry the term), and
// jobs started under older terms still count as load.
//
// Not thread-safe: one owner (the leader's service thread).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace rift::improve {

struct SchedulerConfig {
  int selfplay_per_gpu = 1;
  int cpu_selfplay_max = 4;
  double memory_pressure_percent = 85;
  int selfplay_games = 200;  // games per background selfplay job
  std::string board = "6x7";
};

// One job as GET /jobs describes it (the fields the scheduler and the loop use).
struct JobView {
  std::string id;
  std::string kind;
  std::string state;  // starting | running | exited | failed | stopped | lost
  std::string idempotency_key;
  bool Active() const { return state == "starting" || state == "running"; }
};

struct NodeLoad {
  std::string node_id;
  bool reachable = false;  // capacity and jobs were read this round
  bool healthy = false;
  int cpus = 0;
  int gpus = 0;
  double memory_percent = 0;
  double disk_percent = 0;
  double disk_high_percent = 80;  // the node's own high watermark, in percent
  int max_parallel_jobs = 0;      // 0 = no cap of ours (the node enforces its own)
  std::vector<JobView> jobs;
};

struct StartRequest {
  std::string node_id;
  std::string kind;  // selfplay | gpu_selfplay
  std::map<std::string, std::string> params;
  std::string idempotency_key;
  uint64_t term = 0;
};

// Per node, what the last round decided (for /improvement/status and tests).
struct NodeTarget {
  std::string node_id;
  std::string kind;
  int target = 0;
  int running = 0;   // active selfplay jobs of any origin
  int starting = 0;  // starts issued this round
  std::string why;   // "", "pressure: memory 91%", "unhealthy", "unreachable", ...
};

// The selfplay load a node should carry, and why it is lower than its capacity.
NodeTarget TargetFor(const SchedulerConfig& config, const NodeLoad& node);

// Deterministic 31-bit seed from a key (distinct jobs play distinct games).
uint32_t SeedFromKey(const std::string& key);

class Scheduler {
 public:
  explicit Scheduler(SchedulerConfig config) : config_(std::move(config)) {}

  // One round for leader term `term`. Returns the starts to send. Jobs play with the node's
  // models/current.model (the catalogue's default `model`; none yet = random play).
  std::vector<StartRequest> Plan(uint64_t term, const std::vector<NodeLoad>& nodes);
  const std::vector<NodeTarget>& last_targets() const { return targets_; }
  const SchedulerConfig& config() const { return config_; }

 private:
  std::string Key(uint64_t term, const std::string& node, size_t slot) const;

  SchedulerConfig config_;
  uint64_t term_ = 0;
  std::map<std::string, std::vector<uint64_t>> generation_;  // node -> per-slot generation
  std::vector<NodeTarget> targets_;
};

}  // namespace rift::improve
