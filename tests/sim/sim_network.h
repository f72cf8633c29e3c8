#pragma once
// Deterministic multi-node simulator (FoundationDB-style): many NodeCores on a fake network with
// virtual time. Everything random (delays, losses, node seeds, boot ids) derives from one seed,
// and events are ordered by (time, sequence number), so a run replays exactly from its seed.
//
// Transport model, as in the daemon: every envelope is one HTTP request to its `to_url`; the
// receiver's replies travel back in the response, so they arrive only if the request got
// through, only to the same process that sent it (a crashed sender's connection is gone), and
// may be lost themselves. Partitions cut requests and responses alike.
//
// Invariants are checked as the run goes and recorded in violations():
//  - election safety: at most one leader per term, counting every (term, leader) claim anyone
//    makes (leaders claiming themselves, followers reporting a leader);
//  - lease safety: never two voters holding a lease at the same instant.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "orchestrator/base/random.h"
#include "orchestrator/base/time.h"
#include "orchestrator/core/node_core.h"
#include "orchestrator/election/election.h"
#include "orchestrator/membership/membership.h"
#include "orchestrator/protocol/messages.h"

namespace rift::sim {

struct Faults {
  double loss = 0.0;  // probability per request and per response
  Duration min_delay = milliseconds(1);
  Duration max_delay = milliseconds(40);
  double slow_fraction = 0.0;  // share of messages that take the slow path
  Duration slow_delay = milliseconds(1500);
};

struct Options {
  uint64_t seed = 1;
  int nodes = 10;
  int voters = 5;                     // the first `voters` nodes (capped at `nodes`)
  int seed_nodes = 2;                 // the first voters' URLs are every node's seeds, in order
  Duration tick = milliseconds(100);  // how often each node's Tick runs
  membership::Timers membership;
  election::Timers election;
  Faults faults;
  bool quiet = true;  // hundreds of nodes logging every election drown the output
};

// Stretches every timer, the tick and the network delays by `factor`: the same protocol at a
// slower clock, for long runs of big clusters (fewer events per simulated second, same ratios).
Options Scaled(Options options, int factor);

struct NetStats {
  uint64_t requests = 0;
  uint64_t replies = 0;
  uint64_t delivered = 0;
  uint64_t lost = 0;  // random loss
  uint64_t cut = 0;   // partition, crashed or unknown destination
  uint64_t ticks = 0;
};

class SimNetwork {
 public:
  explicit SimNetwork(Options options);
  ~SimNetwork();
  SimNetwork(const SimNetwork&) = delete;
  SimNetwork& operator=(const SimNetwork&) = delete;

  // Boots node i: a fresh NodeCore with a higher incarnation and a new boot_id, on the same
  // vote store (its "disk"). No-op if it is up.
  void Start(int i);
  // Kills node i's process; its vote store survives. No-op if it is down.
  void Crash(int i);
  bool IsUp(int i) const { return nodes_[i].core != nullptr; }

  // Nodes in different groups cannot reach each other. Group 0 everywhere = no partition.
  void SetGroup(int i, int group) { nodes_[i].group = group; }
  int group(int i) const { return nodes_[i].group; }
  void HealPartitions();

  // Advances virtual time, delivering messages and ticking nodes.
  void RunFor(Duration d);
  // Runs until `done()` (checked every `every`) or `limit`; returns the elapsed time if done.
  std::optional<Duration> RunUntil(Duration limit, const std::function<bool()>& done,
                                   Duration every = milliseconds(500));

  TimePoint now() const { return now_; }
  int size() const { return static_cast<int>(nodes_.size()); }
  const std::string& id(int i) const { return nodes_[i].id; }
  int IndexOf(const std::string& node_id) const;
  const core::NodeCore* core(int i) const { return nodes_[i].core.get(); }
  std::vector<int> UpNodes() const;
  bool IsVoter(int i) const { return i < options_.voters; }

  Faults& faults() { return options_.faults; }
  const Options& options() const { return options_; }
  Random& random() { return random_; }
  const NetStats& stats() const { return stats_; }

  // Safety violations seen so far (empty = none), each with its virtual time.
  const std::vector<std::string>& violations() const { return violations_; }
  // Highest term anyone has reached, and how many distinct terms had a leader.
  uint64_t max_term() const { return max_term_; }
  size_t terms_with_leader() const { return claims_.size(); }

 private:
  struct Node {
    std::string id;
    std::string url;
    std::unique_ptr<election::MemoryVoteStore> store;  // survives crashes
    std::unique_ptr<core::NodeCore> core;
    uint64_t boot = 0;  // 0 = never booted; bumps on each Start
    uint64_t last_incarnation = 0;
    int group = 0;
    uint64_t seen_term = 0;  // last (term, leader) recorded for this node
    std::string seen_leader;
  };
  struct Event {
    TimePoint at;
    uint64_t seq;
    int from;
    uint64_t from_boot;
    int to;
    uint64_t to_boot;  // 0: whoever listens at the URL (a request); else the exact process
    std::vector<protocol::Envelope> batch;
  };

  bool Reachable(int a, int b) const { return nodes_[a].group == nodes_[b].group; }
  Duration Delay();
  void Push(Event e);
  void Send(int from, protocol::Envelope e);
  void SendAll(int from, std::vector<protocol::Envelope>&& batch);
  void Deliver(Event& e);
  void TickAll();
  void Observe(int i);
  void CheckLeases();
  void Violation(std::string what);

  Options options_;
  Random random_;
  TimePoint now_;
  TimePoint next_tick_;
  uint64_t seq_ = 0;
  std::vector<Node> nodes_;
  std::unordered_map<std::string, int> by_url_;
  std::unordered_map<std::string, int> by_id_;
  std::vector<Event> heap_;
  std::map<uint64_t, std::string> claims_;  // term -> the leader anyone named for it
  uint64_t max_term_ = 0;
  NetStats stats_;
  std::vector<std::string> violations_;
};

}  // namespace rift::sim
