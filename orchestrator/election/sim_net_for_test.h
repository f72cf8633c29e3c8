#pragma once
// Test-only: a tiny deterministic network of Election instances (NuRaft's FakeNetwork + FakeTimer
// in one). Time moves only in Step(); envelopes are routed by to_id after a latency, through
// links the test can cut; nodes can crash and restart with their vote store kept.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "orchestrator/election/election.h"

namespace rift::election::testing {

inline constexpr Duration kTick = milliseconds(10);
inline constexpr Duration kHeartbeat = milliseconds(100);
inline constexpr Duration kElectionTimeout = milliseconds(1000);

class SimNet {
 public:
  // Voters are "n1".."n<voters>", workers "w1".."w<workers>".
  explicit SimNet(int voters, int workers = 0, uint64_t seed = 1,
                  LeaderMode mode = LeaderMode::kElected, std::string preferred = {})
      : seed_(seed), faults_(seed ^ 0x5eed) {
    std::vector<std::string> voter_ids;
    for (int i = 1; i <= voters; ++i) voter_ids.push_back("n" + std::to_string(i));
    ids_ = voter_ids;
    for (int i = 1; i <= workers; ++i) ids_.push_back("w" + std::to_string(i));
    for (const auto& id : ids_) {
      index_[id] = nodes_.size();
      Node& n = *nodes_.emplace_back(std::make_unique<Node>());
      n.config.node_id = id;
      n.config.self_url = "http://" + id + ":8770";
      n.config.voters = voter_ids;
      n.config.preferred_leader = preferred;
      n.config.mode = mode;
      n.config.timers = Timers{kHeartbeat, kElectionTimeout, 0.9};
      Start(id);
    }
  }

  TimePoint now() const { return now_; }
  const std::vector<std::string>& ids() const { return ids_; }
  Election& operator[](const std::string& id) { return *node(id).election; }
  MemoryVoteStore& store(const std::string& id) { return node(id).store; }
  bool up(const std::string& id) const { return node(id).election != nullptr; }

  // Links: a cut pair drops messages both ways; Isolate cuts a node from everyone.
  void Cut(const std::string& a, const std::string& b) { cut_.insert(std::minmax(a, b)); }
  void Isolate(const std::string& id) {
    for (const auto& other : ids_) {
      if (other != id) Cut(id, other);
    }
  }
  void Heal() { cut_.clear(); }

  void Crash(const std::string& id) { node(id).election.reset(); }
  void Restart(const std::string& id) {
    Crash(id);
    Start(id);
  }

  // Random faults for the randomized test: each message is dropped with `drop` and otherwise
  // delivered after a latency uniform in [1 ms, max_delay].
  void SetFaults(double drop, Duration max_delay) {
    drop_ = drop;
    max_delay_ = max_delay;
  }
  Random& faults() { return faults_; }

  void Step() {
    now_ += kTick;
    Deliver();
    for (auto& n : nodes_) {
      if (!n->election) continue;
      for (auto& e : n->election->Tick(now_, ids_)) Send(std::move(e));
    }
    Deliver();
    Observe();
  }
  void Run(Duration d) {
    for (TimePoint end = now_ + d; now_ < end;) Step();
  }
  // Steps until exactly one up node leads, for at most `limit`, then a few ticks more so that
  // its first heartbeats land; returns its id.
  std::optional<std::string> RunUntilLeader(Duration limit = seconds(30)) {
    for (TimePoint end = now_ + limit; now_ < end;) {
      Step();
      if (Leaders().size() == 1) {
        Run(5 * kTick);
        auto l = Leaders();
        return l.size() == 1 ? std::optional(l.front()) : std::nullopt;
      }
    }
    return std::nullopt;
  }
  std::vector<std::string> Leaders() const {
    std::vector<std::string> out;
    for (const auto& n : nodes_) {
      if (n->election && n->election->role() == Role::kLeader) out.push_back(n->config.node_id);
    }
    return out;
  }

  // Safety record, kept across crashes: every (term, leader) any node ever claimed, and any
  // instant at which two nodes held a lease at once.
  const std::map<uint64_t, std::set<std::string>>& claims() const { return claims_; }
  int overlapping_leases() const { return overlapping_leases_; }

 private:
  struct Node {
    Config config;
    MemoryVoteStore store;  // survives crashes: it stands for the disk
    std::unique_ptr<Random> random;
    std::unique_ptr<Election> election;
    uint64_t claimed = 0;  // newest term this node was seen leading (saves re-recording it)
  };
  struct InFlight {
    TimePoint at;
    uint64_t order;
    protocol::Envelope envelope;
    bool operator>(const InFlight& o) const {
      return std::tie(at, order) > std::tie(o.at, o.order);
    }
  };

  Node& node(const std::string& id) { return *nodes_[index_.at(id)]; }
  const Node& node(const std::string& id) const { return *nodes_[index_.at(id)]; }

  void Start(const std::string& id) {
    Node& n = node(id);
    n.random = std::make_unique<Random>(seed_ * 1000 + (restarts_++));
    n.election = std::make_unique<Election>(n.config, &n.store, n.random.get(), now_);
  }

  void Send(protocol::Envelope e) {
    if (cut_.count(std::minmax(e.from_id, e.to_id))) return;
    Duration delay = milliseconds(1);
    if (drop_ > 0 || max_delay_ > delay) {
      if (faults_.Chance(drop_)) return;
      delay = faults_.Between(milliseconds(1), max_delay_);
    }
    queue_.push(InFlight{now_ + delay, order_++, std::move(e)});
  }

  void Deliver() {
    while (!queue_.empty() && queue_.top().at <= now_) {
      protocol::Envelope e = std::move(const_cast<InFlight&>(queue_.top()).envelope);
      queue_.pop();
      auto it = index_.find(e.to_id);
      if (it == index_.end() || !nodes_[it->second]->election) continue;  // lost with a crash
      protocol::Output out = nodes_[it->second]->election->Receive(e, now_);
      for (auto& r : out.replies) Send(std::move(r));
      for (auto& o : out.outbound) Send(std::move(o));
      Observe();
    }
  }

  void Observe() {
    int leases = 0;
    for (auto& n : nodes_) {
      if (!n->election) continue;
      uint64_t term = n->election->term();
      if (n->election->role() == Role::kLeader && n->claimed != term) {
        n->claimed = term;
        claims_[term].insert(n->config.node_id);
      }
      if (n->election->HasLease(now_)) ++leases;
    }
    if (leases > 1) ++overlapping_leases_;
  }

  uint64_t seed_;
  Random faults_;
  double drop_ = 0;
  Duration max_delay_ = milliseconds(1);
  TimePoint now_ = TimePoint(std::chrono::hours(1));
  std::vector<std::string> ids_;
  std::vector<std::unique_ptr<Node>> nodes_;  // in ids_ order
  std::map<std::string, size_t> index_;
  std::set<std::pair<std::string, std::string>> cut_;
  std::priority_queue<InFlight, std::vector<InFlight>, std::greater<>> queue_;
  uint64_t order_ = 0;
  uint64_t restarts_ = 0;
  std::map<uint64_t, std::set<std::string>> claims_;
  int overlapping_leases_ = 0;
};

}  // namespace rift::election::testing
