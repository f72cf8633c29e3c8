#include "orchestrator/protocol/messages.h"

namespace rift::protocol {

const char* MemberStateName(MemberState s) {
  switch (s) {
    case MemberState::kAlive: return "alive";
    case MemberState::kSuspect: return "suspect";
    case MemberState::kDead: return "dead";
  }
  return "unknown";
}

bool IsMembershipMessage(const Body& b) {
  return std::holds_alternative<Ping>(b) || std::holds_alternative<Ack>(b) ||
         std::holds_alternative<PingReq>(b);
}

bool IsElectionMessage(const Body& b) { return !IsMembershipMessage(b); }

const char* RouteFor(const Body& b) {
  if (IsMembershipMessage(b)) return "/gossip";
  if (std::holds_alternative<VoteRequest>(b) || std::holds_alternative<VoteResponse>(b)) {
    return "/election";
  }
  return "/heartbeat";
}

}  // namespace rift::protocol
