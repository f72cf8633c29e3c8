// SWIM protocol driver: probing, indirect probes, joining, relaying. Records and merge rules live
// in member_table.cc.
#include "orchestrator/membership/membership.h"

#include <algorithm>
#include <utility>

#include "orchestrator/membership/membership_impl.h"

namespace rift::membership {

using protocol::Ack;
using protocol::Envelope;
using protocol::MemberState;
using protocol::Output;
using protocol::Ping;
using protocol::PingReq;

namespace {

constexpr size_t kMaxRelays = 1024;  // PingReqs in flight we relay; bounds a misbehaving peer
constexpr size_t kSmallCluster = 64;
constexpr int kEarlySyncs = 3;  // after 4, 8 and 16 probe intervals of membership

bool Probeable(const Record& r) {
  return r.digest.state != MemberState::kDead && !r.digest.outbound_only;
}

}  // namespace

Membership::Membership(Config config, Random* random, TimePoint now) : impl_(new Impl) {
  Impl& s = *impl_;
  s.config = std::move(config);
  s.random = random;
  s.incarnation = s.config.incarnation;
  s.self_loopback = IsLoopbackUrl(s.config.advertise_url);
  for (const std::string& url : s.config.seeds) {
    if (url.empty() || url == s.config.advertise_url || !s.UrlAllowed(url)) continue;
    if (std::find(s.seeds.begin(), s.seeds.end(), url) == s.seeds.end()) s.seeds.push_back(url);
  }
  s.next_probe_at = now;
  s.next_join_at = now;
  s.next_housekeeping = now;
}

Membership::~Membership() { delete impl_; }

Envelope Membership::Impl::To(const std::string& to_id, const std::string& to_url,
                              protocol::Body body) const {
  return Envelope{config.node_id, config.advertise_url, to_id, to_url, std::move(body)};
}

std::vector<Envelope> Membership::Tick(TimePoint now) {
  Impl& s = *impl_;
  std::vector<Envelope> out;
  if (s.probe.active && now >= s.probe.deadline) s.FinishProbe(false, now);
  if (s.probe.active && !s.probe.indirect_sent && now >= s.probe.indirect_at) s.SendIndirect(out);
  if (!s.probe.active && now >= s.next_probe_at) s.StartProbe(now, out);
  // Cut off from every member: look for the cluster now (then every probe interval), not at the
  // rejoin scheduled while others were still alive, which may be tens of seconds away.
  if (s.alive == 0 && s.next_join_at > now + s.config.timers.probe_interval) s.next_join_at = now;
  if (now >= s.next_join_at) s.Join(now, out);
  for (const std::string& url : s.contacts) {
    if (s.contact_seqs.size() >= 64) s.contact_seqs.erase(s.contact_seqs.begin());
    s.contact_seqs.push_back(s.next_seq);
    out.push_back(s.To("", url, Ping{s.next_seq++, "", s.GossipFor("")}));
  }
  s.contacts.clear();
  if (s.early_syncs < kEarlySyncs && s.alive > 0 && now >= s.next_sync_at) s.Sync(now, out);
  s.CheckSuspicions(now);
  if (now >= s.next_housekeeping) s.Housekeeping(now);
  return out;
}

const Record* Membership::Impl::NextProbeTarget() {
  // Shuffled round robin (SWIM): every member is probed once per round, in random order.
  for (int rebuilds = 0; rebuilds < 2;) {
    if (probe_pos >= probe_order.size()) {
      ++rebuilds;
      probe_order.clear();
      for (const std::string& id : ids) {
        if (Probeable(members[id])) probe_order.push_back(id);
      }
      std::shuffle(probe_order.begin(), probe_order.end(), random->engine());
      probe_pos = 0;
      if (probe_order.empty()) return nullptr;
    }
    const Record* r = Find(probe_order[probe_pos++]);
    if (r != nullptr && Probeable(*r)) return r;
  }
  return nullptr;
}

void Membership::Impl::StartProbe(TimePoint now, std::vector<Envelope>& out) {
  next_probe_at = now + Scaled(config.timers.probe_interval);
  const Record* target = NextProbeTarget();
  if (target == nullptr) return;
  probe = Probe{true,          target->digest.node_id,
                next_seq++,    now + Scaled(config.timers.probe_timeout),
                next_probe_at, false};
  out.push_back(To(target->digest.node_id, target->digest.url,
                   Ping{probe.seq, "", GossipFor(target->digest.node_id)}));
}

void Membership::Impl::SendIndirect(std::vector<Envelope>& out) {
  probe.indirect_sent = true;
  const Record* target = Find(probe.target_id);
  const size_t k = static_cast<size_t>(std::max(0, config.timers.indirect_probes));
  if (target == nullptr || k == 0) return;
  auto eligible = [&](const std::string& id) {
    const Record& r = members[id];
    return id != probe.target_id && r.digest.state == MemberState::kAlive &&
           !r.digest.outbound_only;
  };
  std::vector<std::string> relays_to;
  if (ids.size() <= kSmallCluster) {
    std::copy_if(ids.begin(), ids.end(), std::back_inserter(relays_to), eligible);
    std::shuffle(relays_to.begin(), relays_to.end(), random->engine());
    if (relays_to.size() > k) relays_to.resize(k);
  } else {
    // Random picks keep this O(k) in large clusters.
    for (size_t tries = 4 * k; tries > 0 && relays_to.size() < k; --tries) {
      const std::string& id = ids[random->Uniform(ids.size())];
      if (eligible(id) && std::find(relays_to.begin(), relays_to.end(), id) == relays_to.end()) {
        relays_to.push_back(id);
      }
    }
  }
  for (const std::string& id : relays_to) {
    out.push_back(
        To(id, members[id].digest.url, PingReq{probe.seq, probe.target_id, target->digest.url}));
  }
}

void Membership::Impl::FinishProbe(bool acked, TimePoint now) {
  probe.active = false;
  Record* target = Find(probe.target_id);
  if (acked) {
    LowerHealth();
    return;
  }
  // A target that died or left meanwhile says nothing about our own health.
  if (target == nullptr || target->digest.state == MemberState::kDead) return;
  RaiseHealth();
  if (target->digest.state == MemberState::kAlive) Suspect(*target, config.node_id, now);
}

void Membership::Impl::Join(TimePoint now, std::vector<Envelope>& out) {
  // Failover: a seed that did not answer the last attempt is skipped in favour of the next.
  if (!join_acked && !seeds.empty()) seed_pos = (seed_pos + 1) % seeds.size();
  if (!seeds.empty()) {
    join_seq = next_seq++;
    join_acked = false;
    out.push_back(To("", seeds[seed_pos], Ping{join_seq, "", GossipFor("")}));
  }
  // Heal partitions: a member the other side declared dead hears us and refutes.
  if (!dead.empty()) {
    auto it = dead.begin();
    std::advance(it, static_cast<long>(random->Uniform(dead.size())));
    const Record* r = Find(*it);
    if (r != nullptr && !r->digest.outbound_only) {
      out.push_back(
          To(r->digest.node_id, r->digest.url, Ping{next_seq++, "", GossipFor(r->digest.node_id)}));
    }
  }
  next_join_at = now + (alive == 0 ? config.timers.probe_interval : config.timers.rejoin_interval);
}

void Membership::Impl::Sync(TimePoint now, std::vector<Envelope>& out) {
  if (early_syncs++ < 0) {  // first member known: start the clock
    next_sync_at = now + 4 * config.timers.probe_interval;
    return;
  }
  next_sync_at = now + (4 << early_syncs) * config.timers.probe_interval;
  for (int tries = 0; tries < 8 && !ids.empty(); ++tries) {
    const Record& r = members[ids[random->Uniform(ids.size())]];
    if (r.digest.state != MemberState::kAlive || r.digest.outbound_only) continue;
    sync_seq = next_seq++;
    // No to_id: the receiver answers with its full member list, as to a join.
    out.push_back(To("", r.digest.url, Ping{sync_seq, "", GossipFor(r.digest.node_id)}));
    return;
  }
}

void Membership::Impl::CheckSuspicions(TimePoint now) {
  std::vector<std::string> expired;
  for (const std::string& id : suspects) {
    const Record& r = members[id];
    if (now - r.state_since >= SuspicionTimeout(r)) expired.push_back(id);
  }
  for (const std::string& id : expired) {
    Record& r = members[id];
    SetState(r, MemberState::kDead, r.digest.incarnation, now);
    Enqueue(id, Urgency::kUrgent);
  }
}

void Membership::Impl::Housekeeping(TimePoint now) {
  const Timers& t = config.timers;
  next_housekeeping = now + t.probe_interval;
  std::vector<std::string> reap;
  for (const std::string& id : dead) {
    if (now - members[id].state_since >= t.dead_reap_ttl) reap.push_back(id);
  }
  for (const std::string& id : reap) Remove(id);
  std::erase_if(relays, [&](const auto& kv) { return now >= kv.second.expires; });
  // Outbound-only members cannot be probed; each hears from one about once per round of its
  // own probes, so suspect one only after several rounds of silence.
  const Duration silence =
      std::max(Scaled(t.suspicion_max),
               3 * static_cast<int64_t>(members.size() + 1) * Scaled(t.probe_interval));
  std::vector<std::string> quiet;
  for (const std::string& id : outbound_only) {
    const Record& r = members[id];
    TimePoint heard = std::max(r.last_seen, r.state_since);
    if (r.digest.state == MemberState::kAlive && now - heard >= silence) quiet.push_back(id);
  }
  for (const std::string& id : quiet) Suspect(members[id], config.node_id, now);
}

void Membership::Impl::NoteSender(const std::string& id, const std::string& url, TimePoint now) {
  if (id.empty() || id == config.node_id) return;
  Record* r = Find(id);
  if (r == nullptr) {
    if (!UrlAllowed(url)) return;
    // Known only from the envelope: incarnation 0 loses to anything it gossips about itself.
    protocol::MemberDigest d;
    d.node_id = id;
    d.url = url;
    r = Insert(d, now);
    Enqueue(id, Urgency::kNormal);
  }
  r->last_seen = now;
}

Output Membership::Receive(const Envelope& in, TimePoint now) {
  Impl& s = *impl_;
  Output out;
  if (!protocol::IsMembershipMessage(in.body)) return out;
  // Misaddressed (a stale URL now served by another node): silence, so the probe fails honestly.
  if (!in.to_id.empty() && in.to_id != s.config.node_id) return out;
  const std::string& from = in.from_id;
  s.corrections.clear();
  if (const auto* ping = std::get_if<Ping>(&in.body)) {
    for (const auto& d : ping->gossip) s.Merge(d, from, now);
    s.NoteSender(from, in.from_url, now);
    Ack ack{ping->seq, s.config.node_id, in.to_id.empty() ? s.FullState(from) : s.GossipFor(from)};
    out.replies.push_back(s.To(from, in.from_url, std::move(ack)));
  } else if (const auto* ack = std::get_if<Ack>(&in.body)) {
    // The answer to our join is the seed's full member list: news to us, not to the cluster.
    s.merging_full_state =
        (s.join_seq != 0 && ack->seq == s.join_seq) || (s.sync_seq != 0 && ack->seq == s.sync_seq) ||
        std::find(s.contact_seqs.begin(), s.contact_seqs.end(), ack->seq) != s.contact_seqs.end();
    for (const auto& d : ack->gossip) s.Merge(d, from, now);
    s.merging_full_state = false;
    // No reply to carry corrections: spread the deaths the sender missed once more instead.
    for (const std::string& id : s.corrections) {
      if (s.Find(id) != nullptr && !s.queued.count(id)) s.Enqueue(id, Urgency::kUrgent);
    }
    s.NoteSender(from, in.from_url, now);
    s.OnAck(in, *ack, now, out);
  } else if (const auto* req = std::get_if<PingReq>(&in.body)) {
    s.NoteSender(from, in.from_url, now);
    s.OnPingReq(in, *req, now, out);
  }
  s.corrections.clear();
  return out;
}

void Membership::Impl::OnAck(const Envelope& in, const Ack& ack, TimePoint now, Output& out) {
  const std::string& target = ack.target_id.empty() ? in.from_id : ack.target_id;
  if (target != in.from_id) {
    if (Record* r = Find(target)) r->last_seen = now;
  }
  if (auto relay = relays.find(ack.seq);
      relay != relays.end() && relay->second.target_id == target) {
    const Relay& rl = relay->second;
    out.outbound.push_back(To(rl.requester_id, rl.requester_url,
                              Ack{rl.requester_seq, target, GossipFor(rl.requester_id)}));
    relays.erase(relay);
    return;
  }
  if (probe.active && ack.seq == probe.seq && target == probe.target_id) {
    FinishProbe(true, now);
  } else if (ack.seq == join_seq) {
    join_acked = true;
  }
}

void Membership::Impl::OnPingReq(const Envelope& in, const PingReq& req, TimePoint now,
                                 Output& out) {
  if (req.target_id.empty() || in.from_id.empty() || relays.size() >= kMaxRelays) return;
  if (req.target_id == config.node_id) {
    out.replies.push_back(To(in.from_id, in.from_url, Ack{req.seq, config.node_id, {}}));
    return;
  }
  std::string url = req.target_url;
  if (url.empty()) {
    if (const Record* r = Find(req.target_id)) url = r->digest.url;
  }
  if (!UrlAllowed(url)) return;
  uint64_t seq = next_seq++;
  relays[seq] = Relay{in.from_id, in.from_url, req.seq, req.target_id,
                      now + 2 * config.timers.probe_interval};
  out.outbound.push_back(To(req.target_id, url, Ping{seq, in.from_id, GossipFor(req.target_id)}));
}

Result<bool> Membership::AddSeed(const std::string& url, TimePoint) {
  Impl& s = *impl_;
  if (url.empty()) return InvalidArgument("empty URL");
  if (url == s.config.advertise_url) return InvalidArgument(url + " is this node's own URL");
  if (!s.UrlAllowed(url)) {
    return InvalidArgument(url + " is a loopback URL, refused unless the cluster is on loopback");
  }
  const bool fresh = std::find(s.seeds.begin(), s.seeds.end(), url) == s.seeds.end();
  if (fresh) {
    if (s.seeds.size() >= kMaxSeeds) {
      return ResourceExhausted("already " + std::to_string(kMaxSeeds) + " seeds");
    }
    s.seeds.push_back(url);
  }
  if (std::find(s.contacts.begin(), s.contacts.end(), url) == s.contacts.end()) {
    s.contacts.push_back(url);
  }
  return fresh;
}

void Membership::ObserveAlive(const std::string& node_id, TimePoint now) {
  if (Record* r = impl_->Find(node_id)) r->last_seen = now;
}

std::vector<MemberView> Membership::Members() const {
  std::vector<MemberView> out;
  out.reserve(impl_->members.size());
  for (const auto& [id, r] : impl_->members) {
    const auto& d = r.digest;
    out.push_back(MemberView{id, d.url, d.state, d.incarnation, d.voter, d.outbound_only,
                             r.last_seen, r.state_since});
  }
  std::sort(out.begin(), out.end(),
            [](const MemberView& a, const MemberView& b) { return a.node_id < b.node_id; });
  return out;
}

std::optional<std::string> Membership::UrlOf(const std::string& node_id) const {
  if (node_id == impl_->config.node_id) return impl_->config.advertise_url;
  if (const Record* r = impl_->Find(node_id)) return r->digest.url;
  return std::nullopt;
}

std::vector<std::string> Membership::AliveIds() const {
  Impl& s = *impl_;
  if (s.alive_cache_generation != s.generation) {
    s.alive_cache.clear();
    s.alive_cache.reserve(s.alive);
    for (const auto& [id, r] : s.members) {
      if (r.digest.state == MemberState::kAlive) s.alive_cache.push_back(id);
    }
    std::sort(s.alive_cache.begin(), s.alive_cache.end());
    s.alive_cache_generation = s.generation;
  }
  return s.alive_cache;
}

size_t Membership::AliveCount() const { return impl_->alive; }
uint64_t Membership::generation() const { return impl_->generation; }
std::vector<Conflict> Membership::Conflicts() const { return impl_->conflicts; }
uint64_t Membership::incarnation() const { return impl_->incarnation; }
const Config& Membership::config() const { return impl_->config; }
int Membership::local_health() const { return impl_->local_health; }

}  // namespace rift::membership
