#pragma once
// Peer-to-peer protocol messages. Plain structs: membership and election logic produce and
// consume them; the codec (codec.h) turns them into JSON; the transport carries them over HTTP.
//
// Transport model (see docs/protocol.md): every message is one-way. A node POSTs a batch of
// envelopes to a peer; the HTTP response carries back the envelopes the receiver produced for the
// sender ("replies"). A lost request or response is simply a lost message: the protocol logic
// recovers through its own timers, never through transport errors.
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace rift::protocol {

enum class MemberState { kAlive, kSuspect, kDead };
const char* MemberStateName(MemberState s);  // "alive" | "suspect" | "dead"

// One member as gossiped. `incarnation` orders claims about the same node (SWIM);
// `boot_id` is random per process start and lets two processes claiming one id be detected.
struct MemberDigest {
  std::string node_id;
  std::string url;
  uint64_t incarnation = 0;
  uint64_t boot_id = 0;
  MemberState state = MemberState::kAlive;
  bool voter = false;
  bool outbound_only = false;  // cannot accept connections (behind NAT)
};

// --- membership (SWIM) ---
struct Ping {
  uint64_t seq = 0;
  std::string on_behalf_of;  // non-empty: an indirect probe relayed for this node id
  std::vector<MemberDigest> gossip;
};
struct Ack {
  uint64_t seq = 0;
  std::string target_id;  // whose liveness this ack proves (differs from sender for relays)
  std::vector<MemberDigest> gossip;
};
struct PingReq {
  uint64_t seq = 0;
  std::string target_id;
  std::string target_url;
};

// --- election (Raft's election without the log) ---
struct VoteRequest {
  uint64_t term = 0;  // for a pre-vote: the term the candidate would campaign in
  std::string candidate_id;
  bool pre_vote = false;
  bool transfer = false;  // leadership transfer: voters skip leader stickiness
};
struct VoteResponse {
  uint64_t term = 0;
  bool granted = false;
  bool pre_vote = false;
};
struct Heartbeat {
  uint64_t term = 0;
  std::string leader_id;
  std::string leader_url;
  uint64_t seq = 0;
};
struct HeartbeatAck {
  uint64_t term = 0;
  uint64_t seq = 0;
  bool success = false;
};
struct TimeoutNow {  // leader -> preferred leader: campaign now (leadership transfer)
  uint64_t term = 0;
};

using Body = std::variant<Ping, Ack, PingReq, VoteRequest, VoteResponse, Heartbeat, HeartbeatAck,
                          TimeoutNow>;

// Addressing: `to_id` may be empty when only a URL is known (joining through a seed).
struct Envelope {
  std::string from_id;
  std::string from_url;
  std::string to_id;
  std::string to_url;
  Body body;
};

// What handling one inbound envelope produced: `replies` go back to the sender (in the HTTP
// response), `outbound` are new messages to other nodes.
struct Output {
  std::vector<Envelope> replies;
  std::vector<Envelope> outbound;
};

bool IsMembershipMessage(const Body& b);
bool IsElectionMessage(const Body& b);
// "/gossip" for membership messages, "/election" for votes, "/heartbeat" for heartbeats and
// transfers: the route a batch is POSTed to (all three accept any envelope).
const char* RouteFor(const Body& b);

}  // namespace rift::protocol
