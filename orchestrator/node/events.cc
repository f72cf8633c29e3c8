#include "orchestrator/node/events.h"

#include "orchestrator/base/log.h"

namespace rift::node {

void EventLog::Observe(const core::Snapshot& s) {
  const std::string term = " (term " + std::to_string(s.term) + ")";
  if (s.role != role_) {
    if (s.role == "leader") {
      log::Info("became leader" + term);
    } else if (role_ == "leader") {
      log::Warn("stepped down: now " + s.role + term);
    } else if (!first_) {
      log::Info("now " + s.role + term);
    }
    role_ = s.role;
  }
  if (s.leader_id != leader_ && s.leader_id) {
    if (*s.leader_id != s.node_id) {
      log::Info("new leader seen: " + *s.leader_id + " at " + s.leader_url + term);
    }
  } else if (s.leader_id != leader_ && leader_) {
    log::Info("leader " + *leader_ + " lost" + term);
  }
  leader_ = s.leader_id;
  if (s.quorum != quorum_ && !first_) {
    log::Info(std::string(s.quorum ? "quorum regained" : "quorum lost") + term);
  }
  quorum_ = s.quorum;
  term_ = s.term;

  std::map<std::string, std::string> now;
  for (const auto& m : s.members) {
    now[m.node_id] = m.state;
    auto it = member_state_.find(m.node_id);
    if (it == member_state_.end()) {
      log::Info("member " + m.node_id + " joined at " + m.url + " (" + m.state + ")");
    } else if (it->second != m.state) {
      auto line = "member " + m.node_id + ": " + it->second + " -> " + m.state;
      m.state == "alive" ? log::Info(line) : log::Warn(line);
    }
  }
  for (const auto& [id, state] : member_state_) {
    if (!now.count(id)) log::Info("member " + id + " reaped");
  }
  member_state_ = std::move(now);

  for (const auto& c : s.conflicts) {
    if (conflicts_.insert(c.node_id + "|" + c.other_url).second) {
      log::Error("duplicate node id " + c.node_id + " claimed by " + c.other_url + ": " + c.detail);
    }
  }
  first_ = false;
}

}  // namespace rift::node
