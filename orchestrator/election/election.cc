#include "orchestrator/election/election.h"

#include <algorithm>
#include <utility>

#include "orchestrator/base/log.h"
#include "orchestrator/election/election_impl.h"

namespace rift::election {
namespace {

using protocol::Envelope;
using protocol::Heartbeat;
using protocol::HeartbeatAck;
using protocol::Output;
using protocol::TimeoutNow;
using protocol::VoteRequest;
using protocol::VoteResponse;

Duration Scale(Duration d, double f) {
  return Duration(static_cast<Duration::rep>(static_cast<double>(d.count()) * f));
}

std::string T(uint64_t term) { return std::to_string(term); }

}  // namespace

const char* RoleName(Role r) {
  switch (r) {
    case Role::kFollower:
      return "follower";
    case Role::kPreCandidate:
      return "candidate";
    case Role::kCandidate:
      return "candidate";
    case Role::kLeader:
      return "leader";
  }
  return "unknown";
}

bool Election::Impl::Persist(uint64_t new_term, const std::string& vote) {
  Status s = store->Save(PersistentState{new_term, vote});
  if (s.ok()) return true;
  ++stats.store_errors;
  log::Error("election: cannot persist term " + T(new_term) + ": " + s.ToString());
  return false;
}

void Election::Impl::ResetElectionTimer(TimePoint now) {
  election_deadline = now + random->Between(et(), 2 * et());
}

void Election::Impl::SetLeader(const std::string& id, const std::string& url) {
  if (leader_id != id) {
    ++stats.leader_changes;
    log::Info("election: leader is " + id + " in term " + T(term));
  }
  leader_id = id;
  leader_url = url;
}

void Election::Impl::BecomeFollower() {
  if (role == Role::kLeader) {
    ++stats.stepped_down;
    log::Info("election: " + self() + " steps down in term " + T(term));
    leader_id.clear();
    leader_url.clear();
  }
  role = Role::kFollower;
  votes.reset();
}

// which is safe: votes are saved (with their term) before they are granted.
void Election::Impl::AdoptTerm(uint64_t new_term, TimePoint now, bool persist) {
  BecomeFollower();
  term = new_term;
  voted_for.clear();
  leader_id.clear();
  leader_url.clear();
  heard_leader_at.reset();
  ResetElectionTimer(now);
  if (persist) (void)Persist(term, voted_for);
}

std::vector<Envelope> Election::Impl::Tick(TimePoint now, const std::vector<std::string>& alive) {
  if (members != alive) members = alive;  // usually unchanged: spare the copies
  std::vector<Envelope> out;
  if (role == Role::kLeader) {
    LeaderTick(now, out);
  } else if (CanCampaign() && config.voters.size() == 1) {
    StartElection(now, /*transfer=*/false, out);  // we are the majority: lead at once
  } else if (CanCampaign() && now >= election_deadline) {
    StartPreVote(now, out);
  }
  return out;
}

void Election::Impl::StartPreVote(TimePoint now, std::vector<Envelope>& out) {
  role = Role::kPreCandidate;
  ++stats.pre_votes_started;
  votes.emplace(config.voters.size());
  votes->Register(self(), true);
  ResetElectionTimer(now);  // retry if this round stalls
  for (const auto& v : config.voters) {
    if (v != self()) out.push_back(Make(v, VoteRequest{term + 1, self(), true, false}));
  }
}

void Election::Impl::StartElection(TimePoint now, bool transfer, std::vector<Envelope>& out) {
  ResetElectionTimer(now);
  // The self-vote must be durable before anyone is asked: a restart must not vote again.
  if (!Persist(term + 1, self())) {
    BecomeFollower();
    return;
  }
  BecomeFollower();
  ++term;
  voted_for = self();
  leader_id.clear();
  leader_url.clear();
  heard_leader_at.reset();
  role = Role::kCandidate;
  ++stats.elections_started;
  votes.emplace(config.voters.size());
  votes->Register(self(), true);
  log::Info("election: " + self() + " campaigns in term " + T(term));
  if (votes->decision() == VoteDecision::kGranted) {
    BecomeLeader(now, out);
    return;
  }
  for (const auto& v : config.voters) {
    if (v != self()) out.push_back(Make(v, VoteRequest{term, self(), false, transfer}));
  }
}

void Election::Impl::OnVoteRequest(const Envelope& in, const VoteRequest& req, TimePoint now,
                                   Output& out) {
  auto reply = [&](bool granted, uint64_t t) {
    out.replies.push_back(Make(in.from_id, VoteResponse{t, granted, req.pre_vote}));
  };
  if (!voter || !store_ok || req.candidate_id == self() || !IsVoter(req.candidate_id) ||
      (config.mode == LeaderMode::kStatic && req.candidate_id != config.preferred_leader)) {
    reply(false, term);
    return;
  }
  if (req.pre_vote) {  // never changes our state
    bool grant = req.term > term && (req.transfer || !Sticky(now));
    reply(grant, grant ? req.term : term);
    return;
  }
  // Stickiness before the term check: a live leader's term must not be bumped (Raft 9.6).
  if (req.term < term || (!req.transfer && Sticky(now))) {
    reply(false, term);
    return;
  }
  if (req.term > term) AdoptTerm(req.term, now, /*persist=*/false);  // saved with the vote
  if (!voted_for.empty() && voted_for != req.candidate_id) {
    reply(false, term);
    return;
  }
  if (voted_for.empty()) {
    if (!Persist(term, req.candidate_id)) {
      reply(false, term);
      return;
    }
    voted_for = req.candidate_id;
  }
  ResetElectionTimer(now);
  reply(true, term);
}

void Election::Impl::OnVoteResponse(const Envelope& in, const VoteResponse& resp, TimePoint now,
                                    Output& out) {
  if (!IsVoter(in.from_id)) return;
  if (resp.pre_vote) {  // pre-vote answers never change terms
    if (role != Role::kPreCandidate || (resp.granted && resp.term != term + 1)) return;
    votes->Register(in.from_id, resp.granted);
    if (votes->decision() == VoteDecision::kGranted) {
      StartElection(now, /*transfer=*/false, out.outbound);
    } else if (votes->decision() == VoteDecision::kDenied) {
      BecomeFollower();
    }
    return;
  }
  if (resp.term > term) {
    AdoptTerm(resp.term, now, /*persist=*/true);
    return;
  }
  if (role != Role::kCandidate || resp.term != term) return;
  votes->Register(in.from_id, resp.granted);
  if (votes->decision() == VoteDecision::kGranted) {
    BecomeLeader(now, out.outbound);
  } else if (votes->decision() == VoteDecision::kDenied) {
    BecomeFollower();
  }
}

void Election::Impl::OnHeartbeat(const Envelope& in, const Heartbeat& hb, TimePoint now,
                                 Output& out) {
  auto reply = [&](bool success) {
    out.replies.push_back(Make(in.from_id, HeartbeatAck{term, hb.seq, success}));
  };
  if (hb.term < term) {  // tells the stale leader our term, so that it steps down
    reply(false);
    return;
  }
  if (hb.term == term && role == Role::kLeader) {
    // Two leaders in one term means a broken vote store or a duplicated node id.
    log::Error("election: " + hb.leader_id + " also claims term " + T(term));
    reply(false);
    return;
  }
  if (hb.term > term) {
    AdoptTerm(hb.term, now, /*persist=*/true);
  } else {
    BecomeFollower();
  }
  SetLeader(hb.leader_id, hb.leader_url.empty() ? in.from_url : hb.leader_url);
  heard_leader_at = now;
  sticky_until = now + et();
  ResetElectionTimer(now);
  reply(true);
}

void Election::Impl::OnTimeoutNow(const Envelope& in, const TimeoutNow& tn, TimePoint now,
                                  Output& out) {
  if (tn.term > term) {
    AdoptTerm(tn.term, now, /*persist=*/true);
    return;
  }
  if (tn.term != term || role != Role::kFollower || in.from_id != leader_id || !CanCampaign() ||
      now < next_transfer_campaign) {
    return;
  }
  log::Info("election: " + self() + " takes over from " + in.from_id);
  next_transfer_campaign = now + transfer_campaign_backoff;
  transfer_campaign_backoff = std::min(2 * transfer_campaign_backoff, kMaxBackoff * et());
  StartElection(now, /*transfer=*/true, out.outbound);
  transfer_campaign_term = term;
}

Election::Election(Config config, VoteStore* store, Random* random, TimePoint now)
    : impl_(new Impl{}) {
  Impl& s = *impl_;
  // Deduplicate voters (keeping order): a repeated id must not count twice toward a majority.
  std::vector<std::string> voters;
  for (auto& v : config.voters) {
    if (!v.empty() && std::find(voters.begin(), voters.end(), v) == voters.end()) {
      voters.push_back(v);
    }
  }
  config.voters = std::move(voters);
  s.config = std::move(config);
  s.store = store;
  s.random = random;
  s.voter = s.IsVoter(s.self());
  auto loaded = store->Load();
  if (loaded.ok()) {
    s.term = loaded->term;
    s.voted_for = loaded->voted_for;
  } else {
    s.store_ok = false;
    ++s.stats.store_errors;
    log::Error("election: cannot load vote record, will only follow: " +
               loaded.status().ToString());
  }
  if (s.config.mode == LeaderMode::kStatic && !s.IsVoter(s.config.preferred_leader)) {
    log::Warn("election: static mode without a voting preferred_leader: nobody will lead");
  }
  Timers& t = s.config.timers;
  if (t.lease_fraction < 0 || t.lease_fraction > 1) {
    // Past 1 the lease would outlive the followers' stickiness: two leaders could act.
    log::Warn("election: lease_fraction must be in [0, 1]; clamped");
    t.lease_fraction = std::clamp(t.lease_fraction, 0.0, 1.0);
  }
  if (t.heartbeat_interval * 2 > t.election_timeout) {
    log::Warn("election: heartbeat_interval should be well under election_timeout / 2");
  }
  // We may have acked a leader just before restarting; honour the lease it may still hold.
  s.sticky_until = now + s.et();
  s.transfer_campaign_backoff = s.et();
  s.ResetElectionTimer(now);
}

Election::~Election() { delete impl_; }

std::vector<Envelope> Election::Tick(TimePoint now, const std::vector<std::string>& members) {
  return impl_->Tick(now, members);
}

Output Election::Receive(const Envelope& in, TimePoint now) {
  Output out;
  if (in.from_id == impl_->self()) return out;
  if (const auto* m = std::get_if<VoteRequest>(&in.body)) {
    impl_->OnVoteRequest(in, *m, now, out);
  } else if (const auto* m = std::get_if<VoteResponse>(&in.body)) {
    impl_->OnVoteResponse(in, *m, now, out);
  } else if (const auto* m = std::get_if<Heartbeat>(&in.body)) {
    impl_->OnHeartbeat(in, *m, now, out);
  } else if (const auto* m = std::get_if<HeartbeatAck>(&in.body)) {
    impl_->OnHeartbeatAck(in, *m, now);
  } else if (const auto* m = std::get_if<TimeoutNow>(&in.body)) {
    impl_->OnTimeoutNow(in, *m, now, out);
  }
  return out;  // membership messages are not ours
}

Role Election::role() const { return impl_->role; }
uint64_t Election::term() const { return impl_->term; }
std::optional<std::string> Election::leader_id() const {
  if (impl_->leader_id.empty()) return std::nullopt;
  return impl_->leader_id;
}
std::string Election::leader_url() const { return impl_->leader_url; }
bool Election::is_voter() const { return impl_->voter; }

bool Election::HasLease(TimePoint now) const {
  const Impl& s = *impl_;
  return s.role == Role::kLeader && s.lease_start &&
         now < *s.lease_start + Scale(s.et(), s.config.timers.lease_fraction) &&
         now >= s.transfer_until;
}

bool Election::HasQuorum(TimePoint now) const {
  const Impl& s = *impl_;
  if (s.role == Role::kLeader) return HasLease(now);
  return !s.leader_id.empty() && s.heard_leader_at && now < *s.heard_leader_at + s.et();
}

Status Election::CheckTerm(uint64_t term) const {
  const Impl& s = *impl_;
  if (term < s.term) {
    return StaleTerm("term " + T(term) + " is stale: current term is " + T(s.term));
  }
  if (term > s.term) {
    return FailedPrecondition("term " + T(term) + " is newer than this node's term " + T(s.term) +
                              ": this node lags behind the leader");
  }
  if (s.leader_id.empty()) {
    return FailedPrecondition("no leader known for term " + T(term));
  }
  return Status::Ok();
}

const Stats& Election::stats() const { return impl_->stats; }
const Config& Election::config() const { return impl_->config; }

}  // namespace rift::election
