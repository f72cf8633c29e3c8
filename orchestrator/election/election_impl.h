#pragma once
// Internal to the election library: the state behind Election, shared by election.cc (terms,
// votes, following) and leader.cc (heartbeats, lease, check-quorum, transfer).
#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "orchestrator/election/election.h"
#include "orchestrator/election/vote_counter.h"

namespace rift::election {

struct Election::Impl {
  Config config;
  VoteStore* store = nullptr;
  Random* random = nullptr;
  Stats stats;
  bool voter = false;
  // False when Load failed: not knowing our past votes, we must never vote or campaign.
  bool store_ok = true;

  uint64_t term = 0;
  std::string voted_for;
  Role role = Role::kFollower;
  std::string leader_id;  // empty: no leader known in this term
  std::string leader_url;

  TimePoint election_deadline;
  std::optional<TimePoint> heard_leader_at;  // last heartbeat from the current leader
  // (Pre-)votes are refused until then: a leader we acked may still hold its lease.
  TimePoint sticky_until;
  std::optional<VoteCounter> votes;  // the current pre-vote or vote round
  std::vector<std::string> members;  // from the last Tick, for heartbeats sent from Receive

  // Leader state; reset by BecomeLeader.
  uint64_t next_seq = 1;
  TimePoint leader_since;
  TimePoint next_heartbeat;
  std::map<uint64_t, TimePoint> sent;     // heartbeat seq -> send time (recent rounds only)
  std::map<std::string, uint64_t> acked;  // voter -> highest seq it acked in this term
  std::optional<TimePoint> lease_start;
  std::optional<TimePoint> quorum_round;  // as lease_start, but counting transfer windows
  // No lease from rounds sent while a TimeoutNow may be in flight (its target campaigns past
  // voters' stickiness): [transfer_from, transfer_until).
  TimePoint transfer_from = TimePoint::min();
  TimePoint transfer_until = TimePoint::min();
  // A transfer that failed (we still lead) is retried with exponential backoff, so that a
  // preferred node that acks but cannot win cannot keep the lease suspended.
  TimePoint next_transfer = TimePoint::min();
  Duration transfer_backoff{};

  // Preferred-node side: a transfer campaign that failed (say, we reach the leader but not a
  // majority) costs the cluster its leader, so repeated TimeoutNows are honoured with backoff.
  TimePoint next_transfer_campaign = TimePoint::min();
  Duration transfer_campaign_backoff{};
  uint64_t transfer_campaign_term = 0;

  // Cap of the leadership-transfer backoffs, in election timeouts.
  static constexpr int kMaxBackoff = 64;

  Duration et() const { return config.timers.election_timeout; }
  const std::string& self() const { return config.node_id; }
  bool IsVoter(const std::string& id) const {
    return std::find(config.voters.begin(), config.voters.end(), id) != config.voters.end();
  }
  bool CanCampaign() const {
    return voter && store_ok &&
           (config.mode == LeaderMode::kElected || config.preferred_leader == self());
  }
  bool Sticky(TimePoint now) const { return role == Role::kLeader || now < sticky_until; }

  protocol::Envelope Make(const std::string& to, protocol::Body body) const {
    protocol::Envelope e;
    e.from_id = self();
    e.from_url = config.self_url;
    e.to_id = to;
    e.body = std::move(body);
    return e;
  }

  bool Persist(uint64_t new_term, const std::string& vote);
  void ResetElectionTimer(TimePoint now);
  void SetLeader(const std::string& id, const std::string& url);
  void BecomeFollower();
  // A higher term seen: follow it with no vote. A failed save leaves memory ahead of disk,
  // which is safe: votes are saved (with their term) before they are granted.
  void AdoptTerm(uint64_t new_term, TimePoint now, bool persist);
  std::vector<protocol::Envelope> Tick(TimePoint now, const std::vector<std::string>& alive);
  void StartPreVote(TimePoint now, std::vector<protocol::Envelope>& out);
  void StartElection(TimePoint now, bool transfer, std::vector<protocol::Envelope>& out);
  void BecomeLeader(TimePoint now, std::vector<protocol::Envelope>& out);
  void LeaderTick(TimePoint now, std::vector<protocol::Envelope>& out);
  void SendHeartbeats(TimePoint now, std::vector<protocol::Envelope>& out);
  void UpdateLease();
  void MaybeTransfer(TimePoint now, std::vector<protocol::Envelope>& out);
  void OnVoteRequest(const protocol::Envelope& in, const protocol::VoteRequest& req, TimePoint now,
                     protocol::Output& out);
  void OnVoteResponse(const protocol::Envelope& in, const protocol::VoteResponse& resp,
                      TimePoint now, protocol::Output& out);
  void OnHeartbeat(const protocol::Envelope& in, const protocol::Heartbeat& hb, TimePoint now,
                   protocol::Output& out);
  void OnHeartbeatAck(const protocol::Envelope& in, const protocol::HeartbeatAck& ack,
                      TimePoint now);
  void OnTimeoutNow(const protocol::Envelope& in, const protocol::TimeoutNow& tn, TimePoint now,
                    protocol::Output& out);
};

}  // namespace rift::election
