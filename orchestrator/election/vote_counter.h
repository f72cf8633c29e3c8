#pragma once
// Pure tally of one voting round (pre-vote or vote), kudu-style: no I/O, no time. Split from
// Election so that the majority arithmetic is tested on its own.
#include <cstddef>
#include <map>
#include <string>

namespace rift::election {

enum class VoteDecision { kUndecided, kGranted, kDenied };

class VoteCounter {
 public:
  // `num_voters` > 0: size of the voter set, the candidate included.
  explicit VoteCounter(size_t num_voters);

  // Records one voter's answer. Returns false (and changes nothing) for a second answer from
  // the same voter, so duplicated or replayed responses cannot be counted twice.
  bool Register(const std::string& voter_id, bool granted);

  VoteDecision decision() const;
  size_t majority() const { return num_voters_ / 2 + 1; }
  size_t granted() const { return granted_; }
  size_t denied() const { return denied_; }

 private:
  size_t num_voters_;
  size_t granted_ = 0;
  size_t denied_ = 0;
  std::map<std::string, bool> votes_;
};

}  // namespace rift::election
