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
};

// Pending gossip, most recent change first; `transmits` only retires an item. (Fewest-transmits
// first would queue fresh news behind a backlog, e.g. the ~n items a join reply brings.)
struct BroadcastKey {
  int transmits = 0;
  uint64_t version = 0;  // unique
  std::string node_id;
  bool operator<(const BroadcastKey& o) const { return version > o.version; }
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
  size_t seed_pos = 0;
  uint64_t join_seq = 0;
  bool join_acked = true;
  TimePoint next_join_at{};
  TimePoint next_housekeeping{};

  // --- member_table.cc ---
  Record* Find(const std::string& id);
  Record* Insert(const protocol::MemberDigest& d, TimePoint now);
  void Remove(const std::string& id);
  void SetState(Record& r, protocol::MemberState s, uint64_t incarnation, TimePoint now);
  // SWIM merge of one gossiped digest; `sender` is the envelope's from_id.
  void Merge(const protocol::MemberDigest& d, const std::string& sender, TimePoint now);
  void MergeSelf(const protocol::MemberDigest& d);
  void Suspect(Record& r, const std::string& by, TimePoint now);
  void Enqueue(const std::string& id);
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
