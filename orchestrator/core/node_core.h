#pragma once
// The whole pure protocol state of one node: membership + election, composed. The simulator
// drives hundreds of these over a fake network; the daemon (node/) drives one over HTTP.
//
// Routing: membership messages go to Membership, election messages to Election; any message
// from a known node counts as proof of life. Envelopes produced by Election carry only to_id;
// NodeCore fills to_url from membership (or drops them if the URL is unknown). Every envelope
// leaving NodeCore has from_id/from_url set.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "orchestrator/base/random.h"
#include "orchestrator/base/status.h"
#include "orchestrator/base/time.h"
#include "orchestrator/election/election.h"
#include "orchestrator/membership/membership.h"
#include "orchestrator/protocol/messages.h"

namespace rift::core {

struct NodeConfig {
  membership::Config membership;  // node_id, advertise_url, seeds, incarnation, boot_id, timers
  election::Config election;      // voters, preferred_leader, mode, timers (node_id/url copied)
};

// What /health, /status and /metrics show. Immutable once published.
struct Snapshot {
  std::string node_id;
  std::string url;
  std::string role;  // "leader" | "follower" | "candidate"
  bool voter = false;
  uint64_t term = 0;
  std::optional<std::string> leader_id;
  std::string leader_url;
  bool quorum = false;
  bool lease = false;
  uint64_t incarnation = 0;
  int local_health = 0;
  int64_t taken_at_ms = 0;  // wall clock (filled by the owner)
  struct Member {
    std::string node_id;
    std::string url;
    std::string state;  // alive | suspect | dead
    uint64_t incarnation = 0;
    bool voter = false;
    bool outbound_only = false;
    int64_t last_seen_ms = -1;  // ms since last proof of life; -1 = never
  };
  std::vector<Member> members;
  std::vector<membership::Conflict> conflicts;
  election::Stats election_stats;
  size_t alive = 0, suspect = 0, dead = 0;
};

class NodeCore {
 public:
  NodeCore(NodeConfig config, election::VoteStore* store, uint64_t seed, TimePoint now);
  ~NodeCore();
  NodeCore(const NodeCore&) = delete;
  NodeCore& operator=(const NodeCore&) = delete;

  std::vector<protocol::Envelope> Tick(TimePoint now);
  protocol::Output Receive(const protocol::Envelope& in, TimePoint now);

  // A URL announced through POST /register: membership probes it (Membership::AddSeed).
  Result<bool> AddSeed(const std::string& url, TimePoint now);

  Snapshot TakeSnapshot(TimePoint now) const;
  bool HasLease(TimePoint now) const;
  Status CheckTerm(uint64_t term) const;
  const membership::Membership& membership() const;
  const election::Election& election() const;
  const NodeConfig& config() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rift::core
