// Member records, SWIM merge rules, suspicion timing and the piggybacked gossip queue.
#include <algorithm>
#include <cmath>

#include "orchestrator/membership/membership_impl.h"

namespace rift::membership {

using protocol::MemberDigest;
using protocol::MemberState;

namespace {

constexpr int kRetransmitMult = 4;  // memberlist's default: each change rides ~4*log10(n) msgs
constexpr size_t kMaxConfirmations = 16;
constexpr size_t kMaxConflicts = 16;
constexpr size_t kMaxFullState = 4096;  // bounds one join reply (~400 KB of JSON)

std::string HostOf(const std::string& url) {
  std::string rest = url;
  if (auto p = rest.find("://"); p != std::string::npos) rest = rest.substr(p + 3);
  rest = rest.substr(0, rest.find('/'));
  if (auto at = rest.rfind('@'); at != std::string::npos) rest = rest.substr(at + 1);
  if (!rest.empty() && rest[0] == '[') return rest.substr(1, rest.find(']') - 1);
  if (std::count(rest.begin(), rest.end(), ':') == 1) rest = rest.substr(0, rest.find(':'));
  std::transform(rest.begin(), rest.end(), rest.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return rest;
}

}  // namespace

bool IsLoopbackUrl(const std::string& url) {
  std::string host = HostOf(url);
  return host == "localhost" || host.ends_with(".localhost") || host.starts_with("127.") ||
         host == "::1" || host == "0:0:0:0:0:0:0:1";
}

Record* Membership::Impl::Find(const std::string& id) {
  auto it = members.find(id);
  return it == members.end() ? nullptr : &it->second;
}

Record* Membership::Impl::Insert(const MemberDigest& d, TimePoint now) {
  ++generation;
  Record& r = members[d.node_id];
  r.digest = d;
  r.digest.state = MemberState::kAlive;
  r.state_since = now;
  r.index = ids.size();
  ids.push_back(d.node_id);
  // Into the rest of the current probe round at a random place (incremental Fisher-Yates):
  // otherwise members learned after the shuffle wait a whole round, which at n=1000 is minutes.
  probe_order.push_back(d.node_id);
  if (probe_pos < probe_order.size()) {
    size_t j = probe_pos + random->Uniform(probe_order.size() - probe_pos);
    std::swap(probe_order[j], probe_order.back());
  }
  ++alive;
  if (d.outbound_only) outbound_only.insert(d.node_id);
  if (d.state != MemberState::kAlive) SetState(r, d.state, d.incarnation, now);
  return &r;
}

void Membership::Impl::Remove(const std::string& id) {
  auto it = members.find(id);
  if (it == members.end()) return;
  ++generation;
  if (it->second.digest.state == MemberState::kAlive) --alive;
  // Swap-remove keeps `ids` dense.
  size_t i = it->second.index;
  ids[i] = ids.back();
  members[ids[i]].index = i;
  ids.pop_back();
  suspects.erase(id);
  dead.erase(id);
  outbound_only.erase(id);
  if (auto q = queued.find(id); q != queued.end()) {
    queue.erase(q->second);
    queued.erase(q);
  }
  members.erase(it);
}

void Membership::Impl::SetState(Record& r, MemberState s, uint64_t inc, TimePoint now) {
  MemberState old = r.digest.state;
  ++generation;
  r.digest.incarnation = inc;
  if (old == s) return;
  const std::string& id = r.digest.node_id;
  if (old == MemberState::kAlive) --alive;
  if (old == MemberState::kSuspect) suspects.erase(id);
  if (old == MemberState::kDead) dead.erase(id);
  if (s == MemberState::kAlive) ++alive;
  if (s == MemberState::kSuspect) suspects.insert(id);
  if (s == MemberState::kDead) dead.insert(id);
  r.digest.state = s;
  r.state_since = now;
  r.suspecters.clear();
}

void Membership::Impl::Suspect(Record& r, const std::string& by, TimePoint now) {
  SetState(r, MemberState::kSuspect, r.digest.incarnation, now);
  if (!by.empty()) r.suspecters.push_back(by);
  Enqueue(r.digest.node_id, Urgency::kUrgent);
}

void Membership::Impl::Merge(const MemberDigest& d, const std::string& sender, TimePoint now) {
  if (d.node_id.empty()) return;
  if (d.node_id == config.node_id) return MergeSelf(d);
  Record* r = Find(d.node_id);
  // Parsing the URL is the costly part of a merge: only for URLs we have not vetted already.
  if ((r == nullptr || r->digest.url != d.url) && !UrlAllowed(d.url)) return;
  if (r == nullptr) {
    // Never heard of it: a dead rumour adds nothing worth probing. (No tombstones: a member
    // reaped or never known here may be alive at the same incarnation, unaware that it was
    // declared dead, and only an alive rumour lets us reach it again.)
    if (d.state == MemberState::kDead) return;
    r = Insert(d, now);
    if (d.state == MemberState::kSuspect && !sender.empty()) r->suspecters.push_back(sender);
    Urgency u = d.state == MemberState::kAlive ? Urgency::kNormal : Urgency::kUrgent;
    if (!merging_full_state || u != Urgency::kNormal) Enqueue(d.node_id, u);
    return;
  }
  MemberDigest& m = r->digest;
  const MemberState before = m.state;
  const uint64_t before_boot = m.boot_id;
  switch (d.state) {
    case MemberState::kAlive:
      if (d.incarnation <= m.incarnation) {
        if (m.state == MemberState::kDead) corrections.push_back(d.node_id);
        return;
      }
      m.url = d.url;
      m.boot_id = d.boot_id;
      m.voter = d.voter;
      if (m.outbound_only != d.outbound_only) {
        m.outbound_only = d.outbound_only;
        if (d.outbound_only) {
          outbound_only.insert(d.node_id);
        } else {
          outbound_only.erase(d.node_id);
        }
      }
      SetState(*r, MemberState::kAlive, d.incarnation, now);
      break;
    case MemberState::kSuspect:
      if (m.state == MemberState::kSuspect) {
        if (d.incarnation > m.incarnation) {
          m.incarnation = d.incarnation;
        } else if (d.incarnation == m.incarnation && !sender.empty() &&
                   r->suspecters.size() < kMaxConfirmations &&
                   std::find(r->suspecters.begin(), r->suspecters.end(), sender) ==
                       r->suspecters.end()) {
          r->suspecters.push_back(sender);  // shortens the timeout; not news worth gossiping
        }
        return;
      }
      if (m.state == MemberState::kAlive ? d.incarnation < m.incarnation
                                         : d.incarnation <= m.incarnation) {
        if (m.state == MemberState::kDead) corrections.push_back(d.node_id);
        return;
      }
      SetState(*r, MemberState::kSuspect, d.incarnation, now);
      if (!sender.empty()) r->suspecters.push_back(sender);
      break;
    case MemberState::kDead:
      if (m.state == MemberState::kDead) {
        if (d.incarnation > m.incarnation) {
          m.incarnation = d.incarnation;
          Enqueue(d.node_id, Urgency::kUrgent);
        }
        return;
      }
      if (d.incarnation < m.incarnation) {
        // Others saw it die before its last refutation, which they may never have heard: they
        // will not suspect it again, so check it ourselves now rather than in a round of n.
        ProbeSoon(*r, now);
        return;
      }
      SetState(*r, MemberState::kDead, d.incarnation, now);
      break;
  }
  // Suspicion, death and refutations (alive again after doubt) are urgent; plain alive news
  // (a restart's new incarnation) is not, and a full-state join reply brings only that.
  // A restart (new boot) that ends a death is join news, not a refutation.
  const bool refutation = before != MemberState::kAlive && d.boot_id == before_boot;
  Urgency u =
      d.state != MemberState::kAlive || refutation ? Urgency::kUrgent : Urgency::kNormal;
  if (!merging_full_state || u != Urgency::kNormal) Enqueue(d.node_id, u);
}

void Membership::Impl::ProbeSoon(Record& r, TimePoint now) {
  if (r.digest.outbound_only || probe.target_id == r.digest.node_id) return;
  if (r.probe_hinted != TimePoint{} && now - r.probe_hinted < config.timers.suspicion_max) return;
  r.probe_hinted = now;
  // Next in the current round (a second visit this round is harmless).
  probe_order.push_back(r.digest.node_id);
  if (probe_pos < probe_order.size()) std::swap(probe_order[probe_pos], probe_order.back());
}

void Membership::Impl::MergeSelf(const MemberDigest& d) {
  bool same_boot = d.boot_id == config.boot_id;
  if (!same_boot && d.url != config.advertise_url) {
    // Another process claims our id: report it, never merge it.
    auto known = std::find_if(conflicts.begin(), conflicts.end(),
                              [&](const Conflict& c) { return c.other_url == d.url; });
    if (known == conflicts.end() && conflicts.size() < kMaxConflicts) {
      conflicts.push_back({d.node_id, d.url,
                           "another process (boot " + std::to_string(d.boot_id) + ", " +
                               protocol::MemberStateName(d.state) + ", incarnation " +
                               std::to_string(d.incarnation) + ") claims this node id"});
    }
    if (d.incarnation >= incarnation) incarnation = d.incarnation + 1;
    return;
  }
  if (d.incarnation < incarnation) return;
  if (d.state != MemberState::kAlive) {
    // Being suspected hints that we are the slow one (Lifeguard).
    RaiseHealth();
    incarnation = d.incarnation + 1;
  } else if (!same_boot) {
    incarnation = d.incarnation + 1;  // an earlier boot of ours must not outrank us
  }
}

void Membership::Impl::Enqueue(const std::string& id, Urgency urgency) {
  ++generation;
  // Newer news about a node replaces older, with a fresh transmit budget.
  if (auto q = queued.find(id); q != queued.end()) queue.erase(q->second);
  BroadcastKey key{urgency, 0, ++version, id};
  queue.insert(key);
  queued[id] = key;
}

size_t Membership::Impl::MaxTransmits() const {
  const double n = static_cast<double>(members.size() + 1);
  return static_cast<size_t>(kRetransmitMult * std::max(1.0, std::ceil(std::log10(n + 1))));
}

MemberDigest Membership::Impl::SelfDigest() const {
  MemberDigest d;
  d.node_id = config.node_id;
  d.url = config.advertise_url;
  d.incarnation = incarnation;
  d.boot_id = config.boot_id;
  d.state = MemberState::kAlive;
  d.voter = config.voter;
  d.outbound_only = config.outbound_only;
  return d;
}

std::vector<MemberDigest> Membership::Impl::GossipFor(const std::string& peer_id) {
  const size_t limit = static_cast<size_t>(std::max(1, config.timers.max_gossip));
  std::vector<MemberDigest> out;
  out.reserve(limit);
  out.push_back(SelfDigest());  // regular self-advertisement: carries refutations, spreads us
  auto included = [&](const std::string& id) {
    return std::any_of(out.begin(), out.end(),
                       [&](const MemberDigest& d) { return d.node_id == id; });
  };
  if (Record* peer = Find(peer_id);
      peer != nullptr && peer->digest.state != MemberState::kAlive && out.size() < limit) {
    out.push_back(peer->digest);
  }
  // Deaths the peer has just shown it missed.
  for (const std::string& id : corrections) {
    if (out.size() >= limit || included(id)) continue;
    if (const Record* r = Find(id)) out.push_back(r->digest);
  }
  corrections.clear();

  std::vector<BroadcastKey> taken;
  for (auto it = queue.begin(); it != queue.end() && out.size() < limit; ++it) {
    Record* r = Find(it->node_id);
    if (r == nullptr || included(it->node_id)) continue;
    out.push_back(r->digest);
    taken.push_back(*it);
  }
  const int max_transmits = static_cast<int>(MaxTransmits());
  for (BroadcastKey key : taken) {
    queue.erase(key);
    if (++key.transmits < max_transmits) {
      queue.insert(key);
      queued[key.node_id] = key;
    } else {
      queued.erase(key.node_id);
    }
  }

  // Peer exchange: spare room carries random members, so one seed is enough to learn all. Dead
  // ones too, until reaped: a node that missed a death hears of it without probing the corpse
  // (a receiver that never knew the member ignores a dead rumour).
  for (size_t tries = 2 * (limit - out.size()); tries > 0 && out.size() < limit && !ids.empty();
       --tries) {
    const Record& r = members[ids[random->Uniform(ids.size())]];
    if (included(r.digest.node_id)) continue;
    out.push_back(r.digest);
  }
  return out;
}

std::vector<MemberDigest> Membership::Impl::FullState(const std::string& peer_id) const {
  std::vector<MemberDigest> out{SelfDigest()};
  for (const auto& [id, r] : members) {
    if (out.size() >= kMaxFullState) break;
    if (r.digest.state != MemberState::kDead || id == peer_id) out.push_back(r.digest);
  }
  return out;
}

bool Membership::Impl::UrlAllowed(const std::string& url) const {
  return !url.empty() && (self_loopback || !IsLoopbackUrl(url));
}

Duration Membership::Impl::Scaled(Duration d) const { return d * (1 + local_health); }

Duration Membership::Impl::SuspicionTimeout(const Record& r) const {
  const Timers& t = config.timers;
  const double n = static_cast<double>(alive + suspects.size() + 1);
  auto scaled = std::chrono::duration_cast<Duration>(
      t.suspicion_mult * std::log10(std::max(n, 2.0)) * t.probe_interval);
  Duration max_t = t.suspicion_max;
  Duration min_t = std::min(std::max(t.suspicion_min, scaled), max_t);
  // Lifeguard: start at max, fall towards min as independent confirmations arrive.
  int expected = static_cast<int>(t.suspicion_mult) - 2;
  if (n - 2 < expected) expected = 0;
  Duration timeout = min_t;
  if (expected >= 1) {
    double confirmations =
        r.suspecters.empty() ? 0.0 : static_cast<double>(r.suspecters.size() - 1);
    double frac = std::log(confirmations + 1) / std::log(expected + 1.0);
    auto shrink = std::chrono::duration_cast<Duration>((max_t - min_t) * std::min(frac, 1.0));
    timeout = max_t - shrink;
  }
  return Scaled(timeout);
}

void Membership::Impl::RaiseHealth() {
  local_health = std::min(local_health + 1, std::max(0, config.timers.max_local_health));
}

void Membership::Impl::LowerHealth() { local_health = std::max(local_health - 1, 0); }

}  // namespace rift::membership
