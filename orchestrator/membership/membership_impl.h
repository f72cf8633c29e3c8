#pragma once
// Internal to membership/: the state behind Membership, shared by its .cc files
// (membership.cc: probing, joining, relaying; member_table.cc: records, merge rules, gossip).
#include <cstdint>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "orchestrator/membership/membership.h"

namespace rift::membership {

struct Record {
  protocol::MemberDigest digest;
  TimePoint last_seen{};
  TimePoint state_since{};
  // While suspect: who suspected first, then independent confirmations (Lifeguard).
  std::vector<std::string> suspecters;
  size_t index = 0;  // position in Impl::ids
  TimePoint probe_hinted{};  // last ProbeSoon (rate limit)
};

// Pending gossip (memberlist's transmit-limited queue): urgent news first (suspicion, death,
// refutation: these must not wait behind join churn), then fewest transmissions, then most recent
// change. Each item retires after retransmit_mult * ceil(log10(n + 1)) sends; newer news about a
// node replaces older. Full-state join replies never feed the queue (their ~n items would bury
// fresh news), only real state changes do.
// (Refutations rank with doubts, not below them: after a partition heals, a flood of suspicions
// and deaths would otherwise starve the refutations that undo them, and a live member could stay
// dead at the leader.)
enum class Urgency : int { kUrgent = 0, kNormal = 1 };

struct BroadcastKey {
  Urgency urgency = Urgency::kNormal;
  int transmits = 0;
  uint64_t version = 0;  // unique
  std::string node_id;
  bool operator<(const BroadcastKey& o) const {
    if (urgency != o.urgency) return urgency < o.urgency;
    if (transmits != o.transmits) return transmits < o.transmits;
    return version > o.version;
  }
};

struct Probe {
  bool active = false;
  std::string target_id;
  uint64_t seq = 0;
  TimePoint indirect_at{};
  TimePoint deadline{};
  bool indirect_sent = false;
};

// A Ping we send on behalf of a PingReq: its Ack is forwarded to the requester.
struct Relay {
  std::string requester_id;
  std::string requester_url;
  uint64_t requester_seq = 0;
  std::string target_id;
  TimePoint expires{};
};

struct Membership::Impl {
  Config config;
  Random* random = nullptr;
  uint64_t incarnation = 0;
  int local_health = 0;
  bool self_loopback = false;

  // Member table (member_table.cc).
  std::unordered_map<std::string, Record> members;
  std::vector<std::string> ids;  // keys of `members`, for O(1) random picks
  size_t alive = 0;
  std::set<std::string> suspects;       // small: checked every tick
  std::set<std::string> dead;           // reaped on housekeeping
  std::set<std::string> outbound_only;  // not probed; judged by silence
  std::set<BroadcastKey> queue;
  std::unordered_map<std::string, BroadcastKey> queued;
  // Set while merging a full-state join reply: only urgent changes are enqueued.
  bool merging_full_state = false;
  // Members the current message's sender holds stale (alive/suspect when we know them dead):
  // our reply to it carries the correction first.
  std::vector<std::string> corrections;
  uint64_t version = 0;
  uint64_t generation = 0;               // bumps on any table change
  std::vector<std::string> alive_cache;  // sorted AliveIds() as of alive_cache_generation
  uint64_t alive_cache_generation = UINT64_MAX;
  std::vector<Conflict> conflicts;

  // Protocol state (membership.cc).
  std::vector<std::string> probe_order;
  size_t probe_pos = 0;
  Probe probe;
  TimePoint next_probe_at{};
  std::unordered_map<uint64_t, Relay> relays;
  uint64_t next_seq = 1;
  std::vector<std::string> seeds;
  std::vector<std::string> contacts;  // registered URLs to ping at the next Tick
  std::vector<uint64_t> contact_seqs;  // their pings' seqs (bounded): answers are full lists
  size_t seed_pos = 0;
  uint64_t join_seq = 0;
  bool join_acked = true;
  TimePoint next_join_at{};
  TimePoint next_housekeeping{};
  // Push-pull syncs with a random live member soon after boot (memberlist's push-pull, early):
  // a seed's join reply lacks whoever joined after us, which gossip alone fills in slowly.
  int early_syncs = -1;  // -1: not started (no member known yet)
  uint64_t sync_seq = 0;
  TimePoint next_sync_at{};

  // --- member_table.cc ---
  Record* Find(const std::string& id);
  Record* Insert(const protocol::MemberDigest& d, TimePoint now);
  void Remove(const std::string& id);
  void SetState(Record& r, protocol::MemberState s, uint64_t incarnation, TimePoint now);
  // SWIM merge of one gossiped digest; `sender` is the envelope's from_id.
  void Merge(const protocol::MemberDigest& d, const std::string& sender, TimePoint now);
  void MergeSelf(const protocol::MemberDigest& d);
  // A rumour suggests the member may be gone although the rules keep it alive: probe it next.
  void ProbeSoon(Record& r, TimePoint now);
  void Suspect(Record& r, const std::string& by, TimePoint now);
  void Enqueue(const std::string& id, Urgency urgency);
  size_t MaxTransmits() const;
  // Ourselves, the peer's own record if we doubt it (so it can refute), pending changes, then
  // random members as peer exchange; at most max_gossip.
  std::vector<protocol::MemberDigest> GossipFor(const std::string& peer_id);
  // Ourselves, every live member and the peer's own record (so it can refute): the push-pull
  // answer to a join.
  std::vector<protocol::MemberDigest> FullState(const std::string& peer_id) const;
  protocol::MemberDigest SelfDigest() const;
  bool UrlAllowed(const std::string& url) const;
  Duration Scaled(Duration d) const;  // widened by local health
  Duration SuspicionTimeout(const Record& r) const;
  void RaiseHealth();
  void LowerHealth();

  // --- membership.cc ---
  protocol::Envelope To(const std::string& to_id, const std::string& to_url,
                        protocol::Body body) const;
  void StartProbe(TimePoint now, std::vector<protocol::Envelope>& out);
  void SendIndirect(std::vector<protocol::Envelope>& out);
  void FinishProbe(bool acked, TimePoint now);
  const Record* NextProbeTarget();
  void Join(TimePoint now, std::vector<protocol::Envelope>& out);
  void Sync(TimePoint now, std::vector<protocol::Envelope>& out);
  void CheckSuspicions(TimePoint now);
  void Housekeeping(TimePoint now);
  void NoteSender(const std::string& id, const std::string& url, TimePoint now);
  void OnAck(const protocol::Envelope& in, const protocol::Ack& ack, TimePoint now,
             protocol::Output& out);
  void OnPingReq(const protocol::Envelope& in, const protocol::PingReq& req, TimePoint now,
                 protocol::Output& out);
};

bool IsLoopbackUrl(const std::string& url);

}  // namespace rift::membership
