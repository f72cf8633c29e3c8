#pragma once
// Turns successive snapshots into log lines for the operator: role and leader changes, member
// joins and state changes, duplicate-id conflicts. Not thread-safe (the ticker owns it).
#include <map>
#include <optional>
#include <set>
#include <string>

#include "orchestrator/core/node_core.h"

namespace rift::node {

class EventLog {
 public:
  void Observe(const core::Snapshot& snap);

 private:
  bool first_ = true;
  std::string role_;
  uint64_t term_ = 0;
  std::optional<std::string> leader_;
  bool quorum_ = false;
  std::map<std::string, std::string> member_state_;
  std::set<std::string> conflicts_;
};

}  // namespace rift::node
