#include "orchestrator/core/node_core.h"

#include <algorithm>
#include <utility>

namespace rift::core {
namespace {

NodeConfig Normalise(NodeConfig config) {
  // The election speaks for the same node as membership; one source of truth for identity.
  config.election.node_id = config.membership.node_id;
  config.election.self_url = config.membership.advertise_url;
  return config;
}

}  // namespace

struct NodeCore::Impl {
  Impl(NodeConfig c, election::VoteStore* store, uint64_t seed, TimePoint now)
      : config(Normalise(std::move(c))),
        random(seed),
        membership(config.membership, &random, now),
        election(config.election, store, &random, now) {}

  // Every envelope leaving the node says who sent it.
  void Stamp(protocol::Envelope& e) const {
    e.from_id = config.membership.node_id;
    e.from_url = config.membership.advertise_url;
  }

  // Election output carries to_id only: resolve the URL through membership, or drop.
  void AppendResolved(std::vector<protocol::Envelope>&& in, std::vector<protocol::Envelope>* out) {
    for (auto& e : in) {
      if (e.to_url.empty()) {
        auto url = membership.UrlOf(e.to_id);
        if (!url) continue;
        e.to_url = std::move(*url);
      }
      Stamp(e);
      out->push_back(std::move(e));
    }
  }

  // AliveIds() copies the whole list; ticks run every few ms, so copy only after a change.
  const std::vector<std::string>& AliveIds() {
    uint64_t generation = membership.generation();
    if (!alive_valid || generation != alive_generation) {
      alive_ids = membership.AliveIds();
      alive_generation = generation;
      alive_valid = true;
    }
    return alive_ids;
  }

  // Only a leader uses the member list (to heartbeat workers); sparing followers the list keeps
  // ticks O(1). A node that wins mid-tick heartbeats voters first and workers from its next tick.
  const std::vector<std::string>& MembersForElection() {
    static const std::vector<std::string> kNone;
    return election.role() == election::Role::kLeader ? AliveIds() : kNone;
  }

  NodeConfig config;
  Random random;
  membership::Membership membership;
  election::Election election;
  std::vector<std::string> alive_ids;
  uint64_t alive_generation = 0;
  bool alive_valid = false;
};

NodeCore::NodeCore(NodeConfig config, election::VoteStore* store, uint64_t seed, TimePoint now)
    : impl_(std::make_unique<Impl>(std::move(config), store, seed, now)) {}

NodeCore::~NodeCore() = default;

std::vector<protocol::Envelope> NodeCore::Tick(TimePoint now) {
  std::vector<protocol::Envelope> out = impl_->membership.Tick(now);
  for (auto& e : out) impl_->Stamp(e);
  impl_->AppendResolved(impl_->election.Tick(now, impl_->MembersForElection()), &out);
  return out;
}

protocol::Output NodeCore::Receive(const protocol::Envelope& in, TimePoint now) {
  const std::string& self = impl_->config.membership.node_id;
  if (!in.from_id.empty() && in.from_id != self && impl_->membership.UrlOf(in.from_id)) {
    impl_->membership.ObserveAlive(in.from_id, now);
  }
  protocol::Output result;
  if (protocol::IsMembershipMessage(in.body)) {
    protocol::Output got = impl_->membership.Receive(in, now);
    result.replies = std::move(got.replies);
    for (auto& e : result.replies) impl_->Stamp(e);
    impl_->AppendResolved(std::move(got.outbound), &result.outbound);
  } else {
    protocol::Output got = impl_->election.Receive(in, now);
    // Replies travel back in the response to `in`, so the sender's address is the destination
    // even when membership does not know it yet.
    for (auto& e : got.replies) {
      if (e.to_id.empty()) e.to_id = in.from_id;
      if (e.to_url.empty()) e.to_url = in.from_url;
      impl_->Stamp(e);
      result.replies.push_back(std::move(e));
    }
    impl_->AppendResolved(std::move(got.outbound), &result.outbound);
  }
  return result;
}

Result<bool> NodeCore::AddSeed(const std::string& url, TimePoint now) {
  return impl_->membership.AddSeed(url, now);
}

Snapshot NodeCore::TakeSnapshot(TimePoint now) const {
  const auto& m = impl_->membership;
  const auto& el = impl_->election;
  Snapshot s;
  s.node_id = impl_->config.membership.node_id;
  s.url = impl_->config.membership.advertise_url;
  s.role = election::RoleName(el.role());
  s.voter = el.is_voter();
  s.term = el.term();
  s.leader_id = el.leader_id();
  s.leader_url = el.leader_url();
  s.quorum = el.HasQuorum(now);
  s.lease = el.HasLease(now);
  s.incarnation = m.incarnation();
  s.local_health = m.local_health();
  for (const auto& v : m.Members()) {
    Snapshot::Member member;
    member.node_id = v.node_id;
    member.url = v.url;
    member.state = protocol::MemberStateName(v.state);
    member.incarnation = v.incarnation;
    member.voter = v.voter;
    member.outbound_only = v.outbound_only;
    if (v.last_seen != TimePoint{}) {
      member.last_seen_ms = std::max<int64_t>(0, ToMillis(now - v.last_seen));
    }
    switch (v.state) {
      case protocol::MemberState::kAlive:
        ++s.alive;
        break;
      case protocol::MemberState::kSuspect:
        ++s.suspect;
        break;
      case protocol::MemberState::kDead:
        ++s.dead;
        break;
    }
    s.members.push_back(std::move(member));
  }
  s.conflicts = m.Conflicts();
  s.election_stats = el.stats();
  return s;
}

bool NodeCore::HasLease(TimePoint now) const { return impl_->election.HasLease(now); }

Status NodeCore::CheckTerm(uint64_t term) const { return impl_->election.CheckTerm(term); }

const membership::Membership& NodeCore::membership() const { return impl_->membership; }

const election::Election& NodeCore::election() const { return impl_->election; }

const NodeConfig& NodeCore::config() const { return impl_->config; }

}  // namespace rift::core
