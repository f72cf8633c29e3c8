#pragma once
// Leader election, pure logic: Raft's election without the log. The owner calls Tick(now) and
// Receive() and sends what they return; it must not send a VoteResponse before the VoteStore
// write that precedes it has returned (Election calls the store synchronously itself).
//
//  - Voters are a configured set (1, 3 or 5 node ids). Non-voters (workers) never campaign and
//    never vote; they follow the highest-term leader they hear from.
//  - current_term and voted_for are persisted through VoteStore before any vote is granted or
//    any term change is acted upon. Leadership is never persisted: a node starts as follower.
//  - Randomised election timeout in [election_timeout, 2 * election_timeout].
//  - Pre-vote: a candidate first asks for votes for term+1 without bumping its term; voters grant
//    a pre-vote only if they have not heard from a live leader within election_timeout (leader
//    stickiness). A rejoining node therefore cannot depose a healthy leader.
//  - The leader sends Heartbeat to every voter and every alive member each heartbeat_interval.
//    Only voters' acks count. Check-quorum: a leader that has not heard a majority within
//    election_timeout steps down. Lease: the leader may act (HasLease) only until
//    `lease_start + election_timeout * lease_fraction`, where lease_start is the send time of the
//    newest heartbeat round a majority acknowledged.
//  - Fencing: every leader command carries its term; CheckTerm refuses stale terms.
//  - preferred_leader: a leader that is not the preferred one, seeing it alive and acking,
//    sends TimeoutNow; the preferred node campaigns at once (transfer=true). leader_mode static:
//    only the preferred leader ever campaigns.
//  - A single-voter cluster leads at once.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "orchestrator/base/random.h"
#include "orchestrator/base/status.h"
#include "orchestrator/base/time.h"
#include "orchestrator/protocol/messages.h"

namespace rift::election {

enum class Role { kFollower, kPreCandidate, kCandidate, kLeader };
const char* RoleName(Role r);  // "follower", "candidate" (pre-candidates report "candidate"),
                               // "leader"

enum class LeaderMode { kElected, kStatic };

struct Timers {
  Duration heartbeat_interval = milliseconds(500);
  Duration election_timeout = milliseconds(3000);
  double lease_fraction = 0.9;
};

struct Config {
  std::string node_id;
  std::string self_url;
  std::vector<std::string> voters;  // node ids; may include ourselves
  std::string preferred_leader;     // node id or empty
  LeaderMode mode = LeaderMode::kElected;
  Timers timers;
};

struct PersistentState {
  uint64_t term = 0;
  std::string voted_for;  // empty = none in this term
};

// Durable storage of term and vote. Save must be durable (synchronous) when it returns OK.
class VoteStore {
 public:
  virtual ~VoteStore() = default;
  virtual Result<PersistentState> Load() = 0;
  virtual Status Save(const PersistentState& state) = 0;
};

// In-memory store (tests and the simulator, where it stands for the disk and survives a
// simulated crash when the test keeps it).
class MemoryVoteStore : public VoteStore {
 public:
  Result<PersistentState> Load() override { return state_; }
  Status Save(const PersistentState& s) override {
    state_ = s;
    ++saves_;
    return Status::Ok();
  }
  int saves() const { return saves_; }

 private:
  PersistentState state_;
  int saves_ = 0;
};

struct Stats {
  uint64_t elections_started = 0;   // real (non-pre-vote) campaigns
  uint64_t pre_votes_started = 0;
  uint64_t leader_changes = 0;      // times this node observed a new leader
  uint64_t became_leader = 0;
  uint64_t stepped_down = 0;
  uint64_t store_errors = 0;
};

// Not thread-safe: the owner serialises calls.
class Election {
 public:
  // Loads term and vote from `store` (must outlive the Election).
  Election(Config config, VoteStore* store, Random* random, TimePoint now);
  ~Election();
  Election(const Election&) = delete;
  Election& operator=(const Election&) = delete;

  // `members`: ids of members currently believed alive (workers get heartbeats too).
  // Returned envelopes carry to_id only; the owner resolves URLs.
  std::vector<protocol::Envelope> Tick(TimePoint now, const std::vector<std::string>& members);
  protocol::Output Receive(const protocol::Envelope& in, TimePoint now);

  Role role() const;
  uint64_t term() const;
  std::optional<std::string> leader_id() const;   // as known in the current term
  std::string leader_url() const;                  // empty if unknown
  bool is_voter() const;
  // True while we lead and hold a quorum lease.
  bool HasLease(TimePoint now) const;
  // Quorum as this node sees it: leader with lease, or follower hearing a leader recently.
  bool HasQuorum(TimePoint now) const;
  // Fencing: OK if `term` is our current term and a leader is known for it; kStaleTerm if
  // older; kFailedPrecondition if newer (we lag).
  Status CheckTerm(uint64_t term) const;
  const Stats& stats() const;
  const Config& config() const;

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace rift::election
