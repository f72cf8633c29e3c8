#include "orchestrator/election/vote_counter.h"

namespace rift::election {

VoteCounter::VoteCounter(size_t num_voters) : num_voters_(num_voters) {}

bool VoteCounter::Register(const std::string& voter_id, bool granted) {
  if (!votes_.emplace(voter_id, granted).second) return false;
  ++(granted ? granted_ : denied_);
  return true;
}

VoteDecision VoteCounter::decision() const {
  if (granted_ >= majority()) return VoteDecision::kGranted;
  // Denied once a majority can no longer be reached.
  if (denied_ > num_voters_ - majority()) return VoteDecision::kDenied;
  return VoteDecision::kUndecided;
}

}  // namespace rift::election
