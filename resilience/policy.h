#pragma once
// WatchdogPolicy: what ringrift-resilience decides, as a pure state machine. Each pass the IO
// layer observes (local /health, /status, its own probes of the seeds, disk usage, fallback
// jobs) and calls Step(now, observation); the policy answers with actions (restart the daemon,
// start or stop fallback selfplay, ask for cleanup, register with the leader) and when to look
// again. It never sleeps, reads a clock, or touches a socket or a process.
//
// Rules (docs/watchdog.md):
//  - Restart only a daemon that is down (refused `down_probes` times in a row) or hung
//    (unanswered `hang_probes` times in a row), never within the startup grace of our last
//    restart or of a daemon process younger than the grace (someone else just started it).
//  - Restarts are spaced by an exponential backoff (reset after `stable_period` of health) and
//    capped by a budget per window; an exhausted budget stops restarts and says so, once, loudly.
//  - Disconnected = no live leader and no alive peer as the daemon reports it or, with the daemon
//    down, none of the seeds answers our own probes. Only after `disconnect_grace` of that does
//    fallback selfplay start; the first sign of a reachable peer stops it. A node that leads
//    itself (a one-node cluster) is never disconnected; no seeds to probe means "unknown".
//  - Above the disk high watermark, ask the daemon for local cleanup, at most once per
//    `cleanup_interval`.
//  - Register (POST /register) with the leader, else the coordinator, every
//    `register_interval`, starting with the first healthy pass.
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "orchestrator/base/time.h"

namespace rift::resilience {

struct PolicyConfig {
  Duration interval = seconds(10);
  Duration retry_interval = seconds(1);  // re-probe sooner while confirming a failure
  int down_probes = 2;
  int hang_probes = 3;
  Duration startup_grace = seconds(60);
  Duration backoff_initial = seconds(5);
  Duration backoff_max = std::chrono::minutes(5);
  Duration stable_period = std::chrono::minutes(10);  // healthy this long: backoff resets
  int restart_budget = 5;
  Duration budget_window = std::chrono::hours(1);
  bool fallback = true;
  int fallback_slots = 1;  // one per GPU, or one CPU job (capped by the caller)
  Duration disconnect_grace = std::chrono::minutes(3);
  Duration fallback_relaunch_gap = seconds(30);  // between relaunches of exited fallback jobs
  double high_watermark = 0.80;                  // fraction of the data volume
  Duration cleanup_interval = std::chrono::minutes(5);
  Duration register_interval = std::chrono::minutes(5);
  std::string coordinator_url;  // where to register when no leader is known
};

// Outcome of one probe of the local /health.
enum class Health { kOk, kRefused, kTimeout, kError };
const char* HealthName(Health h);

// What the daemon says about the cluster (GET /status).
struct ClusterView {
  std::string self_url;         // the daemon's advertised URL
  bool self_leader = false;     // this node leads
  bool leader_alive = false;    // a leader that is this node or an alive member
  std::string leader_url;       // empty when unknown
  int alive_peers = 0;          // members in state alive (not counting this node)
};

struct Observation {
  Health health = Health::kOk;
  std::string health_detail;  // for the log: why the probe failed
  // The process holding the daemon's lock (pid + start time checked), and its age.
  bool daemon_process = false;
  Duration daemon_age{};
  std::optional<ClusterView> cluster;  // only when /health answered and /status could be read
  // With the daemon not answering: our own /health probes of the seeds.
  int seeds_probed = 0;
  int seeds_reachable = 0;
  std::optional<double> disk_used;  // fraction of the data volume, if measured
  int fallback_running = 0;
};

struct LogLine {
  enum class Level { kInfo, kWarn, kError } level;
  std::string message;
};

struct Actions {
  struct Restart {
    bool hung = false;  // unanswered probes (a direct spawn kills the old pid first)
    std::string reason;
  };
  std::optional<Restart> restart;
  int start_fallback = 0;     // fallback jobs to start now
  bool stop_fallback = false;  // stop every fallback job
  bool cleanup = false;        // POST /cleanup to the local daemon
  std::string register_with;   // POST /register to this URL (empty: not now)
  std::vector<LogLine> log;
  Duration next_pass = seconds(10);  // when to observe again
};

// What survives a restart of the watchdog (and connects cron's --once runs): times as wall
// clock milliseconds.
struct PolicyMemory {
  std::vector<int64_t> restarts_ms;  // within the budget window
  int consecutive_restarts = 0;
  int64_t disconnected_since_ms = 0;  // 0 = connected or unknown
  bool fallback_active = false;
  int64_t last_cleanup_ms = 0;
  int64_t last_register_ms = 0;
};

class WatchdogPolicy {
 public:
  WatchdogPolicy(PolicyConfig config, TimePoint now);

  Actions Step(TimePoint now, const Observation& obs);

  // True while a failure is being confirmed (more probes are needed before a decision):
  // `--once` keeps probing until this is false.
  bool Confirming() const { return failures_ > 0 && failures_ < needed_; }
  bool fallback_active() const { return fallback_active_; }
  bool budget_exhausted() const { return budget_exhausted_; }

  PolicyMemory Save(TimePoint now, int64_t wall_now_ms) const;
  void Restore(const PolicyMemory& memory, TimePoint now, int64_t wall_now_ms);

  const PolicyConfig& config() const { return config_; }

 private:
  void StepHealth(TimePoint now, const Observation& obs, Actions& out);
  void StepConnectivity(TimePoint now, const Observation& obs, Actions& out);
  void StepDisk(TimePoint now, const Observation& obs, Actions& out);
  void StepRegister(TimePoint now, const Observation& obs, Actions& out);
  Duration Backoff() const;

  PolicyConfig config_;
  // Health and restarts.
  int failures_ = 0;
  int needed_ = 1;  // failures that confirm the current kind (down or hung)
  std::optional<TimePoint> grace_until_;  // our restarted daemon is starting until then
  std::optional<TimePoint> healthy_since_;
  std::optional<TimePoint> last_restart_;
  std::deque<TimePoint> restarts_;
  int consecutive_restarts_ = 0;
  bool budget_exhausted_ = false;
  bool backoff_logged_ = false;
  bool awaiting_recovery_ = false;  // restarted, not healthy yet
  // Connectivity and fallback.
  std::optional<TimePoint> disconnected_since_;
  bool fallback_active_ = false;
  std::optional<TimePoint> last_fallback_launch_;
  // Disk and registration.
  std::optional<TimePoint> last_cleanup_;
  bool disk_warned_ = false;
  std::optional<TimePoint> last_register_;
};

}  // namespace rift::resilience
