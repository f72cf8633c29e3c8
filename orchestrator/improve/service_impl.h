#pragma once
// Internal to improve/: the state of ImprovementService, shared by service.cc (thread, requests,
// durability), service_loop.cc (the loop's observations and actions) and service_sched.cc (the
// scheduler, outbound-only nodes).
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

#include "orchestrator/base/time.h"
#include "orchestrator/improve/cluster_io.h"
#include "orchestrator/improve/service.h"

namespace rift::improve {

struct ImprovementService::Impl {
  struct Request {
    enum class Type { kStart, kStop } type;
    StartOptions options;
    std::promise<Result<std::string>> done;
  };
  // What an outbound-only node last told us about itself.
  struct Report {
    Capacity capacity;
    internal::JobsListing jobs;
    TimePoint at;
  };

  ServiceContext ctx;

  // Guarded by mu: shared with the HTTP workers.
  mutable std::mutex mu;
  std::deque<std::shared_ptr<Request>> requests;
  std::string status_loop;  // JSON of the newest stored state ("" = none)
  uint64_t status_term = 0, status_seq = 0;
  std::vector<NodeTarget> status_targets;
  std::map<std::string, std::string> status_jobs;  // stage job key -> observed state
  std::map<std::string, Report> reports;
  std::map<std::string, std::map<std::string, Command>> mailbox;  // node -> key -> command
  bool stopping = false, started = false;
  std::condition_variable cv;
  std::thread thread;

  // Service thread only.
  uint64_t adopted_term = 0;  // term whose leader adopted the quorum's state (0 = not yet)
  TimePoint adopted_at{};
  std::optional<LoopState> loop;
  uint64_t seq = 0;  // of `loop` as stored
  Scheduler scheduler{SchedulerConfig{}};
  std::vector<NodeLoad> loads;  // the last scheduler round's observations
  TimePoint next_schedule{}, next_poll{}, last_sync_round{};
  std::map<std::string, TimePoint> last_pull;       // node -> last model pull request
  std::map<std::string, std::string> start_errors;  // key -> why /start_job refused it
  std::string poll_error;  // the last poll's failure (logged when it changes)
  std::string poll_url;  // outbound-only: the leader that answered the last poll (or a 421)
  std::set<std::string> held_cache;              // sync: files seen on the trainer
  std::map<std::string, std::string> data_dirs;  // node -> absolute data root

  Result<std::string> Submit(std::shared_ptr<Request> req);  // from an HTTP worker: waits
  void Loop();
  void Tick();
  void ServeRequests(bool leading);
  Result<std::string> DoStart(const StartOptions& o);

  // Durability (service.cc).
  std::vector<Peer> VoterPeers() const;
  size_t Majority() const;
  bool Adopt(uint64_t term);
  bool Persist(const LoopState& next, uint64_t term);
  void Publish();

  // The loop (service_loop.cc).
  void StepLoop(uint64_t term);
  Observation Observe(const LoopState& s, const std::vector<Peer>& peers);
  void Act(const LoopState& s, const std::vector<Action>& actions, uint64_t term,
           const std::vector<Peer>& peers);
  std::string UrlOf(const std::vector<Peer>& peers, const std::string& id) const;
  // The node's data root (cached from its capacity; fetched when unknown), "" if unreachable.
  std::string DataDir(const std::vector<Peer>& peers, const std::string& id);

  // The scheduler and outbound-only nodes (service_sched.cc).
  void ScheduleRound(uint64_t term);
  void PollLeader();
  void Deliver(const std::string& node, Command c);  // into the node's mailbox
  bool IsOutbound(const std::vector<Peer>& peers, const std::string& id) const;
  // An outbound-only node's report, if it polled within three poll intervals.
  std::optional<Report> FreshReport(const std::string& id) const;
};

}  // namespace rift::improve
