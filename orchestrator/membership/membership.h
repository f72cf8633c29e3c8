#pragma once
// SWIM-style membership, pure logic: no sockets, no threads, no clocks. The owner calls Tick(now)
// periodically (every few ms is fine: work happens only when a timer is due) and Receive() for
// every inbound membership envelope, and sends what they return.
//
// Protocol (see docs/protocol.md):
//  - Join: while no member is alive (from the moment the last one is lost), and every
//    `rejoin_interval` anyway, Ping one seed URL (seeds tried in order, with failover) and one
//    random dead member (heals partitions).
//  - Each `probe_interval`, Ping the next member of a shuffled round robin. No Ack within
//    `probe_timeout` -> PingReq to `indirect_probes` random alive members, which relay a Ping.
//    No Ack by the end of the period -> suspect. Suspect for `suspicion_timeout` (Lifeguard:
//    scaled with log(n), shortened by independent confirmations) -> dead. Dead members are
//    reaped after `dead_reap_ttl`.
//  - Every Ping and Ack piggybacks up to `max_gossip` digests from a transmit-limited broadcast
//    queue (suspicion, death and refutations first, then least-sent, then newest; each change is
//    sent ~4*log10(n) times) plus random members, so membership spreads transitively from any
//    one seed. A node that gossips a member we know dead gets the death back in our reply. The Ack to a join Ping (to_id empty:
//    the sender knew only our URL) carries every live member (push-pull), so a joiner learns the
//    cluster in one round trip instead of O(n) probe rounds. Soon after joining, a node pulls a
//    full list the same way from a few random members (4, 8, 16 probe intervals in). Full lists
//    never enter the broadcast queue: they are news to the receiver only.
//  - A node that hears itself suspected or dead refutes with a higher incarnation.
//  - Lifeguard's local health: missed acks of our own probes raise a health multiplier that
//    widens probe timeouts and suspicion, so a slow observer does not declare healthy peers dead.
//  - Identity: node id + incarnation; a restarted node starts with a higher incarnation (the
//    owner passes the boot's wall clock) and replaces its old record. A digest for our own id with
//    a different boot_id and a URL that is not ours is a duplicate-id conflict: reported in
//    Conflicts() (and refuted), never silently merged.
//  - Loopback URLs from peers are refused unless this node itself advertises a loopback URL.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "orchestrator/base/random.h"
#include "orchestrator/base/status.h"
#include "orchestrator/base/time.h"
#include "orchestrator/protocol/messages.h"

namespace rift::membership {

struct Timers {
  Duration probe_interval = milliseconds(1000);
  Duration probe_timeout = milliseconds(500);
  int indirect_probes = 3;
  // Lifeguard: suspicion lasts between min and max depending on confirmations; min is also
  // scaled by suspicion_mult * log10(max(n, 2)) * probe_interval when that is larger.
  double suspicion_mult = 4.0;
  Duration suspicion_min = milliseconds(2000);
  Duration suspicion_max = milliseconds(12000);
  Duration dead_reap_ttl = std::chrono::minutes(10);
  Duration rejoin_interval = milliseconds(30000);
  int max_gossip = 12;       // digests piggybacked per message
  int max_local_health = 8;  // Lifeguard's awareness cap
};

struct Config {
  std::string node_id;
  std::string advertise_url;
  uint64_t incarnation = 1;  // per boot: pass the wall clock in ms, so restarts win
  uint64_t boot_id = 0;      // random per process start
  bool voter = false;
  bool outbound_only = false;
  std::vector<std::string> seeds;  // URLs; our own URL is ignored
  Timers timers;
};

struct MemberView {
  std::string node_id;
  std::string url;
  protocol::MemberState state = protocol::MemberState::kAlive;
  uint64_t incarnation = 0;
  bool voter = false;
  bool outbound_only = false;
  TimePoint last_seen{};  // last direct or indirect proof of life (TimePoint{} = never)
  TimePoint state_since{};
};

struct Conflict {
  std::string node_id;
  std::string other_url;
  std::string detail;
};

// Not thread-safe: the owner serialises calls.
class Membership {
 public:
  Membership(Config config, Random* random, TimePoint now);
  ~Membership();
  Membership(const Membership&) = delete;
  Membership& operator=(const Membership&) = delete;

  // Periodic work due at `now`: probes, indirect probes, suspicion and reaping, rejoin pings.
  std::vector<protocol::Envelope> Tick(TimePoint now);
  // An inbound Ping, Ack or PingReq. Other bodies are ignored (empty output).
  protocol::Output Receive(const protocol::Envelope& in, TimePoint now);
  // Proof of life from outside membership (e.g. any message at all from that node).
  void ObserveAlive(const std::string& node_id, TimePoint now);
  // A URL announced from outside (POST /register): kept as a seed for later joins and pinged as
  // a join (the answer carries its member list) at the next Tick. Returns whether the URL was
  // new to the seeds. kInvalidArgument for our own URL or a refused one (loopback while we are
  // not); kResourceExhausted beyond kMaxSeeds seeds.
  static constexpr size_t kMaxSeeds = 1024;
  Result<bool> AddSeed(const std::string& url, TimePoint now);

  // Members other than ourselves, sorted by node id.
  std::vector<MemberView> Members() const;
  std::optional<std::string> UrlOf(const std::string& node_id) const;
  std::vector<std::string> AliveIds() const;  // excluding ourselves, sorted
  size_t AliveCount() const;                  // excluding ourselves
  // Bumps on every change to the member table, so owners can cache derived views.
  uint64_t generation() const;
  std::vector<Conflict> Conflicts() const;
  uint64_t incarnation() const;
  const Config& config() const;
  // Current Lifeguard local-health score (0 = healthy).
  int local_health() const;

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace rift::membership
