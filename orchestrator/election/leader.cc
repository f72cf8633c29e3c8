// The leader's side: heartbeat rounds, the quorum lease, check-quorum, leadership transfer.
#include <algorithm>
#include <functional>

#include "orchestrator/base/log.h"
#include "orchestrator/election/election_impl.h"

namespace rift::election {
namespace {

using protocol::Envelope;
using protocol::Heartbeat;
using protocol::HeartbeatAck;
using protocol::TimeoutNow;

std::string T(uint64_t term) { return std::to_string(term); }

}  // namespace

void Election::Impl::BecomeLeader(TimePoint now, std::vector<Envelope>& out) {
  role = Role::kLeader;
  votes.reset();
  ++stats.became_leader;
  SetLeader(self(), config.self_url);
  leader_since = now;
  sent.clear();
  acked.clear();
  lease_start.reset();
  quorum_round.reset();
  transfer_from = transfer_until = next_transfer = TimePoint::min();
  transfer_backoff = et();
  if (term == transfer_campaign_term) transfer_campaign_backoff = et();  // it worked
  SendHeartbeats(now, out);  // at once: followers must stop campaigning
}

void Election::Impl::LeaderTick(TimePoint now, std::vector<Envelope>& out) {
  // Check-quorum: without a majority's ack for election_timeout, another leader may exist.
  if (config.voters.size() > 1 && now >= quorum_round.value_or(leader_since) + et()) {
    log::Warn("election: " + self() + " lost its quorum in term " + T(term));
    BecomeFollower();
    ResetElectionTimer(now);
    return;
  }
  MaybeTransfer(now, out);
  if (now >= next_heartbeat) SendHeartbeats(now, out);
}

void Election::Impl::SendHeartbeats(TimePoint now, std::vector<Envelope>& out) {
  uint64_t seq = next_seq++;
  sent[seq] = now;
  // Rounds older than the lease window can never extend it.
  while (!sent.empty() && sent.begin()->second + 2 * et() < now) sent.erase(sent.begin());
  next_heartbeat = now + config.timers.heartbeat_interval;
  Heartbeat hb{term, self(), config.self_url, seq};
  for (const auto& v : config.voters) {
    if (v != self()) out.push_back(Make(v, hb));
  }
  for (const auto& m : members) {
    if (m != self() && !IsVoter(m)) out.push_back(Make(m, hb));
  }
  UpdateLease();  // a single voter is its own majority
}

void Election::Impl::UpdateLease() {
  std::vector<uint64_t> seqs;
  for (const auto& v : config.voters) {
    auto it = acked.find(v);
    seqs.push_back(v == self() ? next_seq - 1 : (it == acked.end() ? 0 : it->second));
  }
  std::sort(seqs.begin(), seqs.end(), std::greater<>());
  uint64_t majority_seq = seqs[config.voters.size() / 2];
  auto it = sent.find(majority_seq);
  if (it == sent.end()) return;
  if (!quorum_round || it->second > *quorum_round) quorum_round = it->second;
  if (it->second >= transfer_from && it->second < transfer_until) return;
  if (!lease_start || it->second > *lease_start) lease_start = it->second;
}

void Election::Impl::MaybeTransfer(TimePoint now, std::vector<Envelope>& out) {
  const std::string& p = config.preferred_leader;
  if (p.empty() || p == self() || !IsVoter(p)) return;
  auto it = acked.find(p);
  if (it == acked.end() || it->second != next_seq - 1) return;  // not healthy and current
  if (now < next_transfer) return;
  transfer_from = now;
  transfer_until = now + et();
  next_transfer = now + transfer_backoff;
  transfer_backoff = std::min(2 * transfer_backoff, kMaxBackoff * et());
  log::Info("election: " + self() + " hands leadership to preferred " + p);
  out.push_back(Make(p, TimeoutNow{term}));
}

void Election::Impl::OnHeartbeatAck(const Envelope& in, const HeartbeatAck& ack, TimePoint now) {
  if (ack.term > term) {
    AdoptTerm(ack.term, now, /*persist=*/true);
    return;
  }
  if (role != Role::kLeader || ack.term != term || !ack.success || in.from_id == self() ||
      !IsVoter(in.from_id)) {
    return;
  }
  uint64_t& a = acked[in.from_id];
  a = std::max(a, ack.seq);
  UpdateLease();
}

}  // namespace rift::election
